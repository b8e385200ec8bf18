"""How a person is named in what the server shows: a real name to the assembly's members
and facilitators, a stable pseudonym (``Membre 7``, `storage.people.pseudonym_of`) to
everyone else (citizens, the public) unless the person chose to be named in public.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass
from typing import Any

import anyio

from crdt.projection import Public
from server.access.auth import Principal, Role
from server.access.permissions import NAME_READERS, sees_real_names
from storage.people import People, Person, PersonNotFound
from storage.people import handle_of as handle_number

UNKNOWN = "Inconnu"
"""The name of an author the server has no record of (a write made before people were kept)."""
INSIDERS = NAME_READERS
"""Who sees real names and subjects (`server.access.permissions` rule 8)."""
_PATIENCE_SECONDS = 2.0
_PATIENCE_POLL_SECONDS = 0.05


@dataclass(frozen=True, slots=True, kw_only=True)
class Shown:
    """A person as one viewer sees them: ``sub`` only for `INSIDERS`."""

    display_name: str
    sub: str | None


class DisplayNames:
    """Names people for one viewer."""

    def __init__(self, people: People) -> None:
        self._people = people

    async def show(self, subs: Iterable[str | None], viewer: Principal) -> dict[str | None, Shown]:
        """How `viewer` sees each of `subs` (``None``: an unrecorded author).

        Raises:
            StorageUnavailable: the database failed.
        """
        shown: dict[str | None, Shown] = {}
        insider = viewer.role in INSIDERS
        for sub in dict.fromkeys(subs):
            if sub is None:
                shown[sub] = Shown(display_name=UNKNOWN, sub=None)
                continue
            try:
                person = await self._people.get_person(sub)
            except PersonNotFound:
                shown[sub] = Shown(display_name=UNKNOWN, sub=sub if insider else None)
                continue
            shown[sub] = (Shown(display_name=person.name, sub=sub) if insider
                          else Shown(display_name=person.public_name, sub=None))
        return shown

    async def pseudonymize_authors(
        self, annotations: list[dict[str, Any]], viewer: Principal
    ) -> None:
        """Rewrite the ``author`` of annotations (and their replies) as shown to `viewer`:
        unchanged for insiders and for the viewer's own; else the public name, no subject.

        Raises:
            StorageUnavailable: the database failed.
        """
        if viewer.role in INSIDERS:
            return
        authors = [a["author"] for entry in annotations
                   for a in (entry, *entry.get("replies", ())) if isinstance(a, dict)]
        subs = [str(author.get("sub")) for author in authors if isinstance(author, dict)]
        shown = await self.show(subs, viewer)
        for author in authors:
            if isinstance(author, dict) and author.get("sub") != viewer.sub:
                person = shown.get(str(author.get("sub")))
                author["sub"] = ""
                author["name"] = person.display_name if person else UNKNOWN


def handle_of(person: Person) -> str:
    """What stands for a person's subject where it may not be shown: ``membre-7``."""
    return handle_number(person.pseudonym)


async def annotations_sub(people: People, viewer: Principal) -> str | None:
    """Who `viewer` is in the ``D.annotations`` they sync: their subject, or in the public
    view their handle (``None``: the public, or a person not recorded yet), so that a page
    knows its own comments.

    Raises:
        StorageUnavailable: the database failed.
    """
    if sees_real_names(viewer):
        return viewer.sub
    if viewer.role is Role.PUBLIC or not viewer.sub:
        return None
    # A page's first request may come before its person is recorded (off the request path).
    person = await recorded_person(people, viewer.sub, patient=True)
    return None if person is None else handle_of(person)


class PublicDirectory:
    """How readers who may not see names see people in the public view of a text's
    annotations (`server.rooms.projection`): their handle, and their public name."""

    def __init__(self, people: People, digest: Callable[[str], str]) -> None:
        self._people = people
        self._digest = digest

    async def __call__(self, subs: Collection[str], *, patient: bool) -> dict[str, Public]:
        """Each of `subs` as the public sees them; one never recorded: ``Inconnu`` and a
        keyed digest. `patient`: a subject not recorded yet is waited for a moment (people
        are recorded off the request path, and a view shows an item one way for good).

        Raises:
            StorageUnavailable: the database failed.
        """
        shown: dict[str, Public] = {}
        for sub in subs:
            person = await recorded_person(self._people, sub, patient=patient)
            shown[sub] = (Public(f"inconnu-{self._digest(sub)[:12]}", UNKNOWN) if person is None
                          else Public(handle_of(person), person.public_name))
        return shown


async def recorded_person(people: People, sub: str, *, patient: bool) -> Person | None:
    """The person `sub`, or ``None`` if never recorded; `patient`: waited for a moment
    (people are recorded off the request path).

    Raises:
        StorageUnavailable: the database failed.
    """
    deadline = time.monotonic() + (_PATIENCE_SECONDS if patient else 0)
    while True:
        try:
            return await people.get_person(sub)
        except PersonNotFound:
            if time.monotonic() >= deadline:
                return None
        await anyio.sleep(_PATIENCE_POLL_SECONDS)
