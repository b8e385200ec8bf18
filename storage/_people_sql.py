"""`People` on SQLAlchemy Core: a part of `SqlDocumentStore`."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Row, func, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

from storage._sql_connections import SqlConnections, hold_advisory_lock, lock_key
from storage.models import PersonRow
from storage.people import Person, PersonNotFound

_COLUMNS = (PersonRow.sub, PersonRow.name, PersonRow.role, PersonRow.first_seen,
            PersonRow.last_seen, PersonRow.role_override, PersonRow.removed_at,
            PersonRow.pseudonym, PersonRow.named_publicly, PersonRow.erased_at,
            PersonRow.erased_digest)
_PSEUDONYM_LOCK = lock_key("people", b"pseudonym")
_NEXT_PSEUDONYM = select(func.coalesce(func.max(PersonRow.pseudonym), 0) + 1).scalar_subquery()


class SqlPeople(SqlConnections):
    """The ``people`` table: one short transaction per call."""

    async def record_person(self, *, sub: str, name: str, role: str, at: float) -> Person:
        values = {"sub": sub, "name": name, "role": role, "first_seen": at, "last_seen": at,
                  "pseudonym": _NEXT_PSEUDONYM}
        async with self._writing(f"record the person {sub!r}") as conn:
            # Nodes number newcomers from the same max: one at a time, or two get one number.
            await hold_advisory_lock(conn, _PSEUDONYM_LOCK)
            insert = _insert(conn)
            await conn.execute(insert.values(values).on_conflict_do_update(
                index_elements=[PersonRow.sub],
                set_={"name": name, "role": role,
                      "last_seen": func.greatest(PersonRow.last_seen, at)
                      if conn.dialect.name == "postgresql"
                      else func.max(PersonRow.last_seen, at)},
            ))
            return await _person(conn, sub)

    async def get_person(self, sub: str) -> Person:
        async with self._reading(f"read the person {sub!r}") as conn:
            return await _person(conn, sub)

    async def list_people(self, *, limit: int) -> Sequence[Person]:
        query = (select(*_COLUMNS)
                 .order_by(PersonRow.last_seen.desc(), PersonRow.sub).limit(limit))
        async with self._reading("list people") as conn:
            rows = (await conn.execute(query)).all()
        return [_from_row(row) for row in rows]

    async def set_role_override(self, sub: str, role: str | None) -> Person:
        return await self._change(sub, {"role_override": role}, "change the role of")

    async def remove_person(self, sub: str, *, at: float) -> Person:
        return await self._change(sub, {"removed_at": at}, "remove")

    async def set_named_publicly(self, sub: str, named: bool) -> Person:
        return await self._change(sub, {"named_publicly": named}, "change the naming of")

    async def changed_rights(self) -> Sequence[Person]:
        query = select(*_COLUMNS).where(or_(PersonRow.role_override.is_not(None),
                                            PersonRow.removed_at.is_not(None)))
        async with self._reading("read changed rights") as conn:
            rows = (await conn.execute(query)).all()
        return [_from_row(row) for row in rows]

    async def _change(self, sub: str, values: dict[str, Any], what: str) -> Person:
        async with self._writing(f"{what} {sub!r}") as conn:
            await conn.execute(update(PersonRow).where(PersonRow.sub == sub).values(values))
            return await _person(conn, sub)


def _insert(conn: AsyncConnection) -> postgresql.Insert | sqlite.Insert:
    if conn.dialect.name == "postgresql":
        return postgresql.insert(PersonRow)
    return sqlite.insert(PersonRow)


async def _person(conn: AsyncConnection, sub: str) -> Person:
    row = (await conn.execute(select(*_COLUMNS).where(PersonRow.sub == sub))).first()
    if row is None:
        raise PersonNotFound(f"nobody with subject {sub!r} was ever seen")
    return _from_row(row)


def _from_row(row: Row[Any, *tuple[Any, ...]]) -> Person:
    fields = row._asdict()
    return Person(**{**fields, "pseudonym": fields["pseudonym"] or 0})
