"""Rate limits per principal (429 with Retry-After, 1013 on sockets) and CORS on the API."""

from __future__ import annotations

import httpx
from pycrdt import Doc, Text

from crdt.protocol import CloseCode, encode_sync_update
from tests.conftest import ServerFactory
from tests.e2e.api import body, close_of, http

ORIGIN = "https://assemblee.example"


async def test_a_principal_past_its_burst_gets_429_with_retry_after_and_others_do_not(
    start_server: ServerFactory,
) -> None:
    async with start_server(http_rate_per_second=0.1, http_burst=2) as server:
        zoe = server.token(name="Zoé")
        other_token_of_zoe = server.token(name="Zoé", ttl=999)
        async with http(server, zoe) as api, http(server, other_token_of_zoe) as again:
            assert [(await api.get("/api/documents")).status_code for _ in range(2)] == [200] * 2
            refused = await again.get("/api/documents")
            assert refused.status_code == 429
            assert refused.json()["error"] == "rate_limited"
            assert int(refused.headers["Retry-After"]) >= 1
        async with http(server, server.token(name="Loïc")) as loic:
            assert (await loic.get("/api/documents")).status_code == 200
        async with httpx.AsyncClient(base_url=server.url) as public:
            assert (await public.get("/healthz")).status_code == 200  # outside /api
            statuses = [(await public.get("/api/documents")).status_code for _ in range(3)]
            assert statuses == [200, 200, 429]


async def test_a_socket_sending_updates_past_the_rate_is_closed_with_1013(
    start_server: ServerFactory,
) -> None:
    async with start_server(socket_update_rate_per_second=1.0, socket_update_burst=5) as server:
        doc: Doc[Text] = Doc()
        updates: list[bytes] = []
        doc.observe(lambda event: updates.append(event.update))
        for index in range(20):
            body(doc).insert(index, "é")
        url = f"{server.ws_url}/ws/charte?token={server.token()}"
        closed = await close_of(url, *(encode_sync_update(update) for update in updates))
        assert closed.code == CloseCode.OVERLOADED
        assert "too many updates" in closed.reason


async def test_cors_preflight_is_answered_for_allowed_origins_only(
    start_server: ServerFactory,
) -> None:
    preflight = {"Access-Control-Request-Method": "POST",
                 "Access-Control-Request-Headers": "authorization, content-type"}
    async with start_server(cors_origins=f"{ORIGIN}, https://autre.example") as server:
        async with http(server) as client:
            allowed = await client.options("/api/documents", headers={"Origin": ORIGIN,
                                                                      **preflight})
            assert allowed.status_code == 200
            assert allowed.headers["access-control-allow-origin"] == ORIGIN
            assert "POST" in allowed.headers["access-control-allow-methods"]
            assert "authorization" in allowed.headers["access-control-allow-headers"].lower()
            refused = await client.options(
                "/api/documents", headers={"Origin": "https://intrus.example", **preflight}
            )
            assert refused.status_code == 400
            assert "access-control-allow-origin" not in refused.headers
            simple = await client.get("/api/documents", headers={"Origin": ORIGIN})
            assert simple.headers["access-control-allow-origin"] == ORIGIN


async def test_cors_is_off_by_default(start_server: ServerFactory) -> None:
    async with start_server() as server, http(server) as client:
        response = await client.get("/api/documents", headers={"Origin": ORIGIN})
        assert "access-control-allow-origin" not in response.headers
