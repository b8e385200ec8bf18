"""How a person is named in what the server shows: a real name to the assembly's members
and facilitators, a stable pseudonym to everyone else unless the person chose to be named.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

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
                name = UNKNOWN
            else:
                name = person.name
            if insider:
                shown[sub] = Shown(display_name=name, sub=sub)
            else:
                shown[sub] = Shown(display_name=f"Membre {len(shown) + 1}", sub=None)
        return shown
