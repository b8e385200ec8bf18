"""Which paragraphs the assembly works on, article by article, and who gets which."""

from __future__ import annotations

from dataclasses import dataclass
from itertools import zip_longest
from typing import Any

from pycrdt import Doc, XmlText

from crdt.schema import ARTICLE_LEVEL, blocks, find_element


@dataclass(frozen=True, slots=True)
class Layout:
    """The editable paragraphs (one run of text each), interleaved across articles, so
    that members given consecutive entries work in different articles."""

    paragraphs: tuple[str, ...]
    articles: dict[str, str]
    """Paragraph id → the title of its article (or of the preamble)."""

    @classmethod
    def read(cls, doc: Doc[Any]) -> Layout:
        """Read the text's articles and their plain paragraphs."""
        by_article: dict[str, list[str]] = {}
        titles: dict[str, str] = {}
        title = "Préambule"
        for block in blocks(doc):
            if block.type == "heading" and block.level == ARTICLE_LEVEL:
                title = block.text
            if block.type != "paragraph" or block.id is None or block.parent_id is not None:
                continue
            element = find_element(doc, block.id)
            if element is None or len(element.children) != 1:
                continue
            if not isinstance(element.children[0], XmlText):
                continue
            by_article.setdefault(title, []).append(block.id)
            titles[block.id] = title
        interleaved = [pid for row in zip_longest(*by_article.values()) for pid in row if pid]
        return cls(tuple(interleaved), titles)

    def assigned(self, session_no: int, members: int) -> list[str | None]:
        """The paragraph each member edits in a session (None: more members than
        paragraphs, so that member reads and points only); it shifts every session."""
        count = len(self.paragraphs)
        if count == 0:
            return [None] * members
        start = (session_no - 1) * min(members, count)
        return [self.paragraphs[(start + n) % count] if n < count else None
                for n in range(members)]
