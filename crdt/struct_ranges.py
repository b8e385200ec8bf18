"""Which clocks a Yjs update (v1) carries, read from its bytes without a document.

An update lists, per Yjs client, a run of structs starting at a clock; each struct
covers as many clocks as its content is long. Knowing the ranges means walking every
struct, but not integrating any: compaction attributes each range to the log row that
delivered it this way, at a fraction of the cost of replaying the log into a document.
Skip structs (gaps in a merged update) carry nothing and are left out.

The same walker reads the parent of an update's first struct (`first_struct_parent`),
which is how `crdt.schema` learns an element's own item id.
"""

from __future__ import annotations

from typing import NamedTuple

from crdt.errors import InvalidUpdate

_GC = 0
_SKIP = 10
_DELETED, _JSON, _BINARY, _STRING, _EMBED, _FORMAT, _TYPE, _ANY, _DOC = range(1, 10)
_XML_ELEMENT, _XML_HOOK = 3, 5  # type refs that carry a node name
_HAS_ORIGIN, _HAS_RIGHT_ORIGIN, _HAS_PARENT_SUB = 0x80, 0x40, 0x20

Id = tuple[int, int]
"""An item id: ``(client_id, clock)``."""


class Struct(NamedTuple):
    """One struct of an update, as `read_structs` reads it."""

    client: int
    clock: int
    length: int
    kind: int
    """Content kind: 0 GC, 1 deleted, 4 string, 5 embed, 6 format, 7 type, 10 skip..."""
    origin: Id | None
    right_origin: Id | None
    parent: Id | str | None
    """The parent when written (no origin on either side): a root's name or an item id."""
    has_parent_sub: bool
    """A map key is written: the item is an entry of a map (an XML attribute)."""
    type_ref: int | None
    """For a type (kind 7): 3 XmlElement, 6 XmlText..."""


def read_structs(update: bytes) -> list[Struct]:
    """Every struct `update` carries, read from its bytes (its delete set is not read).

    Raises:
        InvalidUpdate: the bytes are not a v1 update, or hold a content kind Yjs lacks.
    """
    try:
        return _Walker(update).structs()
    except IndexError as exc:
        raise InvalidUpdate("update truncated") from exc


def struct_ranges(update: bytes) -> list[tuple[int, int, int]]:
    """``(client_id, clock_start, clock_end)`` of every run of structs `update` carries.

    Raises:
        InvalidUpdate: the bytes are not a v1 update, or hold a content kind Yjs lacks.
    """
    try:
        return _Walker(update).ranges()
    except IndexError as exc:
        raise InvalidUpdate("update truncated") from exc


def first_struct_parent(update: bytes) -> tuple[int, int] | None:
    """The item id of the parent of `update`'s first struct, when the encoding writes it.

    Yjs writes the parent only of an item with neither left nor right origin, and as an
    item id only when the parent is not a root type; otherwise (and for an empty update)
    this is None.

    Raises:
        InvalidUpdate: the bytes end before the parent does.
    """
    walker = _Walker(update)
    try:
        if walker.uint() == 0 or walker.uint() == 0:  # no client, or no struct
            return None
        walker.uint()  # client of the struct
        walker.uint()  # clock of the struct
        info = walker.data[walker.at]  # a raw uint8, not a varuint
        walker.at += 1
        if info & 0x1F in (_GC, _SKIP) or info & (_HAS_ORIGIN | _HAS_RIGHT_ORIGIN):
            return None
        if walker.uint() == 1:  # the parent is a root type, named by a string
            return None
        return walker.uint(), walker.uint()
    except IndexError as exc:
        raise InvalidUpdate("update truncated") from exc


class _Walker:
    __slots__ = ("at", "data")

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.at = 0

    def ranges(self) -> list[tuple[int, int, int]]:
        found: list[tuple[int, int, int]] = []
        for _ in range(self.uint()):
            count = self.uint()
            client = self.uint()
            clock = start = self.uint()
            for _ in range(count):
                info = self.data[self.at]
                self.at += 1
                kind = info & 0x1F
                if kind == _SKIP:
                    if clock > start:
                        found.append((client, start, clock))
                    clock += self.uint()
                    start = clock
                elif kind == _GC:
                    clock += self.uint()
                else:
                    clock += self.item(info, kind)
            if clock > start:
                found.append((client, start, clock))
        return found

    def item(self, info: int, kind: int) -> int:
        """Skip an item's header and content; return its length in clocks."""
        self.header(info)
        return self.content(kind)[0]

    def header(self, info: int) -> tuple[Id | None, Id | None, Id | str | None, bool]:
        """Read an item's origin, right origin, parent (when written) and whether a
        ``parentSub`` (a map key) is written."""
        origin: Id | None = None
        right: Id | None = None
        parent: Id | str | None = None
        if info & _HAS_ORIGIN:
            origin = (self.uint(), self.uint())
        if info & _HAS_RIGHT_ORIGIN:
            right = (self.uint(), self.uint())
        has_sub = False
        if not info & (_HAS_ORIGIN | _HAS_RIGHT_ORIGIN):
            if self.uint() == 1:  # parent named by a root key, else by an item id
                start = self.skip_bytes()
                parent = self.data[start : self.at].decode("utf-8", "replace")
            else:
                parent = (self.uint(), self.uint())
            if info & _HAS_PARENT_SUB:
                self.skip_bytes()
                has_sub = True
        return origin, right, parent, has_sub

    def content(self, kind: int) -> tuple[int, int | None]:
        """Skip an item's content; return its length in clocks and its type ref (a type)."""
        if kind == _STRING:
            start = self.skip_bytes()
            text = self.data[start : self.at].decode("utf-8", "surrogatepass")
            return len(text.encode("utf-16-le", "surrogatepass")) // 2, None
        if kind in (_DELETED, _JSON, _ANY):
            length = self.uint()
            if kind == _JSON:
                for _ in range(length):
                    self.skip_bytes()
            elif kind == _ANY:
                for _ in range(length):
                    self.skip_any()
            return length, None
        type_ref = None
        if kind in (_BINARY, _EMBED):
            self.skip_bytes()
        elif kind == _FORMAT:
            self.skip_bytes()
            self.skip_bytes()
        elif kind == _TYPE:
            type_ref = self.uint()
            if type_ref in (_XML_ELEMENT, _XML_HOOK):
                self.skip_bytes()
        elif kind == _DOC:
            self.skip_bytes()
            self.skip_any()
        else:
            raise InvalidUpdate(f"unknown struct content kind {kind}")
        return 1, type_ref

    def structs(self) -> list[Struct]:
        """Every struct of the update, in the order written (skips and GCs included)."""
        found: list[Struct] = []
        for _ in range(self.uint()):
            count = self.uint()
            client = self.uint()
            clock = self.uint()
            for _ in range(count):
                info = self.data[self.at]
                self.at += 1
                kind = info & 0x1F
                if kind in (_SKIP, _GC):
                    length = self.uint()
                    found.append(Struct(client, clock, length, kind, None, None, None,
                                        False, None))
                else:
                    origin, right, parent, has_sub = self.header(info)
                    length, type_ref = self.content(kind)
                    found.append(Struct(client, clock, length, kind, origin, right, parent,
                                        has_sub, type_ref))
                clock += length
        return found

    def uint(self) -> int:
        data = self.data
        at = self.at
        byte = data[at]
        if byte < 0x80:
            self.at = at + 1
            return byte
        value = byte & 0x7F
        shift = 7
        while True:
            at += 1
            byte = data[at]
            value |= (byte & 0x7F) << shift
            if byte < 0x80:
                self.at = at + 1
                return value
            shift += 7
            if shift > 63:
                raise InvalidUpdate("varint too long")

    def skip_bytes(self) -> int:
        """Skip a length-prefixed byte string; return where its bytes start."""
        length = self.uint()
        start = self.at
        self.at = start + length
        if self.at > len(self.data):
            raise InvalidUpdate("update truncated")
        return start

    def skip_any(self) -> None:
        """Skip one lib0 ``any`` value."""
        tag = self.data[self.at]
        self.at += 1
        if tag in (127, 126, 121, 120):  # undefined, null, false, true
            return
        if tag == 125:  # signed varint: same continuation bit as an unsigned one
            while self.data[self.at] & 0x80:
                self.at += 1
            self.at += 1
        elif tag == 124:
            self.at += 4
        elif tag in (123, 122):
            self.at += 8
        elif tag in (119, 116):  # string, bytes
            self.skip_bytes()
        elif tag == 118:  # object
            for _ in range(self.uint()):
                self.skip_bytes()
                self.skip_any()
        elif tag == 117:  # array
            for _ in range(self.uint()):
                self.skip_any()
        else:
            raise InvalidUpdate(f"unknown value tag {tag}")


def decode_state_vector(state: bytes) -> dict[int, int]:
    """``{client_id: next clock}`` of an encoded (v1) state vector.

    Raises:
        InvalidUpdate: the bytes end early.
    """
    walker = _Walker(state)
    try:
        return {walker.uint(): walker.uint() for _ in range(walker.uint())}
    except IndexError as exc:
        raise InvalidUpdate("state vector truncated") from exc



def edit_parts(update: bytes) -> tuple[list[Struct], list[tuple[int, int, int]]]:
    """The structs `update` carries and its delete set as ``(client, clock, length)``.

    Raises:
        InvalidUpdate: the bytes are not a v1 update, or hold a content kind Yjs lacks.
    """
    walker = _Walker(update)
    try:
        structs = walker.structs()
        deletions: list[tuple[int, int, int]] = []
        if walker.at < len(walker.data):
            for _ in range(walker.uint()):
                client = walker.uint()
                for _ in range(walker.uint()):
                    clock = walker.uint()
                    deletions.append((client, clock, walker.uint()))
    except IndexError as exc:
        raise InvalidUpdate("update truncated") from exc
    return structs, deletions


def edit_size(update: bytes) -> tuple[int, int]:
    """``(inserted, deleted)``: the characters of text `update` inserts (UTF-16 units, as
    Yjs counts them) and the clocks its delete set removes (a character each in text;
    a deleted block counts one more). Counts what the update carries, new or not: see
    `EditCounter` for what it changes.

    Raises:
        InvalidUpdate: the bytes are not a v1 update, or hold a content kind Yjs lacks.
    """
    structs, deletions = edit_parts(update)
    return (sum(s.length for s in structs if s.kind == _STRING),
            sum(length for _, _, length in deletions))
