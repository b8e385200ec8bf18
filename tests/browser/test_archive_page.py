"""The public archive page in Chromium: downloads, and the hash chain checked in the browser."""

from __future__ import annotations

import re

from playwright.async_api import expect

from crdt.convert import import_markdown
from tests.browser.conftest import EditorsFactory, screenshot_path
from tests.browser.editor_page import TIMEOUT
from tests.e2e.api import http_as
from tests.e2e.test_publish import tamper


async def test_the_archive_page_verifies_the_chain_serves_downloads_and_spots_tampering(
    editors: EditorsFactory,
) -> None:
    async with editors() as e, http_as(e.server, prefix="/api/documents") as facilitator:
        created = await facilitator.post(f"/{e.doc_id}/snapshots",
                                         json={"label": "Avant-projet", "stage": "lecture"})
        assert created.status_code == 201, created.text
        await e.server.app.state.hub.transform(
            e.doc_id, lambda doc: import_markdown(doc, "Un alinéa ajouté « en séance ».\n"),
            principal=None)
        adopted = await facilitator.post(f"/{e.doc_id}/adopt", json={"stage": "adoption"})
        assert adopted.status_code == 201, adopted.text

        loic = await e.open("facilitator", "Loïc Ménard")  # the editor links to the page
        link = loic.locator(".public-archive a")
        await expect(link).to_have_attribute("href", re.compile(f"^/archive/{e.doc_id}\\?token="),
                                             timeout=TIMEOUT)
        await expect(link).to_contain_text("Archive publique")

        context = await e.new_context(accept_downloads=True, locale="fr-FR")
        page = await context.new_page()
        await page.goto(f"{e.server.url}/archive/{e.doc_id}")  # a visitor: no token
        status = page.locator("#chain-status")
        await expect(status).to_have_attribute("data-status", "verified", timeout=TIMEOUT)
        await expect(status).to_contain_text("verified")
        await expect(page.locator("#v1 .check")).to_have_text("✓ vérifiée")
        await expect(page.locator("#v2 .check")).to_have_text("✓ vérifiée")
        await expect(page.locator("#adoption")).to_contain_text("Adoptée le")
        await expect(page.locator("#v2 [data-redline]")).to_have_count(3)
        await page.screenshot(path=screenshot_path("public-archive"), full_page=True)

        async with page.expect_download() as pdf_download:
            await page.locator("#v2 a[data-format=pdf]").click()
        pdf = await pdf_download.value
        assert pdf.suggested_filename == f"{e.doc_id}-v2.pdf"
        assert (await pdf.path()).read_bytes().startswith(b"%PDF-")
        async with page.expect_download() as docx_download:
            await page.locator("#v1 a[data-format=docx]").click()
        assert (await docx_download.value).suggested_filename == f"{e.doc_id}-v1.docx"

        await tamper(e.server, 2, label="Version réécrite", doc_id=e.doc_id)
        await page.reload()
        await expect(status).to_have_attribute("data-status", "broken", timeout=TIMEOUT)
        await expect(status).to_contain_text("broken at version 2")
        await expect(page.locator("#v1 .check")).to_have_text("✓ vérifiée")
        await expect(page.locator("#v2 .check")).to_have_text("✗ rompue")
        verdict = (await facilitator.get(f"/{e.doc_id}/archive/verify")).json()
        assert verdict["ok"] is False and verdict["broken_at"] == 2
