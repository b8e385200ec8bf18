"""Raised hands over the Hocuspocus stateless channel (Tiptap's provider, in Node)."""

from __future__ import annotations

import json

import httpx

from tests.conftest import ServerFactory
from tests.e2e.api import http_as
from tests.e2e.test_hocuspocus import HocuspocusPeerFactory, hocuspocus_peer

__all__ = ["hocuspocus_peer"]  # the fixture, used here

DOC = "charte-mains"
RAISE = json.dumps({"event": "palabre.session.hand", "action": "raise"})


async def hands(api: httpx.AsyncClient) -> list[str]:
    state = (await api.get(f"/api/documents/{DOC}/sessions/1")).json()
    return [h["name"] for h in state["hands"]]


async def test_a_member_raises_a_hand_over_the_socket_and_a_citizen_cannot(
    start_server: ServerFactory, hocuspocus_peer: HocuspocusPeerFactory,
) -> None:
    async with (
        start_server(stateless_hook="server.sync.stateless:relay") as server,
        hocuspocus_peer("zoé") as zoe,
        hocuspocus_peer("inès") as ines,
        http_as(server) as api,
    ):
        made = await api.post("/api/documents", json={"id": DOC, "title": "Mains"})
        assert made.status_code == 201, made.text
        await zoe.connect(server)
        await zoe.open_synced(DOC, server.token(name="Zoé Lefèvre"))
        await ines.connect(server)
        await ines.open_synced(DOC, server.token("citizen", "Inès"))

        since = zoe.mark()
        await zoe.request("sendStateless", name=DOC, payload=RAISE)
        refused = json.loads((await zoe.wait_event("stateless", since, doc=DOC))["payload"])
        assert refused["event"] == "palabre.session.error" and refused["error"] == "conflict"

        opened = await api.post(f"/api/documents/{DOC}/sessions", json={"title": "Séance"})
        assert opened.status_code == 201, opened.text
        since = zoe.mark()
        await zoe.request("sendStateless", name=DOC, payload=RAISE)
        queue = json.loads((await zoe.wait_event("stateless", since, doc=DOC))["payload"])
        assert queue["event"] == "palabre.session.queue"
        assert [h["name"] for h in queue["hands"]] == ["Zoé Lefèvre"]
        assert await hands(api) == ["Zoé Lefèvre"]

        since = ines.mark()
        await ines.request("sendStateless", name=DOC, payload=RAISE)
        denied = json.loads((await ines.wait_event("stateless", since, doc=DOC))["payload"])
        assert (denied["event"], denied["error"]) == ("palabre.session.error", "forbidden")
        assert await hands(api) == ["Zoé Lefèvre"]

        # Anything else still goes to the configured hook (here: relayed to the others).
        since = ines.mark()
        await zoe.request("sendStateless", name=DOC, payload='{"lit": "article 4"}')
        await ines.wait_event("stateless", since, doc=DOC, payload='{"lit": "article 4"}')

        since = zoe.mark()
        await zoe.request("sendStateless", name=DOC, payload=json.dumps(
            {"event": "palabre.session.hand", "action": "lower"}))
        lowered = json.loads((await zoe.wait_event("stateless", since, doc=DOC))["payload"])
        assert lowered["hands"] == [] and await hands(api) == []
