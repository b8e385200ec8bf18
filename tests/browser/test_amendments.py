"""Amendments in the page: a citizen proposes, members see the redline live, the
facilitator accepts, the accepted wording reaches every editor, and the diff from the
version before names the amendment behind the change."""

from __future__ import annotations

from playwright.async_api import expect

from tests.browser.conftest import AMELIE, CARLA, LOIC, EditorsFactory, screenshot_path
from tests.browser.editor_page import TIMEOUT, block_texts, paragraph_id

OLD = "La présente charte définit la participation citoyenne à Nancy."
NEW = "La présente charte garantit la participation citoyenne à Nancy."


async def test_a_citizens_amendment_is_seen_live_and_accepted_into_every_editor(
    editors: EditorsFactory,
) -> None:
    async with editors() as e:
        amelie, carla, loic = await e.join_all(AMELIE, CARLA, LOIC)
        target = await paragraph_id(loic, "Nancy")
        await loic.locator("#snapshot-label").fill("Avant-projet")
        await loic.locator("#snapshot-stage").fill("Première lecture")
        await loic.locator("[data-action=snapshot]").click()
        await expect(loic.locator("#archive .timeline")).to_contain_text(
            "Version 1 — Avant-projet", timeout=TIMEOUT)

        await carla.locator(f".amend-button[data-paragraph='{target}']").click()
        await expect(carla.locator("#amendments")).to_contain_text("pas ouverts",
                                                                   timeout=TIMEOUT)
        await loic.locator("[data-action=amendments-open]").click()
        await expect(carla.locator("button[data-kind=replace]")).to_be_visible(timeout=TIMEOUT)
        await carla.locator("button[data-kind=replace]").click()
        field = carla.locator("#amendment-text")
        await expect(field).to_have_value(OLD)
        await field.fill(NEW)
        # The word diff follows the typing.
        await expect(carla.locator("form.propose .preview del")).to_have_text("définit")
        await expect(carla.locator("form.propose .preview ins")).to_have_text("garantit")
        await carla.locator("#amendment-why").fill("Une charte garantit, elle ne définit pas.")
        await carla.locator("form.propose button[type=submit]").click()

        badge = amelie.locator(f".amend-button[data-paragraph='{target}']")
        await expect(badge).to_have_text("§1", timeout=TIMEOUT)
        await badge.click()
        item = amelie.locator("#amendments li.amendment")
        await expect(item.locator("del")).to_have_text("définit", timeout=TIMEOUT)
        await expect(item.locator("ins")).to_have_text("garantit")
        await expect(item).to_contain_text("Carla Dupré")
        await amelie.locator("#amendments [data-action=support]").click()
        await expect(item.locator(".supports")).to_have_text("1 soutien", timeout=TIMEOUT)
        await amelie.screenshot(path=screenshot_path("amendments"))

        await loic.locator(f".amend-button[data-paragraph='{target}']").click()
        await loic.locator("#amendments [data-action=accept]").click()
        for page in (amelie, carla, loic):
            await expect(page.locator(".ProseMirror p", has_text="garantit")).to_have_text(
                NEW, timeout=TIMEOUT)
            await expect(page.locator("#amendments li.amendment")).to_have_attribute(
                "data-state", "accepted", timeout=TIMEOUT)
        assert OLD not in await block_texts(amelie)

        await loic.locator("#diff-from").select_option(label="Version 1 — Avant-projet")
        await loic.locator("#diff-to").select_option(value="live")
        await loic.get_by_role("button", name="Voir les changements").click()
        changed = loic.locator(f"#viewer .block.changed[data-id='{target}']")
        await expect(changed.locator(".amended-by")).to_have_text("amendement",
                                                                 timeout=TIMEOUT)
        await expect(loic.locator("#viewer .summary")).to_contain_text(
            "1 amendement(s) accepté(s) appliqué(s)")
