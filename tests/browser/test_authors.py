"""The "Authors" view: every word coloured by who typed it, a legend with the shares, the
writer and time on hover; a public visitor sees the same with pseudonyms."""

from __future__ import annotations

import re

from playwright.async_api import expect

from tests.browser.conftest import AMELIE, LOIC, EditorsFactory, screenshot_path
from tests.browser.editor_page import TIMEOUT, type_at_end_of

TYPED = " Elle écrit ceci."


async def test_words_are_coloured_by_their_writer_and_the_public_sees_pseudonyms(
    editors: EditorsFactory,
) -> None:
    async with editors() as e:
        loic, alice = await e.join_all(LOIC, AMELIE)
        await type_at_end_of(alice, "Nancy", TYPED)
        await expect(loic.locator(".ProseMirror")).to_contain_text("écrit ceci",
                                                                   timeout=TIMEOUT)
        await loic.locator("[data-action=authors-live]").click()
        viewer = loic.locator("#viewer")
        hers = viewer.locator(f".authored[data-author='{AMELIE[1]}']")
        await expect(hers).to_have_text(["Elle", "écrit", "ceci"], timeout=TIMEOUT)
        title = await hers.first.get_attribute("title")
        assert title is not None and title.startswith(AMELIE[1])
        nancy = viewer.locator(".authored", has_text="Nancy")
        await expect(nancy).to_have_attribute("data-author", LOIC[1])
        legend = viewer.locator(".authors-legend")
        await expect(legend.locator(f"[data-author='{AMELIE[1]}']")).to_contain_text("— 3 ")
        await expect(legend.locator(f"[data-author='{LOIC[1]}']")).to_be_visible()
        await loic.screenshot(path=screenshot_path("authors"))
        await loic.keyboard.press("Escape")

        await loic.locator("#snapshot-label").fill("Lecture")
        await loic.locator("#snapshot-stage").fill("Première lecture")
        await loic.locator("[data-action=snapshot]").click()
        visitor = await e.open_public()
        await visitor.locator("#archive [data-action=authors]").first.click(timeout=TIMEOUT)
        shown = visitor.locator("#viewer .authors-view")
        await expect(shown.locator(".authored", has_text="écrit")).to_have_attribute(
            "data-author", re.compile(r"^Membre \d+$"), timeout=TIMEOUT)
        await expect(shown).not_to_contain_text(AMELIE[1])
        await expect(shown).not_to_contain_text(LOIC[1])
        await expect(shown.locator(".authors-legend li")).to_have_count(2)
        await expect(shown.locator(".authors-legend")).to_contain_text(re.compile(
            r"Membre \d+ — 3 "))
