"""Paragraph comments between pages, a citizen's read-only page, a freeze reaching every page."""

from __future__ import annotations

import re

from playwright.async_api import expect

from tests.browser.conftest import AMELIE, CARLA, LOIC, EditorsFactory, screenshot_path
from tests.browser.editor_page import (
    TIMEOUT,
    block_texts,
    connected,
    paragraph_id,
    type_at_end_of,
)


async def test_a_comment_posted_in_one_page_appears_in_the_others_margin(
    editors: EditorsFactory,
) -> None:
    async with editors() as e:
        alice, carla, loic = await e.join_all(AMELIE, CARLA, LOIC)
        target = await paragraph_id(alice, "Nancy")

        await alice.locator(f".margin-button[data-paragraph='{target}']").click()
        await alice.locator("form.new-comment textarea").fill("Qui décide, au juste ?")
        await alice.locator("form.new-comment button[type=submit]").click()

        in_carla = carla.locator(f".margin-button[data-paragraph='{target}']")
        await expect(in_carla).to_have_text("1", timeout=TIMEOUT)
        await in_carla.click()
        await expect(carla.locator("#comments")).to_contain_text("Qui décide, au juste ?")
        await expect(carla.locator("#comments .quote")).to_contain_text("Nancy")
        await carla.locator("form.reply textarea").fill("Le conseil municipal, après avis.")
        await carla.locator("form.reply button[type=submit]").click()

        await expect(alice.locator("#comments li.reply")).to_contain_text(
            "Le conseil municipal, après avis.", timeout=TIMEOUT)
        await loic.locator(f".margin-button[data-paragraph='{target}']").click()
        await loic.locator("#comments [data-action=resolve]").click()
        await expect(alice.locator("#comments .badge.resolved")).to_be_visible(timeout=TIMEOUT)
        await expect(alice.locator("#comments [data-action=resolve]")).to_have_count(0)
        await alice.screenshot(path=screenshot_path("comments"))

        # Hidden: gone from the others' pages, its words sealed out of the document they
        # sync; the facilitator's page still shows them, read back through the API.
        await loic.locator("#comments [data-action=hide]").click()
        await expect(alice.locator(f".margin-button[data-paragraph='{target}']")).to_have_text(
            "+", timeout=TIMEOUT)
        await expect(carla.locator("#comments")).not_to_contain_text("Qui décide",
                                                                    timeout=TIMEOUT)
        await expect(loic.locator("#comments .badge.hidden")).to_be_visible(timeout=TIMEOUT)
        await expect(loic.locator("#comments .thread .body").first).to_have_text(
            "Qui décide, au juste ?", timeout=TIMEOUT)


async def test_a_citizens_page_cannot_type_into_the_text(editors: EditorsFactory) -> None:
    async with editors() as e:
        carla = await e.join("citizen", "Carla Dupré")
        before = await block_texts(carla)
        editable = carla.locator(".ProseMirror")
        await expect(editable).to_have_attribute("contenteditable", "false")
        await expect(carla.locator(".toolbar")).to_be_hidden()
        await carla.locator(".ProseMirror p", has_text="Nancy").click()
        await carla.keyboard.type("intrusion")
        await carla.keyboard.press("Enter")
        assert await block_texts(carla) == before
        assert "intrusion" not in await editable.inner_text()


async def test_a_freeze_from_the_facilitators_page_turns_every_other_page_read_only(
    editors: EditorsFactory,
) -> None:
    async with editors() as e:
        loic, alice, carla = await e.join_all(LOIC, AMELIE, CARLA)

        await loic.locator("[data-action=freeze]").click()
        for page in (loic, alice, carla):
            await connected(page, "frozen")
            await expect(page.locator(".ProseMirror")).to_have_attribute(
                "contenteditable", "false")
            await expect(page.locator("#banner")).to_be_visible()
        before = await block_texts(alice)
        await alice.locator(".ProseMirror p", has_text="Nancy").click()
        await alice.keyboard.type("gelé ?")
        assert await block_texts(alice) == before

        await loic.locator("[data-action=unfreeze]").click()
        await connected(alice)
        await type_at_end_of(alice, "Nancy", " Dégelé.")
        await expect(loic.locator(".ProseMirror")).to_contain_text("Nancy. Dégelé.",
                                                                   timeout=TIMEOUT)


async def test_a_comment_can_be_posted_with_the_keyboard_alone(editors: EditorsFactory) -> None:
    async with editors() as e:
        carla = await e.join("citizen", "Carla Dupré", locale="en-GB")
        alice = await e.join("member", "Amélie Poulain")
        target = await paragraph_id(carla, "Nancy")
        margin = carla.locator(f".margin-button[data-paragraph='{target}']")
        await expect(margin).to_have_attribute("aria-label", "Comment this paragraph")
        await margin.focus()
        await carla.keyboard.press("Enter")
        field = carla.get_by_label("Your comment")
        await expect(field).to_be_focused()
        await carla.keyboard.type("Et les quartiers ?")
        await carla.keyboard.press("Control+Enter")
        await expect(alice.locator(f".margin-button[data-paragraph='{target}']")).to_have_text(
            "1", timeout=TIMEOUT)
        await expect(margin).to_have_attribute("aria-label", "1 comment on this paragraph",
                                               timeout=TIMEOUT)


async def test_a_token_for_other_documents_shows_access_refused(editors: EditorsFactory) -> None:
    async with editors() as e:
        page = await e.open("member", "Amélie Poulain", docs=["autre-*"])
        await connected(page, "denied")
        await expect(page.locator("#connection")).to_contain_text("4403")
        await expect(page.locator(".ProseMirror")).to_have_attribute("contenteditable", "false")


async def test_a_citizens_page_shows_others_by_pseudonym_and_its_own_comment_as_its_own(
    editors: EditorsFactory,
) -> None:
    async with editors() as e:
        alice, carla = await e.join_all(AMELIE, CARLA)
        target = await paragraph_id(alice, "Nancy")
        await alice.locator(f".margin-button[data-paragraph='{target}']").click()
        await alice.locator("form.new-comment textarea").fill("Qui décide, au juste ?")
        await alice.locator("form.new-comment button[type=submit]").click()
        await expect(alice.locator("#comments .thread .meta strong").first).to_have_text(
            AMELIE[1], timeout=TIMEOUT)

        margin = carla.locator(f".margin-button[data-paragraph='{target}']")
        await expect(margin).to_have_text("1", timeout=TIMEOUT)
        await margin.click()
        await expect(carla.locator("#comments")).to_contain_text("Qui décide, au juste ?")
        author = carla.locator("#comments .thread .meta strong").first
        await expect(author).to_have_text(re.compile(r"^Membre \d+$"))
        assert AMELIE[1] not in await carla.locator("#comments").inner_text()
        await carla.locator("form.reply textarea").fill("Les habitants, aussi.")
        await carla.locator("form.reply button[type=submit]").click()
        # Its own reply: by its own name, and editable, though the document it syncs
        # names it by its handle.
        reply = carla.locator("#comments li.reply")
        await expect(reply).to_contain_text(CARLA[1], timeout=TIMEOUT)
        await expect(reply.get_by_role("button", name=re.compile("Modifier|Edit"))).to_be_visible()
        await expect(alice.locator("#comments li.reply")).to_contain_text(CARLA[1],
                                                                         timeout=TIMEOUT)
