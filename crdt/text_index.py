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
the editor's fragment, say) count as text items too: the shape rules judge only what is
under the shaped root, so typing there is as plain as typing in a paragraph.
"""

from __future__ import annotations

from bisect import bisect_right, insort

from crdt.struct_ranges import Id, Struct

_GC, _DELETED, _STRING, _SKIP = 0, 1, 4, 10
_TYPE, _XML_TEXT = 7, 6
_VISITING = 2


class TextItems:
    """Clock ranges of the items known to sit in an ``XmlText``, and the texts' own ids."""

    def __init__(self, shaped_root: str) -> None:
        self._shaped_root = shaped_root
        self._starts: dict[int, list[int]] = {}
        self._ends: dict[int, list[int]] = {}
        self._texts: set[Id] = set()

    def holds(self, item: Id) -> bool:
        """Whether the item with clock `item` is known to sit in a text."""
        client, clock = item
        starts = self._starts.get(client)
        if starts is None:
            return False
        at = bisect_right(starts, clock) - 1
        return at >= 0 and clock < self._ends[client][at]

    def record(self, structs: list[Struct], in_text: list[bool] | None = None) -> None:
        """Learn the text items (and texts) among `structs` (`in_text`: which are in a
        text, when `typed_chars` just found it)."""
        if in_text is None:
            for s in structs:
                if s.kind == _TYPE and s.type_ref == _XML_TEXT and not s.has_parent_sub:
                    self._texts.add((s.client, s.clock))
            in_text = self._classify(structs)
        for s, inside in zip(structs, in_text, strict=True):
            if inside:
                self._add(s.client, s.clock, s.clock + s.length)

    def typed_chars(self, structs: list[Struct]) -> tuple[int, list[bool]] | None:
        """How many characters `structs` insert when they are only strings (or deleted
        content) placed inside known texts, with which are in a text (for `record`);
        ``None`` when they hold anything else."""
        chars = 0
        for s in structs:
            if s.kind == _STRING:
                chars += s.length
            elif s.kind not in (_DELETED, _GC, _SKIP):
                return None
        in_text = self._classify(structs)
        if not all(inside or s.kind in (_GC, _SKIP)
                   for s, inside in zip(structs, in_text, strict=True)):
            return None
        return chars, in_text

    def _classify(self, structs: list[Struct]) -> list[bool]:
        """Whether each struct is an item in a text, following neighbours within the
        update and the known ranges (a cycle or an unknown neighbour: not in a text)."""
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
                status[first] = 0
        for first in range(len(structs)):
            stack = [first]
            while stack:
                index = stack[-1]
                if status[index] is not None and status[index] != _VISITING:
                    stack.pop()
                    continue
                s = structs[index]
                neighbour = s.origin or s.right_origin
                if s.has_parent_sub:
                    found: int | None = 0
                elif neighbour is None:
                    found = int(self._is_text_parent(s.parent))
                else:
                    other = _find(local, structs, neighbour)
                    if other is None:
                        found = int(self.holds(neighbour))
                    elif status[other] is None:
                        status[index] = _VISITING
                        stack.append(other)
                        continue
                    else:
                        found = 0 if status[other] == _VISITING else status[other]
                status[index] = found
                stack.pop()
        return [bool(value == 1) for value in status]

    def _classify_in_order(self, structs: list[Struct]) -> list[bool] | None:
        """`_classify` when each neighbour is known or the struct just before (a typed
        run); ``None`` when a neighbour is elsewhere in the update."""
        found: list[bool] = []
        previous: Struct | None = None
        for s in structs:
            kind = s.kind
            if kind == _GC or kind == _SKIP or s.has_parent_sub:
                found.append(False)
            else:
                neighbour = s.origin or s.right_origin
                if neighbour is None:
                    found.append(self._is_text_parent(s.parent))
                elif (previous is not None and neighbour[0] == previous.client
                      and previous.clock <= neighbour[1] < previous.clock + previous.length):
                    found.append(found[-1])
                elif neighbour[0] in self._starts and self.holds(neighbour):
                    found.append(True)
                elif neighbour[0] in {t.client for t in structs}:
                    return None
                else:
                    found.append(False)
            previous = s
        return found

    def _is_text_parent(self, parent: Id | str | None) -> bool:
        """Whether an item written with `parent` sits in a text (or a root left unshaped)."""
        if isinstance(parent, tuple):
            return parent in self._texts
        return isinstance(parent, str) and parent != self._shaped_root

    def _add(self, client: int, start: int, end: int) -> None:
        starts = self._starts.setdefault(client, [])
        ends = self._ends.setdefault(client, [])
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
