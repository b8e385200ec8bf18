"""Bounds on the text shape: which nodes, attributes and marks a block may carry, how long.

The schema is the editor's (Tiptap's StarterKit as ``client/web`` configures it, plus the
block ``id``): a node type outside it, an attribute it does not know, a heading ``level``
outside 1-6, an ordered list ``start`` that is not a CommonMark number (0-999999999) or
an ``id`` that is not a short token is refused, and so is a block whose text is longer
than `TextBounds.block_chars`, and so are elements nested deeper than `TextBounds.depth`.
Renderers still clamp what an older document may hold (`crdt.schema.RENDER_DEPTH`).

`ShapeMirror` judges a client's update on what it touches, not on the whole document: it
applies the update to a shadow copy and looks only at the nodes the update's events name
(an inserted subtree whole, an element whose attributes changed, the block of a text that
changed). The shadow follows the live document by the difference of their state vectors.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any

from pycrdt import Doc, XmlElement, XmlFragment, XmlText

from crdt.errors import InvalidUpdate
from crdt.schema import (
    FRAGMENT,
    HARD_BREAK,
    ID_ATTR,
    MAX_LIST_START,
    is_textblock,
    plain_text,
)
from crdt.struct_ranges import Struct, decode_state_vector, read_structs
from crdt.text_index import TextItems

NODE_ATTRIBUTES: dict[str, frozenset[str]] = {
    "heading": frozenset({ID_ATTR, "level"}),
    "paragraph": frozenset({ID_ATTR}),
    "bulletList": frozenset({ID_ATTR}),
    "orderedList": frozenset({ID_ATTR, "start", "type"}),
    "listItem": frozenset({ID_ATTR}),
    HARD_BREAK: frozenset(),
}
"""Node types a text document may hold, each with the attributes it may carry."""

MARKS: dict[str, frozenset[str]] = {
    "bold": frozenset(), "italic": frozenset(), "code": frozenset(), "strike": frozenset(),
    "underline": frozenset(), "link": frozenset({"href", "target", "rel", "class", "title"}),
}
"""Marks (formatting attributes of a text) with the attributes each may carry."""

_ID = re.compile(r"[\w.:-]{1,128}\Z")


@dataclass(frozen=True, slots=True, kw_only=True)
class TextBounds:
    """How long a block's text and an attribute's value may be (see ``server.limits``)."""

    block_chars: int
    attribute_chars: int
    depth: int = 48
    """Deepest nesting of elements (a list item inside a list counts two)."""


def attribute_refusal(tag: str, key: str, value: object, bounds: TextBounds) -> str | None:
    """Why a `tag` node may not carry attribute `key` = `value`; ``None`` when it may."""
    if key not in NODE_ATTRIBUTES.get(tag, frozenset()):
        return f"a {tag} has no attribute {key[:40]!r}"
    if key == ID_ATTR and not (isinstance(value, str) and _ID.match(value)):
        return "a block id is 1-128 letters, digits or . _ : -"
    if key == "level" and not _is_int_in(value, 1, 6):
        return "a heading level is a whole number from 1 to 6"
    if key == "start" and not _is_int_in(value, 0, MAX_LIST_START):
        return f"an ordered list starts at a whole number from 0 to {MAX_LIST_START}"
    if key == "type" and not (value is None or (isinstance(value, str) and len(value) <= 8)):
        return "an ordered list type is a short string"
    return None


def element_refusal(element: XmlElement, bounds: TextBounds) -> str | None:
    """Why `element`'s own type and attributes are refused; ``None`` when they are fine."""
    tag = element.tag or ""
    if tag not in NODE_ATTRIBUTES:
        return f"unknown node type {tag[:40]!r}"
    for key, value in element.attributes.__iter__():
        refusal = attribute_refusal(tag, key, value, bounds)
        if refusal is not None:
            return refusal
    return None


def text_refusal(text: XmlText, bounds: TextBounds) -> str | None:
    """Why the marks of `text` are refused; ``None`` when they are fine."""
    for _, attrs in text.diff():
        for name, value in (attrs or {}).items():
            allowed = MARKS.get(name)
            if allowed is None:
                return f"unknown mark {name[:40]!r}"
            if value is None:
                continue
            if not isinstance(value, dict):
                return f"a {name} mark holds an object"
            for key, item in value.items():
                if key not in allowed:
                    return f"a {name} mark has no attribute {key[:40]!r}"
                if item is not None and not (isinstance(item, str)
                                             and len(item) <= bounds.attribute_chars):
                    return f"a {name} mark's {key} is a string of at most " \
                           f"{bounds.attribute_chars} characters"
    return None


def block_refusal(block: XmlElement, bounds: TextBounds) -> str | None:
    """Why the text of a text block is refused (too long); ``None`` when it is fine."""
    if is_textblock(block) and len(plain_text(block)) > bounds.block_chars:
        return f"a block holds at most {bounds.block_chars} characters"
    return None


def subtree_refusal(node: XmlElement | XmlText, bounds: TextBounds, depth: int = 1) -> str | None:
    """Why a node and everything in it are refused; ``None`` when all is fine.

    `depth` is the node's own depth in the document (1: a child of the fragment). The walk
    keeps its own stack, so a tree nested past any bound is refused, not a RecursionError.
    """
    stack: list[tuple[XmlElement | XmlText, int]] = [(node, depth)]
    while stack:
        current, level = stack.pop()
        if isinstance(current, XmlText):
            refusal = text_refusal(current, bounds)
        elif level > bounds.depth:
            refusal = f"elements nest at most {bounds.depth} deep"
        else:
            refusal = element_refusal(current, bounds) or block_refusal(current, bounds)
            stack.extend((child, level + 1) for child in current.children
                         if isinstance(child, XmlElement | XmlText))
        if refusal is not None:
            return refusal
    return None


def depth_of(node: object) -> int:
    """How deep `node` is (0: the fragment, 1: a child of it)."""
    depth = 0
    while isinstance(node, XmlElement | XmlText):
        depth += 1
        node = node.parent
    return depth


UNJUDGED_CHARS = 1_000
"""At most, the characters plain keystrokes may insert between two full judgements (and
never more than an eighth of `TextBounds.block_chars`): how far past the bound a block
can get before its growth is refused (`unjudged_chars`)."""


def unjudged_chars(bounds: TextBounds) -> int:
    """The characters plain keystrokes may insert between two full judgements."""
    return min(UNJUDGED_CHARS, bounds.block_chars // 8)

_BACKLOG_MAX = 4_096
_UNAPPLIED_MAX = 1_024
"""Past this many updates accepted by the fast path since the shadow last caught up (only
typing in free roots gets there: shaped typing is judged in full within the budget), the
shadow is dropped and built again when a full judgement needs it."""
_PRUNE_EVERY = 256


class ShapeMirror:
    """A shadow of one text document that judges each client update on what it touches.

    An update that only inserts strings into known texts (or deletes) is a plain
    keystroke: it is accepted from its bytes (`crdt.text_index.TextItems`), without the
    shadow, while the characters such updates inserted into the shaped root since the last
    full judgement stay within `unjudged_chars` (typing in a free root, outside the shaped
    one, grows no block and costs nothing of that budget). Any other update, and the next
    one past that budget, is judged in full: the shadow catches up with the live document
    and with the accepted updates not yet in it (they are judged on top of each other),
    the blocks that catching up touched are measured, then the update is applied and what
    it touched is judged. A block found too long makes every later update that types into
    the shaped root judged in full (so none grows it) until it is short again: no block
    passes `TextBounds.block_chars` by more than `unjudged_chars`. A refused update is in
    the shadow too: the shadow is rebuilt.

    The shadow is built at the first full judgement, not before: a document only ever
    typed into as plain keystrokes (a root ``Y.Text``, say) is held once, by the live
    document, not twice. It is dropped again when free-root typing alone would make it
    catch up with more than `_UNAPPLIED_MAX` updates. Building it measures every block.
    """

    def __init__(self, bounds: TextBounds) -> None:
        self._bounds = bounds
        self._shadow: Doc[Any] | None = None
        self._items = TextItems(FRAGMENT)
        self._items_read = False
        """Whether the live document's items were read (at the first judgement)."""
        self._prune_at = _PRUNE_EVERY
        self._budget = unjudged_chars(bounds)
        self._unjudged = 0
        self._backlog: list[tuple[bytes, dict[int, int]]] = []
        self._unapplied: list[tuple[bytes, dict[int, int]]] = []
        """Accepted by the fast path since the last catching up: not in the shadow yet."""
        self._live_state = b""
        """The live state vector the backlog was last pruned against."""
        self._too_long: list[XmlElement] = []
        self._touched: list[Any] = []
        """The shadow fragment's events since last cleared (one subscription per shadow:
        pycrdt reads a callback's signature on every `observe_deep`, ~0.1-0.7 ms)."""
        self._fragment: XmlFragment | None = None

    def judge(self, live: Doc[Any], update: bytes) -> str | None:
        """``None`` when `update` keeps the text within the schema and bounds, else why not.

        Raises:
            InvalidUpdate: the update does not apply.
        """
        structs = read_structs(update)
        if not structs:
            return None  # deletions only: they add no node, attribute, mark nor text
        if not self._items_read:
            self._items.record(read_structs(live.get_update()))
            self._items_read = True
        typed = self._items.typed_chars(structs)
        if typed is not None and (typed.shaped_chars == 0 or not self._too_long):
            cost = typed.shaped_chars or (0 if typed.free_chars else 1)
            if self._unjudged + cost <= self._budget:
                self._unjudged += cost
                self._items.record(structs, typed.places)
                self._accept_plain(live, self._keep(update, structs))
                return None
        return self._judge_full(live, update, structs)

    def _accept_plain(self, live: Doc[Any], entry: tuple[bytes, dict[int, int]]) -> None:
        """Remember a plain keystroke for the shadow, or drop a shadow too far behind."""
        if self._shadow is not None:
            self._unapplied.append(entry)
            if len(self._unapplied) > _UNAPPLIED_MAX:
                self._shadow = self._fragment = None
                self._unapplied = []
        if len(self._backlog) >= self._prune_at:
            self._prune_backlog(live)
            self._prune_at = len(self._backlog) + _PRUNE_EVERY

    def _judge_full(self, live: Doc[Any], update: bytes, structs: list[Struct]) -> str | None:
        if self._shadow is None:
            self._rebuild(live)
        shadow = self._catch_up(live)
        self._touched.clear()
        try:
            shadow.apply_update(update)
        except ValueError as exc:
            self._rebuild(live)
            raise InvalidUpdate(f"invalid Yjs update: {exc}") from exc
        touched, self._touched = self._touched, []
        refusal = self._judge_events(touched)
        if refusal is not None:
            self._rebuild(live)
            return refusal
        self._items.record(structs)
        self._keep(update, structs)
        return None

    def _keep(self, update: bytes, structs: list[Struct]) -> tuple[bytes, dict[int, int]]:
        """Keep an accepted update until the live document holds it (a rebuilt shadow
        needs what was accepted but not committed); return the entry kept."""
        ends: dict[int, int] = {}
        for s in structs:
            ends[s.client] = max(ends.get(s.client, 0), s.clock + s.length)
        entry = (update, ends)
        self._backlog.append(entry)
        if len(self._backlog) > _BACKLOG_MAX:  # dropped by a freeze: never committed
            del self._backlog[: _BACKLOG_MAX // 2]
        return entry

    def _rebuild(self, live: Doc[Any]) -> None:
        """A shadow of the live document and the accepted updates it lacks, with every
        block measured (what plain keystrokes grew since the shadow was last caught up
        with, if there was one, is in no event)."""
        state = live.get_update()
        shadow = self._shadow = Doc()
        # The wrapper holds the subscription: kept with the shadow, or it is dropped.
        self._fragment = shadow.get(FRAGMENT, type=XmlFragment)
        self._fragment.observe_deep(self._touched_by)
        shadow.apply_update(state)
        held = decode_state_vector(live.get_state())
        self._backlog = [(kept, ends) for kept, ends in self._backlog
                         if any(held.get(client, 0) < end for client, end in ends.items())]
        for kept, _ in self._backlog:
            shadow.apply_update(kept)
        self._unapplied = []
        self._live_state = b""
        self._too_long = [block for block in _blocks(self._fragment)
                          if block_refusal(block, self._bounds) is not None]
        self._unjudged = 0
        self._touched = []

    def _touched_by(self, events: list[Any]) -> None:
        self._touched.extend(events)

    def _catch_up(self, live: Doc[Any]) -> Doc[Any]:
        """Bring the shadow up to date; measure the blocks catching up touched."""
        shadow = self._shadow
        assert shadow is not None
        self._touched.clear()
        missing = live.get_update(shadow.get_state())
        self._items.record(read_structs(missing))
        shadow.apply_update(missing)
        if self._unapplied:
            held = decode_state_vector(shadow.get_state())
            for kept, ends in self._unapplied:
                if any(held.get(client, 0) < end for client, end in ends.items()):
                    shadow.apply_update(kept)
            self._unapplied = []
        touched, self._touched = self._touched, []
        self._prune_backlog(live)
        blocks = {id(block): block for block in self._too_long}
        for event in touched:
            block = _block_of(event.target)
            if block is not None:
                blocks[id(block)] = block
        self._too_long = [block for block in blocks.values()
                          if _still_too_long(block, self._bounds)]
        self._unjudged = 0
        return shadow

    def _prune_backlog(self, live: Doc[Any]) -> None:
        """Forget the kept updates the live document now holds, once per change of it: a
        live document that does not advance (commits held up) costs nothing per update."""
        state = live.get_state()
        if state == self._live_state:
            return
        self._live_state = state
        committed = decode_state_vector(state)
        self._backlog = [(kept, ends) for kept, ends in self._backlog
                         if any(committed.get(client, 0) < end for client, end in ends.items())]

    def _judge_events(self, events: list[Any]) -> str | None:
        bounds = self._bounds
        blocks: dict[int, XmlElement] = {}
        for event in events:
            target = event.target
            for change in event.delta or ():
                for node in change.get("insert", ()) if isinstance(change, dict) else ():
                    if isinstance(node, XmlElement | XmlText):
                        refusal = subtree_refusal(node, bounds, depth_of(target) + 1)
                        if refusal is not None:
                            return refusal
            if isinstance(target, XmlElement):
                if event.keys:
                    refusal = element_refusal(target, bounds)
                    if refusal is not None:
                        return refusal
                blocks[id(target)] = target
            elif isinstance(target, XmlText):
                refusal = text_refusal(target, bounds)
                if refusal is not None:
                    return refusal
                parent = target.parent
                if isinstance(parent, XmlElement):
                    blocks[id(parent)] = parent
        for block in blocks.values():
            refusal = block_refusal(block, bounds)
            if refusal is not None:
                return refusal
        return None


def _block_of(target: object) -> XmlElement | None:
    """The block an event's target changes the text of (itself, or a text's parent)."""
    if isinstance(target, XmlText):
        parent = target.parent
        return parent if isinstance(parent, XmlElement) else None
    return target if isinstance(target, XmlElement) else None


def _still_too_long(block: XmlElement, bounds: TextBounds) -> bool:
    try:
        return block_refusal(block, bounds) is not None
    except Exception:  # pycrdt: a block deleted since
        return False


def _blocks(node: XmlFragment | XmlElement) -> list[XmlElement]:
    """Every element under `node`, depth first."""
    found: list[XmlElement] = []
    for child in node.children:
        if isinstance(child, XmlElement):
            found.append(child)
            found.extend(_blocks(child))
    return found


def _is_int_in(value: object, low: int, high: int) -> bool:
    return (isinstance(value, int | float) and not isinstance(value, bool)
            and math.isfinite(value) and float(value).is_integer() and low <= value <= high)
