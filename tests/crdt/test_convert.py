"""Markdown import and the Markdown, HTML, text and JSON exports."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pycrdt import Doc, XmlElement, XmlText

from crdt.convert import (
    import_markdown,
    markdown_to_doc,
    render,
    to_html,
    to_json,
    to_markdown,
    to_text,
)
from crdt.errors import SchemaError
from crdt.schema import blocks, text_fragment

CHARTE = (Path(__file__).parent.parent / "fixtures" / "charte.md").read_text(encoding="utf-8")


def _tiptap_paragraph(doc: Doc[Any], runs: list[tuple[str, dict[str, Any]]]) -> None:
    """Write a paragraph as y-prosemirror does: one XmlText, marks as attributes."""
    element = text_fragment(doc).children.append(XmlElement("paragraph"))
    text = element.children.append(XmlText())
    for chunk, marks in runs:
        if chunk == "\n":
            element.children.append(XmlElement("hardBreak"))
            text = element.children.append(XmlText())
        else:
            text.insert(len(text), chunk, marks)


def test_charter_round_trips_exactly() -> None:
    assert to_markdown(markdown_to_doc(CHARTE)) == CHARTE


def test_charter_has_a_title_and_at_least_twelve_articles() -> None:
    headings = [b for b in blocks(markdown_to_doc(CHARTE)) if b.type == "heading"]
    assert headings[0].level == 1
    assert len([h for h in headings if h.level == 2]) >= 12


def test_markdown_is_normalized_then_stable() -> None:
    source = ("Titre\n=====\n\n* un\n* deux\n\n3) trois\n4) quatre\n\n__gras__ et _italique_"
              " et <https://exemple.fr>\nsuite\n")
    once = to_markdown(markdown_to_doc(source))
    assert once == ("# Titre\n\n- un\n- deux\n\n3. trois\n4. quatre\n\n**gras** et *italique*"
                    " et [https://exemple.fr](https://exemple.fr) suite\n")
    assert to_markdown(markdown_to_doc(once)) == once


def test_special_characters_are_escaped_and_survive() -> None:
    source = ("1\\. Ceci n'est pas une liste \\*ni\\* du \\_gras\\_ : \\[x\\] \\<b> \\&amp;"
              " \\# et `code *brut*`\n\n## Article 5 \\#\n")
    doc = markdown_to_doc(source)
    assert [b.text for b in blocks(doc)] == [
        "1. Ceci n'est pas une liste *ni* du _gras_ : [x] <b> &amp; # et code *brut*",
        "Article 5 #",
    ]
    once = to_markdown(doc)
    assert [b.text for b in blocks(markdown_to_doc(once))] == [b.text for b in blocks(doc)]


def test_level_is_stored_as_a_number_as_y_prosemirror_does() -> None:
    heading = text_fragment(markdown_to_doc("## Article 1\n")).children[0]
    assert isinstance(heading, XmlElement)
    assert heading.attributes.get("level") == 2
    assert not isinstance(heading.attributes.get("level"), str)


def test_reads_marks_and_hard_breaks_written_by_tiptap() -> None:
    doc: Doc[Any] = Doc()
    _tiptap_paragraph(doc, [
        ("La ", {}), ("mairie", {"bold": {}}), (" publie ", {}),
        ("tout", {"bold": {}, "italic": {}}), (" sur ", {}),
        ("le site", {"link": {"href": "https://ville.fr", "target": "_blank", "class": None}}),
        ("\n", {}), ("à temps.", {}),
    ])
    assert to_markdown(doc) == (
        "La **mairie** publie ***tout*** sur [le site](https://ville.fr)\\\nà temps.\n"
    )
    assert to_text(doc) == "La mairie publie tout sur le site\nà temps.\n"


def test_imported_marks_are_written_in_the_y_prosemirror_format() -> None:
    doc = markdown_to_doc("Un **vote** *libre* et [public](https://ville.fr).\n")
    text = text_fragment(doc).children[0].children[0]  # type: ignore[union-attr]
    assert isinstance(text, XmlText)
    assert text.diff() == [
        ("Un ", None), ("vote", {"bold": {}}), (" ", None), ("libre", {"italic": {}}),
        (" et ", None), ("public", {"link": {"href": "https://ville.fr"}}), (".", None),
    ]


def test_html_escapes_text_and_attributes_and_drops_unsafe_links() -> None:
    doc: Doc[Any] = Doc()
    _tiptap_paragraph(doc, [("<script>alert('é')</script> & ", {}),
                            ("clic", {"link": {"href": "javascript:alert(1)"}}), (" ", {}),
                            ("ok", {"link": {"href": "https://x.fr/?a=1&b=\"2\""}})])
    text_fragment(doc).children[0].attributes["id"] = 'p"><b>'  # type: ignore[union-attr]
    assert to_html(doc) == (
        '<p id="p&quot;&gt;&lt;b&gt;" data-id="p&quot;&gt;&lt;b&gt;">'
        "&lt;script&gt;alert('é')&lt;/script&gt; &amp; clic "
        '<a href="https://x.fr/?a=1&amp;b=&quot;2&quot;">ok</a></p>\n'
    )


def test_html_blocks_carry_their_ids() -> None:
    doc = markdown_to_doc("## Article 1\n\n2. deux\n3. trois\n")
    ids = [b.id for b in blocks(doc)]
    html = to_html(doc)
    assert all(f'id="{i}" data-id="{i}"' in html for i in ids)
    assert '<ol id="' in html and 'start="2"' in html


def test_json_lists_blocks_in_order_with_articles_and_marks() -> None:
    doc = markdown_to_doc("# Charte\n\n## Article 1\n\nL'**égalité** réelle.\n\n- [lien](https://a.fr)\n")
    data = to_json(doc)
    assert json.loads(render(doc, "json")) == data
    listed = data["blocks"]
    assert isinstance(listed, list)
    title, article, paragraph = listed[0], listed[1], listed[2]
    assert isinstance(title, dict) and isinstance(article, dict) and isinstance(paragraph, dict)
    assert (title["type"], title["level"], title["article_id"]) == ("heading", 1, None)
    expected: dict[str, object] = {
        "id": paragraph["id"], "type": "paragraph", "text": "L'égalité réelle.",
        "article_id": article["id"], "marks": [{"type": "bold", "start": 2, "end": 9}],
    }
    assert paragraph == expected
    item, item_paragraph = listed[-2], listed[-1]
    assert isinstance(item, dict) and isinstance(item_paragraph, dict)
    assert item_paragraph["parent_id"] == item["id"]


def test_oversized_markdown_is_refused() -> None:
    with pytest.raises(SchemaError, match="exceeds the limit of 100 bytes"):
        markdown_to_doc("é" * 51, max_bytes=100)


def test_unsupported_constructs_degrade_or_raise_when_strict() -> None:
    source = ("> Citation de l'assemblée.\n\n---\n\n```\nligne 1\nligne 2\n```\n\n"
              "![plan](plan.png)\n")
    assert to_markdown(markdown_to_doc(source)) == (
        "Citation de l'assemblée.\n\nligne 1\\\nligne 2\n\nplan\n"
    )
    with pytest.raises(SchemaError, match="blockquote_open"):
        markdown_to_doc(source, strict=True)


def test_import_appends_in_one_update_that_rebuilds_the_document() -> None:
    doc: Doc[Any] = Doc()
    update = import_markdown(doc, CHARTE, origin="import")
    copy: Doc[Any] = Doc()
    copy.apply_update(update)
    assert to_markdown(copy) == CHARTE
    assert [b.id for b in blocks(copy)] == [b.id for b in blocks(doc)]


def test_unknown_format_is_refused() -> None:
    with pytest.raises(SchemaError, match="unknown format"):
        render(Doc(), "pdf")  # type: ignore[arg-type]


_WORD = st.text("abcdeéèàçôœ«»!?.,;:'\u2019-_*#[]()<>&`\\1", min_size=1, max_size=8)
_MARKS = st.sampled_from([{}, {"bold": {}}, {"italic": {}}, {"bold": {}, "italic": {}},
                          {"code": {}}, {"link": {"href": "https://ville.fr/a"}}])
_RUNS = st.lists(st.tuples(st.lists(_WORD, min_size=1, max_size=3).map(" ".join), _MARKS),
                 min_size=1, max_size=6)


@settings(max_examples=200, deadline=None)
@given(st.lists(_RUNS, min_size=1, max_size=3))
def test_any_tiptap_paragraph_exports_to_stable_markdown(paragraphs: list[Any]) -> None:
    doc: Doc[Any] = Doc()
    for runs in paragraphs:
        _tiptap_paragraph(doc, [(text + " ", marks) for text, marks in runs])
    once = to_markdown(doc)
    again = markdown_to_doc(once)
    assert to_markdown(again) == once
    assert [b.text.strip() for b in blocks(again)] == [b.text.strip() for b in blocks(doc)]


@settings(max_examples=200, deadline=None)
@given(_RUNS)
def test_runs_glued_to_words_and_punctuation_still_export_stably(runs: list[Any]) -> None:
    doc: Doc[Any] = Doc()
    _tiptap_paragraph(doc, runs)
    once = to_markdown(doc)
    assert to_markdown(markdown_to_doc(once)) == once
