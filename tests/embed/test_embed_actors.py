"""The actors map embed in a real Chromium: markers without tiles, clusters, filters, search,
live publication and the citizens' contribution form. No tile server is reachable in these
tests (the tiles point at a refusing port): the map must work on its plain background."""

from __future__ import annotations

import html
import json
import re
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
from playwright.async_api import Page

from client.api import PalabreApi
from client.examples import create_example
from crdt.schemas import load_example
from server.http.embed import MapTiles
from tests.conftest import NewContext, RunningServer, ServerFactory
from tests.embed.test_embed_live import WAIT_MS, reloads

DOC = "carte"
EXAMPLE: dict[str, Any] = dict(load_example("actors"))
ACTORS: dict[str, dict[str, Any]] = EXAMPLE["actors"]


@asynccontextmanager
async def map_served(
    start_server: ServerFactory, refusing_port: int
) -> AsyncIterator[tuple[RunningServer, PalabreApi]]:
    """A server whose map tiles are unreachable, holding the example map as `DOC`."""
    tiles = f"http://127.0.0.1:{refusing_port}/{{z}}/{{x}}/{{y}}.png"
    async with start_server(http_rate_per_second=0.0, map_tiles_url=tiles) as server, \
            PalabreApi(server.url, server.token("facilitator", "Loïc Ménard")) as loic:
        await create_example(loic, "actors", DOC)
        yield server, loic


@asynccontextmanager
async def map_page(new_context: NewContext, server: RunningServer,
                   token: str | None = None) -> AsyncIterator[Page]:
    """The embed of `DOC` once live, in a fresh context (closed before the server stops)."""
    context = await new_context(viewport={"width": 1100, "height": 800})
    page = await context.new_page()
    try:
        suffix = f"?token={token}" if token else ""
        await page.goto(f"{server.url}/embed/{DOC}{suffix}")
        await page.wait_for_selector("#state:text('en direct')", timeout=WAIT_MS)
        yield page
    finally:
        await page.close()


ON_MAP = """() => {
  const single = document.querySelectorAll('#map .actor-marker').length
  const clustered = [...document.querySelectorAll('#map .marker-cluster span')]
    .reduce((sum, span) => sum + Number(span.textContent), 0)
  return single + clustered
}"""


NEAREST_CENTRE = """() => {
  const map = document.getElementById('map').getBoundingClientRect()
  const [x, y] = [map.left + map.width / 2, map.top + map.height / 2]
  const distance = (el) => {
    const box = el.getBoundingClientRect()
    return Math.hypot(box.left + box.width / 2 - x, box.top + box.height / 2 - y)
  }
  const markers = [...document.querySelectorAll('#map .actor-marker')]
  markers.sort((a, b) => distance(a) - distance(b))
  return markers[0].dataset.actor
}"""
"""The single marker nearest the map's centre (its popup fits without panning)."""


async def wait_on_map(page: Page, count: int) -> None:
    """Wait until the map shows `count` actors, as markers or inside clusters."""
    await page.wait_for_function(f"count => ({ON_MAP})() === count", arg=count,
                                 timeout=WAIT_MS)


async def zoom_to(page: Page, zoom: int) -> None:
    """Use the zoom buttons until the map is at `zoom`."""
    for _ in range(20):
        current = int(await page.get_attribute("#map", "data-zoom") or "0")
        if current == zoom:
            return
        button = ".leaflet-control-zoom-out" if current > zoom else ".leaflet-control-zoom-in"
        await page.click(button)
        await page.wait_for_selector(f"#map:not([data-zoom='{current}'])", timeout=WAIT_MS)
    raise AssertionError(f"the map never reached zoom {zoom}")


async def test_markers_show_without_tiles_and_cluster_at_low_zoom(
    start_server: ServerFactory, new_context: NewContext, refusing_port: int,
    screenshots: Path,
) -> None:
    async with map_served(start_server, refusing_port) as (server, _), \
            map_page(new_context, server) as page:
        await wait_on_map(page, len(ACTORS))
        assert await page.locator("#map .actor-marker").count() > 0
        assert await page.locator(".leaflet-control-scale-line").is_visible()
        # The list follows the map: every actor is in the fitted view.
        assert await page.locator("#list li[data-actor]").count() == len(ACTORS)
        # A marker's popup (the README's picture: docs/actors-map.png is this screenshot).
        actor_id = await page.evaluate(NEAREST_CENTRE)
        await page.click(f"#map .actor-marker[data-actor='{actor_id}']")
        popup = page.locator(f".leaflet-popup .actor-popup[data-actor='{actor_id}']")
        await popup.wait_for(timeout=WAIT_MS)
        await page.wait_for_function(  # faded in
            "() => getComputedStyle(document.querySelector('.leaflet-popup')).opacity === '1'",
            timeout=WAIT_MS)
        assert ACTORS[str(actor_id)]["name"] in await popup.inner_text()
        await page.screenshot(path=screenshots / "actors-map.png")
        await page.click(".leaflet-popup-close-button")

        await zoom_to(page, 7)
        await page.wait_for_selector("#map .actor-marker", state="detached", timeout=WAIT_MS)
        clusters = page.locator("#map .marker-cluster span")
        assert await clusters.all_inner_texts() == [str(len(ACTORS))]
        await page.screenshot(path=screenshots / "actors-map-clustered.png")


async def test_filters_by_kind_and_tag_and_search_by_name_drive_map_and_list(
    start_server: ServerFactory, new_context: NewContext, refusing_port: int,
) -> None:
    kinds = Counter(actor["kind"] for actor in ACTORS.values())
    bio = [key for key, actor in ACTORS.items() if "bio" in actor.get("tags", [])]
    async with map_served(start_server, refusing_port) as (server, _), \
            map_page(new_context, server) as page:
        await wait_on_map(page, len(ACTORS))
        await page.select_option("#kind", "market")
        await wait_on_map(page, kinds["market"])
        listed = await page.locator("#list li[data-actor]").evaluate_all(
            "items => items.map(item => item.dataset.actor)")
        assert sorted(listed) == sorted(
            key for key, actor in ACTORS.items() if actor["kind"] == "market")

        await page.select_option("#kind", "")
        await page.select_option("#tag", "bio")
        await wait_on_map(page, len(bio))
        assert await page.locator("#list li[data-actor]").count() == len(bio)

        await page.select_option("#tag", "")
        await page.fill("#search", "trois saules")  # accents and case aside
        await wait_on_map(page, 1)
        await page.click("#list li[data-actor=ferme-des-trois-saules] button")
        popup = page.locator(".leaflet-popup .actor-popup[data-actor=ferme-des-trois-saules]")
        await popup.wait_for(timeout=WAIT_MS)
        assert "Maraîchage bio" in await popup.inner_text()


async def test_a_publication_appears_live_and_proposals_stay_hidden_from_the_public(
    start_server: ServerFactory, new_context: NewContext, refusing_port: int,
) -> None:
    proposal = {"name": "Épicerie Le Grain d'Orge", "kind": "shop",
                "position": {"type": "Point", "coordinates": [4.8317, 45.7622]}}
    async with map_served(start_server, refusing_port) as (server, loic), \
            PalabreApi(server.url, server.token("citizen", "Françoise Dupré")) as francoise, \
            map_page(new_context, server) as page:
        await wait_on_map(page, len(ACTORS))
        await francoise.patch_data(DOC, {"actors": {"grain-d-orge": proposal}})
        # A change the public sees, after the proposal: the page has had its chance.
        version = int(await page.get_attribute("body", "data-version") or "0")
        await loic.patch_data(DOC, {"actors": {"marche-place-carnot": {
            "description": "Marché de plein vent, mardi, jeudi et samedi matin."}}})
        await page.wait_for_function("seen => Number(document.body.dataset.version) > seen",
                                     arg=version, timeout=WAIT_MS)
        assert await page.locator("[data-actor=grain-d-orge]").count() == 0
        assert await page.evaluate(ON_MAP) == len(ACTORS)

        await loic.patch_data(DOC, {"actors": {"grain-d-orge": {"state": "published"}}})
        await wait_on_map(page, len(ACTORS) + 1)
        await page.wait_for_selector("#list li[data-actor=grain-d-orge]", timeout=WAIT_MS)
        assert await reloads(page) == 1


async def test_a_citizen_proposes_actors_by_clicking_the_map_or_typing_coordinates(
    start_server: ServerFactory, new_context: NewContext, refusing_port: int,
    screenshots: Path,
) -> None:
    async with map_served(start_server, refusing_port) as (server, loic):
        async with map_page(new_context, server) as public:
            assert await public.locator("#propose").count() == 0  # the public only reads

        citizen = server.token("citizen", "Françoise Dupré")
        async with map_page(new_context, server, citizen) as page:
            await wait_on_map(page, len(ACTORS))
            await page.click("#propose summary")
            await page.fill("#propose [name=name]", "Épicerie Le Grain d'Orge")
            await page.select_option("#propose [name=kind]", "shop")
            await page.fill("#propose [name=tags]", "vrac, bio, vrac")
            box = await page.locator("#map").bounding_box()
            assert box is not None
            # An empty corner of the map (the actors are in the middle of the fitted view).
            await page.mouse.click(box["x"] + 60, box["y"] + box["height"] - 60)
            lat = float(await page.input_value("#propose [name=lat]"))
            lng = float(await page.input_value("#propose [name=lng]"))
            await page.click("#propose button[type=submit]")
            await page.wait_for_selector("#propose-status.done", timeout=WAIT_MS)
            # Back through the stream: the citizen sees their own proposal, pending.
            await page.wait_for_selector(
                "#list li.pending:has-text(\"Épicerie Le Grain d'Orge\")", timeout=WAIT_MS)
            await page.screenshot(path=screenshots / "actors-proposal.png")

            # Coordinates typed; then a proposal the schema refuses, with its reason.
            await page.fill("#propose [name=name]", "Jardin du Fort")
            await page.select_option("#propose [name=kind]", "garden")
            await page.fill("#propose [name=lat]", "45.7512")
            await page.fill("#propose [name=lng]", "4.8471")
            await page.click("#propose button[type=submit]")
            await page.wait_for_selector("#propose-status.done:has-text('Jardin du Fort')",
                                         timeout=WAIT_MS)
            await page.fill("#propose [name=name]", "Hors du monde")
            await page.select_option("#propose [name=kind]", "other")
            await page.fill("#propose [name=lat]", "45.75")
            await page.fill("#propose [name=lng]", "4.85")
            await page.fill("#propose [name=website]", "ftp://hors.example")
            await page.click("#propose button[type=submit]")
            alert = page.locator("#propose-status[role=alert]")
            await alert.wait_for(timeout=WAIT_MS)
            assert "website" in await alert.inner_text()

        stored = (await loic.get_data(DOC))["actors"]
        mine = {actor["name"]: actor for actor in stored.values() if actor["name"] not in {
            a["name"] for a in ACTORS.values()}}
        assert sorted(mine) == ["Jardin du Fort", "Épicerie Le Grain d'Orge"]
        grain = mine["Épicerie Le Grain d'Orge"]
        assert grain["state"] == "proposed"
        assert grain["contributed_by"] == {"sub": "francoise-dupre", "name": "Françoise Dupré"}
        assert grain["tags"] == ["vrac", "bio"]
        assert grain["position"]["coordinates"] == [lng, lat]
        assert mine["Jardin du Fort"]["position"]["coordinates"] == [4.8471, 45.7512]


def page_config(page: str) -> dict[str, Any]:
    """The configuration the embed page hands its script."""
    found = re.search(r'data-config="([^"]*)"', page)
    assert found is not None
    config: dict[str, Any] = json.loads(html.unescape(found.group(1)))
    return config


async def test_the_page_offers_the_form_to_contributors_and_allows_only_the_tiles_origin(
    start_server: ServerFactory,
) -> None:
    async with start_server(http_rate_per_second=0.0, map_tiles_url="") as server, \
            PalabreApi(server.url, server.token("facilitator", "Loïc Ménard")) as loic, \
            httpx.AsyncClient(base_url=server.url) as http:
        await create_example(loic, "actors", DOC)
        public = await http.get(f"/embed/{DOC}")
        assert public.status_code == 200
        assert page_config(public.text)["may_propose"] is False
        assert page_config(public.text)["tiles"] == ""
        policy = public.headers["content-security-policy"]
        assert "img-src 'self' data:;" in policy and "script-src 'self';" in policy
        citizen = await http.get(f"/embed/{DOC}",
                                 params={"token": server.token("citizen", "Amine Benali")})
        config = page_config(citizen.text)
        assert config["may_propose"] is True and config["reader"] == "Amine Benali"
        assert "food_bank" in config["kinds"]

        frozen = await http.post(f"/api/documents/{DOC}/freeze", headers={
            "Authorization": f"Bearer {server.token('facilitator', 'Loïc Ménard')}"})
        assert frozen.status_code == 200, frozen.text
        citizen = await http.get(f"/embed/{DOC}",
                                 params={"token": server.token("citizen", "Amine Benali")})
        assert page_config(citizen.text)["may_propose"] is False


def test_the_tiles_origin_in_the_policy() -> None:
    def origin(url: str) -> str | None:
        return MapTiles(url=url, attribution="").origin()

    assert origin("https://tile.openstreetmap.org/{z}/{x}/{y}.png") == (
        "https://tile.openstreetmap.org")
    assert origin("https://{s}.tiles.example:8443/{z}/{x}/{y}.png") == (
        "https://*.tiles.example:8443")
    assert origin("https://tiles-{s}.example/{z}/{x}/{y}.png") == "https:"
    assert origin("/tiles/{z}/{x}/{y}.png") is None
    assert origin("") is None
