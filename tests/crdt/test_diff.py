"""Paragraph diffs by block id, with word changes inside a changed paragraph."""

from __future__ import annotations

from typing import Any

from pycrdt import Doc, XmlElement, XmlText

from crdt.diff import diff_html, diff_json, diff_updates, word_changes
from crdt.schema import text_fragment


def state(*blocks: tuple[str, str, str]) -> bytes:
    """A text document's full state: blocks given as (id, type, text)."""
    doc: Doc[Any] = Doc()
    fragment = text_fragment(doc)
    for block_id, kind, text in blocks:
        attrs: dict[str, Any] = {"id": block_id}
        if kind == "heading":
            attrs["level"] = 2
        element = fragment.children.append(XmlElement(kind, attrs))
        element.children.append(XmlText(text))
    return doc.get_update()


TITLE = ("h-1", "heading", "Article 1 — Objet")
BUDGET = ("p-b", "paragraph", "Le budget participatif est voté chaque année.")
SESSIONS = ("p-c", "paragraph", "Les séances sont publiques.")
"""Blocks whose text both versions share (the sessions one moves)."""

BEFORE = state(
    TITLE,
    ("p-a", "paragraph", "La commune garantit la participation des habitants."),
    BUDGET,
    SESSIONS,
    ("p-d", "paragraph", "Disposition transitoire."),
)
AFTER = state(
    TITLE,
    SESSIONS,
    ("p-a", "paragraph", "La commune garantit la participation de toutes les habitantes."),
    BUDGET,
    ("p-e", "paragraph", "Un conseil citoyen <tiré au sort> siège."),
)


def test_diff_of_two_known_versions_is_exactly_the_expected_json() -> None:
    assert diff_json(diff_updates(BEFORE, AFTER)) == {
        "summary": {"added": 1, "removed": 1, "changed": 1, "moved": 1, "unchanged": 2},
        "blocks": [
            {"id": "h-1", "type": "heading", "status": "unchanged", "moved": False,
             "before": "Article 1 — Objet", "after": "Article 1 — Objet", "level": 2},
            {"id": "p-c", "type": "paragraph", "status": "moved", "moved": True,
             "before": "Les séances sont publiques.", "after": "Les séances sont publiques."},
            {"id": "p-a", "type": "paragraph", "status": "changed", "moved": False,
             "before": "La commune garantit la participation des habitants.",
             "after": "La commune garantit la participation de toutes les habitantes.",
             "words": [
                 {"op": "equal", "text": "La commune garantit la participation "},
                 {"op": "delete", "text": "des"},
                 {"op": "insert", "text": "de"},
                 {"op": "equal", "text": " "},
                 {"op": "delete", "text": "habitants."},
                 {"op": "insert", "text": "toutes les habitantes."},
             ]},
            {"id": "p-b", "type": "paragraph", "status": "unchanged", "moved": False,
             "before": "Le budget participatif est voté chaque année.",
             "after": "Le budget participatif est voté chaque année."},
            {"id": "p-d", "type": "paragraph", "status": "removed", "moved": False,
             "before": "Disposition transitoire.", "after": None},
            {"id": "p-e", "type": "paragraph", "status": "added", "moved": False,
             "before": None, "after": "Un conseil citoyen <tiré au sort> siège."},
        ],
    }


def test_html_marks_insertions_and_deletions_and_escapes_text() -> None:
    page = diff_html(diff_updates(BEFORE, AFTER))
    assert ("<del>des</del><ins>de</ins> <del>habitants.</del>"
            "<ins>toutes les habitantes.</ins>") in page
    assert "<ins>Un conseil citoyen &lt;tiré au sort&gt; siège.</ins>" in page
    assert '<div class="block removed" data-id="p-d"><p><del>Disposition' in page
    assert '<div class="block moved moved" data-id="p-c">' in page
    assert "<h2>Article 1 — Objet</h2>" in page
    assert "<tiré" not in page


def test_identical_versions_have_only_unchanged_blocks() -> None:
    diff = diff_updates(BEFORE, BEFORE)
    assert {block.status for block in diff.blocks} == {"unchanged"}


def test_a_block_removed_first_stays_first() -> None:
    diff = diff_updates(state(("p-1", "paragraph", "un"), ("p-2", "paragraph", "deux")),
                        state(("p-2", "paragraph", "deux")))
    assert [(b.id, b.status) for b in diff.blocks] == [("p-1", "removed"), ("p-2", "unchanged")]


def test_word_changes_rebuild_both_texts() -> None:
    before, after = "Chaque  habitante peut proposer", "Chaque habitante peut voter, proposer"
    pieces = word_changes(before, after)
    assert "".join(p.text for p in pieces if p.op != "insert") == before
    assert "".join(p.text for p in pieces if p.op != "delete") == after
