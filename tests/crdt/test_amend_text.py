"""Word-level amendments: the diff, its rebase onto a newer wording, and applying it."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pycrdt import Doc, XmlElement, XmlFragment, XmlText

from crdt.amend_text import TargetGone, apply_amendment, block_wording, check_amendment
from crdt.schema import plain_text as plain
from crdt.schema import text_fragment
from crdt.worddiff import Outdated, apply_changes, rebase_changes, tokens, word_changes

BASE = "Les élus votent le budget chaque année."


def _doc(text: str = BASE, pid: str = "p1") -> tuple[Doc[Any], XmlText]:
    doc: Doc[Any] = Doc()
    fragment = doc.get("default", type=XmlFragment)
    paragraph = fragment.children.append(XmlElement("paragraph", {"id": pid}, [XmlText(text)]))
    inline = paragraph.children[0]
    assert isinstance(inline, XmlText)
    return doc, inline


def test_tokens_keep_every_character() -> None:
    text = "Art. 3 — l'assemblée,  vote!\n"
    assert "".join(tokens(text)) == text
    assert tokens("a, b") == ["a", ",", " ", "b"]


def test_word_changes_are_the_smallest_word_edits() -> None:
    changes = word_changes(BASE, "Les citoyens votent le budget chaque mois.")
    assert [(BASE[c.start:c.end], c.text) for c in changes] == [
        ("élus", "citoyens"), ("année", "mois")]
    assert apply_changes(BASE, changes) == "Les citoyens votent le budget chaque mois."


def test_rebase_carries_edits_past_words_typed_elsewhere() -> None:
    now = "Désormais, les élus votent le budget chaque année, en séance."
    # "Les" became "les": not touched by the amendment, which only changes "année".
    moved = rebase_changes(BASE, now, "Les élus votent le budget chaque mois.")
    wanted = "Désormais, les élus votent le budget chaque mois, en séance."
    assert apply_changes(now, moved) == wanted


def test_rebase_refuses_when_the_amended_words_changed() -> None:
    now = "Les élus adoptent le budget chaque année."
    with pytest.raises(Outdated) as caught:
        rebase_changes(BASE, now, "Les élus examinent le budget chaque année.")
    assert [BASE[c.start:c.end] for c in caught.value.conflicts] == ["votent"]


def test_apply_keeps_marks_of_untouched_runs_and_concurrent_words() -> None:
    doc, inline = _doc()
    inline.format(0, 3, {"bold": {}})
    inline.insert(len(BASE.encode()), " Fin.")
    applied = apply_amendment(doc, paragraph_id="p1", kind="replace", base=BASE,
                              text="Les citoyens votent le budget chaque mois.", new_id="n")
    assert applied.wording == "Les citoyens votent le budget chaque mois. Fin."
    assert inline.diff()[0] == ("Les", {"bold": {}})


def test_new_words_take_the_marks_of_the_words_they_replace() -> None:
    doc, inline = _doc()
    start = len(b"Les ")
    inline.format(start, start + len("élus".encode()), {"italic": {}})
    apply_amendment(doc, paragraph_id="p1", kind="replace", base=BASE,
                    text="Les citoyens votent le budget chaque année.", new_id="n")
    assert ("citoyens", {"italic": {}}) in inline.diff()


def test_two_amendments_on_one_paragraph_outdated_or_applicable_as_the_diff_says() -> None:
    doc, _ = _doc()
    apply_amendment(doc, paragraph_id="p1", kind="replace", base=BASE,
                    text="Les élus votent le budget chaque mois.", new_id="n")
    with pytest.raises(Outdated):  # changes "année" too
        check_amendment(doc, paragraph_id="p1", kind="replace", base=BASE,
                        text="Les élus votent le budget chaque semaine.")
    apply_amendment(doc, paragraph_id="p1", kind="replace", base=BASE,
                    text="Les conseillers votent le budget chaque année.", new_id="n")
    assert block_wording(doc, "p1") == "Les conseillers votent le budget chaque mois."


def test_insert_after_and_delete() -> None:
    doc, _ = _doc()
    applied = apply_amendment(doc, paragraph_id="p1", kind="insert_after", base=BASE,
                              text="Article nouveau.", new_id="p-am-1")
    assert applied.new_block_id == "p-am-1"
    assert block_wording(doc, "p-am-1") == "Article nouveau."
    assert str(text_fragment(doc)).index('id="p1"') < str(text_fragment(doc)).index("p-am-1")
    apply_amendment(doc, paragraph_id="p1", kind="delete", base=BASE, text="", new_id="x")
    assert block_wording(doc, "p1") is None
    with pytest.raises(TargetGone):
        check_amendment(doc, paragraph_id="p1", kind="replace", base=BASE, text="x")


def test_delete_is_outdated_once_someone_typed_in_the_block() -> None:
    doc, inline = _doc()
    inline.insert(0, "Ici, ")
    with pytest.raises(Outdated):
        apply_amendment(doc, paragraph_id="p1", kind="delete", base=BASE, text="", new_id="x")
    assert block_wording(doc, "p1") == "Ici, " + BASE


def _wording(words: list[str]) -> str:
    return " ".join(words)


@settings(max_examples=150, deadline=None)
@given(
    size=st.integers(min_value=3, max_value=14),
    span=st.tuples(st.integers(0, 13), st.integers(1, 4)),
    new_words=st.lists(st.sampled_from(["alpha", "beta", "gamma"]), max_size=3),
    inserts=st.lists(st.integers(0, 14), max_size=4),
    concurrent=st.lists(st.integers(0, 14), max_size=3),
)
def test_property_no_edit_outside_the_changed_span_is_lost(
    size: int, span: tuple[int, int], new_words: list[str],
    inserts: list[int], concurrent: list[int],
) -> None:
    """Edits others made (before the server applies, and truly concurrent ones) outside
    the amended words all survive, and every replica converges."""
    base_words = [f"w{i}" for i in range(size)]
    first = min(span[0], size - 1)
    last = min(first + span[1], size)
    proposed_words = base_words[:first] + new_words + base_words[last:]
    base, proposed = _wording(base_words), _wording(proposed_words)
    server, _ = _doc(base)
    other: Doc[Any] = Doc()
    other.apply_update(server.get_update())
    other_block = text_fragment(other).children[0]
    assert isinstance(other_block, XmlElement)
    other_text = other_block.children[0]
    assert isinstance(other_text, XmlText)

    def insert_outside(text: XmlText, gaps: list[int], tag: str) -> list[str]:
        markers = []
        for n, gap in enumerate(sorted({min(g, size) for g in gaps}, reverse=True)):
            if first <= gap <= last:  # inside (or touching) the amended words
                continue
            marker = f"{tag}{n}"
            wording = plain(text)
            if gap < size:  # before base word `gap`, wherever it stands now
                at = wording.split(" ").index(f"w{gap}")
                offset = len("".join(f"{w} " for w in wording.split(" ")[:at]))
                text.insert(len(wording[:offset].encode()), marker + " ")
            else:
                text.insert(len(wording.encode()), " " + marker)
            markers.append(marker)
        return markers

    seen = insert_outside(other_text, inserts, "M")
    server.apply_update(other.get_update(server.get_state()))  # the server saw these
    late = insert_outside(other_text, concurrent, "C")  # the server did not, yet
    apply_amendment(server, paragraph_id="p1", kind="replace", base=base, text=proposed,
                    new_id="n")
    other.apply_update(server.get_update(other.get_state()))
    server.apply_update(other.get_update(server.get_state()))
    final = block_wording(server, "p1")
    assert final == block_wording(other, "p1")
    assert final is not None
    words = final.split()
    for marker in seen + late:
        assert marker in words
    kept = [w for w in words if not w.startswith(("M", "C"))]
    assert kept == [w for w in proposed.split()]
