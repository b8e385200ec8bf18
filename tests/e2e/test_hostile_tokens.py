"""Hostile tokens and document ids against a real server: refused, nothing stored, others served.

A token without ``exp`` (ours, signed by hand with the server's secret, or an OIDC
issuer's, its JWKS served over real HTTP), an OIDC token for another audience or none,
and the document ids ``.``, ``..``, ``...`` (they match ``[A-Za-z0-9._-]{1,128}``).
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import anyio
import httpx
import pytest
from pycrdt import Text
from websockets.asyncio.client import connect as ws_connect
from websockets.exceptions import ConnectionClosed

from client.session import Session, connect
from crdt.protocol import CloseCode
from server.access.secret import load_or_create_secret
from server.app.factory import PalabreApp
from tests.conftest import RunningServer, ServerFactory
from tests.e2e.test_hostile_refusals import raw_handshake
from tests.e2e.test_hostile_sockets import limits
from tests.server.test_auth import FakeIssuer, RsaSigner, hs256
from tests.server.test_auth import issuer as issuer  # the JWKS server fixture

TEXT = "Article 1 — Chaque habitante et chaque habitant peut proposer un projet."
AUDIENCE = "palabre-assemblee"
DOTS = [".", "..", "..."]
NO_EXP = "token without expiry ('exp' claim) refused"


@pytest.fixture
def oidc_issuer(issuer: FakeIssuer) -> Iterator[tuple[FakeIssuer, RsaSigner]]:
    """The issuer's HTTP server publishing one RSA key, and that key."""
    signer = RsaSigner("clé-1")
    issuer.keys = [signer.jwk]
    yield issuer, signer


def now_claims(iss: str, **overrides: object) -> dict[str, object]:
    """Claims valid now (the server's real clock); ``None`` drops a claim."""
    base: dict[str, object] = {
        "iss": iss, "sub": "mallory", "name": "Mallory", "role": "facilitator",
        "iat": int(time.time()), "exp": int(time.time()) + 3600,
    }
    base.update(overrides)
    return {k: v for k, v in base.items() if v is not None}


def text_of(session: Session) -> str:
    return str(session.doc.get("body", type=Text))


async def closed_with(url: str) -> tuple[int, str]:
    """Open a raw socket and return the code and reason it is closed with."""
    async with ws_connect(url) as socket:
        with anyio.fail_after(10), pytest.raises(ConnectionClosed) as closed:
            while True:
                await socket.recv()
    assert closed.value.rcvd is not None
    return closed.value.rcvd.code, closed.value.rcvd.reason


async def api_refusal(server: RunningServer, token: str) -> tuple[int, dict[str, object]]:
    """Status and JSON body of ``GET /api/documents`` with `token`."""
    async with httpx.AsyncClient(base_url=server.url, timeout=10) as http:
        response = await http.get("/api/documents", headers={"Authorization": f"Bearer {token}"})
    body = response.json()
    assert set(body) == {"error", "detail"}
    return response.status_code, body


async def create_charte(server: RunningServer) -> str:
    """Create ``charte`` (API) holding `TEXT` (socket); the facilitator token used."""
    token = server.token("facilitator", "Élodie Lefèvre")
    async with httpx.AsyncClient(base_url=server.url, timeout=10) as http:
        created = await http.post(
            "/api/documents", headers={"Authorization": f"Bearer {token}"},
            json={"id": "charte", "title": "Charte"},
        )
    assert created.status_code == 201, created.text
    async with connect(server.url, "charte", token) as writer:
        writer.doc.get("body", type=Text).insert(0, TEXT)
        with anyio.fail_after(10):
            await writer.flushed()
    return token


async def honest_still_served(server: RunningServer, token: str) -> None:
    """The stored text is unchanged and honest clients still read and write it live."""
    async with (
        connect(server.url, "charte", token) as first,
        connect(server.url, "charte", token) as second,
    ):
        await first.wait_for(lambda: text_of(first) == TEXT, timeout=10)
        first.doc.get("body", type=Text).insert(0, "Préambule. ")
        await second.wait_for(lambda: text_of(second) == "Préambule. " + TEXT, timeout=10)


async def catalogue(server: RunningServer, token: str) -> list[str]:
    """The ids ``GET /api/documents`` lists."""
    async with httpx.AsyncClient(base_url=server.url, timeout=10) as http:
        response = await http.get("/api/documents", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 200
    return [str(document["id"]) for document in response.json()["documents"]]


# --- tokens without exp -------------------------------------------------------------


async def test_our_token_without_exp_is_refused_on_socket_and_api(
    start_server: ServerFactory,
) -> None:
    async with start_server() as server:
        honest = await create_charte(server)
        secret = load_or_create_secret(server.settings.data_dir)
        forever = hs256(now_claims("palabre", exp=None), secret=secret)
        code, reason = await closed_with(f"{server.ws_url}/ws/charte?token={forever}")
        assert (code, reason) == (CloseCode.UNAUTHENTICATED, NO_EXP)
        status, body = await api_refusal(server, forever)
        assert (status, body["error"], body["detail"]) == (401, "unauthenticated", NO_EXP)
        # The same claims with an exp pass: only the missing exp was refused.
        bounded = hs256(now_claims("palabre"), secret=secret)
        assert "charte" in await catalogue(server, bounded)
        await honest_still_served(server, honest)


async def test_oidc_token_without_exp_or_for_another_audience_is_refused(
    start_server: ServerFactory, oidc_issuer: tuple[FakeIssuer, RsaSigner],
) -> None:
    issuer_, signer = oidc_issuer
    async with start_server(oidc_issuer=issuer_.url, oidc_audience=AUDIENCE) as server:
        honest = await create_charte(server)
        cases = {
            NO_EXP: now_claims(
                issuer_.url, aud=AUDIENCE, exp=None
            ),
            f"wrong audience (expected {AUDIENCE!r})": now_claims(issuer_.url, aud="autre-app"),
            "malformed token: missing 'aud' claim": now_claims(issuer_.url),
        }
        for expected, claims in cases.items():
            token = signer.sign(claims)
            code, reason = await closed_with(f"{server.ws_url}/ws/charte?token={token}")
            assert (code, reason) == (CloseCode.UNAUTHENTICATED, expected)
            status, body = await api_refusal(server, token)
            assert (status, body["error"], body["detail"]) == (401, "unauthenticated", expected)
        good = signer.sign(now_claims(issuer_.url, aud=[AUDIENCE, "autre-app"]))
        assert "charte" in await catalogue(server, good)
        await honest_still_served(server, honest)


# --- document ids made only of dots ---------------------------------------------------


@pytest.mark.parametrize("direct_lane", [True, False], ids=["direct", "asgi"])
@pytest.mark.parametrize("doc_id", DOTS)
async def test_dot_doc_ids_close_the_socket_with_1008(
    start_server: ServerFactory, doc_id: str, direct_lane: bool,
) -> None:
    async with start_server(direct_lane=direct_lane) as server:
        honest = await create_charte(server)
        token = server.token("facilitator", "Mallory")
        for path in (doc_id, "%2E" * len(doc_id)):
            code, _ = await closed_with(f"{server.ws_url}/ws/{path}?token={token}")
            assert code == CloseCode.BAD_DOC_ID, path
        assert await catalogue(server, honest) == ["charte"]
        await honest_still_served(server, honest)


@pytest.mark.parametrize("doc_id", DOTS)
async def test_dot_doc_ids_are_refused_by_the_api(
    start_server: ServerFactory, doc_id: str,
) -> None:
    async with start_server() as server:
        honest = await create_charte(server)
        auth = {"Authorization": f"Bearer {server.token('facilitator', 'Mallory')}"}
        async with httpx.AsyncClient(base_url=server.url, timeout=10) as http:
            created = await http.post(
                "/api/documents", headers=auth, json={"id": doc_id, "title": "Points"}
            )
            assert created.status_code in (400, 422), created.text
            assert set(created.json()) == {"error", "detail"}
            # httpx resolves ``/..`` away, as browsers do; percent-encoded dots reach the route.
            encoded = "%2E" * len(doc_id)
            for path in (f"/api/documents/{encoded}", f"/api/documents/{encoded}/content"):
                got = await http.get(path, headers=auth)
                assert got.status_code == 400, (path, got.status_code, got.text)
                assert got.json()["error"] == "bad_doc_id"
        assert await catalogue(server, honest) == ["charte"]
        await honest_still_served(server, honest)


async def test_oidc_tokens_not_verified_yet_open_as_their_address(
    start_server: ServerFactory, oidc_issuer: tuple[FakeIssuer, RsaSigner],
) -> None:
    """Made-up OIDC tokens (signed by a key the issuer does not publish) would each cost a
    verification, maybe a key fetch: until verified, a token opens as its address, whose
    openings, once spent, refuse the next before the upgrade."""
    issuer_, signer = oidc_issuer
    async with start_server(oidc_issuer=issuer_.url, oidc_audience=AUDIENCE, limits=limits(
            socket_opens_per_second=0.01, socket_opens_burst=4, refused_socket_cost=0,
    )) as server:
        honest = await create_charte(server)
        app = server.app
        assert isinstance(app, PalabreApp)
        gate = app.handshake_gate
        forger = RsaSigner("clé-inconnue")

        def forged(n: int) -> str:
            return forger.sign(now_claims(issuer_.url, aud=AUDIENCE, sub=f"mallory-{n}"))

        for n in range(4):
            code, _ = await closed_with(f"{server.ws_url}/ws/charte?token={forged(n)}")
            assert code == CloseCode.UNAUTHENTICATED
        answer = gate.refusal(f"/ws/charte?token={forged(4)}".encode(), [], "127.0.0.1",
                              is_https=False)
        assert answer is not None and b"opening sockets too fast" in answer[1]
        wire = await anyio.to_thread.run_sync(
            lambda: raw_handshake(server, f"/ws/charte?token={forged(5)}"))
        assert wire.startswith(b"HTTP/1.1 429 ")
        # Verified once (here by an API call), a token is its subject's: it opens.
        good = signer.sign(now_claims(issuer_.url, aud=AUDIENCE, sub="zoe"))
        assert "charte" in await catalogue(server, good)
        assert gate.refusal(f"/ws/charte?token={good}".encode(), [], "127.0.0.1",
                            is_https=False) is None
        await honest_still_served(server, honest)
