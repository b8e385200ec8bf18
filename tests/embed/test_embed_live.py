"""The embeddable views in a real Chromium: each one updates live, without reload."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from pathlib import Path

import pytest
from playwright.async_api import Page
from pycrdt import Map

from client.api import PalabreApi
from client.examples import create_example
from client.session import connect
from tests.conftest import NewContext, RunningServer, ServerFactory

FAST = {"http_rate_per_second": 0.0, "agenda_poll_seconds": 0.0}
WAIT_MS = 15_000


@asynccontextmanager
async def example_served(
    start_server: ServerFactory, schema: str, doc_id: str, *, is_public: bool = True
) -> AsyncIterator[tuple[RunningServer, PalabreApi]]:
    """A server holding `schema`'s example as `doc_id`, and its facilitator's API client."""
    async with start_server(**FAST) as server, \
            PalabreApi(server.url, server.token("facilitator", "Loïc Ménard")) as loic:
        await create_example(loic, schema, doc_id, is_public=is_public)
        yield server, loic


@asynccontextmanager
async def embed_page(new_context: NewContext, server: RunningServer, doc_id: str,
                     token: str | None = None) -> AsyncIterator[Page]:
    """The live embed of `doc_id` in a fresh context; closed on exit, before the server stops.

    Closing the page ends its event stream, which the server would otherwise wait for.
    """
    context = await new_context(viewport={"width": 900, "height": 900})
    page = await context.new_page()
    try:
        suffix = f"?token={token}" if token else ""
        await page.goto(f"{server.url}/embed/{doc_id}{suffix}")
        await page.wait_for_selector("#state:text('en direct')", timeout=WAIT_MS)
        yield page
    finally:
        await page.close()


EmbeddedExample = Callable[
    [str, str], AbstractAsyncContextManager[tuple[RunningServer, PalabreApi, Page]]
]


@pytest.fixture
def embedded(
    start_server: ServerFactory, new_context: NewContext, screenshots: Path,
) -> EmbeddedExample:
    """Factory: ``async with embedded(schema, doc_id) as (server, loic, page)`` is
    `example_served` with the live embed of `doc_id` open in `page`; a block that ends
    without error leaves a full-page screenshot named after the schema."""

    @asynccontextmanager
    async def serve(schema: str, doc_id: str) -> AsyncIterator[
        tuple[RunningServer, PalabreApi, Page]
    ]:
        async with example_served(start_server, schema, doc_id) as (server, loic), \
                embed_page(new_context, server, doc_id) as page:
            yield server, loic, page
            await page.screenshot(path=screenshots / f"{schema}.png", full_page=True)

    return serve


async def reloads(page: Page) -> int:
    """How many times the page was loaded (a reload would reset the counter below)."""
    value = await page.evaluate("window.performance.getEntriesByType('navigation').length")
    assert isinstance(value, int)
    return value


async def test_catalogue_progress_bars_follow_patches_and_socket_edits(
    embedded: EmbeddedExample,
) -> None:
    async with embedded("catalogue", "projets") as (server, loic, page):
        await page.wait_for_selector(
            "section[data-status=not_selected] [data-project=fontaines]", timeout=WAIT_MS)
        await page.evaluate("window.marker = 'same page'")

        await loic.patch_data("projets", {"projects": {"fontaines": {
            "status": "in_progress", "progress": 35}}})
        bar = "section[data-status=in_progress] [data-project=fontaines] .bar > div"
        await page.wait_for_selector(bar, timeout=WAIT_MS)
        assert await page.get_attribute(bar, "style") == "width:35%"

        # A socket edit reaches the page too: the stream follows the room's document.
        async with connect(server.url, "projets", server.token("member", "Zoé")) as zoe:
            await zoe.synced()
            projects = zoe.doc.get("data", type=Map)["projects"]
            projects["fontaines"]["title"] = "Fontaines et brumisateurs"
            await page.wait_for_selector(
                "[data-project=fontaines] .title:text('Fontaines et brumisateurs')",
                timeout=WAIT_MS)
        assert await page.evaluate("window.marker") == "same page"
        assert await reloads(page) == 1


async def test_library_list_is_searchable_and_live(
    embedded: EmbeddedExample,
) -> None:
    async with embedded("library", "biblio") as (server, _, page), \
            PalabreApi(server.url, server.token("member", "Élodie Lefèvre")) as elodie:
        await page.wait_for_selector("[data-resource=retour-nancy]", timeout=WAIT_MS)
        await page.fill("input[type=search]", "tirage")
        await page.wait_for_selector("[data-resource=retour-nancy]", state="detached",
                                     timeout=WAIT_MS)
        assert await page.locator("[data-resource]").count() == 1

        await elodie.patch_data("biblio", {"resources": {"kit-tirage": {
            "title": "Kit de tirage au sort", "kind": "tool",
            "link": "https://example.org/kit", "tags": ["tirage au sort"]}}})
        await page.wait_for_selector("[data-resource=kit-tirage]", timeout=WAIT_MS)
        # The search survives the live redraw.
        assert await page.input_value("input[type=search]") == "tirage"
        assert await page.locator("[data-resource]").count() == 2


async def test_monitoring_feed_by_theme_is_live(
    embedded: EmbeddedExample,
) -> None:
    async with embedded("monitoring", "veille") as (server, loic, page), \
            PalabreApi(server.url, server.token("citizen", "Amine Benali")) as citizen:
        await page.wait_for_selector("section[data-theme=mobilite] [data-entry=e-001]",
                                     timeout=WAIT_MS)
        await citizen.patch_data("veille", {"entries": {"e-100": {
            "body": "Lampadaire éteint rue Victor-Hugo."}}})
        await page.wait_for_selector("section[data-theme=''] [data-entry=e-100]",
                                     timeout=WAIT_MS)
        await loic.patch_data("veille", {"entries": {"e-100": {"themes": ["securite"]}}})
        await page.wait_for_selector("section[data-theme=securite] [data-entry=e-100]",
                                     timeout=WAIT_MS)


async def test_agenda_by_week_is_live_and_private_documents_need_a_token(
    start_server: ServerFactory, new_context: NewContext, screenshots: Path
) -> None:
    async with example_served(start_server, "agenda", "agenda", is_public=False) as (
            server, loic):
        refused = await (await new_context()).new_page()
        response = await refused.goto(f"{server.url}/embed/agenda")
        assert response is not None and response.status == 403
        await refused.close()

        citizen = server.token("citizen", "Zoé")
        async with embed_page(new_context, server, "agenda", citizen) as page:
            await page.wait_for_selector(
                "section[data-week='2026-11-30'] [data-event=seance-conseil]", timeout=WAIT_MS)
            await loic.patch_data("agenda", {"events": {"assemblee": {
                "title": "Assemblée de quartier", "start": "2026-12-16T18:00:00+01:00",
                "organisation": "Conseil citoyen", "status": "confirmed"}}})
            await page.wait_for_selector(
                "section[data-week='2026-12-14'] [data-event=assemblee]", timeout=WAIT_MS)
            await loic.patch_data("agenda", {"events": {"assemblee": {"status": "cancelled"}}})
            await page.wait_for_selector("[data-event=assemblee].cancelled", timeout=WAIT_MS)
            await page.screenshot(path=screenshots / "agenda.png", full_page=True)
