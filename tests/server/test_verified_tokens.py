"""Tokens verified once are known until they expire; the roster still applies."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from server.access.auth import PUBLIC, Principal, Role, mint_token
from server.access.gate import Access
from server.access.secret import load_or_create_secret
from server.access.verified import VerifiedTokens
from server.errors import Unauthenticated
from server.settings import Settings


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def principal(sub: str, expires_at: float | None) -> Principal:
    return Principal(sub=sub, name=sub, role=Role.CITIZEN, expires_at=expires_at)


def test_a_verified_token_is_known_until_it_expires_plus_the_leeway() -> None:
    clock = Clock()
    tokens = VerifiedTokens(clock=clock, leeway=30)
    zoe = principal("zoe", expires_at=1100)
    assert tokens.get("t-zoe") is None
    tokens.remember("t-zoe", zoe)
    assert tokens.get("t-zoe") == zoe
    clock.now = 1130
    assert tokens.get("t-zoe") == zoe
    clock.now = 1130.5
    assert tokens.get("t-zoe") is None
    assert len(tokens) == 0


def test_the_memo_is_bounded_and_forgets_the_oldest_first() -> None:
    tokens = VerifiedTokens(clock=Clock(), leeway=30, size=2)
    for name in ("a", "b", "c"):
        tokens.remember(f"t-{name}", principal(name, expires_at=2000))
    assert tokens.get("t-a") is None
    assert tokens.get("t-b") is not None and tokens.get("t-c") is not None
    tokens.remember("t-none", principal("none", expires_at=None))  # no exp: never kept
    assert tokens.get("t-none") is None and len(tokens) == 2


async def test_access_knows_a_token_only_once_it_has_verified_it(tmp_path: Path) -> None:
    settings = replace(Settings(), data_dir=tmp_path)
    access = Access(settings)
    token = mint_token(load_or_create_secret(tmp_path), sub="zoe", name="Zoé",
                       role=Role.MEMBER, ttl=3600)
    assert access.known(token) is None
    verified = await access.authenticate(token)
    known = access.known(token)
    assert known is not None and known.sub == verified.sub == "zoe"
    assert await access.authenticate(token) == verified  # from the memo, the same
    forged = token[:-4] + ("AAAA" if not token.endswith("AAAA") else "BBBB")
    assert access.known(forged) is None
    assert access.identify(forged) is PUBLIC  # not valid: keyed as the public
    assert access.identify("not a token") is PUBLIC
    other = mint_token(load_or_create_secret(tmp_path), sub="loic", name="Loïc",
                       role=Role.CITIZEN, ttl=3600)
    identified = access.identify(other)  # checked against the secret now, then known
    assert identified is not None and identified.sub == "loic"
    assert access.known(other) == identified
    with pytest.raises(Unauthenticated):
        await access.authenticate(forged)
    await access.aclose()
