"""`Invitations` on SQLAlchemy Core: a part of `SqlDocumentStore`."""

from __future__ import annotations

import json
from collections.abc import Sequence

from sqlalchemy import Row, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from storage._sql_connections import SqlConnections
from storage.invitations import Invitation, InvitationNotFound, InvitationSpent
from storage.models import InvitationRow

_COLUMNS = (InvitationRow.id, InvitationRow.role, InvitationRow.docs, InvitationRow.note,
            InvitationRow.created_by, InvitationRow.created_at, InvitationRow.expires_at,
            InvitationRow.max_uses, InvitationRow.uses, InvitationRow.revoked_at)


class SqlInvitations(SqlConnections):
    """The ``invitations`` table: one short transaction per call."""

    async def create_invitation(self, invitation: Invitation) -> None:
        values = {
            "id": invitation.id, "role": invitation.role, "note": invitation.note,
            "docs": None if invitation.docs is None else json.dumps(list(invitation.docs)),
            "created_by": invitation.created_by, "created_at": invitation.created_at,
            "expires_at": invitation.expires_at, "max_uses": invitation.max_uses,
            "uses": invitation.uses, "revoked_at": invitation.revoked_at,
        }
        async with self._writing("create an invitation") as conn:
            await conn.execute(insert(InvitationRow).values(values))

    async def get_invitation(self, invitation_id: str) -> Invitation:
        async with self._reading("read an invitation") as conn:
            return await _invitation(conn, invitation_id)

    async def list_invitations(self, *, limit: int) -> Sequence[Invitation]:
        query = (select(*_COLUMNS)
                 .order_by(InvitationRow.created_at.desc(), InvitationRow.id).limit(limit))
        async with self._reading("list invitations") as conn:
            rows = (await conn.execute(query)).all()
        return [_from_row(row) for row in rows]

    async def use_invitation(self, invitation_id: str, *, at: float) -> Invitation:
        # One conditional UPDATE: the database serialises concurrent uses of the last one.
        usable = update(InvitationRow).where(
            InvitationRow.id == invitation_id, InvitationRow.revoked_at.is_(None),
            InvitationRow.expires_at > at, InvitationRow.uses < InvitationRow.max_uses,
        ).values(uses=InvitationRow.uses + 1)
        async with self._writing("use an invitation") as conn:
            used = (await conn.execute(usable)).rowcount
            invitation = await _invitation(conn, invitation_id)
        if not used:
            raise InvitationSpent(invitation.why_spent(at) or "this invitation is spent")
        return invitation

    async def revoke_invitation(self, invitation_id: str, *, at: float) -> Invitation:
        async with self._writing("revoke an invitation") as conn:
            await conn.execute(update(InvitationRow).where(
                InvitationRow.id == invitation_id, InvitationRow.revoked_at.is_(None),
            ).values(revoked_at=at))
            return await _invitation(conn, invitation_id)


async def _invitation(conn: AsyncConnection, invitation_id: str) -> Invitation:
    query = select(*_COLUMNS).where(InvitationRow.id == invitation_id)
    row = (await conn.execute(query)).first()
    if row is None:
        raise InvitationNotFound(f"no invitation {invitation_id[:64]!r}")
    return _from_row(row)


def _from_row(
    row: Row[str, str, str | None, str, str, float, float, int, int, float | None],
) -> Invitation:
    values = row._asdict()
    docs = values.pop("docs")
    return Invitation(**values, docs=None if docs is None else tuple(json.loads(docs)))
