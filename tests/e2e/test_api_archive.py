"""Stages over real HTTP: snapshots of the live text, their formats, the public archive, restore."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
from pycrdt import Doc, Map

from client.api import PalabreApi
from crdt.convert import import_markdown, render
from crdt.document import doc_from_update
from crdt.schema import text_fragment
from storage.memory import MemoryDocumentStore
from tests.conftest import RunningServer, ServerFactory
from tests.e2e.api import CHARTE, charter_served, http, http_as

FORMATS = ("md", "html", "text", "json")
AMENDMENT = "Le conseil municipal répond à chaque avis de l'assemblée dans un délai de deux mois.\n"


DOCUMENTS = "/api/documents"


def facilitator(server: RunningServer) -> httpx.AsyncClient:
    return http_as(server, prefix=DOCUMENTS)


@asynccontextmanager
async def charter_and_facilitator(
    start_server: ServerFactory, **options: Any,
) -> AsyncIterator[tuple[RunningServer, httpx.AsyncClient]]:
    """A server holding the charter, and the facilitator's HTTP client for its documents."""
    async with charter_served(start_server, **options) as (server, _), \
            facilitator(server) as client:
        yield server, client


async def create(server: RunningServer, doc_id: str = "charte", *, is_public: bool = False) -> None:
    async with PalabreApi(server.url, server.token("facilitator", "Loïc Ménard")) as api:
        await api.create_document(doc_id, "Charte", markdown=CHARTE, is_public=is_public)


async def live(client: httpx.AsyncClient, doc_id: str = "charte") -> dict[str, str]:
    return {fmt: (await client.get(f"/{doc_id}/content", params={"format": fmt})).text
            for fmt in FORMATS}


async def snapshot(client: httpx.AsyncClient, label: str, doc_id: str = "charte") -> Any:
    response = await client.post(f"/{doc_id}/snapshots",
                                 json={"label": label, "stage": "première lecture"})
    assert response.status_code == 201, response.text
    return response.json()


async def edit(server: RunningServer, mutate: Any, doc_id: str = "charte") -> None:
    """Change the live text as the server peer (as an API write would)."""
    await server.app.state.hub.transform(doc_id, mutate, principal=None)


def amend(doc: Doc[Any]) -> None:
    import_markdown(doc, AMENDMENT)


def drop_first_paragraph(doc: Doc[Any]) -> None:
    fragment = text_fragment(doc)
    index = next(i for i, child in enumerate(fragment.children)
                 if getattr(child, "tag", None) == "paragraph")
    del fragment.children[index]


def block_ids(json_content: str) -> list[str]:
    return [block["id"] for block in json.loads(json_content)["blocks"]]


async def test_snapshot_formats_equal_the_live_text_at_snapshot_time_after_later_edits(
    start_server: ServerFactory,
) -> None:
    async with charter_and_facilitator(start_server) as (server, client):
        before = await live(client)
        first = await snapshot(client, "Avant-projet")
        assert first["number"] == 1 and first["previous_hash"] is None
        assert first["created_by"] == "loic-menard" and first["created_by_name"] == "Loïc Ménard"
        assert len(first["hash"]) == 64 and len(first["chain_hash"]) == 64
        assert first["stage"] == "première lecture" and first["adopted"] is False

        await edit(server, amend)
        after = await live(client)
        assert after["md"] != before["md"] and AMENDMENT.strip() in after["md"]
        second = await snapshot(client, "Après auditions")
        assert second["number"] == 2 and second["previous_hash"] == first["chain_hash"]

        base = f"/charte/snapshots/{first['id']}/content"
        for fmt in FORMATS:
            response = await client.get(base, params={"format": fmt})
            assert response.status_code == 200 and response.text == before[fmt], fmt
        raw = await client.get(base, params={"format": "yjs"})
        assert raw.headers["content-type"] == "application/octet-stream"
        assert render(doc_from_update(raw.content), "md") == before["md"]
        later = await client.get(f"/charte/snapshots/{second['id']}/content")
        assert later.text == after["md"]

        listed = (await client.get("/charte/snapshots")).json()["snapshots"]
        assert [s["id"] for s in listed] == [first["id"], second["id"]]
        assert listed[0] == first and not {"markdown", "state", "html"} & set(listed[0])
        assert (await client.get(f"/charte/snapshots/{first['id']}")).json() == first
        assert (await client.get("/charte/snapshots/inconnu/content")).status_code == 404
        assert (await client.get(base, params={"format": "pdf"})).status_code == 400


async def test_a_snapshot_is_audited_and_keeps_the_annotations_state(
    start_server: ServerFactory,
) -> None:
    store = MemoryDocumentStore()
    async with charter_and_facilitator(start_server, store=store) as (server, client):
        paragraph = block_ids((await live(client))["json"])[1]
        async with PalabreApi(server.url, server.token("citizen", "Élodie Lefèvre")) as citizen:
            comment = await citizen.add_annotation("charte", paragraph, "Et les mineurs ?")
        made = await snapshot(client, "Avant-projet")
        stored = await store.get_snapshot("charte", made["id"])
        audit = await store.list_audit("charte")
        chain = await store.verify_chain("charte")
    annotations = doc_from_update(stored.annotations_state).get("annotations", type=Map)
    assert comment["id"] in annotations.keys()
    assert [e.action for e in audit] == ["snapshot.created", "document.created"]
    assert (audit[0].actor_sub, audit[0].detail["snapshot_id"]) == ("loic-menard", made["id"])
    assert chain.ok and chain.checked == 1


async def test_restore_keeps_paragraph_ids_so_existing_comments_still_resolve(
    start_server: ServerFactory,
) -> None:
    async with charter_and_facilitator(start_server) as (server, client):
        before = await live(client)
        paragraph = block_ids(before["json"])[1]
        async with PalabreApi(server.url, server.token("citizen", "Élodie Lefèvre")) as citizen:
            comment = await citizen.add_annotation("charte", paragraph, "Et les mineurs ?")
            made = await snapshot(client, "Avant-projet")
            await edit(server, drop_first_paragraph)
            await edit(server, amend)
            assert paragraph not in block_ids((await live(client))["json"])

            restored = await client.post(f"/charte/snapshots/{made['id']}/restore")
            assert restored.status_code == 200, restored.text
            assert restored.json()["restored"]["id"] == made["id"]
            assert await live(client) == before
            # The comment's paragraph resolves again: a new comment on it is accepted too.
            again = await citizen.add_annotation("charte", paragraph, "Merci pour le retour.")
            listed = await citizen.list_annotations("charte", paragraph_id=paragraph)
        assert comment["paragraph_id"] == again["paragraph_id"] == paragraph
        assert {a["id"] for a in listed} == {comment["id"], again["id"]}


async def test_only_facilitators_snapshot_and_restore(start_server: ServerFactory) -> None:
    store = MemoryDocumentStore()
    async with start_server(store=store) as server, facilitator(server) as client:
        await create(server, is_public=True)
        made = await snapshot(client, "Avant-projet")
        for role in ("citizen", "member", None):
            token = server.token(role, "Anaïs") if role else None
            async with http(server, token, prefix=DOCUMENTS) as other:
                body = {"label": "Fausse étape", "stage": "aucune"}
                refused = await other.post("/charte/snapshots", json=body)
                assert refused.status_code == 403 and refused.json()["error"] == "forbidden"
                restore = await other.post(f"/charte/snapshots/{made['id']}/restore")
                assert restore.status_code == 403, role
        assert len((await client.get("/charte/snapshots")).json()["snapshots"]) == 1

        await store.set_freeze("charte", frozen=True, by="loic-menard", comments_open=False)
        frozen = await client.post(f"/charte/snapshots/{made['id']}/restore")
        assert frozen.status_code == 403 and "frozen" in frozen.json()["detail"]


async def test_the_public_reads_the_archive_of_public_documents_only(
    start_server: ServerFactory,
) -> None:
    async with start_server() as server, facilitator(server) as client, \
            http(server, prefix=DOCUMENTS) as anyone:
        await create(server, "charte-publique", is_public=True)
        await create(server, "charte")
        public = await snapshot(client, "Texte adopté", "charte-publique")
        private = await snapshot(client, "Brouillon", "charte")

        listed = await anyone.get("/charte-publique/snapshots")
        assert listed.status_code == 200
        assert [s["id"] for s in listed.json()["snapshots"]] == [public["id"]]
        assert listed.json()["snapshots"][0]["created_by"] is None
        content = await anyone.get(f"/charte-publique/snapshots/{public['id']}/content")
        assert content.status_code == 200 and "Charte de la participation" in content.text

        assert (await anyone.get("/charte/snapshots")).status_code == 403
        hidden = await anyone.get(f"/charte/snapshots/{private['id']}/content")
        assert hidden.status_code == 403
        crossed = await anyone.get(f"/charte-publique/snapshots/{private['id']}/content")
        assert crossed.status_code == 404
