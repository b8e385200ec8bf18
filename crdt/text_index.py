"""Which items of a text document sit inside a text (an ``XmlText``), read from bytes.

An ordinary keystroke's update holds only strings (and deleted content) placed next to
characters of an existing text. Yjs places an item by its origin (left neighbour), else
its right origin, else its written parent, and the item inherits that neighbour's parent
and map key: a string next to an attribute's value *sets that attribute*. So a string is
known to land in a text only when its neighbour is a known text item, or its written
parent a known ``XmlText``. `TextItems` keeps those ranges of clocks per client, read
from the document's state once and from every accepted update since, so that
`TextItems.typed_chars` tells a plain keystroke in O(update bytes), without a document.

Strings written straight into a root other than the shaped one (a root ``Y.Text`` beside
the editor's fragment, say) are plain keystrokes too, kept apart as *free* text: the shape
rules judge only what is under the shaped root, so typing there is plainer still (it
grows no block, and `TextItems.typed_chars` does not count it as shaped text).
"""

from __future__ import annotations

from bisect import bisect_right, insort

from crdt.struct_ranges import Id, Struct

_GC, _DELETED, _STRING, _SKIP = 0, 1, 4, 10
_TYPE, _XML_TEXT = 7, 6
_VISITING_MARK = -1
_OUTSIDE, _SHAPED, _FREE = 0, 1, 2
"""Where an item sits: outside any text, in a text under the shaped root, in a free root."""


class Typed:
    """What a plain keystroke's update inserts: characters into shaped texts and into free
    roots, and where each of its structs sits (for `TextItems.record`)."""

    __slots__ = ("free_chars", "places", "shaped_chars")

    def __init__(self, shaped_chars: int, free_chars: int, places: list[int]) -> None:
        self.shaped_chars = shaped_chars
        self.free_chars = free_chars
        self.places = places


class _Ranges:
    """Sorted, disjoint clock ranges per client."""

    __slots__ = ("ends", "starts")

    def __init__(self) -> None:
        self.starts: dict[int, list[int]] = {}
        self.ends: dict[int, list[int]] = {}

    def holds(self, item: Id) -> bool:
        client, clock = item
        starts = self.starts.get(client)
        if starts is None:
            return False
        at = bisect_right(starts, clock) - 1
        return at >= 0 and clock < self.ends[client][at]

    def add(self, client: int, start: int, end: int) -> None:
        starts = self.starts.setdefault(client, [])
        ends = self.ends.setdefault(client, [])
        if starts and start >= starts[-1]:
            if start <= ends[-1]:
                ends[-1] = max(ends[-1], end)
            else:
                starts.append(start)
                ends.append(end)
        elif not (self.holds((client, start)) and self.holds((client, end - 1))):
            at = bisect_right(starts, start)
            insort(starts, start)
            ends.insert(at, end)


class TextItems:
    """Clock ranges of the items known to sit in an ``XmlText`` of the shaped root or in a
    free root, and the texts' own ids."""

    def __init__(self, shaped_root: str) -> None:
        self._shaped_root = shaped_root
        self._shaped = _Ranges()
        self._free = _Ranges()
        self._texts: set[Id] = set()

    def place_of(self, item: Id) -> int:
        """Where the item with clock `item` is known to sit (`_OUTSIDE` when unknown)."""
        if self._shaped.holds(item):
            return _SHAPED
        return _FREE if self._free.holds(item) else _OUTSIDE

    def holds(self, item: Id) -> bool:
        """Whether the item with clock `item` is known to sit in a text (or a free root)."""
        return self.place_of(item) != _OUTSIDE

    def record(self, structs: list[Struct], places: list[int] | None = None) -> None:
        """Learn the text items (and texts) among `structs` (`places`: where each sits,
        when `typed_chars` just found it)."""
        if places is None:
            for s in structs:
                if s.kind == _TYPE and s.type_ref == _XML_TEXT and not s.has_parent_sub:
                    self._texts.add((s.client, s.clock))
            places = self._classify(structs)
        for s, place in zip(structs, places, strict=True):
            if place == _SHAPED:
                self._shaped.add(s.client, s.clock, s.clock + s.length)
            elif place == _FREE:
                self._free.add(s.client, s.clock, s.clock + s.length)

    def typed_chars(self, structs: list[Struct]) -> Typed | None:
        """What `structs` insert when they are only strings (or deleted content) placed
        inside known texts or free roots; ``None`` when they hold anything else."""
        chars = 0
        for s in structs:
            if s.kind == _STRING:
                chars += s.length
            elif s.kind not in (_DELETED, _GC, _SKIP):
                return None
        places = self._classify(structs)
        free = 0
        for s, place in zip(structs, places, strict=True):
            if place == _OUTSIDE and s.kind not in (_GC, _SKIP):
                return None
            if place == _FREE and s.kind == _STRING:
                free += s.length
        return Typed(chars - free, free, places)

    def _classify(self, structs: list[Struct]) -> list[int]:
        """Where each struct sits, following neighbours within the update and the known
        ranges (a cycle or an unknown neighbour: outside any text)."""
        quick = self._classify_in_order(structs)
        if quick is not None:
            return quick
        local: dict[int, tuple[list[int], list[int]]] = {}
        for index, s in enumerate(structs):
            if s.kind not in (_GC, _SKIP):
                starts, at = local.setdefault(s.client, ([], []))
                starts.append(s.clock)
                at.append(index)
        status: list[int | None] = [None] * len(structs)
        for first, s in enumerate(structs):
            if s.kind in (_GC, _SKIP):
                status[first] = _OUTSIDE
        for first in range(len(structs)):
            stack = [first]
            while stack:
                index = stack[-1]
                if status[index] is not None and status[index] != _VISITING_MARK:
                    stack.pop()
                    continue
                s = structs[index]
                neighbour = s.origin or s.right_origin
                if s.has_parent_sub:
                    found: int | None = _OUTSIDE
                elif neighbour is None:
                    found = self._place_under(s.parent)
                else:
                    other = _find(local, structs, neighbour)
                    if other is None:
                        found = self.place_of(neighbour)
                    elif status[other] is None:
                        status[index] = _VISITING_MARK
                        stack.append(other)
                        continue
                    else:
                        found = _OUTSIDE if status[other] == _VISITING_MARK else status[other]
                status[index] = found
                stack.pop()
        return [_OUTSIDE if value is None else value for value in status]

    def _classify_in_order(self, structs: list[Struct]) -> list[int] | None:
        """`_classify` when each neighbour is known or the struct just before (a typed
        run); ``None`` when a neighbour is elsewhere in the update."""
        found: list[int] = []
        previous: Struct | None = None
        for s in structs:
            kind = s.kind
            if kind == _GC or kind == _SKIP or s.has_parent_sub:
                found.append(_OUTSIDE)
            else:
                neighbour = s.origin or s.right_origin
                if neighbour is None:
                    found.append(self._place_under(s.parent))
                elif (previous is not None and neighbour[0] == previous.client
                      and previous.clock <= neighbour[1] < previous.clock + previous.length):
                    found.append(found[-1])
                elif (place := self.place_of(neighbour)) != _OUTSIDE:
                    found.append(place)
                elif neighbour[0] in {t.client for t in structs}:
                    return None
                else:
                    found.append(_OUTSIDE)
            previous = s
        return found

    def _place_under(self, parent: Id | str | None) -> int:
        """Where an item written with `parent` sits (a known text, a free root, or not)."""
        if isinstance(parent, tuple):
            return _SHAPED if parent in self._texts else _OUTSIDE
        if isinstance(parent, str) and parent != self._shaped_root:
            return _FREE
        return _OUTSIDE


def _find(local: dict[int, tuple[list[int], list[int]]], structs: list[Struct],
          item: Id) -> int | None:
    """The index in `structs` of the struct holding clock `item`, if the update has it."""
    client, clock = item
    entry = local.get(client)
    if entry is None:
        return None
    starts, indexes = entry
    at = bisect_right(starts, clock) - 1
    if at < 0:
        return None
    s = structs[indexes[at]]
    return indexes[at] if clock < s.clock + s.length else None
