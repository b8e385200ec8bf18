"""The editor's pages and assets over real HTTP, and the live governance map over a socket."""

from __future__ import annotations

import re
from typing import Any

import httpx
from pycrdt import Doc

from client.session import connect
from crdt.governance import read_governance
from crdt.schema import JsonValue
from server.access.auth import Principal, Role
from server.modules.governance import Governance
from storage.memory import MemoryDocumentStore
from tests.conftest import RunningServer, ServerFactory
from tests.e2e.api import http_as

DOC = "charte-web"


def facilitator(server: RunningServer) -> httpx.AsyncClient:
    return http_as(server)


async def create(api: httpx.AsyncClient) -> None:
    made = await api.post("/api/documents", json={
        "id": DOC, "title": "Charte", "markdown": "La présente charte définit la participation.\n"})
    assert made.status_code == 201, made.text


async def test_pages_are_the_shell_with_versioned_assets_and_a_strict_policy(
    start_server: ServerFactory,
) -> None:
    async with start_server() as server, httpx.AsyncClient(base_url=server.url) as http:
        for path in ("/", f"/d/{DOC}"):
            page = await http.get(path)
            assert page.status_code == 200
            assert page.headers["content-type"].startswith("text/html")
            assert "script-src 'self'" in page.headers["content-security-policy"]
            assert page.headers["referrer-policy"] == "no-referrer"
            assert page.headers["cache-control"] == "no-cache"
        script = re.search(r'src="(/static/app\.js\?v=([0-9a-f]+))"', page.text)
        style = re.search(r'href="(/static/app\.css\?v=[0-9a-f]+)"', page.text)
        assert script and style

        versioned = await http.get(script.group(1))
        assert versioned.status_code == 200
        assert versioned.headers["content-type"].startswith("text/javascript")
        assert versioned.headers["cache-control"] == "public, max-age=31536000, immutable"
        assert versioned.headers["etag"] == f'"{script.group(2)}"'
        unversioned = await http.get("/static/app.js")
        assert unversioned.headers["cache-control"] == "no-cache"
        again = await http.get("/static/app.js", headers={"If-None-Match": f'"{script.group(2)}"'})
        assert again.status_code == 304 and again.content == b""
        assert (await http.get(style.group(1))).status_code == 200

        for path in ("/static/secret.key", "/static/..%2Fpalabre.db"):
            missing = await http.get(path)
            assert missing.status_code == 404
            assert missing.json()["error"] == "not_found"
        bad = await http.get("/d/not%20an%20id")
        assert bad.status_code == 400
        assert bad.json()["error"] == "bad_doc_id"


async def test_governance_actions_reach_an_open_annotations_socket_at_once(
    start_server: ServerFactory,
) -> None:
    async with start_server() as server:
        citizen = server.token("citizen", "Carla Dupré")
        async with facilitator(server) as api:
            await create(api)
        async with facilitator(server) as api, connect(
            server.url, f"{DOC}.annotations", citizen
        ) as notes:
            await notes.synced()

            def state() -> dict[str, JsonValue]:
                doc: Doc[Any] = notes.doc
                return read_governance(doc)

            assert (await api.post(f"/api/documents/{DOC}/snapshots", json={
                "label": "Avant-projet", "stage": "première lecture"})).status_code == 201
            await notes.wait_for(lambda: state().get("snapshots") not in (None, []), timeout=10)
            assert state()["stage"] == "première lecture"
            assert state()["frozen"] is False

            assert (await api.post(f"/api/documents/{DOC}/freeze",
                                   json={"comments_open": True})).status_code == 200
            await notes.wait_for(lambda: state()["frozen"] is True, timeout=10)
            assert state()["comments_open"] is True

            assert (await api.post(f"/api/documents/{DOC}/unfreeze")).status_code == 200
            await notes.wait_for(lambda: state()["frozen"] is False, timeout=10)

            adopted = await api.post(f"/api/documents/{DOC}/adopt", json={"label": "Adoptée"})
            assert adopted.status_code == 201
            await notes.wait_for(lambda: state()["adopted"] == adopted.json()["id"], timeout=10)
            assert state()["frozen"] is True
            snapshots = state()["snapshots"]
            assert isinstance(snapshots, list)
            assert [s["label"] for s in snapshots if isinstance(s, dict)] == [
                "Avant-projet", "Adoptée"]


async def test_serving_the_editor_page_fills_the_map_of_an_older_document(
    start_server: ServerFactory,
) -> None:
    async with start_server() as server:
        async with facilitator(server) as api:
            await create(api)
        # Frozen the way it was before the map existed: stored and enforced, not published.
        governance: Governance = server.app.state.governance
        await governance.freeze(DOC, Principal(sub="loic", name="Loïc Ménard",
                                               role=Role.FACILITATOR, docs=None),
                                comments_open=False)
        async with connect(server.url, f"{DOC}.annotations", server.token()) as notes:
            await notes.synced()
            assert read_governance(notes.doc) == {}
            async with httpx.AsyncClient(base_url=server.url) as http:
                assert (await http.get(f"/d/{DOC}")).status_code == 200
            await notes.wait_for(lambda: read_governance(notes.doc).get("frozen") is True,
                                 timeout=10)


async def test_a_freeze_stands_when_publishing_its_state_fails_and_the_next_action_catches_up(
    start_server: ServerFactory,
) -> None:
    store = MemoryDocumentStore()
    async with start_server(store=store) as server:
        async with facilitator(server) as api:
            await create(api)
            async with connect(server.url, f"{DOC}.annotations", server.token()) as notes:
                await notes.synced()
                store.fail_next_appends(1)  # the governance map's commit
                frozen = await api.post(f"/api/documents/{DOC}/freeze")
                assert frozen.status_code == 200 and frozen.json()["frozen"] is True
                assert (await store.get_freeze(DOC)).frozen
                assert read_governance(notes.doc).get("frozen") is not True

                snapshot = await api.post(f"/api/documents/{DOC}/snapshots", json={
                    "label": "Gelée", "stage": "vote"})
                assert snapshot.status_code == 201
                await notes.wait_for(
                    lambda: read_governance(notes.doc).get("frozen") is True, timeout=10)
                assert read_governance(notes.doc)["stage"] == "vote"
