"""``palabre serve`` prints a facilitator link; opening it signs the browser in."""

from __future__ import annotations

import uuid
from pathlib import Path

import anyio
from playwright.async_api import expect

from tests.browser.editor_page import connected
from tests.conftest import NewContext
from tests.e2e.serverprocess import server_process

LINK_PREFIX = "facilitator link (valid 12 h): "


async def test_the_printed_link_opens_the_document_list_signed_in_and_creates_a_document(
    new_context: NewContext, tmp_path: Path,
) -> None:
    async with server_process(tmp_path / "data") as served:
        assert served.process.stdout is not None
        printed = served.output
        with anyio.fail_after(15):
            while LINK_PREFIX not in printed or not printed.endswith("\n"):
                printed += (await served.process.stdout.receive()).decode()
        link = printed.split(LINK_PREFIX, 1)[1].splitlines()[0]
        assert link.startswith(f"{served.url}/?token=")

        context = await new_context(locale="en-US")
        page = await context.new_page()
        await page.goto(link)
        await expect(page.locator(".who .name")).to_have_text("Facilitation · facilitator")
        assert page.url == f"{served.url}/"  # the token left the address bar
        await expect(page.locator(".documents")).to_contain_text("No document")

        doc_id = f"charte-{uuid.uuid4().hex[:6]}"
        await page.get_by_label("Identifier").fill(doc_id)
        await page.get_by_label("Title").fill("Charte de quartier")
        await page.get_by_role("button", name="Create").click()
        await page.wait_for_url(f"{served.url}/d/{doc_id}")
        await connected(page)
        await expect(page.locator("#doc-title")).to_have_text("Charte de quartier")
        await page.locator(".ProseMirror").click()
        await page.keyboard.type("Article premier")
        await page.goto(f"{served.url}/")  # same tab: the token stays in sessionStorage
        await expect(page.get_by_role("link", name="Charte de quartier")).to_be_visible()
        await context.close()
        assert await served.stop() in (0, -15)
