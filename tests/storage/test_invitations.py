"""Invitations in every store (memory, SQLite, PostgreSQL): created, listed, used within
their limits (atomically: concurrent uses never exceed them), expired, revoked."""

from __future__ import annotations

import uuid

import anyio
import pytest

from storage.invitations import Invitation, InvitationNotFound, InvitationSpent
from tests.storage.conftest import StoreFactory


def invitation(*, uses: int = 1, expires_at: float = 2000.0) -> Invitation:
    return Invitation(id=uuid.uuid4().hex, role="member", docs=("charte*",), note="Atelier",
                      created_by="anais", created_at=1000.0, expires_at=expires_at,
                      max_uses=uses)


async def test_uses_expiry_and_revocation(make_store: StoreFactory) -> None:
    made, short = invitation(uses=2), invitation(uses=5, expires_at=1100.0)
    async with make_store() as store:
        await store.create_invitation(made)
        await store.create_invitation(short)
        assert await store.get_invitation(made.id) == made
        assert (await store.use_invitation(made.id, at=1001.0)).uses == 1
        assert (await store.use_invitation(made.id, at=1002.0)).uses == 2
        with pytest.raises(InvitationSpent, match="used as many times"):
            await store.use_invitation(made.id, at=1003.0)
        with pytest.raises(InvitationSpent, match="expired"):
            await store.use_invitation(short.id, at=1100.0)
        revoked = await store.revoke_invitation(short.id, at=1050.0)
        assert (await store.revoke_invitation(short.id, at=1060.0)).revoked_at == 1050.0
        assert revoked.revoked_at == 1050.0
        with pytest.raises(InvitationSpent, match="revoked"):
            await store.use_invitation(short.id, at=1051.0)
        with pytest.raises(InvitationNotFound):
            await store.use_invitation("nope", at=1001.0)
        listed = await store.list_invitations(limit=1000)
        assert {i.id: i.uses for i in listed if i.id in {made.id, short.id}} == {
            made.id: 2, short.id: 0}


async def test_concurrent_uses_never_exceed_the_limit(make_store: StoreFactory) -> None:
    made = invitation(uses=3)
    granted: list[int] = []
    refused: list[str] = []
    async with make_store() as store:
        await store.create_invitation(made)

        async def use() -> None:
            try:
                granted.append((await store.use_invitation(made.id, at=1001.0)).uses)
            except InvitationSpent as exc:
                refused.append(str(exc))

        async with anyio.create_task_group() as tg:
            for _ in range(10):
                tg.start_soon(use)
        assert sorted(granted) == [1, 2, 3]
        assert len(refused) == 7 and all("used as many times" in r for r in refused)
        assert (await store.get_invitation(made.id)).uses == 3
