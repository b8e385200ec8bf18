"""Counting what each update of a log changed, once: a re-sent delete set is not new."""

from __future__ import annotations

from typing import Any

from pycrdt import Doc, Text

from crdt.edit_count import EditCounter
from crdt.struct_ranges import edit_size


def recorded(doc: Doc[Any]) -> list[bytes]:
    updates: list[bytes] = []
    doc.observe(lambda event: updates.append(event.update))
    return updates


def test_a_resync_that_reasserts_old_deletions_counts_nothing_new() -> None:
    doc: Doc[Any] = Doc()
    text = doc.get("body", type=Text)
    updates = recorded(doc)
    text.insert(0, "Les élus délibèrent.")
    del text[0:4]
    before = doc.get_update()
    updates.clear()
    text.insert(0, "Tous ")
    del text[5:9]  # pycrdt counts UTF-8 bytes: "élu", three characters
    resync = doc.get_update()  # what a reconnecting client sends: everything, deletes too
    counter = EditCounter(before)
    assert [counter.count(u)[:2] for u in updates] == [(5, 0), (0, 3)]
    assert counter.count(resync) == (0, 0, False)
    # Read alone, the resync carries every deletion the document ever had.
    assert edit_size(resync)[1] == 7


def test_characters_outside_the_basic_plane_count_as_yjs_counts_them() -> None:
    doc: Doc[Any] = Doc()
    updates = recorded(doc)
    doc.get("body", type=Text).insert(0, "vote 🗳 clos")
    counter = EditCounter()
    assert counter.count(updates[0])[:2] == (len("vote 🗳 clos".encode("utf-16-le")) // 2, 0)
