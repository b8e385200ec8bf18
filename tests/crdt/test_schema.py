"""The text shape: block walk, article ids and idempotent block id assignment."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st
from pycrdt import Doc, XmlElement, XmlText

from crdt.convert import markdown_to_doc
from crdt.schema import (
    assign_missing_ids,
    block_id,
    blocks,
    derive_id,
    find_block,
    find_element,
    has_missing_ids,
    text_fragment,
)

CHARTE = (Path(__file__).parent.parent / "fixtures" / "charte.md").read_text(encoding="utf-8")
EDITOR = 424242
NODE_A = 1001
NODE_B = 2002


def _doc(client_id: int) -> Doc[Any]:
    return Doc(client_id=client_id)


def _paragraph(doc: Doc[Any], text: str, *, index: int | None = None,
               attrs: dict[str, str] | None = None) -> XmlElement:
    fragment = text_fragment(doc)
    where = len(fragment.children) if index is None else index
    element = fragment.children.insert(where, XmlElement("paragraph"))
    for key, value in (attrs or {}).items():
        element.attributes[key] = value
    element.children.append(XmlText(text))
    return element


def _node(client_id: int, update: bytes) -> Doc[Any]:
    doc = _doc(client_id)
    doc.apply_update(update)
    return doc


def _ids(doc: Doc[Any]) -> list[str | None]:
    return [block.id for block in blocks(doc)]


def test_every_block_of_the_charter_has_a_unique_id() -> None:
    ids = _ids(markdown_to_doc(CHARTE))
    assert None not in ids
    assert len(set(ids)) == len(ids) > 40


def test_id_is_derived_from_the_element_item_identity() -> None:
    doc = _doc(EDITOR)
    _paragraph(doc, "Préambule")
    assign_missing_ids(doc)
    assert _ids(doc) == [derive_id("paragraph", EDITOR, 0)]
    assert derive_id("paragraph", 36, 71) == "p-10-1z"


def test_assignment_writes_once_then_finds_nothing_missing() -> None:
    doc = _doc(EDITOR)
    _paragraph(doc, "Article premier")
    assert assign_missing_ids(doc, origin="serveur") is not None
    assert assign_missing_ids(doc, origin="serveur") is None


def test_missing_or_repeated_ids_are_detected_without_writing() -> None:
    doc = _doc(EDITOR)
    assert not has_missing_ids(doc)
    assert "default" not in doc.keys()
    _paragraph(doc, "Article premier", attrs={"id": "p-1"})
    assert not has_missing_ids(doc)
    _paragraph(doc, "Article second", attrs={"id": "p-1"})
    state = doc.get_state()
    assert has_missing_ids(doc)
    assert doc.get_state() == state
    assign_missing_ids(doc)
    assert not has_missing_ids(doc)
    _paragraph(doc, "Article troisième")
    assert has_missing_ids(doc)


def test_two_server_nodes_assign_the_same_ids_and_converge() -> None:
    editor = _doc(EDITOR)
    for text in ("Liberté", "Égalité", "Fraternité"):
        _paragraph(editor, text)
    state = editor.get_update()
    node_a, node_b = _node(NODE_A, state), _node(NODE_B, state)
    update_a, update_b = assign_missing_ids(node_a), assign_missing_ids(node_b)
    assert update_a is not None and update_b is not None
    assert _ids(node_a) == _ids(node_b)
    node_a.apply_update(update_b)
    node_b.apply_update(update_a)
    assert _ids(node_a) == _ids(node_b) == [
        derive_id("paragraph", EDITOR, clock) for clock in (0, 9, 18)
    ]
    assert assign_missing_ids(node_a) is None and assign_missing_ids(node_b) is None


def test_ids_survive_edits_and_new_blocks_get_their_own() -> None:
    doc = markdown_to_doc("## Article 1 — Objet\n\nLa charte définit les principes.\n")
    before = _ids(doc)
    element = find_element(doc, str(before[1]))
    assert element is not None
    text = element.children[0]
    assert isinstance(text, XmlText)
    text.insert(0, "Désormais, ")
    _paragraph(doc, "Un alinéa inséré en tête.", index=0)
    assign_missing_ids(doc)
    after = _ids(doc)
    assert after[1:] == before
    assert after[0] not in before
    found = find_block(doc, str(before[1]))
    assert found is not None and found.text.startswith("Désormais, La charte")


def test_tiptap_split_copying_the_id_keeps_it_on_the_first_part() -> None:
    doc = _doc(EDITOR)
    first = _paragraph(doc, "Première phrase. Seconde phrase.")
    assign_missing_ids(doc)
    original = block_id(first)
    # ProseMirror's split: the old element keeps the head, a new one after it gets the
    # tail, and Tiptap copies the attrs (the id included) onto it.
    text = first.children[0]
    assert isinstance(text, XmlText)
    del text[len("Première phrase.".encode()):]  # pycrdt offsets count UTF-8 bytes
    _paragraph(doc, "Seconde phrase.", attrs={"id": str(original)})
    state = doc.get_update()
    node_a, node_b = _node(NODE_A, state), _node(NODE_B, state)
    update_a = assign_missing_ids(node_a)
    assert assign_missing_ids(node_b) is not None and update_a is not None
    node_b.apply_update(update_a)
    ids = _ids(node_b)
    assert ids == _ids(node_a)
    assert ids[0] == original and ids[1] not in (None, original)
    assert [b.text for b in blocks(node_b)] == ["Première phrase.", "Seconde phrase."]


def test_duplicate_inserted_before_takes_the_id_the_later_one_is_renamed() -> None:
    doc = _doc(EDITOR)
    second = _paragraph(doc, "Seconde phrase.", attrs={"id": "p-charte"})
    _paragraph(doc, "Première phrase.", index=0, attrs={"id": "p-charte"})
    assign_missing_ids(doc)
    assert _ids(doc)[0] == "p-charte"
    assert block_id(second) == derive_id("paragraph", EDITOR, 0)


def test_blocks_know_their_article_level_and_parent() -> None:
    doc = markdown_to_doc(
        "# Charte\n\nPréambule.\n\n## Article 1 — Principes\n\n- **transparence**\n"
        "- égalité\n\n### Précisions\n\nTexte.\n"
    )
    got = [(b.type, b.level, b.text, b.depth) for b in blocks(doc)]
    assert got == [
        ("heading", 1, "Charte", 0), ("paragraph", None, "Préambule.", 0),
        ("heading", 2, "Article 1 — Principes", 0), ("bulletList", None, "", 0),
        ("listItem", None, "", 1), ("paragraph", None, "transparence", 2),
        ("listItem", None, "", 1), ("paragraph", None, "égalité", 2),
        ("heading", 3, "Précisions", 0), ("paragraph", None, "Texte.", 0),
    ]
    all_blocks = blocks(doc)
    article = all_blocks[2].id
    assert [b.article_id for b in all_blocks[:2]] == [None, None]
    assert all(b.article_id == article for b in all_blocks[2:])
    assert all_blocks[5].parent_id == all_blocks[4].id
    assert all_blocks[0].attrs == {"level": 1}


def test_unknown_block_types_are_walked_but_not_given_ids() -> None:
    doc = _doc(EDITOR)
    quote = text_fragment(doc).children.append(XmlElement("blockquote"))
    inner = quote.children.append(XmlElement("paragraph"))
    inner.children.append(XmlText("Citation de Condorcet"))
    assign_missing_ids(doc)
    assert [(b.type, b.id is None) for b in blocks(doc)] == [
        ("blockquote", True), ("paragraph", False)
    ]


_EDIT = st.tuples(st.sampled_from(["insert", "split"]), st.integers(0, 50),
                  st.text("abcéèàç ", max_size=12))


@settings(max_examples=40, deadline=None)
@given(st.lists(_EDIT, min_size=1, max_size=12))
def test_random_edits_then_assignment_on_two_nodes_agree(edits: list[Any]) -> None:
    editor = _doc(EDITOR)
    for kind, position, text in edits:
        count = len(text_fragment(editor).children)
        index = position % (count + 1)
        copied = None
        if kind == "split" and count:
            source = text_fragment(editor).children[position % count]
            assert isinstance(source, XmlElement)
            copied = block_id(source)
            index = position % count + 1
        _paragraph(editor, text, index=index, attrs={"id": copied} if copied else None)
        if position % 3 == 0:
            assign_missing_ids(editor)
    state = editor.get_update()
    node_a, node_b = _node(NODE_A, state), _node(NODE_B, state)
    update_a, update_b = assign_missing_ids(node_a), assign_missing_ids(node_b)
    if update_a is not None and update_b is not None:
        node_a.apply_update(update_b)
        node_b.apply_update(update_a)
    ids = _ids(node_a)
    assert ids == _ids(node_b)
    assert None not in ids and len(set(ids)) == len(ids)
