"""Browser tests: the served editor page driven in the system Chromium through Playwright.

Chromium comes from the system (``/usr/bin/chromium``, Debian's ``chromium``); Playwright
never downloads a browser. A missing Chromium fails under ``CI=true`` and
skips elsewhere with the reason. Screenshots land in ``tests/browser/screenshots/``.
"""

from __future__ import annotations

import shutil
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import Browser, BrowserContext, Page, async_playwright

from client.api import PalabreApi
from tests.conftest import RunningServer, ServerFactory, require_service

SCREENSHOTS = Path(__file__).parent / "screenshots"
CHARTER = (
    "# Charte de la participation\n\n"
    "## Article 1 — Objet\n\n"
    "La présente charte définit la participation citoyenne à Nancy.\n\n"
    "## Article 2 — Assemblée\n\n"
    "L\u2019assemblée citoyenne réunit des habitants tirés au sort.\n\n"
    "- Elle siège en public.\n- Elle rend un avis motivé.\n"
)


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    """The system Chromium, headless."""
    executable = shutil.which("chromium")
    if executable is None:
        require_service("chromium", "no chromium on PATH (apt-get install -y chromium)")
    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(
            executable_path=executable, headless=True, args=["--no-sandbox"]
        )
        try:
            yield launched
        finally:
            await launched.close()


@dataclass(slots=True)
class Editors:
    """Open document pages, each in its own browser context (its own sessionStorage)."""

    browser: Browser
    server: RunningServer
    doc_id: str

    async def open(
        self, role: str, name: str, *, path: str | None = None, locale: str = "fr-FR",
        **claims: Any,
    ) -> Page:
        """A page of the document for a new person with a token (with `claims`) in the link."""
        context: BrowserContext = await self.browser.new_context(
            locale=locale, viewport={"width": 1280, "height": 860}
        )
        page = await context.new_page()
        token = self.server.token(role, name, **claims)
        target = path if path is not None else f"/d/{self.doc_id}"
        await page.goto(f"{self.server.url}{target}?token={token}")
        return page

    async def open_public(self, *, locale: str = "en-GB") -> Page:
        """A page of the document for a visitor without a token."""
        context = await self.browser.new_context(locale=locale)
        page = await context.new_page()
        await page.goto(f"{self.server.url}/d/{self.doc_id}")
        return page


EditorsFactory = Callable[[], AbstractAsyncContextManager[Editors]]


@pytest.fixture
def editors(browser: Browser, start_server: ServerFactory) -> EditorsFactory:
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
            yield Editors(browser, server, doc_id)

    return start


def screenshot_path(name: str) -> Path:
    """Where the run writes the screenshot `name` (the folder is made if needed)."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    return SCREENSHOTS / f"{name}.png"
