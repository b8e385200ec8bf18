"""The invitations port: links a facilitator hands out, each signing people in with a role.

An invitation has a role, optionally the documents it is limited to, an expiry and a
number of uses; using it is one atomic step (`use_invitation`), so two people opening the
last use at once cannot both get in, on any node.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from storage.base import StorageError


class InvitationNotFound(StorageError):
    """No invitation has this id."""


class InvitationSpent(StorageError):
    """The invitation exists but lets nobody in any more: expired, used up or revoked."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Invitation:
    """One invitation; times are Unix seconds."""

    id: str
    role: str
    docs: tuple[str, ...] | None
    note: str
    created_by: str
    created_at: float
    expires_at: float
    max_uses: int
    uses: int = 0
    revoked_at: float | None = None

    def why_spent(self, now: float) -> str | None:
        """Why nobody may use it at `now` (``None``: usable)."""
        if self.revoked_at is not None:
            return "this invitation was revoked"
        if now >= self.expires_at:
            return "this invitation has expired"
        if self.uses >= self.max_uses:
            return "this invitation has been used as many times as it allows"
        return None


class Invitations(Protocol):
    """Invitations by id."""

    async def create_invitation(self, invitation: Invitation) -> None:
        """Store a new invitation.

        Raises:
            StorageUnavailable: the database failed.
        """

    async def get_invitation(self, invitation_id: str) -> Invitation:
        """The invitation `invitation_id`.

        Raises:
            InvitationNotFound: no such invitation.
            StorageUnavailable: the database failed.
        """

    async def list_invitations(self, *, limit: int) -> Sequence[Invitation]:
        """At most `limit` invitations, the newest first.

        Raises:
            StorageUnavailable: the database failed.
        """

    async def use_invitation(self, invitation_id: str, *, at: float) -> Invitation:
        """Count one use at `at`, if it is still usable then (atomically); the invitation after.

        Raises:
            InvitationNotFound: no such invitation.
            InvitationSpent: expired, used up or revoked.
            StorageUnavailable: the database failed.
        """

    async def revoke_invitation(self, invitation_id: str, *, at: float) -> Invitation:
        """Let nobody in with it from `at` on (a second revocation keeps the first time).

        Raises:
            InvitationNotFound: no such invitation.
            StorageUnavailable: the database failed.
        """
