"""Storage failures: a document that fails to load is never served empty; readiness says so."""

from __future__ import annotations

import anyio
import httpx

from client.session import connect
from crdt.protocol import CloseCode
from storage.memory import MemoryDocumentStore
from tests.conftest import ServerFactory
from tests.e2e.api import body, close_of, text_of

ARTICLE = "Article 3 — Les séances sont publiques et retransmises."


async def test_failed_load_closes_with_1013_and_never_serves_an_empty_document(
    start_server: ServerFactory,
) -> None:
    store = MemoryDocumentStore()
    async with start_server(store=store, room_grace_seconds=0.0) as server:
        token = server.token()
        async with (
            connect(server.url, "charte", token) as zoe,
            connect(server.url, "charte", token) as elodie,
        ):
            body(zoe).insert(0, ARTICLE)
            await elodie.wait_for(lambda: text_of(elodie) == ARTICLE, timeout=10)
        with anyio.fail_after(10):
            await server.app.state.hub.wait_unloaded("charte")

        store.fail_next_loads(1)
        closed = await close_of(f"{server.ws_url}/ws/charte?token={token}")
        assert closed.code == CloseCode.OVERLOADED

        # The next load succeeds and brings the whole text: nothing was overwritten.
        async with connect(server.url, "charte", token) as reader:
            await reader.wait_for(lambda: text_of(reader) == ARTICLE, timeout=10)


async def test_readyz_reports_storage_down(start_server: ServerFactory) -> None:
    store = MemoryDocumentStore()
    async with start_server(store=store) as server, httpx.AsyncClient(base_url=server.url) as http:
        assert (await http.get("/readyz")).status_code == 200
        store.unavailable = True
        down = await http.get("/readyz")
        assert down.status_code == 503
        assert down.json()["error"] == "storage_unavailable"
        store.unavailable = False
        assert (await http.get("/readyz")).status_code == 200
