"""What every export renders: one version of a text with its archive metadata.

An `Edition` is plain data (the version's Yjs state and where it stands in the archive),
so it crosses into a worker thread or process as is; `Edition.tree` decodes the state there.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

from pycrdt import Doc

from crdt.convert import Node, Span, read_tree
from crdt.document import doc_from_update
from crdt.schema import ARTICLE_LEVEL, clamp_level

NBSP = "\u00a0"
NNBSP = "\u202f"
"""Narrow no-break space: French typography puts it before ``; ! ?``."""
_MONTHS = ("janvier", "février", "mars", "avril", "mai", "juin", "juillet", "août",
           "septembre", "octobre", "novembre", "décembre")
_NUMBERED = re.compile(r"^\s*(?:article|art\.)\s*\d+", re.IGNORECASE)


@dataclass(frozen=True, slots=True, kw_only=True)
class Edition:
    """One version of a text document, as an export shows it.

    ``number`` is the snapshot's number (``None`` for the live text), ``created_at`` when
    it was archived (the adoption date when ``adopted``), ``content_hash`` and
    ``chain_hash`` its archive hashes (``None`` for the live text).
    """

    doc_id: str
    title: str
    state: bytes
    number: int | None = None
    stage: str | None = None
    label: str | None = None
    created_at: float | None = None
    adopted: bool = False
    content_hash: str | None = None
    chain_hash: str | None = None

    @property
    def key(self) -> str:
        """What identifies this rendering's input: the chain hash, else the state's digest."""
        base = self.chain_hash or hashlib.sha256(self.state).hexdigest()
        return hashlib.sha256(f"{base}\n{self.doc_id}\n{self.title}".encode()).hexdigest()

    def doc(self) -> Doc[Any]:
        """The version's text as a document (raises `InvalidUpdate` if it does not decode)."""
        return doc_from_update(self.state)

    def tree(self) -> list[Node]:
        """The version's blocks as a tree."""
        return read_tree(self.doc())

    @property
    def version_name(self) -> str:
        """``version 3`` or ``texte en cours`` (the live text)."""
        return f"version {self.number}" if self.number is not None else "texte en cours"

    @property
    def date_text(self) -> str:
        """The archive date in French (``5 décembre 2026``), or ``""`` for the live text."""
        return french_date(self.created_at) if self.created_at is not None else ""


def french_date(timestamp: float) -> str:
    """A UTC date as ``5 décembre 2026`` (``1er`` for the first of the month)."""
    day = datetime.fromtimestamp(timestamp, UTC)
    first = "1er" if day.day == 1 else str(day.day)
    return f"{first} {_MONTHS[day.month - 1]} {day.year}"


def iso_date(timestamp: float | None) -> str:
    """A UTC date as ``YYYY-MM-DD`` (today when `timestamp` is None)."""
    when = datetime.now(UTC) if timestamp is None else datetime.fromtimestamp(timestamp, UTC)
    return when.strftime("%Y-%m-%d")


def node_text(node: Node) -> str:
    """A block's plain text: its spans, or its children's texts joined by newlines."""
    if node.children:
        return "\n".join(node_text(child) for child in node.children)
    return "".join(span.text for span in node.spans)


def is_article(node: Node) -> bool:
    """Whether the block is an article heading (a level-2 heading)."""
    return node.type == "heading" and clamp_level(node.attrs.get("level")) == ARTICLE_LEVEL


def numbered(title: str, number: int) -> str:
    """An article's heading with its number: kept when it already starts ``Article N``."""
    if _NUMBERED.match(title):
        return title
    return f"Article {number} — {title}" if title.strip() else f"Article {number}"


def french(text: str) -> str:
    """French typography: no-break spaces before ``: ; ! ?`` and inside « », quotes as « ».

    Straight double quotes around a run become « » (paired left to right); a space
    before ``:`` becomes a no-break space, before ``; ! ?`` a narrow one; a missing one
    is not added (``https://`` stays as it is).
    """
    text = re.sub(r'"([^"\n]*)"', lambda m: f"«{NBSP}{m.group(1).strip()}{NBSP}»", text)
    text = re.sub("«[ \t\u00a0]*", f"«{NBSP}", text)
    text = re.sub("[ \t\u00a0]*»", f"{NBSP}»", text)
    text = re.sub(r"[ \t]+:", f"{NBSP}:", text)
    return re.sub(r"[ \t]+([;!?])", NNBSP + r"\1", text)


def map_spans(nodes: list[Node], change: Any) -> list[Node]:
    """A copy of the tree with every span's text passed through `change` (breaks kept)."""
    return [replace(node, attrs=dict(node.attrs), children=map_spans(node.children, change),
                    spans=[span if span.is_break else
                           Span(change(span.text), span.marks, span.href)
                           for span in node.spans])
            for node in nodes]


_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff\ud800-\udfff]")


def xml_safe(text: str) -> str:
    """`text` without the characters XML 1.0 cannot hold (control characters, surrogates)."""
    return _NOT_XML.sub("", text)


def xml_tree(edition: Edition) -> list[Node]:
    """The edition's tree with every text and link fit for an XML file format."""
    tree = map_spans(edition.tree(), xml_safe)
    return _safe_links(tree)


def _safe_links(nodes: list[Node]) -> list[Node]:
    for node in nodes:
        node.spans = [Span(span.text, span.marks, xml_safe(span.href), span.is_break)
                      if span.href is not None else span for span in node.spans]
        _safe_links(node.children)
    return nodes
