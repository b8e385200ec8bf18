"""`Invitations` in memory: a part of `MemoryDocumentStore`."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

from storage._memory_access import MemoryAccess
from storage.invitations import Invitation, InvitationNotFound, InvitationSpent


class MemoryInvitations(MemoryAccess):
    """The invitations in a dict, with the SQL part's semantics."""

    def __init__(self) -> None:
        self._invitations: dict[str, Invitation] = {}

    async def create_invitation(self, invitation: Invitation) -> None:
        await self._enter()
        self._invitations[invitation.id] = invitation

    async def get_invitation(self, invitation_id: str) -> Invitation:
        await self._enter()
        return self._known_invitation(invitation_id)

    async def list_invitations(self, *, limit: int) -> Sequence[Invitation]:
        await self._enter()
        ordered = sorted(self._invitations.values(), key=lambda i: (-i.created_at, i.id))
        return ordered[:limit]

    async def use_invitation(self, invitation_id: str, *, at: float) -> Invitation:
        await self._enter()
        invitation = self._known_invitation(invitation_id)
        why = invitation.why_spent(at)
        if why is not None:
            raise InvitationSpent(why)
        used = dataclasses.replace(invitation, uses=invitation.uses + 1)
        self._invitations[invitation_id] = used
        return used

    async def revoke_invitation(self, invitation_id: str, *, at: float) -> Invitation:
        await self._enter()
        invitation = self._known_invitation(invitation_id)
        if invitation.revoked_at is None:
            invitation = dataclasses.replace(invitation, revoked_at=at)
            self._invitations[invitation_id] = invitation
        return invitation

    def _known_invitation(self, invitation_id: str) -> Invitation:
        invitation = self._invitations.get(invitation_id)
        if invitation is None:
            raise InvitationNotFound(f"no invitation {invitation_id[:64]!r}")
        return invitation
