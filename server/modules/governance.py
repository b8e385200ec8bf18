"""Freeze, unfreeze and the audit log: the governance actions the API and the sockets share.

Freezing is stored first (`Archive.set_freeze`), then applied to the document's room on
this node (`Hub.set_freeze`): from then on every socket's writes are refused with
``permission-denied document frozen``, client updates queued and not yet committed are
dropped, and a commit already under way has ended before `Governance.freeze` returns. A
room loaded later reads the stored state once (`load_freeze`).

Every governance action is recorded with who and when (`record`). Writes refused on
sockets are recorded too, at most once per `audit_denial_interval_seconds` for one
principal on one document (a refused client may retry every keystroke), through a
bounded queue drained by a task of `running`: sockets never wait for the database.
An audit write that fails is logged and counted; the action it records stands.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass

import anyio
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream

from server.access.auth import Principal
from server.events import WebhookEvent
from server.metrics import Metrics
from server.rooms.hub import Hub
from storage.archive import Archive, FreezeState
from storage.base import StorageUnavailable

log = logging.getLogger("palabre.governance")

DENIAL_QUEUE = 256
"""Socket denials waiting to be recorded; past it they are counted and dropped."""

Notify = Callable[[WebhookEvent, str, dict[str, object]], None]


@dataclass(frozen=True, slots=True)
class _Denial:
    doc_id: str
    principal: str | None
    reason: str


async def record(
    archive: Archive, doc_id: str | None, action: str, principal: Principal | None,
    detail: Mapping[str, object], *, metrics: Metrics | None = None,
) -> None:
    """Append an audit entry; a storage failure is logged and counted, never raised."""
    try:
        await archive.record_audit(
            doc_id=doc_id, action=action,
            actor_sub=principal.sub if principal else None,
            actor_name=principal.name if principal else None, detail=detail,
        )
    except StorageUnavailable as exc:
        if metrics is not None:
            metrics.errors.labels(kind="audit_failed").inc()
        log.error("audit entry %s not recorded: %s", action, exc, extra={"doc_id": doc_id})


class Governance:
    """Freeze state and audit log of documents, over the archive, applied through the hub."""

    def __init__(
        self, archive: Archive, hub: Hub, metrics: Metrics, *,
        denial_interval: float = 60.0, notify: Notify | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.archive = archive
        self._hub = hub
        self._metrics = metrics
        self._notify = notify
        self._interval = denial_interval
        self._clock = clock
        self._last_denial: dict[tuple[str, str | None], float] = {}
        self._send: MemoryObjectSendStream[_Denial] | None = None

    # -- freeze --------------------------------------------------------------------------

    async def load_freeze(self, doc_id: str) -> tuple[bool, bool]:
        """The stored ``(frozen, comments_open)`` of a document (for a room being loaded).

        Raises:
            StorageUnavailable: the archive cannot be read (then no room is made).
        """
        state = await self.archive.get_freeze(doc_id)
        return state.frozen, state.comments_open

    async def freeze(
        self, doc_id: str, principal: Principal, *, comments_open: bool,
        detail: Mapping[str, object] | None = None,
    ) -> FreezeState:
        """Freeze `doc_id`: stored, then in force on every socket before this returns.

        Raises:
            StorageUnavailable: the freeze could not be stored; nothing changed.
        """
        state = await self.archive.set_freeze(
            doc_id, frozen=True, by=principal.sub, comments_open=comments_open
        )
        await self._hub.set_freeze(doc_id, frozen=True, comments_open=comments_open)
        data = {**freeze_json(state), **(detail or {})}
        await record(self.archive, doc_id, "document.frozen", principal, data,
                     metrics=self._metrics)
        if self._notify is not None:
            self._notify(WebhookEvent.DOCUMENT_FROZEN, doc_id, data)
        return state

    async def unfreeze(self, doc_id: str, principal: Principal) -> FreezeState:
        """Unfreeze `doc_id`: sockets whose role may edit can write again at once.

        Raises:
            StorageUnavailable: the change could not be stored; nothing changed.
        """
        state = await self.archive.set_freeze(
            doc_id, frozen=False, by=principal.sub, comments_open=False
        )
        await self._hub.set_freeze(doc_id, frozen=False, comments_open=False)
        await record(self.archive, doc_id, "document.unfrozen", principal, {},
                     metrics=self._metrics)
        return state

    # -- socket denials ------------------------------------------------------------------

    def socket_denied(self, doc_id: str, principal: str | None, reason: str) -> None:
        """Queue an audit entry for a write refused on a socket (rate-limited, never waits)."""
        key = (doc_id, principal)
        now = self._clock()
        if now - self._last_denial.get(key, -math.inf) < self._interval:
            return
        if len(self._last_denial) > 10_000:
            self._last_denial = {k: t for k, t in self._last_denial.items()
                                 if now - t < self._interval}
        self._last_denial[key] = now
        if self._send is None:
            return
        try:
            self._send.send_nowait(_Denial(doc_id, principal, reason))
        except anyio.WouldBlock:
            self._metrics.errors.labels(kind="audit_dropped").inc()

    @asynccontextmanager
    async def running(self) -> AsyncIterator[None]:
        """Record queued socket denials while the app runs; the rest at exit."""
        send, receive = anyio.create_memory_object_stream[_Denial](DENIAL_QUEUE)
        self._send = send
        async with anyio.create_task_group() as tg:
            tg.start_soon(self._record_denials, receive)
            try:
                yield
            finally:
                self._send = None
                send.close()

    async def _record_denials(self, receive: MemoryObjectReceiveStream[_Denial]) -> None:
        async with receive:
            async for denial in receive:
                try:
                    await self.archive.record_audit(
                        doc_id=denial.doc_id, action="socket.permission_denied",
                        actor_sub=denial.principal, actor_name=None,
                        detail={"reason": denial.reason},
                    )
                except StorageUnavailable as exc:
                    self._metrics.errors.labels(kind="audit_failed").inc()
                    log.error("denial not recorded: %s", exc, extra={"doc_id": denial.doc_id})


def freeze_json(state: FreezeState) -> dict[str, object]:
    """A freeze state as the API shows it."""
    return {"frozen": state.frozen, "frozen_at": state.frozen_at,
            "frozen_by": state.frozen_by, "comments_open": state.comments_open}
