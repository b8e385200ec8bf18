"""A page that goes offline keeps its edits and converges with the others on reconnect."""

from __future__ import annotations

from playwright.async_api import expect

from tests.browser.conftest import EditorsFactory
from tests.browser.editor_page import TIMEOUT, block_texts, connected, type_at_end_of


async def test_offline_edits_in_both_pages_converge_on_reconnect(editors: EditorsFactory) -> None:
    async with editors() as e:
        alice = await e.join("member", "Amélie Poulain")
        bruno = await e.join("member", "Bruno Lefèvre")

        await bruno.context.set_offline(True)
        await connected(bruno, "offline")
        await type_at_end_of(bruno, "Nancy", " Écrit hors ligne.")
        await connected(bruno, "offlinePending")
        await type_at_end_of(alice, "tirés au sort", " Écrit en ligne.")
        await expect(alice.locator(".ProseMirror")).not_to_contain_text("Écrit hors ligne")
        await expect(bruno.locator(".ProseMirror")).not_to_contain_text("Écrit en ligne")

        await bruno.context.set_offline(False)
        await connected(bruno, "connected")
        for page in (alice, bruno):
            text = page.locator(".ProseMirror")
            await expect(text).to_contain_text("Nancy. Écrit hors ligne.", timeout=TIMEOUT)
            await expect(text).to_contain_text("tirés au sort. Écrit en ligne.", timeout=TIMEOUT)
        assert await block_texts(alice) == await block_texts(bruno)
