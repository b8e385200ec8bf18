"""Who a person signed in by the identity provider is here: subject, name and role from the
provider's claims (ID token and user info). Pure: no I/O.

The role comes from one claim (``PALABRE_SIGNIN_ROLE_CLAIM``, e.g. ``groups`` or
``roles``; a string or a list of strings): a value listed in
``PALABRE_SIGNIN_FACILITATOR_VALUES`` makes a facilitator, one in
``PALABRE_SIGNIN_MEMBER_VALUES`` a member (facilitator wins); anyone else signed in gets
``PALABRE_SIGNIN_DEFAULT_ROLE`` (citizen). A facilitator's later change in the people
routes wins over all of this.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from server.access.auth import Principal, Role
from server.errors import Unauthenticated

MAX_NAME_CHARS = 200
_NAME_CLAIMS = ("name", "preferred_username", "nickname", "email")


@dataclass(frozen=True, slots=True, kw_only=True)
class RoleMapping:
    """How claims map to roles."""

    claim: str = "roles"
    facilitators: frozenset[str] = frozenset()
    members: frozenset[str] = frozenset()
    default: Role = Role.CITIZEN

    @classmethod
    def parse(cls, claim: str, facilitators: str, members: str, default: str) -> RoleMapping:
        """The mapping from its settings (comma-separated values).

        Raises:
            ValueError: the default role is not member, facilitator or citizen.
        """
        role = Role(default)
        if role is Role.PUBLIC:
            raise ValueError("PALABRE_SIGNIN_DEFAULT_ROLE must be citizen, member or facilitator")
        return cls(claim=claim, facilitators=_values(facilitators), members=_values(members),
                   default=role)

    def role_of(self, claims: Mapping[str, object]) -> Role:
        """The role `claims` give."""
        raw = claims.get(self.claim)
        values = {raw} if isinstance(raw, str) else (
            {v for v in raw if isinstance(v, str)} if isinstance(raw, list) else set())
        if values & self.facilitators:
            return Role.FACILITATOR
        if values & self.members:
            return Role.MEMBER
        return self.default


def signed_in_principal(
    claims: Mapping[str, object], mapping: RoleMapping, *, sub_prefix: str = "",
) -> Principal:
    """The person `claims` describe (``sub``, else a plain OAuth provider's ``id``).

    Raises:
        Unauthenticated: no usable subject.
    """
    raw_sub = claims.get("sub", claims.get("id"))
    if isinstance(raw_sub, bool) or not isinstance(raw_sub, str | int) or raw_sub == "":
        raise Unauthenticated("the identity provider named nobody (no 'sub' or 'id')")
    sub = f"{sub_prefix}{raw_sub}"
    if len(sub) > 255:
        raise Unauthenticated("the identity provider's subject is longer than 255 characters")
    name = next((str(claims[k]) for k in _NAME_CLAIMS
                 if isinstance(claims.get(k), str) and str(claims[k]).strip()), sub)
    return Principal(sub=sub, name=" ".join(name.split())[:MAX_NAME_CHARS],
                     role=mapping.role_of(claims))


def _values(text: str) -> frozenset[str]:
    return frozenset(v.strip() for v in text.split(",") if v.strip())
