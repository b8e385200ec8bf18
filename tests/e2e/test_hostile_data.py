"""Oversized writes to a data document (a citizen over HTTP, a member over the socket) are refused.

HTTP answers 422 ``invalid`` naming the bound, the socket ``permission-denied`` (it stays
open); nothing is stored, and honest patches keep answering fast.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import anyio
import httpx
import pytest
from pycrdt import Map

from client.api import Invalid, PalabreApi
from client.examples import create_example
from client.session import connect
from crdt.data import root
from server.limits import Limits
from tests.conftest import RunningServer, ServerFactory

FAST = {"http_rate_per_second": 0.0, "agenda_poll_seconds": 0.0}


async def _create_monitoring(server: RunningServer) -> None:
    """An empty monitoring document ``veille``."""
    async with httpx.AsyncClient(base_url=server.url) as http:
        created = await http.post("/api/documents", json={
            "id": "veille", "title": "Veille", "kind": "data", "schema": "monitoring"},
            headers={"Authorization": "Bearer " + server.token("facilitator", "Loïc")})
        assert created.status_code == 201, created.text


async def test_a_flood_of_entries_is_refused_and_a_full_collection_answers_fast(
    start_server: ServerFactory,
) -> None:
    # The collection's bounds, met by a citizen allowed a member's write size (their own
    # smaller bounds are tested in test_hostile_floods.py).
    citizen_as_member = replace(Limits(), citizen_json_bytes=0,
                                citizen_values_per_write=Limits().data_values_per_write)
    async with start_server(**FAST, limits=citizen_as_member) as server, \
            PalabreApi(server.url, server.token("facilitator", "Loïc")) as loic, \
            PalabreApi(server.url, server.token("citizen", "Mallory")) as mallory, \
            PalabreApi(server.url, server.token("citizen", "Zoé")) as zoe, \
            httpx.AsyncClient(base_url=server.url, timeout=30) as http:
        await create_example(loic, "monitoring", "veille")
        before = await loic.get_data("veille")
        limit = Limits().data_entries_per_collection
        flood = {f"m{index}": {"body": f"Constat {index}"} for index in range(30_000)}
        with pytest.raises(Invalid, match="at most 5000 values: split it") as refused:
            await mallory.patch_data("veille", {"entries": flood})
        assert refused.value.error == "invalid"
        assert await loic.get_data("veille") == before
        # Filled to the limit in patches the bounds allow, then one entry too many.
        present = len(before["entries"])
        for start in range(present, limit, 800):
            await mallory.patch_data("veille", {"entries": {
                f"m{index}": {"body": f"Constat {index}"}
                for index in range(start, min(limit, start + 800))}})
        full = await loic.get_data("veille")
        assert len(full["entries"]) == limit
        with pytest.raises(Invalid, match=f"at entries: more than {limit} entries"):
            await zoe.patch_data("veille", {"entries": {"z-1": {"body": "Trottoir abîmé"}}})
        assert await loic.get_data("veille") == full
        with anyio.fail_after(60):  # a hang guard, not a benchmark (bench/shape_costs.py)
            after = await loic.patch_data("veille", {"title": "Veille citoyenne"})
            assert after["title"] == "Veille citoyenne"
            assert after["entries"] == full["entries"]
            assert (await http.get("/healthz")).status_code == 200


@pytest.mark.parametrize(("patch", "says"), [
    ({"entries": {"m-1": {"body": "x" * 61}}}, "at entries/m-1/body: a string longer than 60"),
    ({"entries": {"m-1": {"body": "ok", "place": {"x": {"y": "z"}}}}},
     "at entries/m-1/place/x: nested deeper than 4"),
    ({"entries": {"m-1": {"body": "a"}, "m-2": {"body": "b"}, "m-3": {"body": "c"}}},
     "at entries: more than 4 entries"),
])
async def test_each_data_bound_is_refused_over_http_with_422(
    start_server: ServerFactory, patch: dict[str, Any], says: str,
) -> None:
    limits = Limits(data_entries_per_collection=4, data_depth=4, data_string_chars=60)
    async with start_server(limits=limits, **FAST) as server, \
            PalabreApi(server.url, server.token("facilitator", "Loïc")) as loic, \
            PalabreApi(server.url, server.token("citizen", "Mallory")) as mallory:
        await _create_monitoring(server)
        await loic.patch_data("veille", {"entries": {"a": {"body": "Un"}, "b": {"body": "Deux"}}})
        before = await loic.get_data("veille")
        with pytest.raises(Invalid, match=says):
            await mallory.patch_data("veille", patch)
        assert await loic.get_data("veille") == before


async def test_socket_writes_past_the_data_bounds_are_refused(
    start_server: ServerFactory,
) -> None:
    limits = Limits(data_entries_per_collection=4, data_string_chars=60)
    async with start_server(limits=limits, **FAST) as server, \
            PalabreApi(server.url, server.token("facilitator", "Loïc")) as loic:
        await _create_monitoring(server)
        await loic.patch_data("veille", {"entries": {"a": {"body": "Un"}, "b": {"body": "Deux"},
                                                     "c": {"body": "Trois"}}})
        before = await loic.get_data("veille")
        mallory_token = server.token("member", "Mallory", sub="mallory")
        async with connect(server.url, "veille", mallory_token) as mallory:
            await mallory.synced()
            entries = root(mallory.doc)["entries"]
            author = {"sub": "mallory", "name": "Mallory"}
            entries["m-1"] = Map({"body": "x" * 61, "author": Map(author),
                                  "created_at": "2026-12-01T10:00:00Z"})
            await mallory.wait_for(lambda: any("a string longer than 60" in denial
                                               for denial in mallory.denials), timeout=10)
            assert mallory.is_connected
        async with connect(server.url, "veille", mallory_token) as mallory:
            await mallory.synced()
            entries = root(mallory.doc)["entries"]
            with mallory.doc.transaction():  # one update: two entries past the limit
                for key in ("m-2", "m-3"):
                    entries[key] = Map({"body": "Constat", "author": Map(author),
                                        "created_at": "2026-12-01T10:00:00Z"})
            await mallory.wait_for(lambda: any("more than 4 entries" in denial
                                               for denial in mallory.denials), timeout=10)
        assert await loic.get_data("veille") == before
        with anyio.fail_after(10):
            after = await loic.patch_data("veille", {"entries": {"a": {"body": "Un !"}}})
        assert after["entries"]["a"]["body"] == "Un !"
