"""What browser tests read from and do on the served editor page."""

from __future__ import annotations

import re

from playwright.async_api import Page, expect

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


ANY_ID = re.compile(r".+")


async def paragraph_id(page: Page, text: str) -> str:
    """The server-assigned id of the paragraph holding `text`."""
    paragraph = page.locator(".ProseMirror p", has_text=text).first
    await expect(paragraph).to_have_attribute("data-id", ANY_ID, timeout=TIMEOUT)
    value = await paragraph.get_attribute("data-id")
    assert value
    return value


def state_on_joining(role: str) -> str:
    """The connection state a person with `role` reaches on opening the page."""
    return "readonly" if role == "citizen" else "connected"
