"""The ``actors`` map over real HTTP and sockets: proposals, review, history, who sees
what, the permission matrix of the four roles, and GeoJSON export and import."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import httpx
import pytest
from pycrdt import Map

from client.api import ApiError, PalabreApi
from client.errors import Forbidden
from client.examples import create_example
from client.session import connect
from server.limits import Limits
from tests.conftest import RunningServer, ServerFactory
from tests.e2e.api import api_as, http

FAST = {"http_rate_per_second": 0.0}
DOC = "carte-acteurs"
ROLES = ("member", "facilitator", "citizen", "public")
PROPOSAL: dict[str, Any] = {
    "name": "Épicerie Le Grain d'Orge", "kind": "shop", "address": "4 rue Mercière, Rivebelle",
    "position": {"type": "Point", "coordinates": [4.8317, 45.7622]}, "tags": ["vrac"],
}


def headers(server: RunningServer, role: str, name: str) -> dict[str, str]:
    """The bearer of `name` with `role` (none for the public)."""
    return {} if role == "public" else {
        "Authorization": f"Bearer {server.token(role, name)}"}


async def everything(server: RunningServer) -> dict[str, Any]:
    """The whole stored map, as its facilitator reads it."""
    async with http(server, server.token("facilitator", "Loïc Ménard")) as client:
        response = await client.get(f"/api/documents/{DOC}/data")
        assert response.status_code == 200, response.text
        value: dict[str, Any] = response.json()
        return value


async def test_a_proposal_is_reviewed_with_its_history_and_seen_by_the_right_readers(
    start_server: ServerFactory,
) -> None:
    async with start_server(**FAST) as server, \
            api_as(server, "facilitator", "Loïc Ménard") as loic, \
            api_as(server, "citizen", "Françoise Dupré") as francoise, \
            api_as(server, "citizen", "Amine Benali") as amine, \
            api_as(server, "member", "Élodie Lefèvre") as elodie, \
            PalabreApi(server.url) as public:
        await create_example(loic, "actors", DOC)
        published = len((await public.get_data(DOC))["actors"])
        shown = await francoise.patch_data(DOC, {"actors": {"grain-d-orge": PROPOSAL}})
        mine = shown["actors"]["grain-d-orge"]
        assert mine["state"] == "proposed"
        assert mine["contributed_by"] == {"sub": "francoise-dupre", "name": "Françoise Dupré"}
        assert [h["state"] for h in mine["history"]] == [{"old": None, "new": "proposed"}]

        # Unpublished: its contributor and the editors see it, nobody else.
        assert "grain-d-orge" in (await francoise.get_data(DOC))["actors"]
        assert "grain-d-orge" in (await elodie.get_data(DOC))["actors"]
        assert "grain-d-orge" not in (await amine.get_data(DOC))["actors"]
        assert "grain-d-orge" not in (await public.get_data(DOC))["actors"]
        # Its contributor improves it while it is proposed.
        await francoise.patch_data(DOC, {"actors": {"grain-d-orge": {
            "description": "Vrac et produits de la Métropole."}}})

        await loic.patch_data(DOC, {"actors": {"grain-d-orge": {"state": "published"}}})
        seen = (await public.get_data(DOC))["actors"]
        assert len(seen) == published + 1
        assert seen["grain-d-orge"]["description"] == "Vrac et produits de la Métropole."
        assert seen["grain-d-orge"]["contributed_by"] == {"sub": None, "name": "Françoise Dupré"}
        assert "history" not in seen["grain-d-orge"]
        history = (await loic.get_data(DOC))["actors"]["grain-d-orge"]["history"]
        assert [(h["by"]["name"], h["state"]) for h in history] == [
            ("Françoise Dupré", {"old": None, "new": "proposed"}),
            ("Loïc Ménard", {"old": "proposed", "new": "published"}),
        ]

        # A second proposal is rejected: hidden again, its contributor still sees why.
        await amine.patch_data(DOC, {"actors": {"doublon": {**PROPOSAL, "name": "Doublon"}}})
        await loic.patch_data(DOC, {"actors": {"doublon": {"state": "rejected"}}})
        assert (await amine.get_data(DOC))["actors"]["doublon"]["state"] == "rejected"
        assert "doublon" not in (await public.get_data(DOC))["actors"]
        assert "doublon" not in (await francoise.get_data(DOC))["actors"]


@pytest.mark.parametrize("role", ROLES)
async def test_permission_matrix_of_actors(start_server: ServerFactory, role: str) -> None:
    """Each role tries every act on a map; refusals are 403 (401 for the public) and
    change nothing. The expected answers are written out here, not read from the table."""
    allowed = {
        "member": {"read", "propose", "edit_own", "edit_published", "see_proposals",
                   "open_socket"},
        "facilitator": {"read", "propose", "edit_own", "edit_published", "see_proposals",
                        "open_socket", "publish", "reject", "remove", "propose_published"},
        "citizen": {"read", "propose", "edit_own"},
        "public": {"read"},
    }[role]
    async with start_server(**FAST) as server, \
            api_as(server, "facilitator", "Loïc Ménard") as loic, \
            api_as(server, "citizen", "Paul Martin") as paul:
        await create_example(loic, "actors", DOC)
        await paul.patch_data(DOC, {"actors": {"de-paul": PROPOSAL}})
        mine = "de-nora"
        async with httpx.AsyncClient(base_url=server.url, timeout=30,
                                     headers=headers(server, role, "Nora Haddad")) as client:
            url = f"/api/documents/{DOC}/data"

            async def patch(body: dict[str, Any]) -> int:
                before = await everything(server)
                response = await client.patch(url, json=body)
                if response.status_code != 200:
                    assert response.json()["error"] in {"forbidden", "unauthorized"}
                    assert await everything(server) == before
                return response.status_code

            outcomes = {
                "read": (await client.get(url)).status_code,
                "propose": await patch({"actors": {mine: PROPOSAL}}),
                "propose_published": await patch({"actors": {"direct": {
                    **PROPOSAL, "state": "published"}}}),
                "edit_published": await patch({"actors": {"marche-place-carnot": {
                    "description": "Marché du mardi."}}}),
                "publish": await patch({"actors": {"de-paul": {"state": "published"}}}),
            }
            # Edit one's own proposal: a proposal of one's own must exist first.
            if role != "public" and outcomes["propose"] != 200:
                await loic.patch_data(DOC, {"actors": {mine: PROPOSAL}})
            outcomes["edit_own"] = await patch({"actors": {mine: {"contact": "06 00 00 00 00"}}})
            outcomes["reject"] = await patch({"actors": {mine: {"state": "rejected"}}})
            outcomes["remove"] = await patch({"actors": {"vergers-de-l-ouest": None}})
            listed = (await client.get(url)).json()["actors"]
            outcomes["see_proposals"] = 200 if "de-paul" in listed else 403
        try:
            token = None if role == "public" else server.token(role, "Nora Haddad")
            async with connect(server.url, DOC, token, reconnect=False) as session:
                await session.synced()
            outcomes["open_socket"] = 200
        except Forbidden:
            outcomes["open_socket"] = 403
    assert outcomes == {act: 200 if act in allowed else 403 for act in outcomes}


async def test_a_socket_member_edits_fields_but_not_states_or_proposals(
    start_server: ServerFactory,
) -> None:
    async with start_server(**FAST) as server, api_as(server, "facilitator", "Loïc Ménard") as loic:
        await create_example(loic, "actors", DOC)
        async with connect(server.url, DOC, server.token("member", "Zoé Lefèvre")) as zoe, \
                connect(server.url, DOC, server.token("member", "Amine Benali")) as amine:
            await zoe.synced()
            await amine.synced()
            actors = zoe.doc.get("data", type=Map)["actors"]
            relayed = amine.doc.get("data", type=Map)["actors"]
            actors["marche-de-gerland"]["description"] = "Mercredi et dimanche, 7 h - 13 h."
            # Committed and relayed alone, before the change below that is refused.
            await amine.wait_for(lambda: relayed["marche-de-gerland"].get("description")
                                 == "Mercredi et dimanche, 7 h - 13 h.", timeout=15)
            actors["marche-de-gerland"]["state"] = "rejected"
            await zoe.wait_for(lambda: len(zoe.denials) == 1, timeout=15)
            assert "through PATCH" in zoe.denials[0]
        stored = (await loic.get_data(DOC))["actors"]["marche-de-gerland"]
        assert stored["description"] == "Mercredi et dimanche, 7 h - 13 h."
        assert stored["state"] == "published"


async def test_geojson_export_and_import_are_judged_like_merge_patches(
    start_server: ServerFactory,
) -> None:
    async with start_server(**FAST) as server, api_as(server, "facilitator", "Loïc Ménard") as loic:
        await create_example(loic, "actors", DOC)
        async with http(server) as public, \
                http(server, server.token("facilitator", "Loïc Ménard")) as boss, \
                http(server, server.token("citizen", "Paul Martin")) as paul:
            exported = await public.get(f"/api/documents/{DOC}/data?format=geojson")
            assert exported.status_code == 200
            assert exported.headers["content-type"].startswith("application/geo+json")
            collection = exported.json()
            assert collection["type"] == "FeatureCollection"
            first = collection["features"][0]
            assert first["geometry"]["type"] == "Point" and first["properties"]["state"] \
                == "published"
            assert len(collection["features"]) == len((await everything(server))["actors"])

            # An export imports back unchanged (server-kept properties are ignored).
            before = await everything(server)
            back = await boss.post(f"/api/documents/{DOC}/data?format=geojson", json=collection)
            assert back.status_code == 200, back.text
            assert back.json()["imported"] == len(collection["features"])
            assert await everything(server) == before

            bad: list[tuple[dict[str, Any], str]] = [
                ({"geometry": {"type": "Point", "coordinates": [4.8, 145.0]}},
                 "position/coordinates/1"),
                ({"properties": {**first["properties"], "kind": "spaceport"}}, "kind"),
                ({"geometry": None}, "features/1/geometry"),
                ({"properties": {**first["properties"], "website": "javascript:alert(1)"}},
                 "website"),
            ]
            for change, field in bad:
                features = [dict(f) for f in collection["features"][:3]]
                features[1] = {**features[1], **change}
                for feature in features:
                    feature["properties"] = {**feature["properties"], "description": "écrasé"}
                response = await boss.post(
                    f"/api/documents/{DOC}/data?format=geojson",
                    json={"type": "FeatureCollection", "features": features})
                assert response.status_code == 422, response.text
                assert field in response.json()["detail"]
                assert await everything(server) == before  # nothing written, not even 0 or 2
            assert (await boss.post(f"/api/documents/{DOC}/data?format=geojson",
                                    json={"type": "Feature"})).status_code == 422
            assert (await boss.post(f"/api/documents/{DOC}/data",
                                    json=collection)).status_code == 400

            # A citizen's import proposes: everything lands as proposed, contributed by them.
            proposal = {"type": "FeatureCollection", "features": [{
                "type": "Feature", "id": "rucher-du-parc",
                "geometry": {"type": "Point", "coordinates": [4.85, 45.77]},
                "properties": {"name": "Rucher du parc", "kind": "producer"}}]}
            assert (await paul.post(f"/api/documents/{DOC}/data?format=geojson",
                                    json=proposal)).status_code == 200
            stored = (await everything(server))["actors"]["rucher-du-parc"]
            assert stored["state"] == "proposed"
            assert stored["contributed_by"]["name"] == "Paul Martin"
            proposal["features"][0]["properties"]["state"] = "published"  # type: ignore[index]
            refused = await paul.post(f"/api/documents/{DOC}/data?format=geojson", json=proposal)
            assert refused.status_code == 403


async def test_data_snapshots_read_back_as_json_and_geojson_in_the_readers_view(
    start_server: ServerFactory,
) -> None:
    async with start_server(**FAST) as server, \
            api_as(server, "facilitator", "Loïc Ménard") as loic, \
            api_as(server, "citizen", "Paul Martin") as paul:
        await create_example(loic, "actors", DOC)
        await create_example(loic, "catalogue", "suivi")
        await paul.patch_data(DOC, {"actors": {"de-paul": PROPOSAL}})
        async with http(server, server.token("facilitator", "Loïc Ménard")) as boss, \
                http(server) as public, \
                http(server, server.token("member", "Zoé Lefèvre")) as zoe:
            sids = {}
            for doc_id in (DOC, "suivi"):
                made = await boss.post(f"/api/documents/{doc_id}/snapshots",
                                       json={"label": "Version 1", "stage": "draft"})
                assert made.status_code == 201, made.text
                sids[doc_id] = made.json()["id"]
            await paul.patch_data(DOC, {"actors": {"de-paul": {"name": "Après la version"}}})

            base = f"/api/documents/{DOC}/snapshots/{sids[DOC]}/content"
            whole = (await boss.get(base + "?format=json")).json()
            assert whole["actors"]["de-paul"]["name"] == PROPOSAL["name"]  # as it was then
            seen = (await public.get(base + "?format=json")).json()
            assert "de-paul" not in seen["actors"] and len(seen["actors"]) == 36
            features = (await public.get(base + "?format=geojson")).json()["features"]
            assert len(features) == 36 and all(f["properties"]["state"] == "published"
                                               for f in features)
            assert (await public.get(base + "?format=yjs")).status_code == 403
            assert (await zoe.get(base + "?format=yjs")).status_code == 200

            catalogue = await public.get(
                f"/api/documents/suivi/snapshots/{sids['suivi']}/content?format=json")
            assert catalogue.json() == await loic.get_data("suivi")
            assert (await public.get(f"/api/documents/suivi/snapshots/{sids['suivi']}"
                                     "/content?format=geojson")).status_code == 404


async def test_a_contributors_proposals_awaiting_review_are_bounded_until_reviewed(
    start_server: ServerFactory,
) -> None:
    """One citizen cannot fill the map (and their own view of it): past
    `Limits.proposals_awaiting_per_person` proposals awaiting review, the next waits for
    a facilitator; withdrawing or a review frees a place; editors are not bounded."""
    async with start_server(**FAST, limits=replace(Limits(), proposals_awaiting_per_person=3)
                            ) as server, \
            api_as(server, "facilitator", "Loïc Ménard") as loic, \
            api_as(server, "citizen", "Françoise Dupré") as francoise, \
            api_as(server, "citizen", "Amine Benali") as amine:
        await create_example(loic, "actors", DOC)

        def proposals(*ids: str) -> dict[str, Any]:
            return {"actors": {key: {**PROPOSAL, "name": key} for key in ids}}

        await francoise.patch_data(DOC, proposals("a1", "a2"))
        with pytest.raises(ApiError) as refused:
            await francoise.patch_data(DOC, proposals("a3", "a4"))
        assert refused.value.status == 422
        assert "at most 3 of your proposals may await review" in refused.value.detail
        stored = await everything(server)
        assert "a3" not in stored["actors"] and "a4" not in stored["actors"]
        await francoise.patch_data(DOC, proposals("a3"))
        with pytest.raises(ApiError):
            await francoise.patch_data(DOC, proposals("a4"))
        # Another citizen has places of their own; a facilitator is not bounded.
        await amine.patch_data(DOC, proposals("b1", "b2", "b3"))
        await loic.patch_data(DOC, {"actors": {f"c{n}": {**PROPOSAL, "name": f"c{n}"}
                                               for n in range(5)}})
        # A review, or a withdrawal, frees a place; changing a proposal takes none.
        await loic.patch_data(DOC, {"actors": {"a1": {"state": "published"}}})
        await francoise.patch_data(DOC, {"actors": {"a2": None}})
        await francoise.patch_data(DOC, {"actors": {"a3": {"name": "a3 renommé"}}})
        await francoise.patch_data(DOC, proposals("a4", "a5"))
        with pytest.raises(ApiError):
            await francoise.patch_data(DOC, proposals("a6"))
        mine = (await francoise.get_data(DOC))["actors"]
        assert {"a1", "a3", "a4", "a5"} <= set(mine) and "a6" not in mine
