"""Data documents over real HTTP and sockets: the catalogue, merge patches, schema, history."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import anyio
import httpx
import pytest
from pycrdt import Map, Text

from client.api import Invalid, PalabreApi, PermissionDenied
from client.examples import create_example, create_examples
from client.session import connect
from crdt.data import read_data
from crdt.schemas import SCHEMA_NAMES, load_example
from tests.conftest import ServerFactory
from tests.e2e.api import api_as, apis_as

FAST = {"http_rate_per_second": 0.0}


def data_of(doc: Any) -> dict[str, Any]:
    """A document's data, typed loosely for the assertions."""
    return dict(read_data(doc))


def projects(session_doc: Any) -> Any:
    return session_doc.get("data", type=Map)["projects"]


@pytest.mark.parametrize("schema", SCHEMA_NAMES)
async def test_each_example_loads_into_a_new_document_and_reads_back(
    start_server: ServerFactory, schema: str
) -> None:
    async with start_server(**FAST) as server, api_as(server, "facilitator", "Loïc Ménard") as api:
        meta = await create_example(api, schema)
        assert meta["id"] == f"exemple-{schema}" and meta["kind"] == "data"
        assert meta["schema"] == schema
        assert await api.get_data(f"exemple-{schema}") == load_example(schema)
        # Public by default: the platform's pages read it without a token.
        async with PalabreApi(server.url) as public:
            assert await public.get_data(f"exemple-{schema}") == load_example(schema)


async def test_all_examples_load_at_once_as_the_demo_does(start_server: ServerFactory) -> None:
    async with start_server(**FAST) as server, api_as(server, "facilitator", "Loïc Ménard") as api:
        made = await create_examples(api)
        assert [meta["schema"] for meta in made] == list(SCHEMA_NAMES)
        listed, _ = await api.list_documents()
        assert {meta["id"] for meta in listed} == {f"exemple-{name}" for name in SCHEMA_NAMES}


async def test_concurrent_patches_from_http_and_socket_clients_all_survive(
    start_server: ServerFactory,
) -> None:
    async with start_server(**FAST) as server, api_as(server, "facilitator", "Loïc Ménard") as api:
        await create_example(api, "catalogue", "budget-2026")
        zoe_token = server.token("member", "Zoé Lefèvre")
        amine_token = server.token("facilitator", "Amine Benali")
        async with connect(server.url, "budget-2026", zoe_token) as zoe, \
                connect(server.url, "budget-2026", amine_token) as amine:
            await zoe.synced()
            await amine.synced()

            async def http_edits(n: int, editor: PalabreApi) -> None:
                for step in range(5):
                    await editor.patch_data("budget-2026", {"projects": {
                        "jardins-partages": {"description": f"Mise à jour {n}.{step}"}
                        if n == 0 else {},
                        "pistes-cyclables": {"theme": f"mobilité {step}"} if n == 1 else {},
                        f"nouveau-{n}": {"title": f"Projet {n}", "status": "selected",
                                         "progress": step * 10},
                    }})

            members = (f"Membre {n}" for n in range(3))
            async with apis_as(server, "member", *members) as editors, \
                    anyio.create_task_group() as tg:
                for n, editor in enumerate(editors):
                    tg.start_soon(http_edits, n, editor)
                # Meanwhile, over the sockets: other fields of the same projects.
                projects(zoe.doc)["jardins-partages"]["title"] = "Jardins partagés (Zoé)"
                projects(amine.doc)["maison-des-associations"]["theme"] = "associations"
                projects(amine.doc)["pistes-cyclables"]["description"] = "Par Amine"
                await zoe.flushed()
                await amine.flushed()

            def complete(data: dict[str, Any]) -> bool:
                p = data.get("projects", {})
                return (
                    p["jardins-partages"]["title"] == "Jardins partagés (Zoé)"
                    and p["jardins-partages"].get("description") == "Mise à jour 0.4"
                    and p["pistes-cyclables"].get("theme") == "mobilité 4"
                    and p["pistes-cyclables"].get("description") == "Par Amine"
                    and p["maison-des-associations"].get("theme") == "associations"
                    and all(p.get(f"nouveau-{n}", {}).get("progress") == 40 for n in range(3))
                )

            await zoe.wait_for(lambda: complete(data_of(zoe.doc)), timeout=20)
            await amine.wait_for(lambda: complete(data_of(amine.doc)), timeout=20)
            final = await api.get_data("budget-2026")
            assert complete(final)
            assert final == data_of(zoe.doc) == data_of(amine.doc)
            assert zoe.denials == [] and amine.denials == []
            # Every progress change of the new projects is in their history, in order.
            for n in range(3):
                history = final["projects"][f"nouveau-{n}"]["history"]
                assert [h["progress"]["new"] for h in history] == [0, 10, 20, 30, 40]
                assert {h["by"]["name"] for h in history} == {f"Membre {n}"}


async def test_a_patch_that_breaks_the_schema_is_refused_with_422_and_changes_nothing(
    start_server: ServerFactory,
) -> None:
    async with start_server(**FAST) as server, api_as(server, "facilitator", "Loïc Ménard") as api:
        await create_example(api, "catalogue", "cat")
        before = await api.get_data("cat")
        async with httpx.AsyncClient(base_url=server.url) as http:
            headers = {"Authorization": f"Bearer {server.token('facilitator', 'Loïc Ménard')}",
                       "Content-Type": "application/merge-patch+json"}
            etag = (await http.get("/api/documents/cat/data", headers=headers)).headers["ETag"]
            for patch, says in [
                ({"projects": {"fontaines": {"progress": 150}}}, "maximum of 100"),
                ({"projects": {"fontaines": {"status": "abandonné"}}}, "is not one of"),
                ({"projects": {"fontaines": {"progress": "moitié"}}}, "is not of type"),
                ({"projects": {"fontaines": {"couleur": "bleu"}}}, "Additional properties"),
                ({"projects": {"fontaines": {"title": None}}}, "'title' is a required"),
                ({"projects": {"x": {"title": "Sans statut"}}}, "required property"),
                ({"title": None}, "'title' is a required"),
            ]:
                response = await http.patch("/api/documents/cat/data", json=patch,
                                            headers=headers)
                assert response.status_code == 422, (patch, response.text)
                body = response.json()
                assert body["error"] == "invalid" and says in body["detail"], body
            answer = await http.get("/api/documents/cat/data",
                                    headers={**headers, "If-None-Match": etag})
            assert answer.status_code == 304
            bad_type = await http.patch("/api/documents/cat/data", content=b"{}",
                                        headers={**headers, "Content-Type": "text/plain"})
            assert bad_type.status_code == 415
        assert await api.get_data("cat") == before


async def test_progress_history_records_who_and_when_and_is_server_kept(
    start_server: ServerFactory,
) -> None:
    async with start_server(**FAST) as server, \
            api_as(server, "facilitator", "Loïc Ménard") as loic, \
            api_as(server, "member", "Élodie Lefèvre") as elodie, \
            api_as(server, "citizen", "Françoise Dupré") as citizen:
        await create_example(loic, "catalogue", "suivi")
        started = datetime.now(UTC).replace(microsecond=0)
        await elodie.patch_data("suivi", {"projects": {"maison-des-associations": {
            "status": "in_progress", "progress": 15}}})
        await loic.patch_data("suivi", {"projects": {"maison-des-associations": {
            "progress": 40}}})
        await loic.patch_data("suivi", {"projects": {"maison-des-associations": {
            "title": "Maison des associations (rénovée)"}}})  # not tracked: no entry
        history = (await loic.get_data("suivi"))["projects"]["maison-des-associations"][
            "history"]
        assert [(h["by"], h.get("status"), h.get("progress")) for h in history] == [
            ({"sub": "elodie-lefevre", "name": "Élodie Lefèvre"},
             {"old": "selected", "new": "in_progress"}, {"old": 0, "new": 15}),
            ({"sub": "loic-menard", "name": "Loïc Ménard"}, None, {"old": 15, "new": 40}),
        ]
        times = [datetime.fromisoformat(h["at"].replace("Z", "+00:00")) for h in history]
        assert started <= times[0] <= times[1] <= datetime.now(UTC)

        before = await loic.get_data("suivi")
        server_kept: list[dict[str, Any]] = [
            {"projects": {"maison-des-associations": {"history": []}}},
            {"projects": {"fontaines": {"history": [{"at": "2020-01-01T00:00:00Z",
                                                     "by": {"sub": "x", "name": "X"}}]}}},
        ]
        for patch in server_kept:
            with pytest.raises(PermissionDenied, match="kept by the server"):
                await loic.patch_data("suivi", patch)
        with pytest.raises(PermissionDenied, match="may not edit"):
            await citizen.patch_data("suivi", {"projects": {"fontaines": {"progress": 5}}})
        with pytest.raises(Invalid):
            await loic.patch_data("suivi", {"projects": {"fontaines": {"progress": -1}}})
        assert await loic.get_data("suivi") == before

        # Over a socket: history, progress and status are refused, nothing is relayed.
        async with connect(server.url, "suivi", server.token("member", "Zoé Lefèvre")) as zoe, \
                connect(server.url, "suivi", server.token("member", "Amine Benali")) as amine:
            await zoe.synced()
            await amine.synced()
            projects(zoe.doc)["fontaines"]["progress"] = 90
            await zoe.wait_for(lambda: len(zoe.denials) == 1, timeout=10)
            assert "through PATCH" in zoe.denials[0]
            projects(zoe.doc)["fontaines"]["history"].append(Map({"at": "x"}))
            await zoe.wait_for(lambda: len(zoe.denials) == 2, timeout=10)
            assert "kept by the server" in zoe.denials[1]
            projects(zoe.doc)["fontaines"]["title"] = ""  # breaks minLength
            await zoe.wait_for(lambda: len(zoe.denials) == 3, timeout=10)
            assert "invalid" in zoe.denials[2]
            zoe.doc.get("cachette", type=Text).insert(0, "hors schéma")
            await zoe.wait_for(lambda: len(zoe.denials) == 4, timeout=10)
            assert "holds only the 'data' map" in zoe.denials[3]
            # An allowed socket edit after the refusals still goes through to everyone.
            projects(zoe.doc)["fontaines"]["description"] = "Par Zoé"
            await amine.wait_for(
                lambda: data_of(amine.doc)["projects"]["fontaines"].get("description")
                == "Par Zoé", timeout=10,
            )
            stored = (await loic.get_data("suivi"))["projects"]["fontaines"]
            assert stored["progress"] == 0 and stored["history"] == [] and stored["title"]
            assert data_of(amine.doc)["projects"]["fontaines"]["progress"] == 0
            assert "cachette" not in amine.doc.keys()


async def test_the_etag_moves_when_a_patch_only_removes(start_server: ServerFactory) -> None:
    """Removing a key adds no clock to the state vector; the ETag follows deletions too."""
    async with start_server(**FAST) as server, api_as(server, "facilitator", "Loïc Ménard") as api:
        await create_example(api, "catalogue", "cat")
        headers = {"Authorization": f"Bearer {server.token('facilitator', 'Loïc Ménard')}"}
        async with httpx.AsyncClient(base_url=server.url, headers=headers) as http:
            before = await http.get("/api/documents/cat/data")
            removed = next(iter(before.json()["projects"]))
            patched = await http.patch("/api/documents/cat/data",
                                       json={"projects": {removed: None}})
            assert patched.status_code == 200, patched.text
            assert patched.headers["ETag"] != before.headers["ETag"]
            after = await http.get("/api/documents/cat/data",
                                   headers={"If-None-Match": before.headers["ETag"]})
            assert after.status_code == 200 and removed not in after.json()["projects"]
