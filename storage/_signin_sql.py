"""`SigninSessions` on SQLAlchemy Core: a part of `SqlDocumentStore`."""

from __future__ import annotations

import json
from collections.abc import Sequence

from sqlalchemy import Row, delete, insert, or_, select, update

from storage._sql_connections import SqlConnections
from storage.models import SigninSessionRow
from storage.signin import SigninSession, SigninSessionNotFound

_COLUMNS = (SigninSessionRow.key, SigninSessionRow.sub, SigninSessionRow.name,
            SigninSessionRow.role, SigninSessionRow.docs, SigninSessionRow.via,
            SigninSessionRow.created_at, SigninSessionRow.last_seen,
            SigninSessionRow.expires_at)


class SqlSigninSessions(SqlConnections):
    """The ``signin_sessions`` table: one short transaction per call."""

    async def open_signin_session(self, session: SigninSession) -> None:
        values = {
            "key": session.key, "sub": session.sub, "name": session.name,
            "role": session.role, "via": session.via, "created_at": session.created_at,
            "last_seen": session.last_seen, "expires_at": session.expires_at,
            "docs": None if session.docs is None else json.dumps(list(session.docs)),
        }
        async with self._writing("open a sign-in session") as conn:
            await conn.execute(insert(SigninSessionRow).values(values))

    async def get_signin_session(self, key: str) -> SigninSession:
        query = select(*_COLUMNS).where(SigninSessionRow.key == key)
        async with self._reading("read a sign-in session") as conn:
            row = (await conn.execute(query)).first()
        if row is None:
            raise SigninSessionNotFound("no such sign-in session")
        return _from_row(row)

    async def touch_signin_session(self, key: str, *, at: float) -> None:
        async with self._writing("touch a sign-in session") as conn:
            await conn.execute(update(SigninSessionRow)
                               .where(SigninSessionRow.key == key,
                                      SigninSessionRow.last_seen < at)
                               .values(last_seen=at))

    async def end_signin_session(self, key: str) -> bool:
        async with self._writing("end a sign-in session") as conn:
            result = await conn.execute(
                delete(SigninSessionRow).where(SigninSessionRow.key == key))
        return bool(result.rowcount)

    async def end_signin_sessions_of(self, sub: str) -> int:
        async with self._writing(f"end the sign-in sessions of {sub!r}") as conn:
            result = await conn.execute(
                delete(SigninSessionRow).where(SigninSessionRow.sub == sub))
        return int(result.rowcount)

    async def purge_signin_sessions(self, *, idle_before: float, now: float) -> int:
        async with self._writing("purge sign-in sessions") as conn:
            result = await conn.execute(delete(SigninSessionRow).where(or_(
                SigninSessionRow.last_seen < idle_before, SigninSessionRow.expires_at <= now)))
        return int(result.rowcount)

    async def signin_sessions_of(self, sub: str) -> Sequence[SigninSession]:
        query = (select(*_COLUMNS).where(SigninSessionRow.sub == sub)
                 .order_by(SigninSessionRow.created_at.desc()))
        async with self._reading(f"list the sign-in sessions of {sub!r}") as conn:
            rows = (await conn.execute(query)).all()
        return [_from_row(row) for row in rows]


def _from_row(
    row: Row[str, str, str, str, str | None, str, float, float, float],
) -> SigninSession:
    values = row._asdict()
    docs = values.pop("docs")
    return SigninSession(**values, docs=None if docs is None else tuple(json.loads(docs)))
