"""Issue 21's small ones: public documents without a token, webhook listings scoped to the
token's documents, adoption undone by any failure."""

from __future__ import annotations

from typing import Any

import anyio
from pycrdt import Doc, Text
from websockets.asyncio.client import connect as ws_connect

from crdt.protocol import (
    AuthMessage,
    SyncMessage,
    SyncStep,
    decode_message,
    encode_sync_step1,
    encode_sync_update,
)
from storage.archive import Snapshot
from storage.memory import MemoryDocumentStore
from tests.conftest import RunningServer, ServerFactory
from tests.e2e.api import CHARTE, close_of, http, http_as
from tests.e2e.test_webhooks import edit

FIRST_LINE = "# Charte de la participation citoyenne"


async def create(server: RunningServer, doc_id: str, *, is_public: bool) -> None:
    async with http_as(server, prefix="/api") as facilitator:
        made = await facilitator.post("/documents", json={
            "id": doc_id, "title": doc_id, "markdown": CHARTE, "is_public": is_public})
        assert made.status_code == 201, made.text


async def tokenless_sync(server: RunningServer, doc_id: str) -> bytes:
    """The sync-step-2 answer a socket without a token gets on `doc_id`."""
    async with ws_connect(f"{server.ws_url}/ws/{doc_id}") as socket:
        await socket.send(encode_sync_step1(b"\x00"))
        with anyio.fail_after(10):
            while True:
                frame = await socket.recv()
                assert isinstance(frame, bytes)
                message = decode_message(frame)
                if isinstance(message, SyncMessage) and message.step == SyncStep.STEP2:
                    return message.payload


async def test_a_public_document_is_readable_without_a_token_and_only_a_public_one(
    start_server: ServerFactory,
) -> None:
    async with start_server() as server:
        await create(server, "charte", is_public=True)
        await create(server, "interne", is_public=False)
        async with http(server, prefix="/api") as anonymous:
            assert (await anonymous.get("/documents/charte")).status_code == 200
            content = await anonymous.get("/documents/charte/content")
            assert content.status_code == 200 and content.text.startswith(FIRST_LINE)
            assert (await anonymous.get("/documents/interne")).status_code == 403
            assert (await anonymous.get("/documents/interne/content")).status_code == 403
        # The socket agrees with the API: the text and its comments, read only.
        assert "Saint-Étienne-des-Prés".encode() in await tokenless_sync(server, "charte")
        await tokenless_sync(server, "charte.annotations")
        for refused in ("interne", "interne.annotations", "inconnu"):
            close = await close_of(f"{server.ws_url}/ws/{refused}")
            assert close.code == 4403 and "not public" in close.reason
        # A tokenless socket cannot write the public text.
        async with ws_connect(f"{server.ws_url}/ws/charte") as socket:
            scratch: Doc[Any] = Doc()
            scratch.get("intrus", type=Text).insert(0, "tag")
            await socket.send(encode_sync_update(scratch.get_update()))
            with anyio.fail_after(10):
                while True:
                    frame = await socket.recv()
                    assert isinstance(frame, bytes)
                    if isinstance(message := decode_message(frame), AuthMessage):
                        break
            assert "read-only" in message.reason
        assert b"intrus" not in await tokenless_sync(server, "charte")
        # Made private: a new tokenless socket is refused; members still edit.
        async with http_as(server, prefix="/api") as facilitator:
            changed = await facilitator.patch("/documents/charte", json={"is_public": False})
            assert changed.status_code == 200
        assert (await close_of(f"{server.ws_url}/ws/charte")).code == 4403
        await edit(server, "charte")


WEBHOOK = "https://hooks.example/palabre"


async def test_webhooks_are_listed_only_for_the_documents_a_token_covers(
    start_server: ServerFactory,
) -> None:
    async with start_server() as server:
        for name in ("charte", "budget"):
            await create(server, name, is_public=False)
        ids: dict[str | None, object] = {}
        async with http_as(server, prefix="/api") as unlimited:
            for target in ("charte", "budget", None):
                made = await unlimited.post("/webhooks", json={
                    "url": WEBHOOK, "events": ["document.changed"], "doc_id": target})
                assert made.status_code == 201, made.text
                ids[target] = made.json()["id"]
            everything = await unlimited.get("/webhooks")
            assert {w["id"] for w in everything.json()["webhooks"]} == set(ids.values())

        limited = server.token("facilitator", "Nadia", docs=["charte"])
        async with http(server, limited, prefix="/api") as nadia:
            listed = await nadia.get("/webhooks")
            assert listed.status_code == 200
            assert [w["id"] for w in listed.json()["webhooks"]] == [ids["charte"]]
            of_charte = await nadia.get("/webhooks", params={"doc_id": "charte"})
            assert [w["id"] for w in of_charte.json()["webhooks"]] == [ids["charte"]]
            assert (await nadia.get("/webhooks", params={"doc_id": "budget"})).status_code == 403
            for hidden in (ids["budget"], ids[None]):
                assert (await nadia.get(f"/webhooks/{hidden}/deliveries")).status_code == 403
                assert (await nadia.delete(f"/webhooks/{hidden}")).status_code == 403
            assert (await nadia.get(f"/webhooks/{ids['charte']}/deliveries")).status_code == 200
        async with http_as(server, "member", "Zoé", prefix="/api") as member:
            assert (await member.get("/webhooks")).status_code == 403
        async with http_as(server, prefix="/api") as unlimited:  # nothing was removed
            after = await unlimited.get("/webhooks")
            assert {w["id"] for w in after.json()["webhooks"]} == set(ids.values())


class SnapshotWriteFails(MemoryDocumentStore):
    """A store whose snapshot write fails the way nothing expects (not a storage error)."""

    failing = True

    async def add_snapshot(self, *args: Any, **kwargs: Any) -> Snapshot:
        if self.failing:
            raise RuntimeError("disk controller reset during the snapshot write")
        return await super().add_snapshot(*args, **kwargs)


async def test_an_adoption_that_fails_unexpectedly_leaves_the_document_unfrozen(
    start_server: ServerFactory,
) -> None:
    store = SnapshotWriteFails()
    async with start_server(store=store) as server:
        await create(server, "charte", is_public=False)
        async with http_as(server, prefix="/api") as facilitator:
            failed = await facilitator.post("/documents/charte/adopt", json={"label": "v1"})
            assert failed.status_code == 500
            assert not (await store.get_freeze("charte")).frozen  # the freeze was undone
            assert (await facilitator.get("/documents/charte/snapshots")).json() == {
                "snapshots": []}
            await edit(server, "charte")  # members still edit the text
            store.failing = False
            adopted = await facilitator.post("/documents/charte/adopt", json={"label": "v1"})
            assert adopted.status_code == 201, adopted.text
            assert (await store.get_freeze("charte")).frozen
