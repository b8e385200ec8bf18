"""The audit of writes refused on sockets: recorded without ever making a socket wait.

A refused client may retry every keystroke, so one principal's refusals on one document
are recorded at most once per `audit_denial_interval_seconds`, through a bounded queue
drained by a task of `running`. An audit write that fails is logged and counted.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass

import anyio
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream

from server.metrics import Metrics
from storage.archive import Archive
from storage.base import StorageUnavailable

log = logging.getLogger("palabre.governance")

DENIAL_QUEUE = 256
"""Socket denials waiting to be recorded; past it they are counted and dropped."""

_REMEMBERED = 10_000
"""Principal and document pairs remembered for the interval before old ones are swept."""


@dataclass(frozen=True, slots=True)
class _Denial:
    doc_id: str
    principal: str | None
    reason: str


class DenialAudit:
    """Records socket refusals in the archive's audit log (a room's `on_denied` hook)."""

    def __init__(
        self, archive: Archive, metrics: Metrics, *, interval: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._archive = archive
        self._metrics = metrics
        self._interval = interval
        self._clock = clock
        self._last_denial: dict[tuple[str, str | None], float] = {}
        self._send: MemoryObjectSendStream[_Denial] | None = None

    def socket_denied(self, doc_id: str, principal: str | None, reason: str) -> None:
        """Queue an audit entry for a write refused on a socket (rate-limited, never waits)."""
        key = (doc_id, principal)
        now = self._clock()
        if now - self._last_denial.get(key, -math.inf) < self._interval:
            return
        if len(self._last_denial) > _REMEMBERED:
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
                    await self._archive.record_audit(
                        doc_id=denial.doc_id, action="socket.permission_denied",
                        actor_sub=denial.principal, actor_name=None,
                        detail={"reason": denial.reason},
                    )
                except StorageUnavailable as exc:
                    self._metrics.errors.labels(kind="audit_failed").inc()
                    log.error("denial not recorded: %s", exc, extra={"doc_id": denial.doc_id})
