"""Attendance from the sockets themselves: each node records the sockets it serves.

The hub tells `Attendance` of every socket that joins or leaves a text document's room
(`joined`, `left`: room hooks, on the socket path). Those calls only touch dicts: the
node's seats (who is connected to which document since when) and, when the document has
an open session, one event on a bounded queue. A task of `running` writes the queued
events in batches (`Sessions.record_joined`, `record_left`); a full queue drops the event
(counted), and the next heartbeat repairs the record from the seats.

Every `heartbeat` seconds the task also reads which sessions are open (one opened on
another node is learned then: its sockets already there are recorded from their join
time, or the session's opening if later), and sets ``seen_at`` of this node's open
intervals. What is recorded when: a join or leave within a few milliseconds of it (the
queue's drain); the open sessions of other nodes within one heartbeat; a node killed
mid-session leaves its intervals open, and closing the session ends them at their last
heartbeat (those more than 2.5 heartbeats old) instead of at the close.
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass

import anyio
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream

from crdt.doc_id import ANNOTATIONS_SUFFIX
from server.access.auth import Principal
from server.metrics import Metrics
from storage.base import StorageUnavailable
from storage.sessions import Departure, PresenceInterval, SessionRecord, Sessions

log = logging.getLogger("palabre.sessions")

ATTENDANCE_QUEUE = 4096
"""Joins and leaves waiting to be written; past it they are dropped and repaired later."""

_BATCH = 500
"""Events written in one transaction at most."""

STALE_HEARTBEATS = 2.5
"""An open interval not refreshed for this many heartbeats belongs to a dead node."""


@dataclass(frozen=True, slots=True)
class Seat:
    """One socket of this node on one document."""

    sub: str
    name: str
    role: str
    joined_at: float


@dataclass(frozen=True, slots=True)
class _Flush:
    done: anyio.Event


_Event = PresenceInterval | Departure | _Flush


class Attendance:
    """The sockets of this node, recorded into the open sessions of their documents."""

    def __init__(
        self, store: Sessions, metrics: Metrics, *, node_id: str, heartbeat: float,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._store = store
        self._metrics = metrics
        self.node_id = node_id
        self.heartbeat_seconds = heartbeat
        self._clock = clock
        self._seats: dict[str, dict[str, Seat]] = {}
        self._open: dict[str, SessionRecord] = {}
        self._send: MemoryObjectSendStream[_Event] | None = None
        self._dropped = False
        self._changes = 0
        """Counts sessions opened and closed here: a beat that read the open sessions
        before one of those does not overwrite what it did."""

    # -- the socket path: dict operations and a non-blocking send only -------------------

    def joined(self, doc_id: str, connection_id: str, principal: Principal) -> None:
        """A socket joined `doc_id`'s room (a room's `on_join` hook)."""
        if doc_id.endswith(ANNOTATIONS_SUFFIX):
            return
        seat = Seat(principal.sub, principal.name, str(principal.role), self._clock())
        self._seats.setdefault(doc_id, {})[connection_id] = seat
        session = self._open.get(doc_id)
        if session is not None:
            self._queue(self._interval(session, connection_id, seat))

    def left(self, doc_id: str, connection_id: str) -> None:
        """A socket left `doc_id`'s room (a room's `on_leave` hook)."""
        seats = self._seats.get(doc_id)
        if seats is None or seats.pop(connection_id, None) is None:
            return
        if not seats:
            del self._seats[doc_id]
        session = self._open.get(doc_id)
        if session is not None:
            self._queue(Departure(session_id=session.session_id, connection_id=connection_id,
                                  at=self._clock()))

    def _queue(self, event: _Event) -> None:
        if self._send is None:
            self._dropped = True
            return
        try:
            self._send.send_nowait(event)
        except anyio.WouldBlock:
            self._dropped = True
            self._metrics.errors.labels(kind="attendance_dropped").inc()

    # -- sessions opened and closed ------------------------------------------------------

    def seated(self, doc_id: str) -> list[Seat]:
        """This node's sockets on `doc_id` now."""
        return list(self._seats.get(doc_id, {}).values())

    async def opened(self, session: SessionRecord) -> None:
        """A session of ours opened: record the sockets already there, follow the others.

        Raises:
            StorageUnavailable: the sockets already there could not be recorded.
        """
        self._open[session.doc_id] = session
        self._changes += 1
        await self._store.record_joined(self._intervals(session))

    async def closing(self, session: SessionRecord) -> None:
        """Before closing `session`: write what this node queued until now; stop following."""
        await self.flush()
        self._open.pop(session.doc_id, None)
        self._changes += 1

    async def flush(self) -> None:
        """Wait until the joins and leaves queued so far are written (or given up)."""
        if self._send is None:
            return
        done = anyio.Event()
        await self._send.send(_Flush(done))
        await done.wait()

    def _intervals(self, session: SessionRecord) -> list[PresenceInterval]:
        return [self._interval(session, connection_id, seat)
                for connection_id, seat in self._seats.get(session.doc_id, {}).items()]

    def _interval(self, session: SessionRecord, connection_id: str, seat: Seat
                  ) -> PresenceInterval:
        at = max(seat.joined_at, session.opened_at)
        return PresenceInterval(
            session_id=session.session_id, connection_id=connection_id, node_id=self.node_id,
            sub=seat.sub, name=seat.name, role=seat.role, joined_at=at, left_at=None,
            seen_at=self._clock())

    # -- the background task -------------------------------------------------------------

    @asynccontextmanager
    async def running(self) -> AsyncIterator[None]:
        """Write queued joins and leaves, and beat, while the app runs; at exit, what
        was queued until then is still written."""
        send, receive = anyio.create_memory_object_stream[_Event](ATTENDANCE_QUEUE)
        self._send = send
        async with anyio.create_task_group() as tg:
            tg.start_soon(self._write_forever, receive)
            beating = anyio.CancelScope()
            tg.start_soon(self._beat_forever, beating)
            try:
                yield
            finally:
                self._send = None
                send.close()
                beating.cancel()

    async def _write_forever(self, receive: MemoryObjectReceiveStream[_Event]) -> None:
        async with receive:
            async for first in receive:
                batch = [first]
                while len(batch) < _BATCH:
                    try:
                        batch.append(receive.receive_nowait())
                    except (anyio.WouldBlock, anyio.EndOfStream):
                        break
                await self._write(batch)

    async def _write(self, batch: Sequence[_Event]) -> None:
        joins = [e for e in batch if isinstance(e, PresenceInterval)]
        departures = [e for e in batch if isinstance(e, Departure)]
        try:
            # Joins first: a socket that joined and left in one batch ends closed.
            await self._store.record_joined(joins)
            await self._store.record_left(departures)
        except StorageUnavailable as exc:
            self._dropped = True
            self._metrics.errors.labels(kind="attendance_failed").inc()
            log.error("attendance not recorded: %s", exc)
        for event in batch:
            if isinstance(event, _Flush):
                event.done.set()

    async def _beat_forever(self, scope: anyio.CancelScope) -> None:
        with scope:
            await self._beat_loop()

    async def _beat_loop(self) -> None:
        while True:
            try:
                await self.beat()
            except StorageUnavailable as exc:
                log.error("attendance heartbeat failed: %s", exc)
            await anyio.sleep(self.heartbeat_seconds)

    async def beat(self) -> None:
        """Learn which sessions are open, record sockets of new ones, refresh ours.

        Raises:
            StorageUnavailable: the database failed.
        """
        changes = self._changes
        sessions = {s.doc_id: s for s in await self._store.open_sessions()}
        if changes != self._changes:
            sessions = dict(self._open)  # read before a change made here: the next beat
        learned = [s for doc_id, s in sessions.items()
                   if self._open.get(doc_id) != s and doc_id in self._seats]
        repair = self._dropped
        self._dropped = False
        self._open = sessions
        for session in learned:
            await self._store.record_joined(self._intervals(session))
        if repair:
            await self._repair()
        mine = [s.session_id for doc_id, s in sessions.items() if doc_id in self._seats
                or repair]
        await self._store.heartbeat(self.node_id, mine, at=self._clock())

    async def _repair(self) -> None:
        """Make the record of this node's open intervals match its seats after a loss."""
        now = self._clock()
        for doc_id, session in self._open.items():
            stored = [i for i in await self._store.list_presence(session.session_id)
                      if i.node_id == self.node_id and i.left_at is None]
            seats = self._seats.get(doc_id, {})
            await self._store.record_left([
                Departure(session_id=session.session_id, connection_id=i.connection_id,
                          at=now)
                for i in stored if i.connection_id not in seats])
            await self._store.record_joined(self._intervals(session))
