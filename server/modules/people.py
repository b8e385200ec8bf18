"""People and their rights: who the server has seen, role changes and removals.

A change is stored first, then taken by this node's `Roster` (so new credentials and
requests see it at once) and by the hub, which applies it to the open sockets of every
node (`Hub.change_rights`): removed, a person's sockets close with 4403 within the relay's
latency and their web sign-in sessions end; given another role, they keep their sockets
with that role's rights. Every change is audited (server-wide entries, no document).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any

from pycrdt import Doc

from crdt.doc_id import ANNOTATIONS_SUFFIX
from crdt.projection import touch
from server.access.auth import Principal, Role
from server.access.roster import RightsChange, Roster
from server.access.websession import WebSessions
from server.errors import Overloaded
from server.rooms.hub import Hub
from storage.base import StorageUnavailable
from storage.catalog import DocumentCatalog
from storage.people import People, Person

log = logging.getLogger("palabre.people")

NAMED_ROOTS = ("annotations", "amendments", "amendment_settings", "governance", "session")
"""The root maps of ``D.annotations`` that name people."""
_PAGE = 200

Record = Callable[[str | None, str, Principal | None, Mapping[str, object]], Awaitable[None]]
"""Appends an audit entry (`Governance.record`): document, action, actor, detail."""

ASSIGNABLE_ROLES = (Role.MEMBER, Role.FACILITATOR, Role.CITIZEN)
"""The roles a facilitator may give (``public`` is nobody's role: it is the absence of one)."""


class PeopleService:
    """Lists people, changes their role, removes them; live on every node, audited."""

    def __init__(
        self, people: People, hub: Hub, roster: Roster, record: Record,
        *, sessions: WebSessions | None = None, clock: Callable[[], float] = time.time,
        catalog: DocumentCatalog | None = None,
    ) -> None:
        self._people = people
        self._catalog = catalog
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
        await self._show_naming(sub)
        return person

    async def _show_naming(self, sub: str) -> None:
        """Write again what names `sub` in every text's annotations, so that the public
        views (`server.rooms.projection`) show them by their new naming, live.

        A document that cannot be written is logged and skipped: its public view keeps
        the old naming of what it held, until then new readers see the new one anyway.
        """
        if self._catalog is None:
            return
        after: str | None = None
        while True:
            page = await self._catalog.list_documents(limit=_PAGE, after=after)
            for meta in page:
                if meta.kind != "text":
                    continue

                def write(doc: Doc[Any]) -> None:
                    with doc.transaction():
                        touch(doc, sub, roots=NAMED_ROOTS)

                try:
                    await self._hub.transform(meta.doc_id + ANNOTATIONS_SUFFIX, write,
                                              principal=None)
                except (Overloaded, StorageUnavailable) as exc:
                    log.error("naming not shown: %s", exc, extra={"doc_id": meta.doc_id})
            if len(page) < _PAGE:
                return
            after = page[-1].doc_id

    def subject_digest(self, sub: str) -> str:
        """The keyed digest of `sub` an erased person's row keeps (`Roster.subject_digest`)."""
        return self._roster.subject_digest(sub)

    def _apply(self, change: RightsChange) -> None:
        self._roster.apply(change)
        self._hub.change_rights(change)


def effective_role(person: Person) -> str:
    """The role `person` acts with now: the one a facilitator gave, else their credential's."""
    return person.role_override or person.role
