"""Who inserted which characters of a text, from the server's record of who delivered
which Yjs items.

A character of a text is one Yjs string item ``(client_id, clock)``; the server records,
per range of clocks, who delivered it and when (`Insertion`). pycrdt does not show item
ids, so the characters are found by taking them away: a copy of the document is given,
range after range, an update that deletes only that range's string items, and the
deletion events say at which offsets of which ``XmlText`` they sat. Each character is
taken away exactly once, by the range that inserted it; a character no range holds (an
item the record lacks) stays, attributed to nobody.

Cost: one transaction per range (ranges are per connection and typing spell), plus one
pass over the document's structs and characters: linear in the document's size and in
the number of ranges. Words and paragraph shares are then counted per block.
"""

from __future__ import annotations

import re
from bisect import bisect_left
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from pycrdt import Doc, XmlElement, XmlText

from crdt.document import doc_from_update
from crdt.schema import HARD_BREAK, block_id, is_textblock, text_fragment, walk
from crdt.struct_ranges import read_structs

_STRING = 4
WORD = re.compile(r"\w+(?:['\u2019-]\w+)*")
"""A word: letters and digits, with inner apostrophes and hyphens (``aujourd'hui``)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Insertion:
    """Items ``(client_id, clock)`` for clock in ``[clock_start, clock_end)``: delivered by
    `author` (a subject; ``None``: unknown) between `first_at` and `last_at` (epoch s)."""

    client_id: int
    clock_start: int
    clock_end: int
    author: str | None
    first_at: float
    last_at: float
    session: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Word:
    """One word of a block: characters ``[start, end)`` of the block's text, and, of the
    author who typed most of its characters, the insertion holding most of them
    (``None``: no recorded insertion)."""

    start: int
    end: int
    text: str
    insertion: Insertion | None


@dataclass(frozen=True, slots=True, kw_only=True)
class BlockProvenance:
    """A text block (paragraph, heading) with its words, in document order."""

    id: str | None
    type: str
    text: str
    words: tuple[Word, ...]

    def shares(self) -> list[tuple[str | None, int]]:
        """``(author, words)`` for each author of the block's words, most words first."""
        counts = Counter(w.insertion.author if w.insertion else None for w in self.words)
        return sorted(counts.items(), key=lambda item: (-item[1], item[0] or ""))


def provenance(state: bytes, insertions: Sequence[Insertion]) -> list[BlockProvenance]:
    """Attribute every word of the text blocks of `state` to the insertion holding most
    of its characters.

    Raises:
        InvalidUpdate: `state` is not a Yjs update.
    """
    doc = doc_from_update(state)
    texts = _Texts(doc)
    strings = _string_runs(state)
    events: list[Any] = []  # pycrdt's XmlEvent types none of its attributes
    fragment = text_fragment(doc)
    subscription = fragment.observe_deep(events.extend)
    try:
        for index, insertion in enumerate(insertions):
            ranges = strings.within(insertion.client_id, insertion.clock_start,
                                    insertion.clock_end)
            if ranges:
                doc.apply_update(_delete_set(insertion.client_id, ranges))
                texts.take(events, index)
                events.clear()
    finally:
        fragment.unobserve(subscription)
    return texts.blocks(insertions)


class _Texts:
    """The ``XmlText`` of each text block, by path, with who took each byte away."""

    def __init__(self, doc: Doc[Any]) -> None:
        self.layout: list[tuple[XmlElement, list[tuple[int, ...] | None]]] = []
        self.owners: dict[tuple[int, ...], list[int]] = {}
        self.alive: dict[tuple[int, ...], list[int]] = {}
        self.strings: dict[tuple[int, ...], str] = {}
        for element, _, _, path in walk(doc):
            if not is_textblock(element):
                continue
            parts: list[tuple[int, ...] | None] = []
            for index, child in enumerate(element.children):
                if isinstance(child, XmlText):
                    key = (*path, index)
                    text = "".join(c for c, _ in child.diff() if isinstance(c, str))
                    size = len(text.encode())
                    self.strings[key] = text
                    self.owners[key] = [-1] * size
                    self.alive[key] = list(range(size))
                    parts.append(key)
                elif isinstance(child, XmlElement) and child.tag == HARD_BREAK:
                    parts.append(None)
            self.layout.append((element, parts))

    def take(self, events: list[Any], owner: int) -> None:
        """The bytes (UTF-8 offsets) a deletion's `events` remove are `owner`'s."""
        for event in events:
            key = tuple(event.path)
            alive = self.alive.get(key)
            if alive is None or not isinstance(event.target, XmlText):
                continue
            owners = self.owners[key]
            at = 0
            for change in event.delta:
                if "retain" in change:
                    at += int(change["retain"])
                elif "delete" in change:
                    end = at + int(change["delete"])
                    for offset in alive[at:end]:
                        owners[offset] = owner
                    del alive[at:end]

    def blocks(self, insertions: Sequence[Insertion]) -> list[BlockProvenance]:
        """Each text block's words and their insertions."""
        found: list[BlockProvenance] = []
        for element, parts in self.layout:
            chars: list[str] = []
            owners: list[int] = []
            for key in parts:
                if key is None:
                    chars.append("\n")
                    owners.append(-1)
                    continue
                text, by_byte = self.strings[key], self.owners[key]
                offset = 0
                for char in text:
                    chars.append(char)
                    owners.append(by_byte[offset])
                    offset += len(char.encode())
            text = "".join(chars)
            words = []
            for match in WORD.finditer(text):
                best = _holder(Counter(owners[match.start():match.end()]), insertions)
                words.append(Word(start=match.start(), end=match.end(), text=match.group(),
                                  insertion=insertions[best] if best >= 0 else None))
            found.append(BlockProvenance(id=block_id(element), type=element.tag or "",
                                         text=text, words=tuple(words)))
        return found


def _holder(counts: Counter[int], insertions: Sequence[Insertion]) -> int:
    """The insertion of a word: of the author who typed most of its characters, the one
    that holds most of them (``-1``: no recorded insertion holds any)."""
    by_author: Counter[str | None] = Counter()
    for owner, count in counts.items():
        by_author[insertions[owner].author if owner >= 0 else None] += count
    author = max(by_author, key=lambda a: (by_author[a], a is not None))
    return max((o for o in counts if o >= 0 and insertions[o].author == author),
               key=lambda o: counts[o], default=-1)


class _StringRuns:
    """Clock ranges of the string items of a state, per client, sorted."""

    def __init__(self) -> None:
        self.starts: dict[int, list[int]] = {}
        self.ends: dict[int, list[int]] = {}

    def add(self, client: int, start: int, end: int) -> None:
        starts = self.starts.setdefault(client, [])
        ends = self.ends.setdefault(client, [])
        if ends and ends[-1] == start:
            ends[-1] = end
        else:
            starts.append(start)
            ends.append(end)

    def within(self, client: int, start: int, end: int) -> list[tuple[int, int]]:
        """The parts of ``[start, end)`` that are string items."""
        ends = self.ends.get(client)
        if not ends:
            return []
        starts = self.starts[client]
        found = []
        at = bisect_left(ends, start + 1)
        while at < len(starts) and starts[at] < end:
            found.append((max(start, starts[at]), min(end, ends[at])))
            at += 1
        return found


def _string_runs(state: bytes) -> _StringRuns:
    runs = _StringRuns()
    for struct in read_structs(state):  # written per client, in clock order
        if struct.kind == _STRING:
            runs.add(struct.client, struct.clock, struct.clock + struct.length)
    return runs


def _delete_set(client: int, ranges: list[tuple[int, int]]) -> bytes:
    """A Yjs update without structs whose delete set is `ranges` of `client`."""
    out = bytearray(_varuint(0) + _varuint(1) + _varuint(client) + _varuint(len(ranges)))
    for start, end in ranges:
        out += _varuint(start) + _varuint(end - start)
    return bytes(out)


def _varuint(value: int) -> bytes:
    out = bytearray()
    while value >= 0x80:
        out.append(value & 0x7F | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)
