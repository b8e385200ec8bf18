"""A room's commit queue: the updates waiting for storage, and one batch of them in a
committer round (`server.rooms.committer`)."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Protocol

import anyio

from crdt.document import merge
from server.rooms.client import Client
from storage.base import AppendResult, AppendTicket, LogEntry, StorageUnavailable


@dataclass(slots=True)
class Pending:
    """An update queued for commit: a client's (`sender`) or the server's (`done` set once
    it is relayed, `failed` if it could not be stored)."""

    update: bytes
    sender: Client | None
    principal: str | None
    received_at: float
    done: anyio.Event | None = None
    failed: bool = False


class Finisher(Protocol):
    """The room a batch belongs to (`server.rooms.room.Room`)."""

    def finish_commit(self, batch: list[Pending], entries: list[LogEntry],
                      outcome: AppendResult | Exception, started: float) -> None:
        """Apply and relay a batch whose append returned (or fail it)."""


class Commit:
    """One room's batch in a committer round: its append, then its relay."""

    __slots__ = ("_batch", "_entries", "_error", "_outcome", "_started", "_ticket", "room")

    def __init__(self, room: Finisher, batch: list[Pending], entries: list[LogEntry],
                 ticket: AppendTicket | None, error: StorageUnavailable | None) -> None:
        self.room = room
        self._batch = batch
        self._entries = entries
        self._ticket = ticket
        self._outcome: AppendResult | Exception = error or StorageUnavailable("not committed")
        self._started = time.perf_counter()

    async def wait(self) -> None:
        """Wait for the append's transaction (its failure is kept, not raised)."""
        if self._ticket is None:
            return
        try:
            self._outcome = await self._ticket.result()
        except StorageUnavailable as exc:
            self._outcome = exc

    def finish(self) -> None:
        """Apply and relay the batch if it was stored, else tell its senders."""
        self.room.finish_commit(self._batch, self._entries, self._outcome, self._started)


def entries_by_sender(batch: list[Pending]) -> list[LogEntry]:
    """One log entry per sender in the batch: its updates merged, its first arrival time."""
    groups: dict[int, list[Pending]] = {}
    for item in batch:
        groups.setdefault(id(item.sender) if item.sender else id(item), []).append(item)
    entries = []
    for items in groups.values():
        first = items[0]
        entries.append(
            LogEntry(
                update=merge([item.update for item in items]),
                received_at=first.received_at,
                connection_id=first.sender.connection_id if first.sender else None,
                principal=first.principal,
            )
        )
    return entries
