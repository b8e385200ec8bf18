"""The text shape: ProseMirror/Tiptap blocks in the ``default`` XmlFragment, with stable ids.

y-prosemirror maps each block node onto a ``Y.XmlElement`` named after the node type
(``heading``, ``paragraph``, ``bulletList``, ``orderedList``, ``listItem``) whose attributes
are the node's attrs (``level`` is a number), and inline content onto ``Y.XmlText`` children
whose formatting attributes are marks (``{"bold": {}}``, ``{"link": {"href": ...}}``); inline
nodes such as ``hardBreak`` are ``Y.XmlElement`` children between the texts.

Every block element carries an ``id`` attribute. `assign_missing_ids` derives a missing id
from the element's own Yjs item id ``(client, clock)``, which is part of the replicated state:
two server nodes holding the same state write the same value, so their concurrent writes
converge instead of fighting. pycrdt does not expose an element's item id, so it is read
back from the encoding: in a throw-away copy of the document, setting a never-used attribute
on the element yields an item with neither left nor right origin, which the Yjs v1 encoding
writes with its parent's id, i.e. the element's own id.

Duplicates (Tiptap copies attrs when it splits a paragraph) are repaired in document order:
the first element keeps the id, every later one gets its own derived id. Elements never move
in Yjs, so "first" means the same thing on every node.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, TypeVar

from pycrdt import Doc, TransactionEvent, XmlElement, XmlFragment, XmlText

from crdt.errors import InvalidUpdate, SchemaError
from crdt.struct_ranges import first_struct_parent

FRAGMENT = "default"
ID_ATTR = "id"
ARTICLE_LEVEL = 2
HARD_BREAK = "hardBreak"
TEXTBLOCK_TYPES = frozenset({"heading", "paragraph"})
LIST_TYPES = frozenset({"bulletList", "orderedList"})
ID_TYPES = TEXTBLOCK_TYPES | LIST_TYPES | {"listItem"}
"""Block types that carry an id; other elements are walked through but never given one."""

_ID_PREFIX = {"heading": "h", "paragraph": "p", "bulletList": "ul", "orderedList": "ol",
              "listItem": "li"}
RENDER_DEPTH = 100
"""Deepest element walked by readers and renderers: deeper ones are left out (the shape
rules refuse nesting past `server.limits.Limits.text_depth`, 48 by default; a document
stored before that rule may hold deeper, and must not exhaust the interpreter's stack)."""
MAX_LIST_START = 999_999_999
"""Largest ordered list start: CommonMark numbers have at most nine digits."""
_PROBE_KEY = "palabre-probe"
_MAX_PROBES = 8

JsonValue = str | int | float | bool | None | list["JsonValue"] | dict[str, "JsonValue"]
T = TypeVar("T")


@dataclass(frozen=True, slots=True, kw_only=True)
class Block:
    """One block element in document order.

    ``id`` is None until `assign_missing_ids` ran. ``text`` is the plain text of a text
    block (hard breaks as ``\\n``) and empty for a container (list, list item).
    ``article_id`` is the id of the closest level-2 heading at or before the block.
    """

    id: str | None
    type: str
    level: int | None
    text: str
    article_id: str | None
    parent_id: str | None = None
    depth: int = 0
    attrs: dict[str, JsonValue] = field(default_factory=dict)


def text_fragment(doc: Doc[Any]) -> XmlFragment:
    """Return the document's ``default`` XmlFragment, creating it if needed."""
    fragment: XmlFragment = doc.get(FRAGMENT, type=XmlFragment)
    return fragment


def attributes(element: XmlElement) -> dict[str, JsonValue]:
    """The element's attributes, integral numbers as ints (Yjs numbers arrive as floats)."""
    # pycrdt annotates the view's __iter__ as returning an Iterable, not an Iterator.
    return {key: _json_number(value) for key, value in element.attributes.__iter__()}


def is_textblock(element: XmlElement) -> bool:
    """Whether the element holds inline content (known text block, or any text child)."""
    if element.tag in TEXTBLOCK_TYPES:
        return True
    if element.tag in LIST_TYPES or element.tag == "listItem":
        return False
    return any(isinstance(child, XmlText) for child in element.children)


def block_id(element: XmlElement) -> str | None:
    """The element's ``id`` attribute when it is a non-empty string."""
    value = element.attributes.get(ID_ATTR)
    return value if isinstance(value, str) and value else None


def heading_level(element: XmlElement) -> int | None:
    """A heading's ``level`` as an int within 1-6 (Yjs numbers arrive as floats), else None."""
    if element.tag != "heading":
        return None
    return clamp_level(element.attributes.get("level"))


def clamp_level(value: object) -> int:
    """A heading level to render: the stored one within 1-6 (1 when not a number)."""
    if not isinstance(value, int | float) or isinstance(value, bool) or not math.isfinite(value):
        return 1
    return min(6, max(1, int(value)))


def clamp_start(value: object) -> int:
    """An ordered list's first number to render: within 0-`MAX_LIST_START` (else 1)."""
    if not isinstance(value, int | float) or isinstance(value, bool) or not math.isfinite(value):
        return 1
    return min(MAX_LIST_START, max(0, int(value)))


def plain_text(element: XmlElement | XmlText) -> str:
    """The text of an element's inline content; a hard break reads as a newline."""
    if isinstance(element, XmlText):
        return "".join(chunk for chunk, _ in element.diff() if isinstance(chunk, str))
    if element.tag == HARD_BREAK:
        return "\n"
    return "".join(plain_text(child) for child in element.children
                   if isinstance(child, XmlText | XmlElement))


def walk(doc: Doc[Any]) -> Iterator[tuple[XmlElement, XmlElement | None, int, tuple[int, ...]]]:
    """Yield ``(element, parent block, depth, path)`` for every block element in order."""
    yield from _walk(text_fragment(doc), None, 0, ())


def _walk(
    node: XmlFragment | XmlElement, parent: XmlElement | None, depth: int, path: tuple[int, ...]
) -> Iterator[tuple[XmlElement, XmlElement | None, int, tuple[int, ...]]]:
    for index, child in enumerate(node.children):
        if not isinstance(child, XmlElement):
            continue
        yield child, parent, depth, (*path, index)
        if not is_textblock(child) and depth < RENDER_DEPTH:
            yield from _walk(child, child, depth + 1, (*path, index))


def blocks(doc: Doc[Any]) -> list[Block]:
    """Every block of the text in document order, containers before their content."""
    result: list[Block] = []
    article_id: str | None = None
    for element, parent, depth, _ in walk(doc):
        tag = element.tag or ""
        level = heading_level(element)
        own_id = block_id(element)
        if level == ARTICLE_LEVEL:
            article_id = own_id
        attrs = {key: value for key, value in attributes(element).items() if key != ID_ATTR}
        result.append(Block(
            id=own_id, type=tag, level=level,
            text=plain_text(element) if is_textblock(element) else "",
            article_id=article_id, parent_id=block_id(parent) if parent else None,
            depth=depth, attrs=attrs,
        ))
    return result


def find_block(doc: Doc[Any], wanted: str) -> Block | None:
    """The first block whose id is `wanted`, or None."""
    return next((block for block in blocks(doc) if block.id == wanted), None)


def find_element(doc: Doc[Any], wanted: str) -> XmlElement | None:
    """The first block element whose id is `wanted`, or None (for edits in place)."""
    return next((el for el, _, _, _ in walk(doc) if block_id(el) == wanted), None)


def derive_id(block_type: str, client: int, clock: int) -> str:
    """The id derived from a block's Yjs item id: ``p-<client>-<clock>`` in base 36."""
    return f"{_ID_PREFIX.get(block_type, 'b')}-{_base36(client)}-{_base36(clock)}"


def transact(doc: Doc[Any], action: Callable[[], T], *, origin: object = None) -> tuple[T, bytes]:
    """Run `action` in one transaction with `origin`; return its result and the update made.

    The update is empty (``b""``) when the transaction changed nothing. Do not call this
    inside an open transaction: the update would only be emitted when the outer one commits.
    """
    updates: list[bytes] = []

    def record(event: TransactionEvent) -> None:
        updates.append(event.update)

    subscription = doc.observe(record)
    try:
        with doc.transaction(origin=origin):
            result = action()
    finally:
        doc.unobserve(subscription)
    return result, b"".join(updates[:1])


def assign_missing_ids(doc: Doc[Any], *, origin: object = None) -> bytes | None:
    """Give every id-bearing block lacking an id, or repeating an earlier one, its derived id.

    Runs in one transaction with `origin`; returns the update it produced, or None when every
    block already had a unique id. Idempotent across nodes: see the module docstring.

    Raises:
        SchemaError: an element's item id cannot be read back from the encoding.
    """
    count, update = transact(doc, lambda: set_missing_ids(doc), origin=origin)
    return update if count and update else None


def has_missing_ids(doc: Doc[Any]) -> bool:
    """Whether a text document has a block without an id, or repeating an earlier one.

    Reads only: a document without the ``default`` fragment (a data document) has none.
    """
    if FRAGMENT not in doc.keys():
        return False
    return next(_blocks_missing_ids(doc, set()), None) is not None


def set_missing_ids(doc: Doc[Any]) -> int:
    """Like `assign_missing_ids`, inside the caller's open transaction; return how many ids.

    Raises:
        SchemaError: an element's item id cannot be read back from the encoding.
    """
    used: set[str] = set()
    todo = list(_blocks_missing_ids(doc, used))
    if not todo:
        return 0
    item_ids = _item_ids(doc, [path for _, path in todo])
    for (element, _), (client, clock) in zip(todo, item_ids, strict=True):
        candidate = derive_id(element.tag or "", client, clock)
        while candidate in used:  # only if someone typed a derived-looking id by hand
            candidate += "-x"
        used.add(candidate)
        element.attributes[ID_ATTR] = candidate
    return len(todo)


def _blocks_missing_ids(
    doc: Doc[Any], used: set[str]
) -> Iterator[tuple[XmlElement, tuple[int, ...]]]:
    """Yield ``(element, path)`` of each id-bearing block whose id is missing or in `used`.

    Every other block's id is added to `used` as the walk passes it (document order: the
    first of two equal ids keeps it).
    """
    for element, _, _, path in walk(doc):
        if element.tag not in ID_TYPES:
            continue
        current = block_id(element)
        if current is None or current in used:
            yield element, path
        else:
            used.add(current)


def _item_ids(doc: Doc[Any], paths: list[tuple[int, ...]]) -> list[tuple[int, int]]:
    scratch: Doc[Any] = Doc()
    scratch.apply_update(doc.get_update())
    root = text_fragment(scratch)
    found = []
    for path in paths:
        node: XmlFragment | XmlElement = root
        for index in path:
            child = node.children[index]
            if not isinstance(child, XmlElement):
                raise SchemaError(f"no element at path {path} in the copy")
            node = child
        assert isinstance(node, XmlElement)
        found.append(_probe(scratch, node))
    return found


def _probe(scratch: Doc[Any], element: XmlElement) -> tuple[int, int]:
    taken = set(attributes(element))
    for attempt in range(_MAX_PROBES):
        key = f"{_PROBE_KEY}-{attempt}"
        if key in taken:
            continue
        before = scratch.get_state()
        element.attributes[key] = True
        try:
            parent = first_struct_parent(scratch.get_update(before))
        except InvalidUpdate as exc:  # pycrdt's own encoding: not expected to happen
            raise SchemaError(f"cannot read the item id of a {element.tag!r} element") from exc
        if parent is not None:
            return parent
    raise SchemaError(f"cannot read the item id of a {element.tag!r} element")


def _json_number(value: JsonValue) -> JsonValue:
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def _base36(number: int) -> str:
    digits = "0123456789abcdefghijklmnopqrstuvwxyz"
    out = ""
    while True:
        number, rest = divmod(number, 36)
        out = digits[rest] + out
        if number == 0:
            return out
