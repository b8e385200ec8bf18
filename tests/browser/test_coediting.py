"""Two people co-edit one document in two browser contexts."""

from __future__ import annotations

from playwright.async_api import expect

from tests.browser.conftest import Editors, EditorsFactory, screenshot_path
from tests.browser.editor_page import TIMEOUT, type_at_end_of


async def test_typing_in_one_page_appears_in_the_other_with_cursors_and_presence(
    editors: EditorsFactory,
) -> None:
    async with editors() as e:
        await _co_type(e)


async def _co_type(editors: Editors) -> None:
    alice = await editors.join("member", "Amélie Poulain")
    bruno = await editors.join("member", "Bruno Lefèvre")
    assert "token=" not in alice.url  # moved to sessionStorage, out of the address bar

    await type_at_end_of(alice, "Nancy", " Elle s\u2019applique à tous.")
    await expect(bruno.locator(".ProseMirror")).to_contain_text(
        "Nancy. Elle s\u2019applique à tous.", timeout=TIMEOUT)
    await type_at_end_of(bruno, "tirés au sort", " Ils sont trente.")
    await expect(alice.locator(".ProseMirror")).to_contain_text(
        "tirés au sort. Ils sont trente.", timeout=TIMEOUT)

    for page in (alice, bruno):
        presence = page.locator("#presence")
        await expect(presence).to_contain_text("Amélie Poulain", timeout=TIMEOUT)
        await expect(presence).to_contain_text("Bruno Lefèvre", timeout=TIMEOUT)
    await expect(alice.locator(".collaboration-carets__label")).to_have_text(
        "Bruno Lefèvre", timeout=TIMEOUT)
    await expect(bruno.locator(".collaboration-carets__label")).to_have_text(
        "Amélie Poulain", timeout=TIMEOUT)
    await alice.screenshot(path=screenshot_path("editor"))


async def test_undo_takes_back_only_ones_own_change(editors: EditorsFactory) -> None:
    async with editors() as e:
        alice = await e.join("member", "Amélie Poulain")
        bruno = await e.join("member", "Bruno Lefèvre")
        await type_at_end_of(alice, "Nancy", " Ajout d\u2019Amélie.")
        await expect(bruno.locator(".ProseMirror")).to_contain_text("Ajout d\u2019Amélie.",
                                                                    timeout=TIMEOUT)
        await type_at_end_of(bruno, "tirés au sort", " Ajout de Bruno.")
        await expect(alice.locator(".ProseMirror")).to_contain_text("Ajout de Bruno.",
                                                                    timeout=TIMEOUT)

        await alice.get_by_role("button", name="Annuler ma dernière modification").click()
        for page in (alice, bruno):
            text = page.locator(".ProseMirror")
            await expect(text).not_to_contain_text("Ajout d\u2019Amélie.", timeout=TIMEOUT)
            await expect(text).to_contain_text("tirés au sort. Ajout de Bruno.")
