"""`Sessions` on SQLAlchemy Core: a part of `SqlDocumentStore`."""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Row, bindparam, case, func, insert, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from storage._sql_connections import SqlConnections, hold_advisory_lock, lock_key
from storage.archive import ChainReport
from storage.base import LogEntry
from storage.models import (
    AuthorshipRow,
    DocumentSettingsRow,
    LogRow,
    PresenceRow,
    SessionRow,
    StateRow,
)
from storage.sessions import (
    AuthoredRange,
    Departure,
    PresenceInterval,
    Quorum,
    SessionConflict,
    SessionNotFound,
    SessionRecord,
    WindowLog,
    check_sessions,
    link,
    minutes_hash,
)

_SESSION_COLUMNS = tuple(SessionRow.__table__.columns)
_PRESENCE_COLUMNS = (PresenceRow.session_id, PresenceRow.connection_id, PresenceRow.node_id,
                     PresenceRow.sub, PresenceRow.name, PresenceRow.role, PresenceRow.joined_at,
                     PresenceRow.left_at, PresenceRow.seen_at)


class SqlSessions(SqlConnections):
    """Sessions, presence and settings: one short transaction per call.

    A closed session's row is never updated again: `close_session` only updates a row
    whose ``closed_at`` is still NULL.
    """

    async def open_session(
        self, *, doc_id: str, title: str, kind: str, planned_start: float | None,
        planned_end: float | None, by: str | None, by_name: str | None, at: float,
    ) -> SessionRecord:
        try:
            async with self._writing(f"open a session of {doc_id!r}") as conn:
                await hold_advisory_lock(conn, _lock(doc_id))
                if await _open_of(conn, doc_id) is not None:
                    raise SessionConflict(f"document {doc_id!r} already has an open session")
                number = (await conn.execute(
                    select(func.coalesce(func.max(SessionRow.number), 0))
                    .where(SessionRow.doc_id == doc_id))).scalar_one() + 1
                record = SessionRecord(
                    session_id=uuid.uuid4().hex, doc_id=doc_id, number=number, title=title,
                    kind=kind, planned_start=planned_start, planned_end=planned_end,
                    opened_at=at, opened_by=by, opened_by_name=by_name,
                )
                await conn.execute(insert(SessionRow), _values(record))
        except IntegrityError as exc:  # another node opened one at the same time
            raise SessionConflict(f"document {doc_id!r} already has an open session") from exc
        return record

    async def close_session(
        self, *, doc_id: str, session_id: str, by: str | None, by_name: str | None,
        at: float, minutes: str, stale_before: float,
    ) -> SessionRecord:
        async with self._writing(f"close session {session_id!r}") as conn:
            await hold_advisory_lock(conn, _lock(doc_id))
            record = await _session(conn, doc_id, session_id)
            if not record.is_open:
                raise SessionConflict(f"session {record.number} is already closed")
            last = (await conn.execute(
                select(SessionRow.chain_hash)
                .where(SessionRow.doc_id == doc_id, SessionRow.closed_at.is_not(None))
                .order_by(SessionRow.number.desc()).limit(1))).scalar_one_or_none()
            closed = seal(record, by=by, by_name=by_name, at=at, minutes=minutes,
                          previous=last)
            changed = await conn.execute(
                update(SessionRow)
                .where(SessionRow.session_id == record.session_id,
                       SessionRow.closed_at.is_(None))
                .values(closed_at=closed.closed_at, closed_by=closed.closed_by,
                        closed_by_name=closed.closed_by_name, minutes=closed.minutes,
                        content_hash=closed.content_hash, previous_hash=closed.previous_hash,
                        chain_hash=closed.chain_hash))
            if changed.rowcount != 1:
                raise SessionConflict(f"session {record.number} is already closed")
            await conn.execute(
                update(PresenceRow)
                .where(PresenceRow.session_id == record.session_id,
                       PresenceRow.left_at.is_(None))
                .values(left_at=case((PresenceRow.seen_at < stale_before, PresenceRow.seen_at),
                                     else_=at)))
        return closed

    async def list_sessions(self, doc_id: str) -> Sequence[SessionRecord]:
        query = (select(*_SESSION_COLUMNS).where(SessionRow.doc_id == doc_id)
                 .order_by(SessionRow.number))
        async with self._reading(f"list the sessions of {doc_id!r}") as conn:
            rows = (await conn.execute(query)).all()
        return [_record(row) for row in rows]

    async def get_session(self, doc_id: str, session: str) -> SessionRecord:
        async with self._reading(f"read session {session!r}") as conn:
            return await _session(conn, doc_id, session)

    async def open_sessions(self) -> Sequence[SessionRecord]:
        query = select(*_SESSION_COLUMNS).where(SessionRow.closed_at.is_(None))
        async with self._reading("list open sessions") as conn:
            rows = (await conn.execute(query)).all()
        return [_record(row) for row in rows]

    async def record_joined(self, intervals: Sequence[PresenceInterval]) -> None:
        if not intervals:
            return
        rows = [{column.name: getattr(i, column.name) for column in _PRESENCE_COLUMNS}
                | {"left_at": None} for i in intervals]
        async with self._writing("record presences") as conn:
            statement = (postgresql.insert(PresenceRow) if conn.dialect.name == "postgresql"
                         else sqlite.insert(PresenceRow))
            await conn.execute(statement.on_conflict_do_nothing(
                index_elements=[PresenceRow.session_id, PresenceRow.connection_id]), rows)

    async def record_left(self, departures: Sequence[Departure]) -> None:
        if not departures:
            return
        statement = (
            update(PresenceRow)
            .where(PresenceRow.session_id == bindparam("gone_session"),
                   PresenceRow.connection_id == bindparam("gone_connection"),
                   PresenceRow.left_at.is_(None))
            .values(left_at=bindparam("gone_at"), seen_at=bindparam("gone_at")))
        rows = [{"gone_session": d.session_id, "gone_connection": d.connection_id,
                 "gone_at": d.at} for d in departures]
        async with self._writing("record departures") as conn:
            await conn.execute(statement, rows)

    async def heartbeat(self, node_id: str, session_ids: Sequence[str], *, at: float) -> None:
        if not session_ids:
            return
        async with self._writing("refresh presences") as conn:
            await conn.execute(
                update(PresenceRow)
                .where(PresenceRow.node_id == node_id, PresenceRow.left_at.is_(None),
                       PresenceRow.session_id.in_(list(session_ids)))
                .values(seen_at=at))

    async def list_presence(self, session_id: str) -> Sequence[PresenceInterval]:
        query = (select(*_PRESENCE_COLUMNS).where(PresenceRow.session_id == session_id)
                 .order_by(PresenceRow.joined_at, PresenceRow.id))
        async with self._reading("list presences") as conn:
            rows = (await conn.execute(query)).all()
        return [PresenceInterval(**row._asdict()) for row in rows]

    async def window_log(self, doc_id: str, *, since: float, until: float) -> WindowLog:
        logged = (select(LogRow.update, LogRow.received_at, LogRow.connection_id,
                         LogRow.principal)
                  .where(LogRow.doc_id == doc_id, LogRow.received_at >= since,
                         LogRow.received_at <= until)
                  .order_by(LogRow.seq))
        merged = (select(AuthorshipRow.principal,
                         (AuthorshipRow.clock_end - AuthorshipRow.clock_start).label("clocks"),
                         AuthorshipRow.first_at, AuthorshipRow.last_at)
                  .where(AuthorshipRow.doc_id == doc_id, AuthorshipRow.first_at >= since,
                         AuthorshipRow.first_at <= until))
        earlier = (select(LogRow.update)
                   .where(LogRow.doc_id == doc_id, LogRow.received_at < since)
                   .order_by(LogRow.seq))
        async with self._reading(f"read the edits of {doc_id!r}") as conn:
            entries = (await conn.execute(logged)).all()
            ranges = (await conn.execute(merged)).all()
            state = (await conn.execute(
                select(StateRow.state).where(StateRow.doc_id == doc_id))).scalar_one_or_none()
            before = [bytes(row.update) for row in await conn.execute(earlier)]
        return WindowLog(
            before=([bytes(state)] if state is not None else []) + before,
            entries=[LogEntry(update=bytes(r.update), received_at=r.received_at,
                              connection_id=r.connection_id, principal=r.principal)
                     for r in entries],
            compacted=[AuthoredRange(**r._asdict()) for r in ranges])

    async def get_quorum(self, doc_id: str) -> Quorum:
        query = select(DocumentSettingsRow.quorum_fraction, DocumentSettingsRow.quorum_members
                       ).where(DocumentSettingsRow.doc_id == doc_id)
        async with self._reading(f"read the settings of {doc_id!r}") as conn:
            row = (await conn.execute(query)).first()
        if row is None:
            return Quorum()
        return Quorum(fraction=row.quorum_fraction, members=row.quorum_members)

    async def set_quorum(self, doc_id: str, quorum: Quorum) -> Quorum:
        values = {"doc_id": doc_id, "quorum_fraction": quorum.fraction,
                  "quorum_members": quorum.members}
        async with self._writing(f"set the quorum of {doc_id!r}") as conn:
            statement = (postgresql.insert(DocumentSettingsRow)
                         if conn.dialect.name == "postgresql"
                         else sqlite.insert(DocumentSettingsRow))
            await conn.execute(statement.values(values).on_conflict_do_update(
                index_elements=[DocumentSettingsRow.doc_id],
                set_={"quorum_fraction": quorum.fraction,
                      "quorum_members": quorum.members}))
        return quorum

    async def verify_sessions(self, doc_id: str) -> ChainReport:
        return check_sessions(doc_id, await self.list_sessions(doc_id))


def seal(
    record: SessionRecord, *, by: str | None, by_name: str | None, at: float, minutes: str,
    previous: str | None,
) -> SessionRecord:
    """`record` closed with its minutes, hashed and linked after `previous`."""
    closed = dataclasses.replace(record, closed_at=at, closed_by=by, closed_by_name=by_name,
                                 minutes=minutes, previous_hash=previous)
    content = minutes_hash(closed)
    return dataclasses.replace(closed, content_hash=content, chain_hash=link(previous, content))


def _lock(doc_id: str) -> int:
    return lock_key(doc_id, b"palabre-session")


async def _open_of(conn: AsyncConnection, doc_id: str) -> str | None:
    query = select(SessionRow.session_id).where(SessionRow.doc_id == doc_id,
                                                 SessionRow.closed_at.is_(None))
    return (await conn.execute(query)).scalar_one_or_none()


async def _session(conn: AsyncConnection, doc_id: str, session: str) -> SessionRecord:
    query = select(*_SESSION_COLUMNS).where(SessionRow.doc_id == doc_id)
    if session.isdecimal() and len(session) < 10:
        query = query.where(SessionRow.number == int(session))
    else:
        query = query.where(SessionRow.session_id == session)
    row = (await conn.execute(query)).first()
    if row is None:
        raise SessionNotFound(f"document {doc_id!r} has no session {session!r}")
    return _record(row)


def _values(record: SessionRecord) -> dict[str, Any]:
    return {column.name: getattr(record, column.name) for column in _SESSION_COLUMNS}


def _record(row: Row[Any]) -> SessionRecord:
    values = row._mapping
    return SessionRecord(**{column.name: values[column.name] for column in _SESSION_COLUMNS})
