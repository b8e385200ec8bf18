"""The official, unmodified ``@hocuspocus/provider`` on palabre's ``/hocuspocus`` endpoint.

Each Node peer is a process running tests/node/hocuspocus-peer.mjs: one
`HocuspocusProviderWebsocket` carrying a `HocuspocusProvider` per document, driven by
JSON lines like the y-websocket peer (same `NodePeer` plumbing). Nothing sleeps: every
wait is on a peer's event or a Doc observer, under `fail_after`.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any

import anyio
import pytest
from websockets.asyncio.client import connect as ws_connect
from websockets.exceptions import ConnectionClosed

from client.api import PalabreApi
from crdt.protocol import encode_varstring
from server.sync.stateless import StatelessEvent
from storage.memory import MemoryDocumentStore
from tests.conftest import RunningServer, ServerFactory
from tests.e2e.test_node_ywebsocket import (
    NODE_DIR,
    WAIT_SECONDS,
    NodePeer,
    peer_launcher,
    python_client,
)

pytestmark = pytest.mark.node

PEER_SCRIPT = NODE_DIR / "hocuspocus-peer.mjs"
PACKAGES = ("@hocuspocus/provider", "@hocuspocus/common", "yjs", "ws")

Json = dict[str, Any]


class HocuspocusPeer(NodePeer):
    """One Node process with one Hocuspocus socket and its documents."""

    async def connect(self, server: RunningServer) -> None:  # type: ignore[override]
        """Create the `HocuspocusProviderWebsocket` on ``/hocuspocus``."""
        await self.request("connect", url=server.ws_url + "/hocuspocus")

    async def open(self, name: str, token: str) -> Json:
        """Attach a provider for `name`; return its authenticated (or failed) event."""
        since = self.mark()
        await self.request("open", name=name, token=token)

        def outcome() -> Json | None:
            for event in self.events[since:]:
                if event.get("doc") == name and event["event"] in (
                    "authenticated",
                    "authentication-failed",
                ):
                    return event
            return None

        return await self._wait(outcome, f"authentication of {name}")

    async def open_synced(self, name: str, token: str) -> str:
        """Open `name`, wait until it is synced; return the scope."""
        since = self.mark()
        event = await self.open(name, token)
        assert event["event"] == "authenticated", event
        await self.wait_event("synced", since, doc=name)
        return str(event["scope"])

    async def insert_in(self, name: str, text: str) -> None:
        """Append `text` to the document's text."""
        await self.request("insert", name=name, text=text)

    async def text_of(self, name: str) -> str:
        """The peer's text of `name`."""
        return str((await self.request("getText", name=name))["text"])

    async def wait_text_of(self, name: str, expected: str) -> None:
        """Wait until the text of `name` is `expected`."""
        since = self.mark()
        if await self.text_of(name) != expected:
            await self.wait_event("text-changed", since, doc=name, text=expected)

    async def wait_stored(self, name: str) -> None:
        """Wait until the server has acknowledged every change of `name` (sync status)."""
        since = self.mark()
        if (await self.request("getState", name=name))["unsynced"] != 0:
            await self.wait_event("unsynced", since, doc=name, number=0)


HocuspocusPeerFactory = Callable[[str], AbstractAsyncContextManager[HocuspocusPeer]]


@pytest.fixture
def hocuspocus_peer() -> HocuspocusPeerFactory:
    """Factory: ``async with hocuspocus_peer("label") as peer`` runs a Node Hocuspocus peer."""
    return peer_launcher(HocuspocusPeer, PEER_SCRIPT, PACKAGES)


LANES = pytest.mark.parametrize("direct_lane", [True, False], ids=["direct-lane", "asgi"])
"""Both ways a socket runs: palabre's uvicorn protocol, or plain ASGI."""


@LANES
async def test_provider_multiplexes_a_text_and_its_annotations_with_awareness(
    start_server: ServerFactory, hocuspocus_peer: HocuspocusPeerFactory, direct_lane: bool
) -> None:
    text, notes = "charte", "charte.annotations"
    async with (
        start_server(direct_lane=direct_lane) as server,
        hocuspocus_peer("zoé") as zoe,
        hocuspocus_peer("karim") as karim,
    ):
        for peer, name in ((zoe, "Zoé"), (karim, "Karim")):
            await peer.connect(server)
            token = server.token(name=name)
            assert await peer.open_synced(text, token) == "read-write"
            # Annotations are written by the server only (through the API): read-only.
            assert await peer.open_synced(notes, token) == "readonly"

        await zoe.insert_in(text, "Article 1 — égalité")
        await karim.wait_text_of(text, "Article 1 — égalité")
        await zoe.wait_stored(text)  # acknowledged by a sync status once stored
        await karim.insert_in(text, " et parité")
        await zoe.wait_text_of(text, "Article 1 — égalité et parité")
        await karim.wait_stored(text)

        # Awareness flows on both documents of the one socket.
        for name in (text, notes):
            since = karim.mark()
            user = {"name": "Zoé", "color": "#c0392b"}
            await zoe.request("setAwareness", name=name, user=user)
            await karim.wait_event("awareness-changed", since, doc=name, names=["Zoé"])


async def test_bad_token_fails_authentication_and_a_citizen_is_read_only(
    start_server: ServerFactory, hocuspocus_peer: HocuspocusPeerFactory
) -> None:
    doc = "charte-lecture"
    async with (
        start_server() as server,
        hocuspocus_peer("intrus") as intruder,
        hocuspocus_peer("citoyenne") as citizen,
        hocuspocus_peer("zoé") as zoe,
    ):
        await intruder.connect(server)
        failed = await intruder.open(doc, "not-a-token")
        assert failed["event"] == "authentication-failed", failed

        await zoe.connect(server)
        await zoe.open_synced(doc, server.token(name="Zoé"))
        await zoe.insert_in(doc, "Texte adopté.")
        await zoe.wait_stored(doc)

        await citizen.connect(server)
        assert await citizen.open_synced(doc, server.token("citizen", name="Inès")) == "readonly"
        await citizen.wait_text_of(doc, "Texte adopté.")

        since = citizen.mark()
        await citizen.insert_in(doc, " Amendement pirate.")
        refused = await citizen.wait_event("stateless", since, doc=doc)
        assert json.loads(refused["payload"])["event"] == "palabre.permission-denied"

        # The citizen still reads live; its change reached no one.
        await zoe.insert_in(doc, " Fin.")
        since = citizen.mark()
        if "Fin." not in await citizen.text_of(doc):  # its own change stays local only
            await citizen.wait_event("text-changed", since, lambda e: "Fin." in e["text"], doc=doc)
        async with python_client(server, doc) as python:
            assert str(python.text) == "Texte adopté. Fin."
        assert await zoe.text_of(doc) == "Texte adopté. Fin."


@LANES
async def test_hocuspocus_and_y_websocket_clients_converge(
    start_server: ServerFactory, hocuspocus_peer: HocuspocusPeerFactory, direct_lane: bool
) -> None:
    doc = "charte-mixte"
    async with start_server(direct_lane=direct_lane) as server, hocuspocus_peer("zoé") as zoe:
        await zoe.connect(server)
        await zoe.open_synced(doc, server.token(name="Zoé"))
        async with python_client(server, doc) as python:
            await zoe.insert_in(doc, "Article 2")
            await python.wait_text("Article 2")
            python.text += " — parité"
            await zoe.wait_text_of(doc, "Article 2 — parité")


@pytest.mark.parametrize(
    "frame",
    [
        b"\xff\xff\xff\xff\xff\xff\xff\xff\xff",  # name length: an overlong varint
        encode_varstring("charte-mixte") + b"\x06",  # unknown type
        encode_varstring("charte-mixte") + b"\x04",  # sync reply without its sync message
        encode_varstring("charte-mixte") + b"\x02\x02" + encode_varstring("read-write"),
        encode_varstring("charte-mixte") + b"\x00\x02\x05ab",  # truncated update
        encode_varstring("charte-mixte") + b"\x07\x00",  # trailing byte after close
    ],
)
async def test_malformed_frame_closes_only_that_socket_with_1002(
    start_server: ServerFactory, hocuspocus_peer: HocuspocusPeerFactory, frame: bytes
) -> None:
    doc = "charte-mixte"
    async with start_server() as server, hocuspocus_peer("zoé") as zoe:
        await zoe.connect(server)
        await zoe.open_synced(doc, server.token(name="Zoé"))
        async with ws_connect(f"{server.ws_url}/hocuspocus") as bad:
            await bad.send(frame)
            with anyio.fail_after(WAIT_SECONDS), pytest.raises(ConnectionClosed):
                while True:
                    await bad.recv()
            assert bad.close_code == 1002
        await zoe.insert_in(doc, "toujours là")
        await zoe.wait_stored(doc)
        assert not [event for event in zoe.events if event["event"] == "close"]


@LANES
async def test_sync_status_is_sent_only_once_the_update_is_stored(
    start_server: ServerFactory, hocuspocus_peer: HocuspocusPeerFactory, direct_lane: bool
) -> None:
    doc = "charte-lente"
    store = MemoryDocumentStore()
    async with (
        start_server(store=store, direct_lane=direct_lane) as server,
        hocuspocus_peer("zoé") as zoe,
    ):
        await zoe.connect(server)
        await zoe.open_synced(doc, server.token(name="Zoé"))
        await zoe.wait_stored(doc)
        gate = store.hold_commits()
        try:
            await zoe.insert_in(doc, "Article 3")
            with anyio.fail_after(WAIT_SECONDS):
                await gate.wait_reached()
            # The commit is held: the provider still counts its change as unsynced.
            assert (await zoe.request("getState", name=doc))["unsynced"] >= 1
        finally:
            gate.release()
        await zoe.wait_stored(doc)


async def test_socket_closes_with_4401_when_a_token_expires(
    start_server: ServerFactory, hocuspocus_peer: HocuspocusPeerFactory
) -> None:
    async with start_server(token_leeway_seconds=0.0) as server, hocuspocus_peer("zoé") as zoe:
        await zoe.connect(server)
        since = zoe.mark()
        await zoe.open_synced("charte-breve", server.token(name="Zoé", ttl=2))
        await zoe.wait_event("close", since, code=4401)


def answer_in_capitals(event: StatelessEvent) -> None:
    """A stateless hook for the tests: answers the sender, tells the others who spoke."""
    event.reply(json.dumps({"to": event.principal, "echo": event.payload.upper(),
                            "can_edit": event.can_edit}))
    event.broadcast(json.dumps({"from": event.principal}))


@asynccontextmanager
async def zoe_and_karim_on(
    doc: str, start_server: ServerFactory, hocuspocus_peer: HocuspocusPeerFactory,
    **settings: Any,
) -> AsyncIterator[tuple[HocuspocusPeer, HocuspocusPeer]]:
    """Two members' providers synced on `doc`, on a server with `settings`."""
    async with (
        start_server(**settings) as server,
        hocuspocus_peer("zoé") as zoe,
        hocuspocus_peer("karim") as karim,
    ):
        for peer, name in ((zoe, "Zoé"), (karim, "Karim")):
            await peer.connect(server)
            await peer.open_synced(doc, server.token(name=name))
        yield zoe, karim


async def test_stateless_messages_are_relayed_by_the_built_in_hook(
    start_server: ServerFactory, hocuspocus_peer: HocuspocusPeerFactory
) -> None:
    doc = "charte-signaux"
    async with zoe_and_karim_on(
        doc, start_server, hocuspocus_peer, stateless_hook="server.sync.stateless:relay"
    ) as (zoe, karim):
        since = karim.mark()
        await zoe.request("sendStateless", name=doc, payload='{"main levée": "Zoé"}')
        await karim.wait_event("stateless", since, doc=doc, payload='{"main levée": "Zoé"}')
        # Not echoed to the sender: her text edit, sent after, arrives with no stateless before.
        since = zoe.mark()
        await karim.insert_in(doc, "vu")
        await zoe.wait_text_of(doc, "vu")
        assert not [e for e in zoe.events[since:] if e["event"] == "stateless"]


async def test_a_configured_hook_answers_the_sender_and_reaches_readers(
    start_server: ServerFactory, hocuspocus_peer: HocuspocusPeerFactory
) -> None:
    doc = "charte-signaux-2"
    hook = f"{__name__}:answer_in_capitals"
    async with (
        start_server(stateless_hook=hook) as server,
        hocuspocus_peer("citoyenne") as citizen,
        hocuspocus_peer("zoé") as zoe,
    ):
        async with PalabreApi(server.url, server.token("facilitator", "Loïc")) as api:
            await api.create_document(doc, "Signaux")  # a citizen cannot create it
        await citizen.connect(server)
        assert await citizen.open_synced(doc, server.token("citizen", "Inès")) == "readonly"
        await zoe.connect(server)
        await zoe.open_synced(doc, server.token(name="Zoé"))
        since_citizen, since_zoe = citizen.mark(), zoe.mark()
        await citizen.request("sendStateless", name=doc, payload="je lève la main")
        answer = await citizen.wait_event("stateless", since_citizen, doc=doc)
        assert json.loads(answer["payload"]) == {
            "to": "ines", "echo": "JE LÈVE LA MAIN", "can_edit": False,
        }
        told = await zoe.wait_event("stateless", since_zoe, doc=doc)
        assert json.loads(told["payload"]) == {"from": "ines"}


async def test_without_a_hook_stateless_messages_go_nowhere(
    start_server: ServerFactory, hocuspocus_peer: HocuspocusPeerFactory
) -> None:
    doc = "charte-silence"
    async with zoe_and_karim_on(doc, start_server, hocuspocus_peer) as (zoe, karim):
        since = karim.mark()
        await zoe.request("sendStateless", name=doc, payload="personne ne l'entend")
        # A relayed stateless would reach Karim before Zoé's later edit does.
        await zoe.insert_in(doc, "après")
        await karim.wait_text_of(doc, "après")
        assert not [e for e in karim.events[since:] if e["event"] == "stateless"]
