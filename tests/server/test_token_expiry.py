"""Every token expires and every person has a subject of their own.

`mint_token` and ``palabre token`` (a real subprocess) put a default ``exp`` per role;
the authenticator refuses a token without ``exp``, ours or an OIDC issuer's (its JWKS
served over real HTTP); ``palabre token`` without ``--sub`` never gives two people the
same subject. Document ids made only of dots are not document ids.
"""

from __future__ import annotations

import base64
import json
import logging
import re
from pathlib import Path

import pytest

from crdt.doc_id import is_doc_id, parse_doc_id
from server.access.auth import (
    DEFAULT_TTL_SECONDS,
    MAX_TTL_SECONDS,
    Authenticator,
    OidcIssuer,
    Role,
    mint_token,
    unique_sub,
)
from server.access.gate import Access
from server.settings import Settings
from tests.server.test_auth import (
    NOW,
    SECRET,
    FakeIssuer,
    FakeMonotonic,
    RsaSigner,
    claims,
    hs256,
    local,
    oidc_claims,
    refused,
)
from tests.server.test_auth import issuer as issuer  # the JWKS server fixture
from tests.server.test_cli_token import palabre

NO_EXP = "token without expiry ('exp' claim) refused"


def payload_of(token: str) -> dict[str, object]:
    """The claims of a JWT, read without checking it."""
    part = token.split(".")[1]
    claims_: dict[str, object] = json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))
    return claims_


# --- minting ------------------------------------------------------------------------------


@pytest.mark.parametrize("role", list(Role))
def test_minted_token_expires_after_its_role_default(role: Role) -> None:
    token = mint_token(SECRET, sub="x", name="X", role=role, now=NOW)
    assert payload_of(token)["exp"] == int(NOW) + DEFAULT_TTL_SECONDS[role]


def test_default_lifetimes_shrink_as_rights_grow() -> None:
    assert DEFAULT_TTL_SECONDS[Role.FACILITATOR] == 12 * 3600
    assert DEFAULT_TTL_SECONDS[Role.MEMBER] == 7 * 24 * 3600
    assert DEFAULT_TTL_SECONDS[Role.CITIZEN] == 30 * 24 * 3600
    assert max(DEFAULT_TTL_SECONDS.values()) <= MAX_TTL_SECONDS


def test_explicit_ttl_overrides_the_default() -> None:
    token = mint_token(SECRET, sub="x", name="X", role=Role.CITIZEN, ttl=90, now=NOW)
    assert payload_of(token)["exp"] == int(NOW) + 90


def test_unique_subs_differ_for_the_same_name_and_for_colliding_slugs() -> None:
    subs = {unique_sub("Élodie Lefèvre") for _ in range(50)} | {unique_sub("Elodie Lefevre")}
    assert len(subs) == 51
    assert all(re.fullmatch(r"elodie-lefevre-[0-9a-f]{8}", sub) for sub in subs)
    assert unique_sub("李") == ""


# --- the authenticator refuses tokens without exp -------------------------------------


async def test_our_token_without_exp_is_refused() -> None:
    assert await refused(local(), hs256(claims(exp=None))) == NO_EXP
    assert (await local().authenticate(hs256(claims()))).expires_at == NOW + 3600


async def test_oidc_token_without_exp_is_refused(issuer: FakeIssuer) -> None:
    signer = RsaSigner("k1")
    issuer.keys = [signer.jwk]
    for audience in (None, "palabre-assemblee"):
        async with Authenticator(
            SECRET, oidc=OidcIssuer(issuer=issuer.url, audience=audience),
            clock=lambda: NOW, monotonic=FakeMonotonic(),
        ) as authenticator:
            forever = signer.sign(oidc_claims(issuer, exp=None, aud="palabre-assemblee"))
            assert await refused(authenticator, forever) == NO_EXP
            bounded = signer.sign(oidc_claims(issuer, aud="palabre-assemblee"))
            assert (await authenticator.authenticate(bounded)).expires_at == NOW + 3600


def test_oidc_without_audience_is_announced(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    bare = Settings(data_dir=tmp_path, oidc_issuer="https://id.example")
    bound = Settings(data_dir=tmp_path, oidc_issuer="https://id.example", oidc_audience="palabre")
    with caplog.at_level(logging.WARNING, logger="palabre.access"):
        Access(bound).announce()
        assert "PALABRE_OIDC_AUDIENCE" not in caplog.text
        Access(bare).announce()
    assert "PALABRE_OIDC_AUDIENCE is not set" in caplog.text


# --- palabre token ----------------------------------------------------------------------


@pytest.mark.parametrize("role", [Role.FACILITATOR, Role.MEMBER, Role.CITIZEN])
async def test_cli_token_carries_its_role_default_ttl(tmp_path: Path, role: Role) -> None:
    result = await palabre(
        "token", "--role", role.value, "--name", "Anaïs", "--sub", "anais-1",
        "--data-dir", str(tmp_path / "data"), cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr.decode()
    assert result.stderr == b""  # an explicit --sub: nothing to show the operator
    payload = payload_of(result.stdout.decode().strip())
    assert payload["sub"] == "anais-1"
    assert isinstance(payload["exp"], int) and isinstance(payload["iat"], int)
    assert payload["exp"] - payload["iat"] == DEFAULT_TTL_SECONDS[role]


async def test_cli_ttl_overrides_the_default(tmp_path: Path) -> None:
    result = await palabre(
        "token", "--role", "citizen", "--name", "Anaïs", "--ttl", "600",
        "--data-dir", str(tmp_path / "data"), cwd=tmp_path,
    )
    payload = payload_of(result.stdout.decode().strip())
    assert isinstance(payload["exp"], int) and isinstance(payload["iat"], int)
    assert payload["exp"] - payload["iat"] == 600


@pytest.mark.parametrize("ttl", ["0", "-1", "-3600", str(MAX_TTL_SECONDS + 1)])
async def test_cli_refuses_a_ttl_that_is_not_a_bounded_lifetime(tmp_path: Path, ttl: str) -> None:
    result = await palabre(
        "token", "--role", "member", "--name", "Anaïs", f"--ttl={ttl}", cwd=tmp_path
    )
    assert result.returncode == 2
    assert result.stdout == b""
    assert b"--ttl" in result.stderr


async def test_cli_gives_two_people_two_subjects_and_shows_them(tmp_path: Path) -> None:
    subs: list[str] = []
    for name in ("Élodie Lefèvre", "Elodie Lefevre", "Élodie Lefèvre"):
        result = await palabre(
            "token", "--role", "member", "--name", name,
            "--data-dir", str(tmp_path / "data"), cwd=tmp_path,
        )
        assert result.returncode == 0, result.stderr.decode()
        sub = str(payload_of(result.stdout.decode().strip())["sub"])
        assert result.stderr.decode() == (
            f"sub: {sub} (pass --sub {sub} to renew this person's token)\n"
        )
        subs.append(sub)
    assert len(set(subs)) == 3
    assert all(sub.startswith("elodie-lefevre-") for sub in subs)


# --- document ids -------------------------------------------------------------------------


@pytest.mark.parametrize("value", [".", "..", "...", "." * 128])
def test_ids_made_only_of_dots_are_refused(value: str) -> None:
    assert not is_doc_id(value)
    with pytest.raises(ValueError, match="not only dots"):
        parse_doc_id(value)


@pytest.mark.parametrize("value", ["a.", ".a", "a..b", "..a", "charte.annotations", "_", "-"])
def test_ids_with_dots_and_something_else_are_kept(value: str) -> None:
    assert parse_doc_id(value) == value
