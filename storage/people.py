"""The people port: every subject the server has seen, their role changes and removals.

A person is recorded the first time one of their credentials is accepted (a CLI token, an
OIDC issuer's token, later a session), whatever issued it. Facilitators change a person's
role (an override that wins over the role their credentials claim) or remove them (every
credential of that subject issued until then is refused from then on).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from storage.base import StorageError

SUB_LENGTH = 255
"""Longest subject stored (the OIDC ``sub`` is at most 255 ASCII characters)."""


class PersonNotFound(StorageError):
    """No subject with this id was ever seen."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Person:
    """A subject seen by the server; times are Unix seconds."""

    sub: str
    name: str
    role: str
    """The role their latest credential claimed."""
    first_seen: float
    last_seen: float
    role_override: str | None = None
    """The role a facilitator gave them, which wins over `role`; ``None``: none given."""
    removed_at: float | None = None
    """When they were removed: credentials issued until then are refused."""
    pseudonym: int = 0
    """Their number, given at first sighting (1, 2, ...): `pseudonym_of` names them by it."""
    named_publicly: bool = False
    """They chose to be named by their name in public, instead of their pseudonym."""
    erased_at: float | None = None
    """When their personal data was erased (name and subject replaced by the pseudonym)."""
    erased_digest: str | None = None
    """A keyed digest of the subject they had before erasure (`Roster` refuses it)."""

    @property
    def public_name(self) -> str:
        """How public pages, exports and the archive name them."""
        if self.named_publicly and self.erased_at is None:
            return self.name
        return pseudonym_of(self.pseudonym)


def handle_of(number: int) -> str:
    """What stands for a person's subject where it may not be shown: ``membre-7`` (the
    public view of a text's annotations, the public archive's hashed fields)."""
    return f"membre-{number}"


def pseudonym_of(number: int) -> str:
    """A person's pseudonym, gender-neutral: ``Membre 7``."""
    return f"Membre {number}"


class People(Protocol):
    """Who the server has seen, and the rights facilitators changed."""

    async def record_person(self, *, sub: str, name: str, role: str, at: float) -> Person:
        """Record that `sub` authenticated at `at` with `name` and `role` (insert or touch);
        a new person gets the next free pseudonym number.

        Raises:
            StorageUnavailable: the database failed.
        """

    async def get_person(self, sub: str) -> Person:
        """The person `sub`.

        Raises:
            PersonNotFound: never seen.
            StorageUnavailable: the database failed.
        """

    async def list_people(self, *, limit: int) -> Sequence[Person]:
        """At most `limit` people, the most recently seen first.

        Raises:
            StorageUnavailable: the database failed.
        """

    async def set_role_override(self, sub: str, role: str | None) -> Person:
        """Give `sub` the role `role` whatever their credentials claim (``None``: theirs).

        Raises:
            PersonNotFound: never seen.
            StorageUnavailable: the database failed.
        """

    async def remove_person(self, sub: str, *, at: float) -> Person:
        """Refuse every credential of `sub` issued until `at`.

        Raises:
            PersonNotFound: never seen.
            StorageUnavailable: the database failed.
        """

    async def set_named_publicly(self, sub: str, named: bool) -> Person:
        """Whether `sub` is named by their name in public (else by their pseudonym).

        Raises:
            PersonNotFound: never seen.
            StorageUnavailable: the database failed.
        """

    async def changed_rights(self) -> Sequence[Person]:
        """Every person with a role override or a removal (what each node keeps in memory).

        Raises:
            StorageUnavailable: the database failed.
        """
