"""Applying an amendment to the live text as the smallest change.

`apply_amendment` edits a text document in place (the caller's transaction, or its own):

- ``replace``: the word-level edits from the amendment's base wording to its proposal,
  carried onto the block's current wording (`crdt.worddiff.rebase_changes`), are made
  as deletions and insertions inside the block's ``XmlText``: characters outside them are
  never touched, so what others typed elsewhere in the paragraph survives, and the
  untouched runs keep their marks (new words take the marks of the words they replace,
  or of the word before them);
- ``insert_after``: a new block with a fresh stable id right after the target (a list
  item after a list item, a paragraph otherwise);
- ``delete``: the target block is removed, if its wording is still the base's.

`check_amendment` says, without writing, whether it still applies. Offsets into an
``XmlText`` are UTF-8 bytes for pycrdt; the conversion happens here.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from pycrdt import Doc, XmlElement, XmlFragment, XmlText

from crdt.errors import SchemaError
from crdt.schema import ID_ATTR, block_id, is_textblock, plain_text, text_fragment, walk
from crdt.worddiff import Outdated, WordChange, rebase_changes

Kind = Literal["replace", "insert_after", "delete"]
KINDS: tuple[Kind, ...] = ("replace", "insert_after", "delete")


class TargetGone(SchemaError):
    """The block an amendment targets is no longer in the text."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Applied:
    """What applying an amendment did: the block's wording after it, and a new block's id."""

    wording: str
    new_block_id: str | None = None


def block_wording(doc: Doc[Any], paragraph_id: str) -> str | None:
    """The plain wording of the block `paragraph_id` (a list item: its first text block)."""
    found = _locate(doc, paragraph_id)
    if found is None:
        return None
    element, _ = found
    inline = _inline(element)
    return plain_text(inline) if inline is not None else ""


def check_amendment(
    doc: Doc[Any], *, paragraph_id: str, kind: Kind, base: str, text: str
) -> None:
    """Return if the amendment still applies to `doc`'s current text.

    Raises:
        TargetGone: the block is no longer there.
        Outdated: the words it changes (for ``delete``: any word of the block) changed.
        SchemaError: a ``replace`` on a block without inline content.
    """
    now = _current(doc, paragraph_id, kind)
    if kind == "replace":
        rebase_changes(base, now, text)
    elif kind == "delete" and now != base:
        raise Outdated([WordChange(start=0, end=len(base), text="")])


def apply_amendment(
    doc: Doc[Any], *, paragraph_id: str, kind: Kind, base: str, text: str, new_id: str
) -> Applied:
    """Apply the amendment to `doc` (see the module docstring); `new_id` names a new block.

    Raises:
        TargetGone, Outdated, SchemaError: as `check_amendment`; nothing is written then.
    """
    check_amendment(doc, paragraph_id=paragraph_id, kind=kind, base=base, text=text)
    found = _locate(doc, paragraph_id)
    assert found is not None  # checked above
    element, path = found
    with doc.transaction():
        if kind == "replace":
            inline = _inline(element)
            assert inline is not None  # checked above
            _edit(inline, rebase_changes(base, plain_text(inline), text))
            return Applied(wording=plain_text(inline))
        parent, index = _parent(doc, path)
        if kind == "delete":
            del parent.children[index]
            return Applied(wording="")
        parent.children.insert(index + 1, _new_block(element.tag or "paragraph", new_id, text))
        return Applied(wording=text, new_block_id=new_id)


def _current(doc: Doc[Any], paragraph_id: str, kind: Kind) -> str:
    found = _locate(doc, paragraph_id)
    if found is None:
        raise TargetGone(f"the text has no block {paragraph_id!r} any more")
    inline = _inline(found[0])
    if inline is None:
        if kind == "replace":
            raise SchemaError(f"block {paragraph_id!r} holds no text to reword")
        return ""
    return plain_text(inline)


def _locate(doc: Doc[Any], paragraph_id: str) -> tuple[XmlElement, tuple[int, ...]] | None:
    return next(((el, path) for el, _, _, path in walk(doc) if block_id(el) == paragraph_id),
                None)


def _inline(element: XmlElement) -> XmlElement | None:
    """The element holding the block's words: itself, or a list item's first text block."""
    if is_textblock(element):
        return element
    if element.tag == "listItem":
        return next((child for child in element.children
                     if isinstance(child, XmlElement) and is_textblock(child)), None)
    return None


def _parent(doc: Doc[Any], path: tuple[int, ...]) -> tuple[XmlFragment | XmlElement, int]:
    node: XmlFragment | XmlElement = text_fragment(doc)
    for index in path[:-1]:
        child = node.children[index]
        assert isinstance(child, XmlElement)
        node = child
    return node, path[-1]


def _new_block(tag: str, new_id: str, text: str) -> XmlElement:
    if tag == "listItem":
        inner = XmlElement("paragraph", {ID_ATTR: new_id + "-p"}, [XmlText(text)])
        return XmlElement("listItem", {ID_ATTR: new_id}, [inner])
    block_tag = tag if tag == "heading" else "paragraph"
    return XmlElement(block_tag, {ID_ATTR: new_id}, [XmlText(text)])


def _edit(inline: XmlElement, changes: list[WordChange]) -> None:
    """Make `changes` (offsets into the element's plain text) in its ``XmlText`` children."""
    segments: list[tuple[int, int, XmlText | None]] = []
    cursor = 0
    for child in inline.children:
        if isinstance(child, XmlText):
            length = len(plain_text(child))
            segments.append((cursor, cursor + length, child))
        elif isinstance(child, XmlElement):
            length = len(plain_text(child))
            segments.append((cursor, cursor + length, None))
        else:
            continue
        cursor += length
    if not any(seg[2] is not None for seg in segments):
        inline.children.insert(0, XmlText(""))
        segments = [(0, 0, inline.children[0])]  # type: ignore[list-item]
    for change in reversed(changes):
        target = next((seg for seg in segments if seg[2] is not None
                       and seg[0] <= change.start and change.end <= seg[1]), None)
        if target is None:
            raise Outdated([change])  # the span crosses a line break: not word-sized
        start, _, text = target
        assert text is not None
        _edit_text(text, change.start - start, change.end - start, change.text)


def _edit_text(text: XmlText, start: int, end: int, new: str) -> None:
    """Replace characters ``[start, end)`` of `text` by `new`, with the marks found there."""
    chunks = text.diff()
    words = "".join(chunk for chunk, _ in chunks if isinstance(chunk, str))
    marks = _marks_at(chunks, start if end > start else max(start - 1, 0))
    byte_start = len(words[:start].encode())
    byte_end = len(words[:end].encode())
    if byte_end > byte_start:
        del text[byte_start:byte_end]
    if new:
        text.insert(byte_start, new, marks or None)


def _marks_at(chunks: list[tuple[Any, dict[str, Any] | None]], position: int) -> dict[str, Any]:
    cursor = 0
    for chunk, attrs in chunks:
        if not isinstance(chunk, str):
            continue
        if position < cursor + len(chunk):
            return dict(attrs or {})
        cursor += len(chunk)
    return {}
