"""A headless system Chromium driven by Playwright, and the folder screenshots go to."""

from __future__ import annotations

import shutil
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from playwright.async_api import Browser, Error, async_playwright

from tests.conftest import require_service

ARTIFACTS = Path(__file__).parent.parent / ".artifacts" / "embed"


@pytest.fixture
async def chromium() -> AsyncIterator[Browser]:
    """The system Chromium (``apt-get install chromium``), headless."""
    executable = shutil.which("chromium") or shutil.which("chromium-browser")
    if executable is None:
        require_service("Chromium", "no chromium executable on PATH")
    async with async_playwright() as playwright:
        try:
            browser = await playwright.chromium.launch(
                executable_path=executable, headless=True, args=["--no-sandbox"]
            )
        except Error as exc:
            require_service("Chromium", f"{executable} did not start: {exc}")
        try:
            yield browser
        finally:
            await browser.close()


@pytest.fixture
def screenshots() -> Path:
    """Where the run writes its screenshots (gitignored)."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return ARTIFACTS
