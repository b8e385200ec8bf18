"""Stages in the page: a snapshot appears live in every timeline; diff and archived views."""

from __future__ import annotations

from playwright.async_api import expect

from tests.browser.conftest import AMELIE, LOIC, EditorsFactory, screenshot_path
from tests.browser.editor_page import TIMEOUT, connected, type_at_end_of


async def test_a_new_snapshot_shows_live_and_the_diff_view_renders_the_change(
    editors: EditorsFactory,
) -> None:
    async with editors() as e:
        loic = await e.join("facilitator", "Loïc Ménard")
        alice = await e.join("member", "Amélie Poulain", locale="en-GB")
        await expect(alice.locator("[data-action=snapshot]")).to_have_count(0)

        await loic.locator("#snapshot-label").fill("Avant-projet")
        await loic.locator("#snapshot-stage").fill("Première lecture")
        await loic.locator("[data-action=snapshot]").click()
        timeline = alice.locator("#archive .timeline")
        await expect(timeline).to_contain_text("Première lecture", timeout=TIMEOUT)
        await expect(timeline).to_contain_text("Version 1 — Avant-projet")

        await type_at_end_of(alice, "Nancy", " Elle vaut pour chaque quartier.")
        await expect(loic.locator(".ProseMirror")).to_contain_text("chaque quartier",
                                                                   timeout=TIMEOUT)
        await alice.locator("#diff-from").select_option(label="Version 1 — Avant-projet")
        await alice.locator("#diff-to").select_option(value="live")
        await alice.get_by_role("button", name="Show changes").click()
        viewer = alice.locator("#viewer")
        await expect(viewer).to_be_visible(timeout=TIMEOUT)
        await expect(viewer.locator(".block.changed ins")).to_contain_text(
            "chaque quartier", timeout=TIMEOUT)
        await expect(viewer.locator(".summary")).to_contain_text("1 changed")
        await alice.screenshot(path=screenshot_path("diff"))

        await alice.keyboard.press("Escape")
        await expect(viewer).to_be_hidden()
        await alice.get_by_role("button", name="Version 1 — Avant-projet").click()
        archived = viewer.locator(".archived")
        await expect(archived).to_contain_text("citoyenne à Nancy.", timeout=TIMEOUT)
        await expect(archived).not_to_contain_text("chaque quartier")
        assert await archived.get_attribute("contenteditable") is None


async def test_adoption_reaches_every_page_and_a_visitor_sees_only_the_archive(
    editors: EditorsFactory,
) -> None:
    async with editors() as e:
        loic, alice = await e.join_all(LOIC, AMELIE)
        await loic.locator("[data-action=adopt]").click()
        await loic.locator("[data-action=adopt]").click()  # the second press confirms
        await connected(alice, "frozen")
        await expect(alice.locator("#archive .badge.adopted")).to_be_visible(timeout=TIMEOUT)

        visitor = await e.open_public()
        await expect(visitor.locator("#archive .timeline")).to_contain_text(
            "adopted", timeout=TIMEOUT)
        await expect(visitor.locator(".ProseMirror")).to_have_count(0)
        shown = visitor.locator("#viewer")  # the adopted version, opened at once
        await expect(shown).to_contain_text("Version adoptée", timeout=TIMEOUT)
        await expect(shown.locator(".archived")).to_contain_text("Nancy")
        await expect(visitor.locator("#connection")).to_have_count(0)
        await visitor.keyboard.press("Escape")
        await expect(shown).to_be_hidden()
        await visitor.locator("#archive .snapshot button").first.click()
        await expect(visitor.locator("#viewer .archived")).to_contain_text("Nancy",
                                                                           timeout=TIMEOUT)
