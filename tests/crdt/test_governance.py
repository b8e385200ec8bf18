"""The ``governance`` map of ``D.annotations``: written whole, only what changed."""

from __future__ import annotations

from typing import Any

from pycrdt import Doc

from crdt.annotations import Author, add_annotation, list_annotations
from crdt.governance import (
    ArchivedVersion,
    GovernanceState,
    governance_map,
    read_governance,
    write_governance,
)

FIRST = ArchivedVersion(id="s1", number=1, stage="première lecture", label="Avant-projet",
                        created_at=1_790_000_000.25, created_by_name="Loïc Ménard",
                        adopted=False)
ADOPTED = ArchivedVersion(id="s2", number=2, stage="adopted", label="Texte adopté",
                          created_at=1_790_000_100.0, created_by_name=None, adopted=True)


def test_a_fresh_document_has_an_empty_governance_map() -> None:
    assert read_governance(Doc()) == {}


def test_the_state_reads_back_as_written_and_replicates() -> None:
    doc: Doc[Any] = Doc()
    update = write_governance(doc, GovernanceState(
        frozen=True, comments_open=True, frozen_at=1_790_000_050.5, snapshots=[FIRST, ADOPTED]))
    replica: Doc[Any] = Doc()
    replica.apply_update(update)
    for state in (read_governance(doc), read_governance(replica)):
        assert state == {
            "frozen": True, "comments_open": True, "frozen_at": 1_790_000_050.5,
            "stage": "adopted", "adopted": "s2",
            "snapshots": [
                {"id": "s1", "number": 1, "stage": "première lecture", "label": "Avant-projet",
                 "created_at": 1_790_000_000.25, "created_by": None,
                 "created_by_name": "Loïc Ménard", "adopted": False},
                {"id": "s2", "number": 2, "stage": "adopted", "label": "Texte adopté",
                 "created_at": 1_790_000_100, "created_by": None, "created_by_name": None,
                 "adopted": True},
            ],
        }


def test_writing_the_same_state_again_writes_nothing() -> None:
    doc: Doc[Any] = Doc()
    state = GovernanceState(frozen=False, comments_open=False, frozen_at=None,
                            snapshots=[FIRST])
    assert write_governance(doc, state)
    assert write_governance(doc, state) == b""


def test_only_the_changed_keys_are_written() -> None:
    doc: Doc[Any] = Doc()
    write_governance(doc, GovernanceState(frozen=False, comments_open=False, frozen_at=None,
                                          snapshots=[FIRST]))
    replica: Doc[Any] = Doc()
    replica.apply_update(doc.get_update())
    changed: list[set[str]] = []
    root = governance_map(replica)
    subscription = root.observe(
        lambda event: changed.append(set(event.keys))  # type: ignore[attr-defined]
    )
    replica.apply_update(write_governance(doc, GovernanceState(
        frozen=True, comments_open=False, frozen_at=1_790_000_060.0, snapshots=[FIRST])))
    assert changed == [{"frozen", "frozen_at"}]
    root.unobserve(subscription)


def test_the_annotations_beside_it_are_untouched() -> None:
    doc: Doc[Any] = Doc()
    add_annotation(doc, paragraph_id="p1", body="Qui décide ?",
                   author=Author(sub="zoe", name="Zoé Lefèvre"))
    write_governance(doc, GovernanceState(frozen=True, comments_open=True, frozen_at=1.0))
    assert [a.body for a in list_annotations(doc)] == ["Qui décide ?"]
