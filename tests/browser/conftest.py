"""Browser tests: the served editor page driven in the system Chromium through Playwright.

The session's one Chromium and its per-test contexts come from ``tests/conftest.py``
(``chromium``, ``new_context``). Screenshots land in ``tests/browser/screenshots/``.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import Page

from client.api import PalabreApi
from tests.browser.editor_page import connected, state_on_joining
from tests.conftest import NewContext, RunningServer, ServerFactory

SCREENSHOTS = Path(__file__).parent / "screenshots"
CHARTER = (
    "# Charte de la participation\n\n"
    "## Article 1 — Objet\n\n"
    "La présente charte définit la participation citoyenne à Nancy.\n\n"
    "## Article 2 — Assemblée\n\n"
    "L\u2019assemblée citoyenne réunit des habitants tirés au sort.\n\n"
    "- Elle siège en public.\n- Elle rend un avis motivé.\n"
)
# The people of the browser tests, as (role, name).
LOIC = ("facilitator", "Loïc Ménard")
AMELIE = ("member", "Amélie Poulain")
CARLA = ("citizen", "Carla Dupré")


@dataclass(slots=True)
class Editors:
    """Open document pages, each in its own browser context (its own sessionStorage)."""

    new_context: NewContext
    server: RunningServer
    doc_id: str

    async def open(
        self, role: str, name: str, *, path: str | None = None, locale: str = "fr-FR",
        **claims: Any,
    ) -> Page:
        """A page of the document for a new person with a token (with `claims`) in the link."""
        context = await self.new_context(locale=locale, viewport={"width": 1280, "height": 860})
        page = await context.new_page()
        token = self.server.token(role, name, **claims)
        target = path if path is not None else f"/d/{self.doc_id}"
        await page.goto(f"{self.server.url}{target}?token={token}")
        return page

    async def join(self, role: str, name: str, **options: Any) -> Page:
        """`open` a page for a new person, then wait for the state their role reaches."""
        page = await self.open(role, name, **options)
        await connected(page, state_on_joining(role))
        return page

    async def join_all(self, *people: tuple[str, str]) -> list[Page]:
        """`join` each of `people` (role, name) in turn: their pages, in that order."""
        return [await self.join(role, name) for role, name in people]

    async def open_public(self, *, locale: str = "en-GB") -> Page:
        """A page of the document for a visitor without a token."""
        context = await self.new_context(locale=locale)
        page = await context.new_page()
        await page.goto(f"{self.server.url}/d/{self.doc_id}")
        return page


EditorsFactory = Callable[[], AbstractAsyncContextManager[Editors]]


@pytest.fixture
def editors(new_context: NewContext, start_server: ServerFactory) -> EditorsFactory:
    """Factory: ``async with editors() as e`` runs a server holding the charter.

    A factory, not a yielding fixture: the server's task group must be entered and left
    in the test's own task.
    """

    @asynccontextmanager
    async def start() -> AsyncIterator[Editors]:
        async with start_server() as server:
            doc_id = f"charte-{uuid.uuid4().hex[:8]}"
            token = server.token("facilitator", "Loïc Ménard")
            async with PalabreApi(server.url, token) as api:
                await api.create_document(doc_id, "Charte de la participation",
                                          markdown=CHARTER, is_public=True)
            yield Editors(new_context, server, doc_id)

    return start


def screenshot_path(name: str) -> Path:
    """Where the run writes the screenshot `name` (the folder is made if needed)."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    return SCREENSHOTS / f"{name}.png"
