"""Paragraph diff of two versions of a text: by block id, with word changes inside a block.

Blocks are matched by their stable ``id`` (the server gives every block one), never by
position, so a paragraph edited, moved or both is recognised as itself. Each block of
either version ends up in exactly one entry, in the newer version's order (a removed
block stands after the closest block before it that kept its place):

- ``added``: only in the newer version; ``removed``: only in the older one;
- ``changed``: in both, with another text (``words`` says how); ``moved`` is then true
  when its place among the common blocks changed too;
- ``moved``: in both with the same text, but out of the longest run of blocks kept in
  order (difflib's matching of the two id sequences);
- ``unchanged``: the rest.

Words are compared as runs of non-space characters and runs of spaces, so joining the
``equal`` and ``delete`` pieces gives the old text back, and ``equal`` and ``insert`` the
new one. Containers (lists, list items) carry no text of their own and are left out.
Pure: bytes in, data out.
"""

from __future__ import annotations

import difflib
import html
import re
from dataclasses import dataclass
from typing import Any, Literal

from pycrdt import Doc

from crdt.document import doc_from_update
from crdt.schema import Block, blocks

Status = Literal["unchanged", "added", "removed", "changed", "moved"]
WordOp = Literal["equal", "insert", "delete"]

_TOKENS = re.compile(r"\s+|\S+")


@dataclass(frozen=True, slots=True, kw_only=True)
class WordChange:
    """A run of the text: kept (``equal``), new (``insert``) or gone (``delete``)."""

    op: WordOp
    text: str


@dataclass(frozen=True, slots=True, kw_only=True)
class BlockDiff:
    """What became of one block between the two versions."""

    id: str
    type: str
    status: Status
    moved: bool
    before: str | None
    after: str | None
    level: int | None = None
    words: tuple[WordChange, ...] = ()
    amendments: tuple[str, ...] = ()
    """The accepted amendments that produced this block's change (`crdt.diff_amendments`)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class TextDiff:
    """Every text block of both versions, in the newer version's order."""

    blocks: tuple[BlockDiff, ...]

    def count(self, status: Status) -> int:
        """How many blocks have `status`."""
        return sum(1 for block in self.blocks if block.status == status)


def diff_updates(before: bytes, after: bytes) -> TextDiff:
    """Diff two versions given as Yjs updates (full states) of a text document.

    Raises:
        InvalidUpdate: either is not a Yjs update.
    """
    return diff_docs(doc_from_update(before), doc_from_update(after))


def diff_docs(before: Doc[Any], after: Doc[Any]) -> TextDiff:
    """Diff two text documents paragraph by paragraph (see the module docstring)."""
    old = _text_blocks(before)
    new = _text_blocks(after)
    old_ids = list(old)
    new_ids = list(new)
    common_old = [key for key in old_ids if key in new]
    common_new = [key for key in new_ids if key in old]
    matcher = difflib.SequenceMatcher(None, common_old, common_new, autojunk=False)
    in_place: set[str] = set()
    for match in matcher.get_matching_blocks():
        in_place.update(common_new[match.b : match.b + match.size])

    removed_after: dict[str | None, list[str]] = {}
    previous: str | None = None
    for key in old_ids:
        if key not in new:
            removed_after.setdefault(previous, []).append(key)
        elif key in in_place:
            previous = key

    result: list[BlockDiff] = [_removed(old[key]) for key in removed_after.get(None, [])]
    for key in new_ids:
        block = new[key]
        if key not in old:
            result.append(BlockDiff(id=key, type=block.type, status="added", moved=False,
                                    before=None, after=block.text, level=block.level))
        else:
            result.append(_common(key, old[key], block, moved=key not in in_place))
            result.extend(_removed(old[gone]) for gone in removed_after.get(key, []))
    return TextDiff(blocks=tuple(result))


def word_changes(before: str, after: str) -> tuple[WordChange, ...]:
    """The word-level changes turning `before` into `after`."""
    a = _TOKENS.findall(before)
    b = _TOKENS.findall(after)
    pieces: list[WordChange] = []
    matcher = difflib.SequenceMatcher(None, a, b, autojunk=False)
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag == "equal":
            _push(pieces, "equal", "".join(a[i1:i2]))
            continue
        if tag in ("delete", "replace"):
            _push(pieces, "delete", "".join(a[i1:i2]))
        if tag in ("insert", "replace"):
            _push(pieces, "insert", "".join(b[j1:j2]))
    return tuple(pieces)


def diff_json(diff: TextDiff) -> dict[str, object]:
    """The diff as JSON: a summary of counts and every block in order."""
    return {
        "summary": {status: diff.count(status)
                    for status in ("added", "removed", "changed", "moved", "unchanged")},
        "blocks": [_block_json(block) for block in diff.blocks],
    }


def diff_html(diff: TextDiff) -> str:
    """The diff as an HTML fragment: ``<ins>``/``<del>`` marks, every text escaped.

    Each block is a ``div`` with ``class="block <status>"`` (plus ``moved``), its id in
    ``data-id`` and the amendments behind its change in ``data-amendments``; a heading's
    text sits in ``h1`` to ``h6``, any other block's in ``p``.
    """
    parts = ['<div class="palabre-diff">']
    for block in diff.blocks:
        classes = f"block {block.status}" + (" moved" if block.moved else "")
        tag = f"h{block.level}" if block.type == "heading" and block.level else "p"
        if block.status == "added":
            inner = f"<ins>{_esc(block.after or '')}</ins>"
        elif block.status == "removed":
            inner = f"<del>{_esc(block.before or '')}</del>"
        elif block.status == "changed":
            inner = "".join(_word_html(word) for word in block.words)
        else:
            inner = _esc(block.after or "")
        amended = (f' data-amendments="{_esc(" ".join(block.amendments))}"'
                   if block.amendments else "")
        parts.append(f'<div class="{classes}" data-id="{_esc(block.id)}"{amended}>'
                     f"<{tag}>{inner}</{tag}></div>")
    parts.append("</div>")
    return "".join(parts)


def _text_blocks(doc: Doc[Any]) -> dict[str, Block]:
    """Text blocks by id; one without an id is keyed by its position (never matched)."""
    found: dict[str, Block] = {}
    for index, block in enumerate(blocks(doc)):
        if block.type not in ("heading", "paragraph"):
            continue
        key = block.id if block.id is not None and block.id not in found else f"#{index}"
        found[key] = block
    return found


def _common(key: str, old: Block, new: Block, *, moved: bool) -> BlockDiff:
    if old.text != new.text or old.type != new.type:
        return BlockDiff(id=key, type=new.type, status="changed", moved=moved,
                         before=old.text, after=new.text, level=new.level,
                         words=word_changes(old.text, new.text))
    return BlockDiff(id=key, type=new.type, status="moved" if moved else "unchanged",
                     moved=moved, before=old.text, after=new.text, level=new.level)


def _removed(block: Block) -> BlockDiff:
    return BlockDiff(id=block.id or "", type=block.type, status="removed", moved=False,
                     before=block.text, after=None, level=block.level)


def _push(pieces: list[WordChange], op: WordOp, text: str) -> None:
    if not text:
        return
    if pieces and pieces[-1].op == op:
        pieces[-1] = WordChange(op=op, text=pieces[-1].text + text)
    else:
        pieces.append(WordChange(op=op, text=text))


def _block_json(block: BlockDiff) -> dict[str, object]:
    data: dict[str, object] = {
        "id": block.id, "type": block.type, "status": block.status, "moved": block.moved,
        "before": block.before, "after": block.after,
    }
    if block.level is not None:
        data["level"] = block.level
    if block.status == "changed":
        data["words"] = [{"op": word.op, "text": word.text} for word in block.words]
    if block.amendments:
        data["amendments"] = list(block.amendments)
    return data


def _word_html(word: WordChange) -> str:
    if word.op == "insert":
        return f"<ins>{_esc(word.text)}</ins>"
    if word.op == "delete":
        return f"<del>{_esc(word.text)}</del>"
    return _esc(word.text)


def _esc(text: str) -> str:
    return html.escape(text, quote=True)
