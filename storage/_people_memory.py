"""`People` in memory: a part of `MemoryDocumentStore`."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

from storage._memory_access import MemoryAccess
from storage.people import Person, PersonNotFound


class MemoryPeople(MemoryAccess):
    """The people table in a dict, with the SQL part's semantics."""

    def __init__(self) -> None:
        self._people: dict[str, Person] = {}

    async def record_person(self, *, sub: str, name: str, role: str, at: float) -> Person:
        await self._enter()
        known = self._people.get(sub)
        person = (
            Person(sub=sub, name=name, role=role, first_seen=at, last_seen=at,
                   pseudonym=1 + max((p.pseudonym for p in self._people.values()), default=0))
            if known is None
            else dataclasses.replace(known, name=name, role=role,
                                     last_seen=max(at, known.last_seen))
        )
        self._people[sub] = person
        return person

    async def get_person(self, sub: str) -> Person:
        await self._enter()
        return self._known(sub)

    async def list_people(self, *, limit: int) -> Sequence[Person]:
        await self._enter()
        ordered = sorted(self._people.values(), key=lambda p: (-p.last_seen, p.sub))
        return ordered[:limit]

    async def set_role_override(self, sub: str, role: str | None) -> Person:
        await self._enter()
        person = dataclasses.replace(self._known(sub), role_override=role)
        self._people[sub] = person
        return person

    async def remove_person(self, sub: str, *, at: float) -> Person:
        await self._enter()
        person = dataclasses.replace(self._known(sub), removed_at=at)
        self._people[sub] = person
        return person

    async def set_named_publicly(self, sub: str, named: bool) -> Person:
        await self._enter()
        person = dataclasses.replace(self._known(sub), named_publicly=named)
        self._people[sub] = person
        return person

    async def changed_rights(self) -> Sequence[Person]:
        await self._enter()
        return [p for p in self._people.values()
                if p.role_override is not None or p.removed_at is not None]

    def _known(self, sub: str) -> Person:
        person = self._people.get(sub)
        if person is None:
            raise PersonNotFound(f"nobody with subject {sub!r} was ever seen")
        return person
