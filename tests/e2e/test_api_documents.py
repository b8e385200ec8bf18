"""The documents API over real HTTP: create from Markdown, read back, ETags, paging, errors."""

from __future__ import annotations

import json
import re
from typing import Any

import anyio
import pytest
from pycrdt import XmlElement, XmlText
from starlette.routing import Mount, Route

from client.api import Conflict, PalabreApi, PermissionDenied
from client.session import connect
from crdt.convert import markdown_to_doc, to_markdown, to_text
from crdt.schema import blocks, text_fragment
from server.http.openapi import SPEC
from storage.memory import MemoryDocumentStore
from tests.conftest import RunningServer, ServerFactory
from tests.e2e.api import CHARTE, charter_served, http

PARAGRAPH = "Toute habitante et tout habitant peut saisir le comité d'éthique."


def facilitator(server: RunningServer) -> PalabreApi:
    return PalabreApi(server.url, server.token("facilitator", "Loïc Ménard"))


async def test_charter_created_from_markdown_reads_back_in_every_format(
    start_server: ServerFactory,
) -> None:
    reference = markdown_to_doc(CHARTE)
    async with start_server() as server, facilitator(server) as api:
        meta = await api.create_document("charte", "Charte de la participation", markdown=CHARTE)
        assert meta["id"] == "charte" and meta["title"] == "Charte de la participation"
        assert meta["is_public"] is False and meta["created_by"] == "loic-menard"

        assert await api.get_content("charte", "md") == to_markdown(reference)
        assert await api.get_content("charte", "text") == to_text(reference)
        content = json.loads(await api.get_content("charte", "json"))
        ids = [block["id"] for block in content["blocks"]]
        assert all(ids) and len(set(ids)) == len(ids)
        assert [(b["type"], b["text"]) for b in content["blocks"]] == [
            (b.type, b.text) for b in blocks(reference)
        ]
        html = await api.get_content("charte", "html")
        assert re.findall(r'<[a-z0-9]+ id="([^"]+)"', html) == [
            b["id"] for b in content["blocks"]
        ]
        assert "Saint-Étienne-des-Prés" in html

        # The import is the document's first committed update: a socket client gets it.
        async with connect(server.url, "charte", server.token()) as zoe:
            await zoe.synced()
            assert to_markdown(zoe.doc) == to_markdown(reference)


async def test_content_has_a_strong_etag_answered_with_304_until_the_text_changes(
    start_server: ServerFactory,
) -> None:
    async with charter_served(start_server) as (server, _):
        async with http(server, server.token()) as client:
            first = await client.get("/api/documents/charte/content?format=md")
            etag = first.headers["etag"]
            assert first.status_code == 200 and etag.startswith('"')
            again = await client.get(
                "/api/documents/charte/content?format=md", headers={"If-None-Match": etag}
            )
            assert again.status_code == 304 and again.content == b""
            html = await client.get("/api/documents/charte/content?format=html")
            assert html.headers["etag"] != etag

            async with (
                connect(server.url, "charte", server.token()) as zoe,
                connect(server.url, "charte", server.token("citizen", "Élodie")) as elodie,
            ):
                await zoe.synced()
                paragraph = XmlElement("paragraph", {"id": "p-ethique"}, [XmlText(PARAGRAPH)])
                text_fragment(zoe.doc).children.append(paragraph)
                # Relayed only once applied on the server: then the ETag must have moved.
                await elodie.wait_for(lambda: PARAGRAPH in to_text(elodie.doc), timeout=10)
            changed = await client.get(
                "/api/documents/charte/content?format=md", headers={"If-None-Match": etag}
            )
            assert changed.status_code == 200 and changed.headers["etag"] != etag
            assert "comité d'éthique" in changed.text

            # A deletion adds no clock to the state vector: the ETag moves all the same.
            etag = changed.headers["etag"]
            async with (
                connect(server.url, "charte", server.token()) as zoe,
                connect(server.url, "charte", server.token("citizen", "Élodie")) as elodie,
            ):
                await zoe.synced()
                fragment = text_fragment(zoe.doc)
                del fragment.children[len(fragment.children) - 1]
                await elodie.wait_for(lambda: PARAGRAPH not in to_text(elodie.doc), timeout=10)
            # The room applies what it relayed in its next batch: wait for it, bounded.
            with anyio.fail_after(10):
                while True:
                    deleted = await client.get(
                        "/api/documents/charte/content?format=md",
                        headers={"If-None-Match": etag},
                    )
                    if deleted.status_code != 304:
                        break
                    await anyio.sleep(0.05)
            assert deleted.status_code == 200 and deleted.headers["etag"] != etag
            assert "comité d'éthique" not in deleted.text


async def test_documents_are_paged_by_id_and_public_sees_only_public_ones(
    start_server: ServerFactory,
) -> None:
    async with start_server() as server, facilitator(server) as api:
        for number in range(7):
            await api.create_document(f"doc-{number}", f"Texte {number}", is_public=number % 2 == 0)
        seen: list[str] = []
        cursor: str | None = None
        while True:
            page, cursor = await api.list_documents(limit=3, after=cursor)
            assert len(page) <= 3
            seen += [doc["id"] for doc in page]
            if cursor is None:
                break
        assert seen == [f"doc-{n}" for n in range(7)]

        async with PalabreApi(server.url) as public:
            page, cursor = await public.list_documents(limit=2)
            assert [d["id"] for d in page] == ["doc-0", "doc-2"] and cursor == "doc-2"
            page, cursor = await public.list_documents(limit=2, after=cursor)
            assert [d["id"] for d in page] == ["doc-4", "doc-6"] and cursor is None


async def test_public_reads_a_public_document_but_not_a_private_one(
    start_server: ServerFactory,
) -> None:
    async with start_server() as server, facilitator(server) as api:
        await api.create_document("publique", "Publique", markdown=CHARTE, is_public=True)
        await api.create_document("privee", "Privée", markdown=CHARTE)
        async with http(server) as anyone:
            assert (await anyone.get("/api/documents/publique/content")).status_code == 200
            denied = await anyone.get("/api/documents/privee/content")
            assert denied.status_code == 403 and denied.json()["error"] == "forbidden"
        await api.update_document("privee", is_public=True)
        async with http(server) as anyone:
            now_public = await anyone.get("/api/documents/privee/content?format=text")
            assert now_public.status_code == 200


async def test_citizen_may_not_create_rename_or_delete_documents(
    start_server: ServerFactory,
) -> None:
    async with charter_served(start_server) as (server, api):
        async with PalabreApi(server.url, server.token("citizen", "Élodie")) as citizen:
            with pytest.raises(PermissionDenied):
                await citizen.create_document("autre", "Autre")
            with pytest.raises(PermissionDenied):
                await citizen.update_document("charte", title="Pirate")
        with pytest.raises(Conflict):
            await api.create_document("charte", "Encore")
        assert (await api.get_document("charte"))["title"] == "Charte"
        async with http(server, server.token("facilitator", "Loïc")) as client:
            assert (await client.delete("/api/documents/charte")).status_code == 204
            assert (await client.get("/api/documents/charte")).status_code == 404
            again = await client.post("/api/documents", json={"id": "charte", "title": "T"})
            assert again.status_code == 409


async def test_blocks_added_over_a_socket_without_id_get_one_from_the_server(
    start_server: ServerFactory,
) -> None:
    async with charter_served(start_server) as (server, api):
        async with connect(server.url, "charte", server.token()) as zoe:
            await zoe.synced()
            paragraph = XmlElement("paragraph", {}, [XmlText(PARAGRAPH)])
            text_fragment(zoe.doc).children.append(paragraph)
            await zoe.wait_for(lambda: paragraph.attributes.get("id") is not None, timeout=10)
            assigned = paragraph.attributes.get("id")
            assert isinstance(assigned, str) and assigned.startswith("p-")
        content = json.loads(await api.get_content("charte", "json"))
        assert content["blocks"][-1] == {
            "id": assigned, "type": "paragraph", "text": PARAGRAPH,
            "article_id": content["blocks"][-2]["article_id"],
        }


BIG = "x" * (2 * 1024 * 1024 + 1)
ERROR_CASES: list[tuple[str, str, str, dict[str, Any], int, str]] = [
    ("malformed JSON", "POST", "/api/documents", {"content": b"{", "type": "application/json"},
     400, "bad_request"),
    ("JSON not an object", "POST", "/api/documents", {"json": [1]}, 400, "bad_request"),
    ("bad limit", "GET", "/api/documents?limit=zero", {}, 400, "bad_request"),
    ("bad format", "GET", "/api/documents/charte/content?format=pdf", {}, 400, "bad_request"),
    ("bad path id", "GET", "/api/documents/a%20b", {}, 400, "bad_doc_id"),
    ("invalid token", "GET", "/api/documents", {"token": "pas-un-jeton"}, 401,
     "unauthenticated"),
    ("citizen creates", "POST", "/api/documents",
     {"json": {"id": "x", "title": "X"}, "role": "citizen"}, 403, "forbidden"),
    ("unknown id", "GET", "/api/documents/inconnu/content", {}, 404, "not_found"),
    ("unknown route", "GET", "/api/nulle-part", {}, 404, "not_found"),
    ("companion", "GET", "/api/documents/charte.annotations/content", {}, 404, "not_found"),
    ("id exists", "POST", "/api/documents", {"json": {"id": "charte", "title": "T"}}, 409,
     "conflict"),
    ("body too large", "POST", "/api/documents",
     {"json": {"id": "big", "title": "T", "markdown": BIG}}, 413, "payload_too_large"),
    ("not JSON", "POST", "/api/documents", {"content": b"id=x", "type": "text/plain"}, 415,
     "unsupported_media_type"),
    ("bad id", "POST", "/api/documents", {"json": {"id": "a/b", "title": "T"}}, 422, "invalid"),
    ("companion id", "POST", "/api/documents",
     {"json": {"id": "x.annotations", "title": "T"}}, 422, "invalid"),
    ("no title", "POST", "/api/documents", {"json": {"id": "x"}}, 422, "invalid"),
    ("unknown field", "PATCH", "/api/documents/charte", {"json": {"titre": "T"}}, 422,
     "invalid"),
    ("bad is_public", "PATCH", "/api/documents/charte", {"json": {"is_public": "oui"}}, 422,
     "invalid"),
]


@pytest.mark.parametrize(
    ("method", "path", "options", "status", "error"),
    [case[1:] for case in ERROR_CASES], ids=[case[0] for case in ERROR_CASES],
)
async def test_errors_are_json_with_their_status_and_change_nothing(
    start_server: ServerFactory, method: str, path: str, options: dict[str, Any], status: int,
    error: str,
) -> None:
    async with charter_served(start_server) as (server, api):
        before = (await api.list_documents(), await api.get_content("charte", "json"))
        token = options.get("token") or server.token(options.get("role", "facilitator"), "Loïc")
        headers = {"Content-Type": options["type"]} if "type" in options else {}
        async with http(server, token) as client:
            response = await client.request(
                method, path, json=options.get("json"), content=options.get("content"),
                headers=headers,
            )
        assert response.status_code == status, response.text
        assert response.headers["content-type"] == "application/json"
        body = response.json()
        assert body["error"] == error and isinstance(body["detail"], str) and body["detail"]
        assert (await api.list_documents(), await api.get_content("charte", "json")) == before


async def test_the_body_limit_is_a_setting(start_server: ServerFactory) -> None:
    async with start_server(api_max_body_bytes=100) as server:
        async with http(server, server.token("facilitator", "Loïc")) as client:
            body = {"id": "charte", "title": "Charte", "markdown": "Un paragraphe. " * 10}
            too_big = await client.post("/api/documents", json=body)
            assert too_big.status_code == 413 and "100 bytes" in too_big.json()["detail"]
            assert (await client.get("/api/documents")).json()["documents"] == []


async def test_storage_down_is_503_and_nothing_is_created(start_server: ServerFactory) -> None:
    store = MemoryDocumentStore()
    async with start_server(store=store) as server, facilitator(server) as api:
        store.unavailable = True
        async with http(server, server.token("facilitator", "Loïc")) as client:
            for response in (
                await client.post("/api/documents", json={"id": "charte", "title": "T"}),
                await client.get("/api/documents"),
            ):
                assert response.status_code == 503
                assert response.json()["error"] == "unavailable"
        store.unavailable = False
        assert await api.list_documents() == ([], None)


async def test_openapi_describes_every_route_and_the_docs_page_lists_them(
    start_server: ServerFactory,
) -> None:
    async with start_server() as server, http(server) as client:
        spec = (await client.get("/api/openapi.json")).json()
        assert spec == json.loads(json.dumps(SPEC)) and spec["openapi"].startswith("3.1")
        mount = next(r for r in server.app.routes if isinstance(r, Mount) and r.path == "/api")
        routes = [("/api" + r.path, r) for r in mount.routes if isinstance(r, Route)]
        routes += [(r.path, r) for r in server.app.routes
                   if isinstance(r, Route) and r.path.startswith(("/api/", "/auth/"))]
        served = {
            (path, method.lower())
            for path, route in routes for method in (route.methods or ()) if method != "HEAD"
        }
        described = {(path, method) for path, ops in spec["paths"].items() for method in ops}
        assert described == served
        for ops in spec["paths"].values():
            for op in ops.values():
                for response in op["responses"].values():
                    for media in response.get("content", {}).values():
                        name = media["schema"]["$ref"].rsplit("/", 1)[-1]
                        assert name in spec["components"]["schemas"]
        page = await client.get("/api/docs")
        assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
        assert all(path in page.text for path in spec["paths"])


async def test_a_failed_first_commit_is_503_and_leaves_no_document(
    start_server: ServerFactory,
) -> None:
    store = MemoryDocumentStore()
    async with start_server(store=store) as server, facilitator(server) as api:
        store.fail_next_appends(1)
        async with http(server, server.token("facilitator", "Loïc")) as client:
            response = await client.post(
                "/api/documents", json={"id": "charte", "title": "T", "markdown": CHARTE}
            )
        assert response.status_code == 503 and response.json()["error"] == "unavailable"
        assert await api.list_documents() == ([], None)
        await api.create_document("charte", "Charte", markdown=CHARTE)
        assert await api.get_content("charte") == to_markdown(markdown_to_doc(CHARTE))
