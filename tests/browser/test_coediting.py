"""Two people co-edit one document in two browser contexts."""

from __future__ import annotations

from playwright.async_api import Page, expect

from tests.browser.conftest import Editors, EditorsFactory, screenshot_path

TIMEOUT = 15_000


_BLOCK_TEXTS = """() => {
  const copy = document.querySelector('.ProseMirror').cloneNode(true)
  copy.querySelectorAll('.collaboration-carets__caret').forEach((caret) => caret.remove())
  return [...copy.querySelectorAll('h1, h2, h3, p')].map((block) => block.textContent)
}"""


async def block_texts(page: Page) -> list[str]:
    """The text of every heading and paragraph in the page's editor (carets left out)."""
    texts: list[str] = await page.evaluate(_BLOCK_TEXTS)
    return texts


async def connected(page: Page, state: str = "connected") -> None:
    """Wait until the page's connection badge shows `state`."""
    await expect(page.locator("#connection")).to_have_attribute("data-state", state,
                                                                timeout=TIMEOUT)


async def type_at_end_of(page: Page, paragraph_text: str, typed: str) -> None:
    """Click at the end of the paragraph holding `paragraph_text`, then type."""
    paragraph = page.locator(".ProseMirror p", has_text=paragraph_text).first
    await paragraph.click()
    await page.keyboard.press("End")
    await page.keyboard.type(typed)


async def test_typing_in_one_page_appears_in_the_other_with_cursors_and_presence(
    editors: EditorsFactory,
) -> None:
    async with editors() as e:
        await _co_type(e)


async def _co_type(editors: Editors) -> None:
    alice = await editors.open("member", "Amélie Poulain")
    bruno = await editors.open("member", "Bruno Lefèvre")
    for page in (alice, bruno):
        await connected(page)
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
        alice = await e.open("member", "Amélie Poulain")
        bruno = await e.open("member", "Bruno Lefèvre")
        for page in (alice, bruno):
            await connected(page)
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
