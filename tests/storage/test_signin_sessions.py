"""Sign-in sessions in every store (memory, SQLite, PostgreSQL): open, read, touch, end
one, end all of a subject, purge the idle and expired."""

from __future__ import annotations

import uuid

import pytest

from storage.signin import SigninSession, SigninSessionNotFound
from tests.storage.conftest import StoreFactory


def session(sub: str, *, at: float = 1000.0, docs: tuple[str, ...] | None = None,
            expires_at: float = 5000.0) -> SigninSession:
    return SigninSession(
        key=uuid.uuid4().hex * 2, sub=sub, name="Zoé Lefèvre", role="member", docs=docs,
        via="token", created_at=at, last_seen=at, expires_at=expires_at,
    )


async def test_a_session_is_read_back_touched_and_ended(make_store: StoreFactory) -> None:
    sub = f"zoe-{uuid.uuid4().hex[:8]}"
    first, second = session(sub, docs=("charte*", "budget")), session(sub, at=1100.0)
    async with make_store() as store:
        await store.open_signin_session(first)
        await store.open_signin_session(second)
        assert await store.get_signin_session(first.key) == first
        await store.touch_signin_session(first.key, at=1500.0)
        await store.touch_signin_session(first.key, at=1200.0)  # never back in time
        assert (await store.get_signin_session(first.key)).last_seen == 1500.0
        assert [s.key for s in await store.signin_sessions_of(sub)] == [second.key, first.key]
        assert await store.end_signin_session(first.key) is True
        assert await store.end_signin_session(first.key) is False
        with pytest.raises(SigninSessionNotFound):
            await store.get_signin_session(first.key)
        assert await store.end_signin_sessions_of(sub) == 1
        assert await store.signin_sessions_of(sub) == []


async def test_purge_deletes_the_idle_and_the_expired_only(make_store: StoreFactory) -> None:
    sub = f"yann-{uuid.uuid4().hex[:8]}"
    idle, expired, live = (session(sub, at=100.0), session(sub, at=900.0, expires_at=950.0),
                           session(sub, at=900.0))
    async with make_store() as store:
        for each in (idle, expired, live):
            await store.open_signin_session(each)
        await store.purge_signin_sessions(idle_before=500.0, now=1000.0)
        assert [s.key for s in await store.signin_sessions_of(sub)] == [live.key]
