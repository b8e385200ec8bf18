"""The public view of a ``D.annotations`` update: every subject and name shown as its
public handle and public name, item for item.

Citizens and the public may read a text's annotations but not who wrote them, except
by the names people chose to show (`Public`). The server keeps one real document and
serves them a projection of it that keeps every Yjs item's id, clock, length and place
and rewrites only what names someone: a map key or ``sub``/``created_by`` value that is a
subject becomes a handle (``membre-7``), the ``name`` beside it (``created_by_name``,
a supporter's name) the public name. An item's id thus means one content everywhere:
the projections made by every node, and after every reload, are the same document, and a
reader reconnecting anywhere converges without duplicated entries.

`Lens` rewrites updates in their encoded (v1) form, never building a document: the
values of ``any`` contents are decoded to a tree whose other values keep their bytes,
changed, and encoded again. A map entry whose key is not written (an overwrite: its
place is its left origin's) learns its key from an index of the entries seen so far,
which is how a supporter's name is known to be one.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from pycrdt import Array, Doc, Map

from crdt.errors import InvalidUpdate
from crdt.struct_ranges import _ANY, _GC, _JSON, _SKIP, _Walker

SUBJECT_KEYED = frozenset({"supports"})
"""Maps whose keys are subjects and whose values are those people's names."""
SUBJECT_FIELDS = {"sub": "name", "created_by": "created_by_name"}
"""In a JSON object, a field holding a subject, and the field holding that person's name."""

Id = tuple[int, int]
Parent = Id | str
Entry = tuple[Parent, str]
"""Where a map entry lives: its map (a root's name or the map item's id) and its key."""


@dataclass(frozen=True, slots=True)
class Public:
    """How a reader who may not see names sees one person."""

    handle: str
    """In place of their subject: unique per person, never the subject."""
    name: str
    """In place of their name: their pseudonym, or their name if they chose to show it."""


class _Raw(bytes):
    """An encoded ``any`` value kept as it was (numbers, booleans, null, bytes)."""


_NULL = _Raw(b"\x7e")
_Node = str | _Raw | dict[str, "_Node"] | list["_Node"]


@dataclass(slots=True, eq=False)
class _Item:
    client: int
    clock: int
    length: int
    origin: Id | None
    right: Id | None
    parent: Parent | None
    key: str | None
    key_span: tuple[int, int] | None
    values: list[_Node] | None
    values_span: tuple[int, int] | None
    is_json: bool = False
    entry: Entry | None = None


@dataclass(slots=True)
class Reading:
    """An update read by `Lens.read`: its items, where each lives, whom it names."""

    update: bytes
    items: list[_Item]
    subjects: set[str] = field(default_factory=set)
    """Every subject the update names (what `Lens.project` needs a `Public` for)."""


class Lens:
    """Projects one document's updates, in the order they reach its real document."""

    def __init__(self) -> None:
        self._entries: dict[Id, Entry] = {}

    def read(self, update: bytes) -> Reading:
        """Read `update`: its items, their places, the subjects it names.

        Raises:
            InvalidUpdate: not a v1 update.
        """
        try:
            items = _Reader(update).items()
        except IndexError as exc:
            raise InvalidUpdate("update truncated") from exc
        local = {(i.client, i.clock + i.length - 1): i for i in items}
        for item in items:
            self._place(item, local)
        reading = Reading(update, items)
        for item in items:
            subject = self._keyed_subject(item, local)
            if subject is not None:
                reading.subjects.add(subject)
            for value in item.values or ():
                reading.subjects.update(_subjects(value))
        return reading

    def project(self, reading: Reading, names: Mapping[str, Public]) -> bytes:
        """The projection of a read update; `names` holds every subject it names.

        Raises:
            KeyError: a subject it names is not in `names`.
        """
        local = {(i.client, i.clock + i.length - 1): i for i in reading.items}
        edits: list[tuple[int, int, bytes]] = []
        for item in reading.items:
            subject = self._keyed_subject(item, local)
            if item.key_span is not None and subject is not None:
                edits.append((*item.key_span, _string(names[subject].handle)))
            if item.values is not None and item.values_span is not None:
                values = [_shown(v, names) if subject is None
                          else names[subject].name if item.is_json
                          else _text(names[subject].name) for v in item.values]
                if values != item.values:
                    edits.append((*item.values_span, _content(values, item.is_json)))
        for item in reading.items:
            if item.entry is not None:
                self._entries[(item.client, item.clock + item.length - 1)] = item.entry
        return _spliced(reading.update, edits)

    def _place(self, item: _Item, local: Mapping[Id, _Item]) -> None:
        """Find where `item` lives if it is a map entry: its key when written, else its
        left (or right) origin's place, followed through this update and the index."""
        chain: list[_Item] = []
        current = item
        entry: Entry | None = None
        while True:
            if current.entry is not None:
                entry = current.entry
                break
            chain.append(current)
            if current.parent is not None:  # written: a map's entry if a key is too
                entry = (current.parent, current.key) if current.key is not None else None
                break
            neighbour = current.origin or current.right
            if neighbour is None:
                break
            known = self._entries.get(neighbour)
            if known is not None:
                entry = known
                break
            found = local.get(neighbour)
            if found is None or any(found is linked for linked in chain):
                break
            current = found
        for linked in chain:
            linked.entry = entry

    def _keyed_subject(self, item: _Item, local: Mapping[Id, _Item]) -> str | None:
        """The subject that keys `item`, when it is an entry of a subject-keyed map."""
        if item.entry is None:
            return None
        parent, key = item.entry
        if isinstance(parent, str):
            return None
        holder = self._entries.get(parent)
        if holder is None:
            found = local.get(parent)
            holder = found.entry if found is not None else None
        return key if holder is not None and holder[1] in SUBJECT_KEYED else None


def touch(doc: Doc[Any], sub: str, *, roots: tuple[str, ...]) -> int:
    """Write again, unchanged, every value under `roots` that names `sub` (in the caller's
    transaction): new items, which projections then show by the person's naming now.
    Returns how many were written."""
    count = 0
    for name in roots:
        for holder, key in list(_mentions(doc.get(name, type=Map), sub)):
            value = holder[key]
            if isinstance(holder, Map):
                holder[key] = value
            else:
                del holder[key]
                holder.insert(key, value)
            count += 1
    return count


def _mentions(node: Map[Any] | Array[Any], sub: str) -> Iterator[tuple[Any, Any]]:
    """``(container, key or index)`` of every plain value under `node` naming `sub`, and
    of every entry of a subject-keyed map keyed by `sub`."""
    if isinstance(node, Map):
        places: list[tuple[Any, Any]] = [(k, node[k]) for k in node.keys()]
    else:
        places = [(i, node[i]) for i in range(len(node))]
    for key, value in places:
        if isinstance(value, Map | Array):
            yield from _mentions(value, sub)
        elif sub in _subjects(value) or key == sub:
            yield node, key


def _subjects(value: object) -> set[str]:
    found: set[str] = set()
    if isinstance(value, dict):
        for field_name in SUBJECT_FIELDS:
            if isinstance(value.get(field_name), str):
                found.add(value[field_name])
        for item in value.values():
            found |= _subjects(item)
    elif isinstance(value, list | tuple):
        for item in value:
            found |= _subjects(item)
    return found


def _shown(value: _Node, names: Mapping[str, Public]) -> _Node:
    if isinstance(value, dict):
        shown = {k: _shown(v, names) for k, v in value.items()}
        for subject_field, name_field in SUBJECT_FIELDS.items():
            subject = value.get(subject_field)
            if isinstance(subject, str):
                public = names[subject]
                shown[subject_field] = public.handle
                if name_field in value:
                    shown[name_field] = public.name
            elif subject_field != "sub" and name_field in value:
                shown[name_field] = _NULL  # an author's name without their subject
        return shown
    if isinstance(value, list):
        return [_shown(v, names) for v in value]
    return value


# -- the v1 encoding ----------------------------------------------------------------------


class _Reader(_Walker):
    def items(self) -> list[_Item]:
        found: list[_Item] = []
        for _ in range(self.uint()):
            count = self.uint()
            client = self.uint()
            clock = self.uint()
            for _ in range(count):
                info = self.data[self.at]
                self.at += 1
                kind = info & 0x1F
                if kind in (_SKIP, _GC):
                    clock += self.uint()
                    continue
                item = self._item(client, clock, info, kind)
                found.append(item)
                clock += item.length
        return found

    def _item(self, client: int, clock: int, info: int, kind: int) -> _Item:
        origin: Id | None = None
        right: Id | None = None
        parent: Parent | None = None
        key: str | None = None
        key_span: tuple[int, int] | None = None
        if info & 0x80:
            origin = (self.uint(), self.uint())
        if info & 0x40:
            right = (self.uint(), self.uint())
        if not info & 0xC0:
            if self.uint() == 1:
                start = self.skip_bytes()
                parent = self.data[start:self.at].decode("utf-8", "surrogatepass")
            else:
                parent = (self.uint(), self.uint())
            if info & 0x20:
                span_start = self.at
                start = self.skip_bytes()
                key = self.data[start:self.at].decode("utf-8", "surrogatepass")
                key_span = (span_start, self.at)
        if kind in (_ANY, _JSON):
            span_start = self.at
            length = self.uint()
            values = [self._value() if kind == _ANY else self._json() for _ in range(length)]
            return _Item(client, clock, length, origin, right, parent, key, key_span,
                         values, (span_start, self.at), is_json=kind == _JSON)
        length = self.content(kind)[0]
        return _Item(client, clock, length, origin, right, parent, key, key_span, None, None)

    def _json(self) -> _Node:
        start = self.skip_bytes()
        text = self.data[start:self.at].decode("utf-8", "surrogatepass")
        parsed = None if text == "undefined" else json.loads(text)
        if isinstance(parsed, dict | list | str):
            return _from_json(parsed)
        return _Raw(text.encode())

    def _value(self) -> _Node:
        """An item's value: decoded if an object or array (where subjects are), else kept."""
        if self.data[self.at] in (117, 118):
            return self._any()
        start = self.at
        self.skip_any()
        return _Raw(self.data[start:self.at])

    def _any(self) -> _Node:
        start = self.at
        tag = self.data[self.at]
        if tag == 119:
            self.at += 1
            begin = self.skip_bytes()
            return self.data[begin:self.at].decode("utf-8", "surrogatepass")
        if tag == 118:
            self.at += 1
            obj: dict[str, _Node] = {}
            for _ in range(self.uint()):
                begin = self.skip_bytes()
                name = self.data[begin:self.at].decode("utf-8", "surrogatepass")
                obj[name] = self._any()
            return obj
        if tag == 117:
            self.at += 1
            return [self._any() for _ in range(self.uint())]
        self.skip_any()
        return _Raw(self.data[start:self.at])


def _from_json(value: object) -> _Node:
    if isinstance(value, str):
        return value
    if isinstance(value, dict):
        return {str(k): _from_json(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_from_json(v) for v in value]
    return _Raw(json.dumps(value).encode())


def _to_json(value: _Node) -> object:
    if isinstance(value, _Raw):
        return json.loads(bytes(value).decode())
    if isinstance(value, dict):
        return {k: _to_json(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_to_json(v) for v in value]
    return value


def _text(value: str) -> _Raw:
    """`value` as an encoded ``any`` string."""
    return _Raw(b"\x77" + _string(value))


def _uint(value: int, out: bytearray) -> None:
    while value >= 0x80:
        out.append(0x80 | (value & 0x7F))
        value >>= 7
    out.append(value)


def _string(value: str) -> bytes:
    """A length-prefixed UTF-8 string (the byte length: see DESIGN.md's pitfalls)."""
    encoded = value.encode("utf-8", "surrogatepass")
    out = bytearray()
    _uint(len(encoded), out)
    return bytes(out) + encoded


def _write_any(value: _Node, out: bytearray) -> None:
    if isinstance(value, _Raw):
        out += value
    elif isinstance(value, str):
        out.append(119)
        out += _string(value)
    elif isinstance(value, dict):
        out.append(118)
        _uint(len(value), out)
        for key, item in value.items():
            out += _string(key)
            _write_any(item, out)
    else:
        out.append(117)
        _uint(len(value), out)
        for item in value:
            _write_any(item, out)


def _content(values: list[_Node], is_json: bool) -> bytes:
    out = bytearray()
    _uint(len(values), out)
    for value in values:
        if is_json:
            out += _string(bytes(value).decode() if isinstance(value, _Raw)
                           else json.dumps(_to_json(value), ensure_ascii=False))
        else:
            _write_any(value, out)
    return bytes(out)


def _spliced(data: bytes, edits: list[tuple[int, int, bytes]]) -> bytes:
    if not edits:
        return data
    out = bytearray()
    at = 0
    for start, end, replacement in sorted(edits):
        out += data[at:start]
        out += replacement
        at = end
    out += data[at:]
    return bytes(out)
