"""The struct walker reads the same clock ranges pycrdt integrates, for every content kind."""

from __future__ import annotations

import time
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pycrdt import Array, Doc, Map, Text, XmlElement, XmlFragment, XmlText

from crdt.document import apply, decode_state_vector, merge
from crdt.errors import InvalidUpdate
from crdt.struct_ranges import struct_ranges
from storage._authorship import derive_authorship, replayed_authorship
from storage.base import LogEntry

ALPHABET = "ab é—«»çœΩ📊😀\n"
VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**53), 2**53)
    | st.floats(allow_nan=False)
    | st.text(ALPHABET, max_size=5)
    | st.binary(max_size=4),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text("xyz", max_size=2), inner, max_size=3)
    ),
    max_leaves=6,
)
EDITS = st.lists(
    st.tuples(
        st.sampled_from(
            ["text", "format", "embed", "delete", "map", "array", "xml", "sync", "gc-delete"]
        ),
        st.integers(0, 2),
        st.integers(0, 50),
        st.text(ALPHABET, min_size=1, max_size=4),
        VALUES,
    ),
    max_size=25,
)


class Replica:
    """One Yjs client whose every transaction's update is recorded."""

    def __init__(self) -> None:
        self.doc: Doc[Any] = Doc()
        self.updates: list[bytes] = []
        self.doc.observe(lambda event: self.updates.append(event.update))
        self.text = self.doc.get("text", type=Text)
        self.rich = self.doc.get("rich", type=Text)
        self.map = self.doc.get("map", type=Map)
        self.array = self.doc.get("array", type=Array)
        self.xml = self.doc.get("xml", type=XmlFragment)

    def edit(self, kind: str, position: int, word: str, value: Any) -> None:
        at = position % (len(self.text) + 1)
        if kind == "text":
            # Other characters go to `rich` only: pycrdt's text indices skew around them.
            self.text.insert(at, "".join(c for c in word if c.isascii()) or "x")
            self.rich.insert(0, word)
        elif kind == "format" and len(self.text):
            self.text.format(0, max(1, at), {"bold": True})
        elif kind == "embed":
            self.rich.insert_embed(0, {"image": word})  # apart: embeds skew len(text)
        elif kind in ("delete", "gc-delete") and len(self.text):
            del self.text[at % len(self.text) : at % len(self.text) + 1]
        elif kind == "map":
            self.map[word] = value
        elif kind == "array":
            self.array.append(value)
            self.array.append(Map({"nested": value}))
        elif kind == "xml":
            element = XmlElement("p", {"id": word})
            self.xml.children.append(element)
            element.children.append(XmlText(word))


def run_edits(edits: list[tuple[str, int, int, str, Any]], *, relayed: bool) -> list[bytes]:
    """Every update three replicas make, syncing now and then, in the order made.

    With `relayed`, what a replica integrates from a sync counts as its update too (a
    client relaying another's structs); otherwise only each replica's own edits count.
    """
    replicas = [Replica() for _ in range(3)]
    made: list[bytes] = []
    for kind, who, position, word, value in edits:
        replica = replicas[who]
        if kind == "sync":
            for other in replicas:
                if other is not replica:
                    apply(other.doc, replica.doc.get_update(other.doc.get_state()))
                    if not relayed:
                        other.updates.clear()
        else:
            replica.edit(kind, position, word, value)
        for each in replicas:
            made += each.updates
            each.updates.clear()
    return made


def replayed_ranges(updates: list[bytes]) -> list[dict[int, tuple[int, int]]]:
    """Per update, what it makes a document's state vector advance."""
    doc: Doc[Any] = Doc()
    before: dict[int, int] = {}
    advances = []
    for update in updates:
        apply(doc, update)
        after = decode_state_vector(doc.get_state())
        advances.append(
            {c: (before.get(c, 0), end) for c, end in after.items() if end > before.get(c, 0)}
        )
        before = after
    return advances


@settings(max_examples=150, deadline=None)
@given(EDITS)
def test_ranges_match_what_a_document_integrates(edits: list[Any]) -> None:
    updates = run_edits(edits, relayed=False)
    for update, advanced in zip(updates, replayed_ranges(updates), strict=True):
        walked = {client: (start, end) for client, start, end in struct_ranges(update)}
        # Updates are made in causal order, so each is integrated whole on arrival.
        assert walked == advanced


@settings(max_examples=100, deadline=None)
@given(EDITS)
def test_authorship_from_ranges_equals_the_replayed_one(edits: list[Any]) -> None:
    updates = run_edits(edits, relayed=True)
    rows = [
        LogEntry(update=u, received_at=float(n), connection_id=f"c{n % 3}", principal=f"p{n % 2}")
        for n, u in enumerate(updates)
    ]
    assert derive_authorship(None, rows) == replayed_authorship(None, rows)
    half = len(rows) // 2
    state = merge([row.update for row in rows[:half]])
    assert derive_authorship(state, rows[half:]) == replayed_authorship(state, rows[half:])


def test_a_merged_update_with_a_gap_leaves_the_gap_out() -> None:
    replica = Replica()
    for word in ("one ", "two ", "three "):
        replica.text.insert(len(replica.text), word)
    first, _, third = replica.updates
    ((client, start, end),) = struct_ranges(third)
    assert struct_ranges(merge([first, third])) == [(client, 0, 4), (client, start, end)]


def test_a_string_counts_utf16_units() -> None:
    replica = Replica()
    replica.text.insert(0, "a😀é")  # 1 + 2 (surrogate pair) + 1
    ((_, start, end),) = struct_ranges(replica.updates[0])
    assert (start, end) == (0, 4)


def test_a_row_the_walker_cannot_read_falls_back_to_replaying(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    replica = Replica()
    replica.text.insert(0, "hello")
    replica.map["k"] = 1
    rows = [
        LogEntry(update=u, received_at=time.time(), connection_id="c", principal="p")
        for u in replica.updates
    ]
    expected = replayed_authorship(None, rows)

    def unreadable(update: bytes) -> list[tuple[int, int, int]]:
        raise InvalidUpdate("unknown struct content kind 11")

    monkeypatch.setattr("storage._authorship.struct_ranges", unreadable)
    assert derive_authorship(None, rows) == expected
    assert [(r.clock_start, r.clock_end) for r in expected] == [(0, 6)]


@pytest.mark.parametrize("data", [b"", b"\x01\x01", b"\x01\x01\x05\x00\x04\x01", b"\xff" * 12])
def test_truncated_or_garbage_bytes_are_refused(data: bytes) -> None:
    with pytest.raises(InvalidUpdate):
        struct_ranges(data)


def test_a_subdocument_counts_one_clock() -> None:
    replica = Replica()
    replica.map["sub"] = Doc()
    replica.map["after"] = "x"
    full = replica.doc.get_update()
    ((client, start, end),) = struct_ranges(full)
    assert (start, end) == (0, decode_state_vector(replica.doc.get_state())[client]) == (0, 2)
