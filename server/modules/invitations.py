"""Invitations: a facilitator makes a link with a role (and optionally documents, an expiry,
a number of uses, a note); whoever opens it chooses a display name and is signed in.

Using an invitation is one atomic step in the shared database (`Invitations.use_invitation`),
so its limits hold across nodes. Each invited person gets a subject of their own (their
name's slug and a random suffix): two people invited by one link are two people, and the
people routes can change or remove each. Creating, using and revoking are audited.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from server.access.auth import DAY, Principal, Role, unique_sub
from server.modules.people import ASSIGNABLE_ROLES, Record
from storage.invitations import Invitation, Invitations, InvitationSpent

DEFAULT_TTL_SECONDS = 7 * DAY
"""An invitation made without ``ttl_seconds`` lets people in for a week."""
MAX_TTL_SECONDS = 90 * DAY
"""Longest an invitation may stay usable: a consultation period and a half."""
MAX_USES = 10_000
"""Most people one invitation may let in (a public consultation's link)."""
MAX_NOTE_CHARS = 1_000
MAX_DOC_PATTERNS = 50
MAX_NAME_CHARS = 100
"""Longest display name an invited person may choose."""
ID_BYTES = 18
"""Random bytes of an invitation's id (base64url: 24 characters), the secret of its link."""
MAX_ID_CHARS = 64


@dataclass(frozen=True, slots=True, kw_only=True)
class InvitationRequest:
    """What a facilitator asks for (already checked by the HTTP layer)."""

    role: Role
    docs: tuple[str, ...] | None = None
    ttl_seconds: int = DEFAULT_TTL_SECONDS
    uses: int = 1
    note: str = ""


class InvitationService:
    """Creates, lists, revokes and redeems invitations; audited."""

    def __init__(
        self, store: Invitations, record: Record, *, clock: Callable[[], float] = time.time,
    ) -> None:
        self._store = store
        self._record = record
        self._clock = clock

    async def create(self, request: InvitationRequest, by: Principal) -> Invitation:
        """A new invitation made by `by`.

        Raises:
            ValueError: a role nobody may be given.
            StorageUnavailable: the database failed.
        """
        if request.role not in ASSIGNABLE_ROLES:
            raise ValueError(f"nobody is invited as {request.role}")
        now = self._clock()
        invitation = Invitation(
            id=secrets.token_urlsafe(ID_BYTES), role=str(request.role), docs=request.docs,
            note=request.note, created_by=by.sub, created_at=now,
            expires_at=now + request.ttl_seconds, max_uses=request.uses,
        )
        await self._store.create_invitation(invitation)
        await self._record(None, "invitation.created", by, {
            "invitation": invitation.id[:8], "role": invitation.role,
            "docs": list(invitation.docs or ()), "uses": invitation.max_uses,
            "expires_at": invitation.expires_at})
        return invitation

    async def list(self, *, limit: int) -> Sequence[Invitation]:
        """The newest invitations.

        Raises:
            StorageUnavailable: the database failed.
        """
        return await self._store.list_invitations(limit=limit)

    async def get(self, invitation_id: str) -> Invitation:
        """One invitation.

        Raises:
            InvitationNotFound: no such invitation.
            StorageUnavailable: the database failed.
        """
        return await self._store.get_invitation(invitation_id)

    async def usable(self, invitation_id: str) -> Invitation:
        """The invitation, when someone may still use it now.

        Raises:
            InvitationNotFound: no such invitation.
            InvitationSpent: expired, used up or revoked.
            StorageUnavailable: the database failed.
        """
        invitation = await self._store.get_invitation(invitation_id)
        why = invitation.why_spent(self._clock())
        if why is not None:
            raise InvitationSpent(why)
        return invitation

    async def revoke(self, invitation_id: str, by: Principal) -> Invitation:
        """Let nobody else in with it (those already in stay: remove them as people).

        Raises:
            InvitationNotFound: no such invitation.
            StorageUnavailable: the database failed.
        """
        invitation = await self._store.revoke_invitation(invitation_id, at=self._clock())
        await self._record(None, "invitation.revoked", by, {"invitation": invitation_id[:8]})
        return invitation

    async def redeem(self, invitation_id: str, name: str) -> Principal:
        """Use one of the invitation's uses for a new person called `name`: who they are.

        Raises:
            InvitationNotFound: no such invitation.
            InvitationSpent: expired, used up or revoked.
            StorageUnavailable: the database failed.
        """
        sub = unique_sub(name) or f"invite-{secrets.token_hex(4)}"
        return await self.redeem_as(invitation_id, Principal(sub=sub, name=name,
                                                             role=Role.CITIZEN))

    async def redeem_as(self, invitation_id: str, person: Principal) -> Principal:
        """Use one of the invitation's uses for `person` (one the identity provider signed
        in, linking their account): `person` with the invitation's role and documents.

        Raises:
            InvitationNotFound: no such invitation.
            InvitationSpent: expired, used up or revoked.
            StorageUnavailable: the database failed.
        """
        invitation = await self._store.use_invitation(invitation_id, at=self._clock())
        principal = Principal(sub=person.sub, name=person.name, role=Role(invitation.role),
                              docs=invitation.docs)
        await self._record(None, "invitation.used", principal, {
            "invitation": invitation_id[:8], "role": invitation.role,
            "uses": invitation.uses, "of": invitation.max_uses})
        return principal
