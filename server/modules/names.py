"""How a person is named in what the server shows: a real name to the assembly's members
and facilitators, a stable pseudonym (``Membre 7``, `storage.people.pseudonym_of`) to
everyone else (citizens, the public) unless the person chose to be named in public.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from server.access.auth import Principal, Role
from storage.people import People, PersonNotFound

UNKNOWN = "Inconnu"
"""The name of an author the server has no record of (a write made before people were kept)."""
INSIDERS = frozenset({Role.MEMBER, Role.FACILITATOR})
"""Who sees real names and subjects: those who work on the text together, live."""


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
