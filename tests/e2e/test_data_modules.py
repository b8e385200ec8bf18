"""Monitoring (contributions, own entries, themes) and the library (files) over real HTTP."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any
from uuid import uuid4

import httpx
import pytest
from pycrdt import Doc, Map

from client.api import Invalid, PalabreApi, PermissionDenied
from client.examples import create_example
from client.session import connect
from crdt.data import read_data
from tests.conftest import RunningServer, ServerFactory
from tests.e2e.api import api_as, apis_as

FAST = {"http_rate_per_second": 0.0, "agenda_poll_seconds": 0.0}


def bearer(server: RunningServer, role: str, name: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {server.token(role, name)}"}


async def test_citizens_add_entries_edit_only_their_own_and_facilitators_tag_themes(
    start_server: ServerFactory,
) -> None:
    async with start_server(**FAST) as server, \
            api_as(server, "facilitator", "Loïc Ménard") as loic, \
            apis_as(server, "citizen", "Amine Benali", "Zoé Lefèvre") as (amine, zoe):
        await create_example(loic, "monitoring", "veille")
        data = await amine.patch_data("veille", {"entries": {"a-1": {
            "body": "Nid-de-poule avenue Foch.", "place": "Avenue Foch"}}})
        entry = data["entries"]["a-1"]
        assert entry["author"] == {"sub": "amine-benali", "name": "Amine Benali"}
        assert entry["created_at"].endswith("Z")

        await amine.patch_data("veille", {"entries": {"a-1": {"body": "Nid-de-poule, av. Foch."}}})
        before = await loic.get_data("veille")
        refusals: list[tuple[PalabreApi, dict[str, Any], str]] = [
            (zoe, {"entries": {"a-1": {"body": "Réécrit par Zoé"}}}, "only the author"),
            (zoe, {"entries": {"a-1": None}}, "may not moderate"),
            (amine, {"entries": {"a-1": {"themes": ["mobilite"]}}}, "may not moderate"),
            (amine, {"entries": {"a-1": {"author": {"sub": "x", "name": "X"}}}},
             "kept by the server"),
            (amine, {"entries": {"a-2": {"body": "x", "author": {"sub": "zoe-lefevre",
                                                                 "name": "Zoé"}}}},
             "set by the server"),
            (amine, {"themes": {"voirie": {"label": "Voirie"}}}, "may not moderate"),
            (amine, {"title": "Ma veille"}, "may not moderate"),
        ]
        for who, patch, says in refusals:
            with pytest.raises(PermissionDenied, match=says):
                await who.patch_data("veille", patch)
        with pytest.raises(Invalid):
            await amine.patch_data("veille", {"entries": {"a-3": {"body": ""}}})
        assert await loic.get_data("veille") == before

        await loic.patch_data("veille", {"themes": {"voirie": {"label": "Voirie"}},
                                         "entries": {"a-1": {"themes": ["voirie",
                                                                        "securite"]}}})
        voirie = await zoe.get_data("veille", theme="voirie")
        assert list(voirie["entries"]) == ["a-1"]
        securite = await zoe.get_data("veille", theme="securite")
        assert sorted(securite["entries"]) == ["a-1", "e-001"]
        assert (await zoe.get_data("veille", theme="inconnu"))["entries"] == {}
        # The author removes their own entry; the facilitator removes anyone's.
        await amine.patch_data("veille", {"entries": {"a-1": None}})
        await loic.patch_data("veille", {"entries": {"e-002": None}})
        assert sorted((await zoe.get_data("veille"))["entries"]) == ["e-001", "e-003"]


async def test_socket_writes_to_monitoring_follow_the_same_rules(
    start_server: ServerFactory,
) -> None:
    async with start_server(**FAST) as server, \
            api_as(server, "facilitator", "Loïc Ménard") as loic:
        await create_example(loic, "monitoring", "veille")
        async with connect(server.url, "veille", server.token("member", "Zoé Lefèvre")) as zoe, \
                connect(server.url, "veille", server.token("member", "Amine")) as watcher:
            await zoe.synced()
            await watcher.synced()
            entries = zoe.doc.get("data", type=Map)["entries"]
            entries["e-002"]["body"] = "Réécrit par Zoé"  # Amine wrote it, not Zoé
            await zoe.wait_for(lambda: len(zoe.denials) == 1, timeout=10)
            assert "only the author" in zoe.denials[0]
            entries["z-1"] = Map({"body": "Par Zoé", "created_at": "2026-11-27T08:00:00Z",
                                  "author": Map({"sub": "zoe-lefevre", "name": "Zoé"})})
            await watcher.wait_for(
                lambda: "z-1" in dict(read_data(watcher.doc))["entries"], timeout=10)  # type: ignore[operator]
            entries["z-2"] = Map({"body": "Au nom d'Amine", "created_at": "2026-11-27T08:00:00Z",
                                  "author": Map({"sub": "amine", "name": "Amine"})})
            await zoe.wait_for(lambda: len(zoe.denials) == 2, timeout=10)
            assert "must be yourself" in zoe.denials[1]
        stored = await loic.get_data("veille")
        assert stored["entries"]["e-002"]["body"].startswith("Dépôt sauvage")
        assert stored["entries"]["z-1"]["author"]["sub"] == "zoe-lefevre"
        assert "z-2" not in stored["entries"]


async def test_library_files_upload_size_limit_type_and_download(
    start_server: ServerFactory,
) -> None:
    pdf = b"%PDF-1.4\n" + "Guide de la concertation — édition 2026\n".encode() * 50
    async with start_server(**FAST, max_file_bytes=4096) as server, \
            api_as(server, "facilitator", "Loïc Ménard") as loic, \
            httpx.AsyncClient(base_url=server.url) as http:
        await create_example(loic, "library", "biblio", is_public=False)
        await loic.patch_data("biblio", {"resources": {"guide": {
            "title": "Guide de la concertation", "kind": "guide", "tags": ["méthode"]}}})
        member = bearer(server, "member", "Élodie Lefèvre")
        url = "/api/documents/biblio/resources/guide/file"
        answer = await http.put(url, params={"name": "guide-concertation.pdf"}, content=pdf,
                                headers={**member, "Content-Type": "application/pdf"})
        assert answer.status_code == 201, answer.text
        described = answer.json()
        assert described["size"] == len(pdf) and described["content_type"] == "application/pdf"
        data = await loic.get_data("biblio")
        assert data["resources"]["guide"]["file"] == described
        assert data["resources"]["guide"]["contributor"]["sub"] == "loic-menard"

        download = await http.get(f"/api/documents/biblio/files/{described['id']}",
                                  headers=member)
        assert download.status_code == 200 and download.content == pdf
        assert download.headers["content-type"] == "application/pdf"
        assert download.headers["x-content-type-options"] == "nosniff"
        with_query = await http.get(f"/api/documents/biblio/files/{described['id']}",
                                    params={"token": server.token("citizen", "Zoé")})
        assert with_query.status_code == 200
        anonymous = await http.get(f"/api/documents/biblio/files/{described['id']}")
        assert anonymous.status_code == 403

        html = await http.put(url, params={"name": "page.html"}, content=b"<script>1</script>",
                              headers={**member, "Content-Type": "text/html"})
        assert html.status_code == 201
        served = await http.get(f"/api/documents/biblio/files/{html.json()['id']}",
                                headers=member)
        assert served.headers["content-disposition"].startswith("attachment")

        for params, body, headers, status in [
            ({"name": "gros.pdf"}, b"x" * 5000, {"Content-Type": "application/pdf"}, 413),
            ({}, pdf, {"Content-Type": "application/pdf"}, 400),
            ({"name": "a.pdf"}, pdf, {}, 415),
            ({"name": "a.pdf"}, b"", {"Content-Type": "application/pdf"}, 400),
        ]:
            refused = await http.put(url, params=params, content=body,
                                     headers={**member, **headers})
            assert refused.status_code == status, refused.text
            assert set(refused.json()) == {"error", "detail"}
        citizen = bearer(server, "citizen", "Zoé")
        refused = await http.put(url, params={"name": "a.pdf"}, content=pdf,
                                 headers={**citizen, "Content-Type": "application/pdf"})
        assert refused.status_code == 403
        missing = await http.put("/api/documents/biblio/resources/absent/file",
                                 params={"name": "a.pdf"}, content=pdf,
                                 headers={**member, "Content-Type": "application/pdf"})
        assert missing.status_code == 404
        with pytest.raises(PermissionDenied, match="set by uploading"):
            await loic.patch_data("biblio", {"resources": {"autre": {
                "title": "Autre", "kind": "other", "file": described}}})
        with pytest.raises(PermissionDenied, match="kept by the server"):
            await loic.patch_data("biblio", {"resources": {"guide": {"file": None}}})
        # The refusals left the last upload (the HTML page) in place.
        assert (await loic.get_data("biblio"))["resources"]["guide"]["file"] == html.json()


async def test_data_document_creation_errors_are_clear(start_server: ServerFactory) -> None:
    async with start_server(**FAST) as server, httpx.AsyncClient(base_url=server.url) as http:
        headers = bearer(server, "facilitator", "Loïc Ménard")
        for body, status, says in [
            ({"id": "d", "title": "D", "kind": "data"}, 422, "'schema' must be one of"),
            ({"id": "d", "title": "D", "kind": "data", "schema": "budget"}, 422, "one of"),
            ({"id": "d", "title": "D", "kind": "data", "schema": "catalogue",
              "data": {"title": "D"}}, 422, "'projects' is a required property"),
            ({"id": "d", "title": "D", "kind": "data", "schema": "catalogue",
              "markdown": "# x"}, 422, "text documents"),
            ({"id": "d", "title": "D", "schema": "catalogue"}, 422, "kind 'data'"),
            ({"id": "d", "title": "D", "kind": "table"}, 422, "'kind' must be"),
        ]:
            answer = await http.post("/api/documents", json=body, headers=headers)
            assert answer.status_code == status, (body, answer.text)
            assert says in answer.json()["detail"]
        # Nothing was created by the refusals; a good request then works.
        answer = await http.get("/api/documents/d", headers=headers)
        assert answer.status_code == 404
        answer = await http.post("/api/documents", headers=headers, json={
            "id": "d", "title": "Catalogue vide", "kind": "data", "schema": "catalogue"})
        assert answer.status_code == 201 and answer.json()["schema"] == "catalogue"
        data = await http.get("/api/documents/d/data", headers=headers)
        assert data.json() == {"title": "Catalogue vide", "projects": {}}
        text = await http.post("/api/documents", headers=headers,
                               json={"id": "t", "title": "Texte"})
        assert text.status_code == 201
        not_data = await http.get("/api/documents/t/data", headers=headers)
        assert not_data.status_code == 404 and "not a data document" in not_data.json()["detail"]
        async with connect(server.url, "d", server.token("member", "Zoé")) as zoe:
            await zoe.synced()
            assert dict(read_data(zoe.doc)) == {"title": "Catalogue vide", "projects": {}}


async def test_event_stream_respects_permissions_and_sends_each_change(
    start_server: ServerFactory,
) -> None:
    async with start_server(**FAST) as server, \
            api_as(server, "facilitator", "Loïc Ménard") as loic, \
            httpx.AsyncClient(base_url=server.url, timeout=30) as http:
        await create_example(loic, "catalogue", "prive", is_public=False)
        url = "/api/documents/prive/data/events"
        refused = await http.get(url)
        assert refused.status_code == 403 and refused.json()["error"] == "forbidden"
        bad = await http.get(url, params={"token": "pas-un-jeton"})
        assert bad.status_code == 401
        token = server.token("citizen", "Zoé")
        async with http.stream("GET", url, params={"token": token}) as stream:
            assert stream.headers["content-type"].startswith("text/event-stream")
            events = aiter_events(stream)
            first = await anext(events)
            assert first["projects"]["fontaines"]["progress"] == 0
            await loic.patch_data("prive", {"projects": {"fontaines": {"progress": 20}}})
            second = await anext(events)
            assert second["projects"]["fontaines"]["progress"] == 20


async def aiter_events(stream: httpx.Response) -> Any:
    """The JSON of each ``data`` event of a Server-Sent Events stream."""
    lines = stream.aiter_lines()
    async for line in lines:
        if line.startswith("data: "):
            yield json.loads(line.removeprefix("data: "))


async def test_data_documents_on_each_database_keep_schema_history_and_snapshots(
    start_server: ServerFactory, tmp_path: Path, database_url: str | None,
) -> None:
    doc_id = f"cat-{uuid4().hex[:10]}"  # PostgreSQL is shared: an id of our own
    data_dir = tmp_path / "node"
    settings = {**FAST, "database_url": database_url}
    async with start_server(data_dir=data_dir, **settings) as server, \
            api_as(server, "facilitator", "Loïc Ménard") as loic, \
            httpx.AsyncClient(base_url=server.url) as http:
        await create_example(loic, "catalogue", doc_id)
        await loic.patch_data(doc_id, {"projects": {"fontaines": {"progress": 10}}})
        headers = bearer(server, "facilitator", "Loïc Ménard")
        made = await http.post(f"/api/documents/{doc_id}/snapshots", headers=headers,
                               json={"label": "T1", "stage": "premier trimestre"})
        assert made.status_code == 201, made.text
        archived = await loic.get_data(doc_id)
        await loic.patch_data(doc_id, {"projects": {"fontaines": {"progress": 30}}})
    # A restarted server reads the schema and the history back from the database.
    async with start_server(data_dir=data_dir, **settings) as server, \
            api_as(server, "member", "Zoé Lefèvre") as zoe, \
            httpx.AsyncClient(base_url=server.url) as http:
        meta = await zoe.get_document(doc_id)
        assert meta["kind"] == "data" and meta["schema"] == "catalogue"
        fontaines = (await zoe.get_data(doc_id))["projects"]["fontaines"]
        assert [h["progress"]["new"] for h in fontaines["history"]] == [10, 30]
        with pytest.raises(Invalid):
            await zoe.patch_data(doc_id, {"projects": {"fontaines": {"progress": 101}}})
        # The snapshot holds the data as it was, loadable by any Yjs client.
        headers = bearer(server, "member", "Zoé Lefèvre")
        listed = (await http.get(f"/api/documents/{doc_id}/snapshots",
                                 headers=headers)).json()["snapshots"]
        raw = await http.get(f"/api/documents/{doc_id}/snapshots/{listed[0]['id']}/content",
                             params={"format": "yjs"}, headers=headers)
        doc: Doc[Any] = Doc()
        doc.apply_update(raw.content)
        assert read_data(doc) == archived
