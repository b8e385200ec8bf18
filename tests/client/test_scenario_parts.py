"""The scenario's pure parts: who edits which paragraph, and how latency is counted."""

from __future__ import annotations

from client.scenario.latency import LatencyTracker, percentile
from client.scenario.layout import Layout
from client.scenario.runner import charter
from crdt.convert import markdown_to_doc
from crdt.schema import assign_missing_ids


def charter_layout() -> Layout:
    doc = markdown_to_doc(charter())
    assign_missing_ids(doc)
    return Layout.read(doc)


def test_the_charter_has_at_least_twenty_articles_of_plain_paragraphs() -> None:
    layout = charter_layout()
    assert len(set(layout.articles.values())) >= 21  # the preamble and 20 articles
    assert len(layout.paragraphs) >= 40 and len(set(layout.paragraphs)) == len(layout.paragraphs)


def test_members_of_one_session_work_in_different_articles_and_move_on() -> None:
    layout = charter_layout()
    first = layout.assigned(1, 20)
    assert len({layout.articles[pid] for pid in first if pid}) == 20
    second = layout.assigned(2, 20)
    assert not set(first) & set(second)
    crowded = layout.assigned(1, len(layout.paragraphs) + 3)
    assert crowded[-3:] == [None, None, None]
    assert len(set(crowded[:-3])) == len(layout.paragraphs)


def test_latency_counts_each_write_once_per_other_member() -> None:
    tracker = LatencyTracker()
    tracker.wrote(1, 5, at=10.0)
    tracker.wrote(1, 9, at=11.0)
    tracker.wrote(2, 3, at=10.5)
    tracker.saw(1, {1: 9, 2: 3}, at=10.7)  # its own writes are not latency
    tracker.saw(2, {1: 5}, at=10.25)
    tracker.saw(2, {1: 9}, at=11.5)
    tracker.saw(2, {1: 9}, at=12.0)  # seen already: no new sample
    assert sorted(round(s, 3) for s in tracker.samples) == [0.2, 0.25, 0.5]
    assert percentile(tracker.samples, 0.5) == 0.25 and percentile([], 0.99) is None
