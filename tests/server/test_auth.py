"""Tokens → principals: HS256 with the server's secret, OIDC JWKS over real HTTP, the secret file.

Tokens under test are crafted by hand (hmac, cryptography), not with authlib, so
the verifier is checked against an independent signer.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import stat
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, cast

import anyio
import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

from crdt.protocol import CloseCode
from server.access.auth import PUBLIC, Authenticator, OidcIssuer, Principal, Role, mint_token
from server.access.secret import SecretError, load_or_create_secret
from server.errors import Overloaded, Unauthenticated

SECRET = bytes(range(32))
NOW = 1_800_000_000.0


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64json(value: object) -> str:
    return b64url(json.dumps(value, ensure_ascii=False).encode("utf-8"))


def hs256(payload: dict[str, object], secret: bytes = SECRET, **header: object) -> str:
    signing_input = f"{b64json({'alg': 'HS256', 'typ': 'JWT', **header})}.{b64json(payload)}"
    signature = hmac.new(secret, signing_input.encode("ascii"), hashlib.sha256).digest()
    return f"{signing_input}.{b64url(signature)}"


def claims(**overrides: object) -> dict[str, object]:
    base: dict[str, object] = {
        "iss": "palabre", "sub": "elodie-lefevre", "name": "Élodie Lefèvre",
        "role": "member", "iat": int(NOW), "exp": int(NOW) + 3600,
    }
    base.update(overrides)
    return {k: v for k, v in base.items() if v is not None}


def local(clock: float = NOW) -> Authenticator:
    return Authenticator(SECRET, clock=lambda: clock)


async def refused(authenticator: Authenticator, token: str) -> str:
    with pytest.raises(Unauthenticated) as caught:
        await authenticator.authenticate(token)
    assert caught.value.close_code == CloseCode.UNAUTHENTICATED
    assert int(caught.value.close_code) == 4401
    assert caught.value.http_status == 401
    return caught.value.detail


# --- HS256 with the server's secret -------------------------------------------------


@pytest.mark.parametrize("token", [None, ""])
async def test_no_token_is_the_public_principal(token: str | None) -> None:
    assert await local().authenticate(token) is PUBLIC
    assert PUBLIC.role is Role.PUBLIC and PUBLIC.sub == "anonymous"


async def test_minted_token_gives_back_its_claims() -> None:
    token = mint_token(
        SECRET, sub="elodie-lefevre", name="Élodie Lefèvre", role=Role.FACILITATOR,
        docs=["charte-*", "budget"], ttl=600, now=NOW,
    )
    principal = await local().authenticate(token)
    assert principal.credential_id is not None and len(principal.credential_id) >= 16
    assert principal == Principal(
        sub="elodie-lefevre", name="Élodie Lefèvre", role=Role.FACILITATOR,
        docs=("charte-*", "budget"), expires_at=NOW + 600, issued_at=NOW,
        credential_id=principal.credential_id,
    )
    other = await local().authenticate(mint_token(
        SECRET, sub="elodie-lefevre", name="Élodie Lefèvre", role=Role.FACILITATOR, now=NOW))
    assert other.credential_id != principal.credential_id  # every credential has its own id


async def test_token_without_docs_is_unlimited_and_without_exp_refused() -> None:
    principal = await local().authenticate(hs256(claims()))
    assert principal.docs is None and principal.expires_at == NOW + 3600
    assert await refused(local(), hs256(claims(exp=None))) == (
        "token without expiry ('exp' claim) refused"
    )


async def test_name_defaults_to_sub() -> None:
    assert (await local().authenticate(hs256(claims(name=None)))).name == "elodie-lefevre"


async def test_forged_payload_with_the_old_signature_is_refused() -> None:
    header, _, signature = hs256(claims()).split(".")
    forged = f"{header}.{b64json(claims(role='facilitator'))}.{signature}"
    assert await refused(local(), forged) == "bad signature"


async def test_token_signed_with_another_secret_is_refused() -> None:
    assert await refused(local(), hs256(claims(), secret=b"z" * 32)) == "bad signature"


async def test_expired_token_is_refused_after_the_leeway() -> None:
    token = hs256(claims(exp=int(NOW) - 29))
    assert (await local().authenticate(token)).sub == "elodie-lefevre"
    assert await refused(local(), hs256(claims(exp=int(NOW) - 31))) == "token expired"


async def test_token_from_the_future_is_refused_after_the_leeway() -> None:
    assert (await local().authenticate(hs256(claims(iat=int(NOW) + 29)))).role is Role.MEMBER
    assert "not valid yet" in await refused(local(), hs256(claims(iat=int(NOW) + 31)))
    assert "not valid yet" in await refused(local(), hs256(claims(nbf=int(NOW) + 60)))


@pytest.mark.parametrize("alg", ["none", "None", "NONE"])
async def test_unsigned_alg_none_token_is_refused(alg: str) -> None:
    unsigned = f"{b64json({'alg': alg, 'typ': 'JWT'})}.{b64json(claims(role='facilitator'))}."
    assert await refused(local(), unsigned) == "unsigned token (alg none) refused"


async def test_other_algorithms_are_refused() -> None:
    payload = b64json(claims())
    header = b64json({"alg": "HS512", "typ": "JWT"})
    signature = hmac.new(SECRET, f"{header}.{payload}".encode(), hashlib.sha512).digest()
    token = f"{header}.{payload}.{b64url(signature)}"
    assert await refused(local(), token) == "algorithm 'HS512' not accepted"


async def test_rs256_is_refused_without_an_oidc_issuer() -> None:
    token = f"{b64json({'alg': 'RS256', 'kid': 'k'})}.{b64json(claims())}.c2ln"
    assert await refused(local(), token) == "algorithm 'RS256' not accepted"


async def test_hs256_is_refused_when_the_server_has_no_secret() -> None:
    without_secret = Authenticator(None, clock=lambda: NOW)
    assert "not accepted" in await refused(without_secret, hs256(claims()))


async def test_wrong_or_missing_issuer_is_refused() -> None:
    wrong = mint_token(SECRET, sub="a", name="A", role=Role.MEMBER, issuer="ailleurs", now=NOW)
    assert await refused(local(), wrong) == "wrong issuer (expected 'palabre')"
    assert "'iss'" in await refused(local(), hs256(claims(iss=None)))


@pytest.mark.parametrize(
    ("overrides", "reason"),
    [
        ({"sub": None}, "missing 'sub'"),
        ({"sub": ""}, "'sub'"),
        ({"sub": 42}, "'sub' must be a non-empty string"),
        ({"role": None}, "missing 'role' claim"),
        ({"role": ["facilitator"]}, "non-string 'role' claim"),
        ({"role": "admin"}, "unknown role 'admin'"),
        ({"role": "Facilitator"}, "unknown role 'Facilitator'"),
        ({"name": {"first": "Élodie"}}, "'name' must be a string"),
        ({"docs": "charte-*"}, "'docs' must be a list"),
        ({"docs": ["charte-*", 3]}, "'docs' must be a list"),
        ({"docs": [""]}, "'docs' must be a list"),
        ({"exp": "demain"}, "invalid claim 'exp'"),
    ],
)
async def test_missing_or_bad_claims_are_refused(overrides: dict[str, object], reason: str) -> None:
    payload = claims()
    payload.update(overrides)
    payload = {k: v for k, v in payload.items() if v is not None}
    assert reason in await refused(local(), hs256(payload))


@pytest.mark.parametrize(
    "token",
    [
        "abc",
        "a.b",
        "a.b.c",
        "a.b.c.d.e",
        f"{b64url(b'[1, 2]')}.{b64json(claims())}.c2ln",
        f"{b64url(b'{not json')}.{b64json(claims())}.c2ln",
        f"{b64url(bytes([0xff, 0xfe]))}.{b64json(claims())}.c2ln",
        f"{b64json({'typ': 'JWT'})}.{b64json(claims())}.c2ln",
        f"{b64json({'alg': 'HS256'})}.bm90IGpzb24.c2ln",
        f"{b64json({'alg': 'HS256'})}.!!!.c2ln",
    ],
)
async def test_malformed_tokens_are_refused(token: str) -> None:
    assert (await refused(local(), token)).startswith("malformed token: ")


def test_mint_token_refuses_an_empty_sub_or_a_non_positive_ttl() -> None:
    with pytest.raises(ValueError, match="sub"):
        mint_token(SECRET, sub="", name="X", role=Role.MEMBER)
    with pytest.raises(ValueError, match="ttl"):
        mint_token(SECRET, sub="x", name="X", role=Role.MEMBER, ttl=0)


def test_principal_expiry_allows_the_leeway() -> None:
    principal = Principal(sub="a", name="A", role=Role.CITIZEN, expires_at=NOW)
    assert not principal.is_expired_at(NOW + 30)
    assert principal.is_expired_at(NOW + 31)


# --- OIDC issuer and its JWKS, served over real HTTP --------------------------------


@dataclass
class FakeIssuer:
    """What the local HTTP server serves; tests change `keys` to rotate."""

    url: str = ""
    keys: list[dict[str, object]] = field(default_factory=list)
    hits: dict[str, int] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def count(self, path: str) -> int:
        with self.lock:
            return self.hits.get(path, 0)


class _Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        issuer = cast(Any, self.server).issuer
        assert isinstance(issuer, FakeIssuer)
        with issuer.lock:
            issuer.hits[self.path] = issuer.hits.get(self.path, 0) + 1
            keys = list(issuer.keys)
        if self.path == "/.well-known/openid-configuration":
            body: object = {"issuer": issuer.url, "jwks_uri": issuer.url + "/jwks"}
        elif self.path == "/jwks":
            body = {"keys": keys}
        else:
            self.send_error(404)
            return
        data = json.dumps(body).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: object) -> None:
        pass  # keep test output clean; the hit counts are what tests look at


@pytest.fixture
def issuer() -> Iterator[FakeIssuer]:
    """A real HTTP server on 127.0.0.1, port 0, serving discovery and a JWKS."""
    state = FakeIssuer()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    cast(Any, server).issuer = state
    state.url = f"http://127.0.0.1:{server.server_address[1]}"
    # A short poll interval only shortens shutdown(); requests are served at once.
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
    )
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


@dataclass(frozen=True)
class RsaSigner:
    kid: str
    key: rsa.RSAPrivateKey = field(
        default_factory=lambda: rsa.generate_private_key(public_exponent=65537, key_size=2048)
    )

    @property
    def jwk(self) -> dict[str, object]:
        numbers = self.key.public_key().public_numbers()
        return {
            "kty": "RSA", "kid": self.kid, "use": "sig", "alg": "RS256",
            "n": b64url(numbers.n.to_bytes((numbers.n.bit_length() + 7) // 8, "big")),
            "e": b64url(numbers.e.to_bytes(3, "big")),
        }

    def sign(self, payload: dict[str, object], kid: str | None = None) -> str:
        header = {"alg": "RS256", "typ": "JWT", "kid": kid or self.kid}
        signing_input = f"{b64json(header)}.{b64json(payload)}".encode("ascii")
        signature = self.key.sign(signing_input, padding.PKCS1v15(), hashes.SHA256())
        return f"{signing_input.decode()}.{b64url(signature)}"


def es256_pair(kid: str) -> tuple[dict[str, object], Callable[[dict[str, object]], str]]:
    key = ec.generate_private_key(ec.SECP256R1())
    numbers = key.public_key().public_numbers()
    jwk: dict[str, object] = {
        "kty": "EC", "crv": "P-256", "kid": kid, "use": "sig",
        "x": b64url(numbers.x.to_bytes(32, "big")), "y": b64url(numbers.y.to_bytes(32, "big")),
    }

    def sign(payload: dict[str, object]) -> str:
        signing_input = f"{b64json({'alg': 'ES256', 'kid': kid})}.{b64json(payload)}".encode()
        r, s = decode_dss_signature(key.sign(signing_input, ec.ECDSA(hashes.SHA256())))
        raw = r.to_bytes(32, "big") + s.to_bytes(32, "big")
        return f"{signing_input.decode()}.{b64url(raw)}"

    return jwk, sign


class FakeMonotonic:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def oidc(issuer: FakeIssuer, monotonic: FakeMonotonic | None = None,
         audience: str | None = None) -> Authenticator:
    return Authenticator(
        SECRET,
        oidc=OidcIssuer(issuer=issuer.url, audience=audience, min_refresh_seconds=60),
        clock=lambda: NOW,
        monotonic=monotonic or FakeMonotonic(),
    )


def oidc_claims(issuer: FakeIssuer, **overrides: object) -> dict[str, object]:
    return claims(iss=issuer.url, sub="decidim-42", **overrides)


async def test_rs256_token_from_the_issuer_is_accepted(issuer: FakeIssuer) -> None:
    signer = RsaSigner("clé-2025")
    issuer.keys = [signer.jwk]
    async with oidc(issuer) as authenticator:
        principal = await authenticator.authenticate(signer.sign(oidc_claims(issuer)))
        assert (principal.sub, principal.name) == ("decidim-42", "Élodie Lefèvre")
        await authenticator.authenticate(signer.sign(oidc_claims(issuer, role="citizen")))
    assert issuer.count("/.well-known/openid-configuration") == 1
    assert issuer.count("/jwks") == 1


async def test_es256_token_from_the_issuer_is_accepted(issuer: FakeIssuer) -> None:
    jwk, sign = es256_pair("ec-1")
    issuer.keys = [jwk]
    async with oidc(issuer) as authenticator:
        assert (await authenticator.authenticate(sign(oidc_claims(issuer)))).role is Role.MEMBER


async def test_rotated_key_is_fetched_and_accepted(issuer: FakeIssuer) -> None:
    old, new = RsaSigner("k1"), RsaSigner("k2")
    issuer.keys = [old.jwk]
    monotonic = FakeMonotonic()
    async with oidc(issuer, monotonic) as authenticator:
        assert (await authenticator.authenticate(old.sign(oidc_claims(issuer)))).sub
        issuer.keys = [new.jwk]
        monotonic.now += 61
        principal = await authenticator.authenticate(new.sign(oidc_claims(issuer)))
        assert principal.sub == "decidim-42"
        assert issuer.count("/jwks") == 2
        # The old key left the JWKS, so its tokens no longer verify.
        assert "unknown signing key" in await refused(
            authenticator, old.sign(oidc_claims(issuer))
        )


async def test_unknown_kids_refetch_at_most_once_per_interval(issuer: FakeIssuer) -> None:
    known, stranger = RsaSigner("k1"), RsaSigner("inconnue")
    issuer.keys = [known.jwk]
    monotonic = FakeMonotonic()
    async with oidc(issuer, monotonic) as authenticator:
        await authenticator.authenticate(known.sign(oidc_claims(issuer)))
        for _ in range(5):
            reason = await refused(authenticator, stranger.sign(oidc_claims(issuer)))
            assert reason.startswith("unknown signing key (kid 'inconnue')")
        assert issuer.count("/jwks") == 1
        monotonic.now += 61
        await refused(authenticator, stranger.sign(oidc_claims(issuer)))
        assert issuer.count("/jwks") == 2


async def test_concurrent_unknown_kids_share_one_fetch(issuer: FakeIssuer) -> None:
    signer = RsaSigner("k1")
    issuer.keys = [signer.jwk]
    token = signer.sign(oidc_claims(issuer))
    results: list[Principal] = []
    async with oidc(issuer) as authenticator:

        async def check() -> None:
            results.append(await authenticator.authenticate(token))

        async with anyio.create_task_group() as tg:
            for _ in range(10):
                tg.start_soon(check)
    assert len(results) == 10
    assert issuer.count("/jwks") == 1


async def test_key_signed_token_with_a_kid_the_jwks_lacks_is_refused(issuer: FakeIssuer) -> None:
    signer = RsaSigner("k1")
    issuer.keys = [signer.jwk]
    async with oidc(issuer) as authenticator:
        token = signer.sign(oidc_claims(issuer), kid="k-absent")
        assert "unknown signing key" in await refused(authenticator, token)


async def test_issuer_token_signed_by_another_key_is_refused(issuer: FakeIssuer) -> None:
    signer, impostor = RsaSigner("k1"), RsaSigner("k1")
    issuer.keys = [signer.jwk]
    async with oidc(issuer) as authenticator:
        assert await refused(authenticator, impostor.sign(oidc_claims(issuer))) == "bad signature"


async def test_issuer_key_cannot_sign_for_the_local_issuer_and_back(issuer: FakeIssuer) -> None:
    signer = RsaSigner("k1")
    issuer.keys = [signer.jwk]
    async with oidc(issuer) as authenticator:
        assert "wrong issuer" in await refused(authenticator, signer.sign(claims()))
        assert "wrong issuer" in await refused(authenticator, hs256(oidc_claims(issuer)))
        # HMAC keyed with the public key (the classic algorithm confusion).
        public = json.dumps(signer.jwk).encode()
        confused = hs256(oidc_claims(issuer), secret=public, kid="k1")
        assert await refused(authenticator, confused) == "bad signature"


async def test_audience_is_required_when_configured(issuer: FakeIssuer) -> None:
    signer = RsaSigner("k1")
    issuer.keys = [signer.jwk]
    async with oidc(issuer, audience="palabre-assemblee") as authenticator:
        good = signer.sign(oidc_claims(issuer, aud=["palabre-assemblee", "autre"]))
        assert (await authenticator.authenticate(good)).sub == "decidim-42"
        assert "'aud'" in await refused(authenticator, signer.sign(oidc_claims(issuer)))
        wrong = signer.sign(oidc_claims(issuer, aud="autre"))
        reason = await refused(authenticator, wrong)
        assert reason == "wrong audience (expected 'palabre-assemblee')"


async def test_unreachable_issuer_is_overloaded_not_unauthenticated(refusing_port: int) -> None:
    signer = RsaSigner("k1")
    down = FakeIssuer(url=f"http://127.0.0.1:{refusing_port}")
    async with oidc(down) as authenticator:
        with pytest.raises(Overloaded, match="identity provider unavailable"):
            await authenticator.authenticate(signer.sign(oidc_claims(down)))


# --- the secret file ------------------------------------------------------------------


def test_secret_is_created_private_and_reused(tmp_path: Path) -> None:
    data_dir = tmp_path / "données"
    secret = load_or_create_secret(data_dir)
    path = data_dir / "secret.key"
    assert len(secret) == 32
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert path.read_text().strip() == secret.hex()
    assert load_or_create_secret(data_dir) == secret
    assert [p.name for p in data_dir.iterdir()] == ["secret.key"]


def test_readable_secret_file_is_made_private_with_a_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    secret = load_or_create_secret(tmp_path)
    (tmp_path / "secret.key").chmod(0o644)
    with caplog.at_level(logging.INFO, logger="palabre.secret"):
        assert load_or_create_secret(tmp_path) == secret
    assert stat.S_IMODE((tmp_path / "secret.key").stat().st_mode) == 0o600
    assert "readable by others" in caplog.text
    assert secret.hex() not in caplog.text


def test_operator_secret_in_raw_bytes_is_used(tmp_path: Path) -> None:
    path = tmp_path / "secret.key"
    path.write_bytes(b"une phrase secrete assez longue pour HS256\n")
    path.chmod(0o600)
    assert load_or_create_secret(tmp_path) == b"une phrase secrete assez longue pour HS256"


def test_short_secret_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "secret.key"
    path.write_bytes(b"00ff\n")
    path.chmod(0o600)
    with pytest.raises(SecretError, match="2 bytes long"):
        load_or_create_secret(tmp_path)
