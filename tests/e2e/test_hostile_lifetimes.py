"""Issue 21, lifetimes: sockets need a catalogued live document, and end with their rights.

Each test: the attack or the change of rights, its refusal or the channels it ends (4403
with a reason, an ``end`` event), the stored data unchanged, an honest client unaffected.
"""

from __future__ import annotations

import json
import time

import anyio
import httpx
import pytest
from websockets.asyncio.client import ClientConnection
from websockets.asyncio.client import connect as ws_connect
from websockets.exceptions import ConnectionClosed

from client.api import PalabreApi
from client.session import connect
from server.limits import Limits
from storage.memory import MemoryDocumentStore
from tests.conftest import RunningServer, ServerFactory
from tests.e2e.api import all_synced, body, close_of, http_as, text_of

FACILITATOR = "Loïc Ménard"


def ws(server: RunningServer, doc_id: str, token: str | None) -> str:
    """The ``/ws`` URL of `doc_id`, with `token` when given."""
    query = f"?token={token}" if token else ""
    return f"{server.ws_url}/ws/{doc_id}{query}"


async def closed(socket: ClientConnection, within: float = 10) -> tuple[int, str]:
    """Read `socket` until the server closes it: its close code and reason."""
    with anyio.fail_after(within), pytest.raises(ConnectionClosed) as ended:
        while True:
            await socket.recv()
    rcvd = ended.value.rcvd
    assert rcvd is not None, "closed without a close frame"
    return rcvd.code, rcvd.reason


async def stored_text(store: MemoryDocumentStore, doc_id: str) -> bytes:
    """The stored update of `doc_id` (what its log and state hold)."""
    return (await store.load(doc_id)).update


async def test_a_member_cannot_create_a_document_by_connecting(
    start_server: ServerFactory,
) -> None:
    async with start_server(create_on_connect="facilitators") as server, \
            http_as(server) as facilitator:
        close = await close_of(ws(server, "inconnu", server.token("member", "Zoé")))
        assert close.code == 4403 and "no document 'inconnu'" in close.reason
        close = await close_of(ws(server, "inconnu.annotations", server.token("citizen", "Inès")))
        assert close.code == 4403
        assert (await facilitator.get("/api/documents/inconnu")).status_code == 404
        listed = (await facilitator.get("/api/documents")).json()["documents"]
        assert all(doc["id"] != "inconnu" for doc in listed)
        # A facilitator's socket creates it, catalogued with its creator; the member joins.
        loic = server.token("facilitator", FACILITATOR, sub="loic")
        async with connect(server.url, "inconnu", loic) as creator:
            await creator.synced()  # the document exists once its creator's socket is in
            async with connect(server.url, "inconnu", server.token("member", "Zoé")) as zoe:
                await all_synced(creator, zoe)
                body(zoe).insert(0, "Bonjour")
                await creator.wait_for(lambda: text_of(creator) == "Bonjour", timeout=10)
        meta = (await facilitator.get("/api/documents/inconnu")).json()
        assert meta["created_by"] == "loic" and meta["title"] == "inconnu"


@pytest.mark.parametrize(("policy", "member", "facilitator"), [
    ("members", True, True), ("none", False, False),
])
async def test_create_on_connect_says_who_creates(
    start_server: ServerFactory, policy: str, member: bool, facilitator: bool,
) -> None:
    async with start_server(create_on_connect=policy) as server, http_as(server) as http:
        for role, allowed, doc_id in (("citizen", False, "par-citoyen"),
                                      ("member", member, "par-membre"),
                                      ("facilitator", facilitator, "par-animateur")):
            token = server.token(role, role, sub=role)
            if allowed:
                async with connect(server.url, doc_id, token) as session:
                    await session.synced()
                meta = (await http.get(f"/api/documents/{doc_id}")).json()
                assert meta["created_by"] == role
            else:
                close = await close_of(ws(server, doc_id, token))
                assert close.code == 4403, (role, close)
                assert (await http.get(f"/api/documents/{doc_id}")).status_code == 404


async def test_a_deleted_document_is_gone_for_sockets(start_server: ServerFactory) -> None:
    store = MemoryDocumentStore()
    async with start_server(store=store) as server, \
            PalabreApi(server.url, server.token("facilitator", FACILITATOR)) as api:
        await api.create_document("charte", "Charte", markdown="# Charte\n\nArticle un.")
        await api.create_document("autre", "Autre")
        member, citizen = server.token("member", "Zoé"), server.token("citizen", "Inès")
        async with (
            ws_connect(ws(server, "charte", member)) as text_socket,
            ws_connect(ws(server, "charte.annotations", citizen)) as companion,
            connect(server.url, "autre", member) as honest,
        ):
            await text_socket.recv()  # admitted: the room's sync step 1
            await companion.recv()
            await honest.synced()
            before = await stored_text(store, "charte")
            started = time.monotonic()
            await _delete(server, "charte")
            assert await closed(text_socket) == (4403, "document deleted")
            assert await closed(companion) == (4403, "document deleted")
            assert time.monotonic() - started < 5
            for doc_id, token in (("charte", member), ("charte.annotations", citizen)):
                close = await close_of(ws(server, doc_id, token))
                assert (close.code, close.reason) == (4403, "document deleted")
            # A facilitator cannot bring it back by connecting either.
            close = await close_of(ws(server, "charte", server.token("facilitator", "Loïc")))
            assert close.code == 4403
            assert await stored_text(store, "charte") == before
            body(honest).insert(0, "toujours là")
            await honest.wait_for(lambda: text_of(honest) == "toujours là", timeout=10)


async def test_a_document_made_private_closes_its_public_readers(
    start_server: ServerFactory,
) -> None:
    store = MemoryDocumentStore()
    async with start_server(store=store) as server, \
            PalabreApi(server.url, server.token("facilitator", FACILITATOR)) as api:
        await api.create_document("ouvert", "Ouvert", markdown="Texte public.", is_public=True)
        async with (
            ws_connect(ws(server, "ouvert", None)) as anonymous,
            connect(server.url, "ouvert", server.token("citizen", "Inès")) as citizen,
        ):
            await anonymous.recv()  # a public document is readable without a token
            await citizen.synced()
            before = await stored_text(store, "ouvert")
            await api.update_document("ouvert", is_public=False)
            assert await closed(anonymous) == (4403, "document made private")
            close = await close_of(ws(server, "ouvert", None))
            assert close.code == 4403 and "not public" in close.reason
            assert citizen.is_connected  # a citizen's token still reads private documents
            assert await stored_text(store, "ouvert") == before


async def _data_document(api: PalabreApi, doc_id: str, *, is_public: bool = False) -> None:
    await api.create_data_document(doc_id, "Catalogue", "catalogue", is_public=is_public)


async def _delete(server: RunningServer, doc_id: str) -> None:
    async with http_as(server) as http:
        assert (await http.delete(f"/api/documents/{doc_id}")).status_code == 204


async def _end_of(stream: httpx.Response, within: float = 10) -> str:
    """Read a Server-Sent Events stream to its ``end`` event: the reason given."""
    with anyio.fail_after(within):
        event = ""
        async for line in stream.aiter_lines():
            if line.startswith("event: "):
                event = line.removeprefix("event: ")
            elif line.startswith("data: ") and event == "end":
                reason: str = json.loads(line.removeprefix("data: "))["reason"]
                return reason
    raise AssertionError("the stream ended without an end event")


async def test_event_streams_end_with_their_token_and_their_rights(
    start_server: ServerFactory,
) -> None:
    async with start_server(token_leeway_seconds=0.0) as server, \
            PalabreApi(server.url, server.token("facilitator", FACILITATOR)) as api, \
            httpx.AsyncClient(base_url=server.url, timeout=30) as http:
        await _data_document(api, "cat", is_public=True)
        await _data_document(api, "cat2")
        url = "/api/documents/{}/data/events"
        short = server.token("citizen", "Inès", ttl=2)
        long = server.token("citizen", "Zoé")
        async with (
            http.stream("GET", url.format("cat"), params={"token": short}) as expiring,
            http.stream("GET", url.format("cat"), params={}) as anonymous,
            http.stream("GET", url.format("cat2"), params={"token": long}) as deleted,
            http.stream("GET", url.format("cat"), params={"token": long}) as honest,
        ):
            assert await _end_of(expiring) == "token expired"
            await api.update_document("cat", is_public=False)
            assert await _end_of(anonymous) == "document made private"
            await _delete(server, "cat2")
            assert await _end_of(deleted) == "document deleted"
            # The honest reader still gets every change.
            lines = honest.aiter_lines()
            await api.patch_data("cat", {"title": "Nouveau titre"})
            with anyio.fail_after(10):
                async for line in lines:
                    if line.startswith("data: ") and "Nouveau titre" in line:
                        break
        assert (await http.get(url.format("cat2"), params={"token": long})).status_code == 404


async def test_event_streams_per_principal_are_bounded(start_server: ServerFactory) -> None:
    async with start_server(limits=Limits(streams_per_principal=2)) as server, \
            PalabreApi(server.url, server.token("facilitator", FACILITATOR)) as api, \
            httpx.AsyncClient(base_url=server.url, timeout=30) as http:
        await _data_document(api, "cat")
        url, token = "/api/documents/cat/data/events", server.token("citizen", "Inès")
        other = server.token("citizen", "Zoé", sub="zoe")
        async with http.stream("GET", url, params={"token": token}) as first:
            async with http.stream("GET", url, params={"token": token}):
                refused = await http.get(url, params={"token": token})
                assert refused.status_code == 429
                assert "at most 2" in refused.json()["detail"]
                async with http.stream("GET", url, params={"token": other}) as honest:
                    assert honest.status_code == 200
            async with http.stream("GET", url, params={"token": token}) as again:
                assert again.status_code == 200  # a closed stream gave its slot back
            assert first.status_code == 200
        assert (await api.get_data("cat"))["title"] == "Catalogue"
