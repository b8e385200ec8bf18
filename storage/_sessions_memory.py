"""`Sessions` in memory: a part of `MemoryDocumentStore`."""

from __future__ import annotations

import dataclasses
import uuid
from abc import abstractmethod
from collections.abc import Sequence

from storage._memory_access import MemoryAccess
from storage._sessions_sql import seal
from storage.archive import ChainReport
from storage.base import LogEntry
from storage.sessions import (
    Departure,
    PresenceInterval,
    Quorum,
    SessionConflict,
    SessionNotFound,
    SessionRecord,
    WindowLog,
    check_sessions,
)


class MemorySessions(MemoryAccess):
    """Sessions, presence and settings in dicts, with the SQL part's semantics.

    `tamper_session` replaces a stored session, as someone editing the database would.
    """

    @abstractmethod
    def _logged(self, doc_id: str) -> Sequence[LogEntry]:
        """The document's log rows still in the log, in order."""

    def __init__(self) -> None:
        self._sessions: dict[str, list[SessionRecord]] = {}
        self._presence: dict[tuple[str, str], PresenceInterval] = {}
        self._quorums: dict[str, Quorum] = {}

    def tamper_session(self, record: SessionRecord) -> None:
        """Overwrite the stored session of the same document and number (tests only)."""
        self._sessions[record.doc_id][record.number - 1] = record

    async def open_session(
        self, *, doc_id: str, title: str, kind: str, planned_start: float | None,
        planned_end: float | None, by: str | None, by_name: str | None, at: float,
    ) -> SessionRecord:
        await self._enter()
        stored = self._sessions.setdefault(doc_id, [])
        if any(s.is_open for s in stored):
            raise SessionConflict(f"document {doc_id!r} already has an open session")
        record = SessionRecord(
            session_id=uuid.uuid4().hex, doc_id=doc_id, number=len(stored) + 1, title=title,
            kind=kind, planned_start=planned_start, planned_end=planned_end, opened_at=at,
            opened_by=by, opened_by_name=by_name,
        )
        stored.append(record)
        return record

    async def close_session(
        self, *, doc_id: str, session_id: str, by: str | None, by_name: str | None,
        at: float, minutes: str, stale_before: float,
    ) -> SessionRecord:
        await self._enter()
        record = self._find(doc_id, session_id)
        if not record.is_open:
            raise SessionConflict(f"session {record.number} is already closed")
        closed_before = [s for s in self._sessions[doc_id] if not s.is_open]
        previous = closed_before[-1].chain_hash if closed_before else None
        closed = seal(record, by=by, by_name=by_name, at=at, minutes=minutes,
                      previous=previous)
        self._sessions[doc_id][record.number - 1] = closed
        for key, interval in self._presence.items():
            if interval.session_id == record.session_id and interval.left_at is None:
                end = interval.seen_at if interval.seen_at < stale_before else at
                self._presence[key] = dataclasses.replace(interval, left_at=end)
        return closed

    async def list_sessions(self, doc_id: str) -> Sequence[SessionRecord]:
        await self._enter()
        return list(self._sessions.get(doc_id, []))

    async def get_session(self, doc_id: str, session: str) -> SessionRecord:
        await self._enter()
        return self._find(doc_id, session)

    async def open_sessions(self) -> Sequence[SessionRecord]:
        await self._enter()
        return [s for stored in self._sessions.values() for s in stored if s.is_open]

    async def record_joined(self, intervals: Sequence[PresenceInterval]) -> None:
        await self._enter()
        for interval in intervals:
            key = (interval.session_id, interval.connection_id)
            self._presence.setdefault(key, dataclasses.replace(interval, left_at=None))

    async def record_left(self, departures: Sequence[Departure]) -> None:
        await self._enter()
        for gone in departures:
            key = (gone.session_id, gone.connection_id)
            interval = self._presence.get(key)
            if interval is not None and interval.left_at is None:
                self._presence[key] = dataclasses.replace(interval, left_at=gone.at,
                                                          seen_at=gone.at)

    async def heartbeat(self, node_id: str, session_ids: Sequence[str], *, at: float) -> None:
        await self._enter()
        wanted = set(session_ids)
        for key, interval in self._presence.items():
            if (interval.node_id == node_id and interval.left_at is None
                    and interval.session_id in wanted):
                self._presence[key] = dataclasses.replace(interval, seen_at=at)

    async def list_presence(self, session_id: str) -> Sequence[PresenceInterval]:
        await self._enter()
        found = [i for i in self._presence.values() if i.session_id == session_id]
        return sorted(found, key=lambda i: i.joined_at)

    async def window_log(self, doc_id: str, *, since: float, until: float) -> WindowLog:
        await self._enter()
        logged = self._logged(doc_id)
        return WindowLog(entries=[e for e in logged if since <= e.received_at <= until],
                         compacted=[], before=[e.update for e in logged
                                               if e.received_at < since])

    async def get_quorum(self, doc_id: str) -> Quorum:
        await self._enter()
        return self._quorums.get(doc_id, Quorum())

    async def set_quorum(self, doc_id: str, quorum: Quorum) -> Quorum:
        await self._enter()
        self._quorums[doc_id] = quorum
        return quorum

    async def verify_sessions(self, doc_id: str) -> ChainReport:
        return check_sessions(doc_id, await self.list_sessions(doc_id))

    def _find(self, doc_id: str, session: str) -> SessionRecord:
        for record in self._sessions.get(doc_id, []):
            if record.session_id == session or (
                    session.isdecimal() and len(session) < 10 and record.number == int(session)):
                return record
        raise SessionNotFound(f"document {doc_id!r} has no session {session!r}")
