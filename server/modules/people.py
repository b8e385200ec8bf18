"""People and their rights: who the server has seen, role changes and removals.

A change is stored first, then taken by this node's `Roster` (so new credentials and
requests see it at once) and by the hub, which applies it to the open sockets of every
node (`Hub.change_rights`): removed, a person's sockets close with 4403 within the relay's
latency and their web sign-in sessions end; given another role, they keep their sockets
with that role's rights. Every change is audited (server-wide entries, no document).
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Mapping, Sequence

from server.access.auth import Principal, Role
from server.access.roster import RightsChange, Roster
from server.access.websession import WebSessions
from server.rooms.hub import Hub
from storage.people import People, Person

Record = Callable[[str | None, str, Principal | None, Mapping[str, object]], Awaitable[None]]
"""Appends an audit entry (`Governance.record`): document, action, actor, detail."""

ASSIGNABLE_ROLES = (Role.MEMBER, Role.FACILITATOR, Role.CITIZEN)
"""The roles a facilitator may give (``public`` is nobody's role: it is the absence of one)."""


class PeopleService:
    """Lists people, changes their role, removes them; live on every node, audited."""

    def __init__(
        self, people: People, hub: Hub, roster: Roster, record: Record,
        *, sessions: WebSessions | None = None, clock: Callable[[], float] = time.time,
    ) -> None:
        self._people = people
        self._sessions = sessions
        self._hub = hub
        self._roster = roster
        self._record = record
        self._clock = clock

    async def list(self, *, limit: int) -> Sequence[Person]:
        """The people seen, most recent first.

        Raises:
            StorageUnavailable: the database failed.
        """
        return await self._people.list_people(limit=limit)

    async def get(self, sub: str) -> Person:
        """One person.

        Raises:
            PersonNotFound: never seen.
            StorageUnavailable: the database failed.
        """
        return await self._people.get_person(sub)

    async def change_role(self, sub: str, role: Role, by: Principal) -> Person:
        """Give `sub` the role `role`, on their open sockets too.

        Raises:
            PersonNotFound: never seen.
            StorageUnavailable: the database failed.
        """
        before = await self._people.get_person(sub)
        person = await self._people.set_role_override(sub, str(role))
        self._apply(RightsChange(sub, role=role))
        await self._record(None, "person.role_changed", by, {
            "sub": sub, "from": before.role_override or before.role, "to": str(role)})
        return person

    async def remove(self, sub: str, by: Principal) -> Person:
        """Revoke every credential of `sub` issued until now; their sockets close and their
        web sign-in sessions end.

        Raises:
            PersonNotFound: never seen.
            StorageUnavailable: the database failed.
        """
        at = self._clock()
        person = await self._people.remove_person(sub, at=at)
        self._apply(RightsChange(sub, removed_at=at))
        # Refused from now on by their date already (the roster); the rows go too.
        ended = await self._sessions.end_all(sub) if self._sessions is not None else 0
        await self._record(None, "person.removed", by, {"sub": sub, "name": person.name,
                                                        "signin_sessions_ended": ended})
        return person

    async def set_named_publicly(self, sub: str, named: bool, by: Principal) -> Person:
        """Name `sub` in public by their name (`named`) or by their pseudonym; audited.

        Raises:
            PersonNotFound: never seen.
            StorageUnavailable: the database failed.
        """
        person = await self._people.set_named_publicly(sub, named)
        await self._record(None, "person.naming_changed", by,
                           {"sub": sub, "named_publicly": named})
        return person

    def subject_digest(self, sub: str) -> str:
        """The keyed digest of `sub` an erased person's row keeps (`Roster.subject_digest`)."""
        return self._roster.subject_digest(sub)

    def _apply(self, change: RightsChange) -> None:
        self._roster.apply(change)
        self._hub.change_rights(change)


def effective_role(person: Person) -> str:
    """The role `person` acts with now: the one a facilitator gave, else their credential's."""
    return person.role_override or person.role
