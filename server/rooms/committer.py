"""One committer for every room: commit what rooms queued, then relay it, in rounds.

A room with updates queued marks itself ready; one task takes every ready room at once,
queues one append per room in the store (they share one transaction), and once that
transaction is durable, relays each room's batch. Nothing waits for a timer: an idle
server commits an update as soon as it arrives. While a transaction is in flight,
updates gather in the rooms and go together in the next round (group commit, as Nagle's
algorithm gathers bytes while a packet is unacknowledged); the next round's transaction
is started before the current round is relayed, so the database works while the event
loop relays. A room may ask for a least spacing between two of its relays
(`Settings.relay_interval`, by its audience): until then it stays ready, and is taken
by a later round.

Nobody sees an update before it is durable: a batch is relayed only after its append
returned (DESIGN.md).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sized
from typing import Protocol

import anyio
import anyio.lowlevel

from storage.base import DocumentStore


class Commit(Protocol):
    """One room's batch in a round (`server.rooms.room.Commit`)."""

    async def wait(self) -> None:
        """Wait for its append's transaction (a failure is kept for `finish`)."""

    def finish(self) -> None:
        """Apply and relay it, or fail it."""


class Room(Protocol):
    """What the committer needs of a room (`server.rooms.room.Room`)."""

    @property
    def connections(self) -> Sized:
        """Its clients (how many: the spacing of its relays)."""

    @property
    def last_relay(self) -> float:
        """When its last commit was relayed (monotonic)."""

    @property
    def is_closing(self) -> bool:
        """Closed: committed at once, without spacing."""

    def start_commit(self, store: DocumentStore) -> Commit | None:
        """Take its queue and queue the append (None: nothing to commit)."""


class Committer:
    """Commits and relays the queued updates of every room, in shared rounds."""

    def __init__(self, store: DocumentStore, relay_interval: Callable[[int], float]) -> None:
        self._store = store
        self._relay_interval = relay_interval
        self._ready: dict[Room, None] = {}
        self._wakeup = anyio.Event()

    def mark(self, room: Room) -> None:
        """`room` has something to commit or relay: take it in the next round."""
        if room not in self._ready:
            self._ready[room] = None
            self._wakeup.set()

    async def run(self) -> None:
        """Commit and relay rounds for ever (cancelled with the hub)."""
        relaying: list[Commit] = []
        while True:
            if not relaying:
                await self._wait_for_work()
            started = self._start_round()
            if relaying:
                # Let the store's writer hand the new transaction to its thread, then
                # relay the previous round while it runs.
                await anyio.lowlevel.checkpoint()
                for commit in relaying:
                    commit.finish()
            relaying = []
            for commit in started:
                await commit.wait()
                relaying.append(commit)

    async def _wait_for_work(self) -> None:
        """Return once some ready room is due (at once if one is)."""
        while True:
            due_in = self._due_in()
            if due_in <= 0:
                return
            self._wakeup = anyio.Event()
            with anyio.move_on_after(due_in):
                await self._wakeup.wait()

    def _due_in(self) -> float:
        """Seconds until the first ready room may relay again (inf: none is ready)."""
        now = time.monotonic()
        soonest = math.inf
        for room in self._ready:
            soonest = min(soonest, self._due_at(room) - now)
            if soonest <= 0:
                break
        return soonest

    def _due_at(self, room: Room) -> float:
        if room.is_closing:
            return -math.inf
        return room.last_relay + self._relay_interval(len(room.connections))

    def _start_round(self) -> list[Commit]:
        """Take every ready room that is due and queue its append; the rest stay ready."""
        now = time.monotonic()
        started: list[Commit] = []
        waiting: dict[Room, None] = {}
        for room in self._ready:
            if self._due_at(room) > now:
                waiting[room] = None
                continue
            commit = room.start_commit(self._store)
            if commit is not None:
                started.append(commit)
        self._ready = waiting
        return started
