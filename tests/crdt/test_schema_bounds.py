"""Bounds on what a client makes a document hold: the text shape, data documents, renderers."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from pycrdt import Doc, Map, XmlElement, XmlText

from crdt.convert import markdown_to_doc, to_html, to_json, to_markdown
from crdt.data import (
    DataBounds,
    JsonObject,
    apply_merge_patch,
    changed_paths,
    check_changed_bounds,
    check_patch_bounds,
    merge_patch,
    read_data,
    read_touched,
    root,
)
from crdt.errors import InvalidUpdate, SchemaError
from crdt.schema import text_fragment
from crdt.shape import ShapeMirror, TextBounds

BOUNDS = TextBounds(block_chars=200, attribute_chars=100)
DATA = DataBounds(entries=3, depth=4, string_chars=20, values_per_write=12)


def _charte() -> Doc[Any]:
    return markdown_to_doc("## Article premier\n\nLa commune garantit l'égalité.\n\n"
                           "3. un\n4. deux\n")


def _edit(live: Doc[Any], change: Callable[[Doc[Any]], None]) -> bytes:
    """The update a client holding `live` makes with `change`."""
    editor: Doc[Any] = Doc()
    editor.apply_update(live.get_update())
    before = editor.get_state()
    change(editor)
    return editor.get_update(before)


def _element(doc: Doc[Any], index: int) -> XmlElement:
    element = text_fragment(doc).children[index]
    assert isinstance(element, XmlElement)
    return element


def _set_attribute(index: int, key: str, value: object) -> Callable[[Doc[Any]], None]:
    def change(doc: Doc[Any]) -> None:
        _element(doc, index).attributes[key] = value
    return change


@pytest.mark.parametrize(("key", "value", "says"), [
    ("level", 1e9, "heading level"),
    ("level", 0, "heading level"),
    ("level", 2.5, "heading level"),
    ("level", "2", "heading level"),
    ("level", True, "heading level"),
    ("onclick", "alert(1)", "no attribute 'onclick'"),
    ("id", 'p"><b>', "block id"),
    ("id", "p" * 129, "block id"),
])
def test_a_bad_heading_attribute_is_refused(key: str, value: object, says: str) -> None:
    live = _charte()
    refusal = ShapeMirror(BOUNDS).judge(live, _edit(live, _set_attribute(0, key, value)))
    assert refusal is not None and says in refusal


@pytest.mark.parametrize("value", [-1, 1e10, float("inf"), float("nan"), "3"])
def test_an_ordered_list_start_out_of_range_is_refused(value: object) -> None:
    live = _charte()
    refusal = ShapeMirror(BOUNDS).judge(live, _edit(live, _set_attribute(2, "start", value)))
    assert refusal is not None and "ordered list" in refusal


def test_an_inserted_subtree_is_judged_whole() -> None:
    live = _charte()

    def insert(doc: Doc[Any]) -> None:
        text_fragment(doc).children.append(XmlElement("bulletList", {}, [
            XmlElement("listItem", {}, [XmlElement("script", {}, [XmlText("x")])])]))

    refusal = ShapeMirror(BOUNDS).judge(live, _edit(live, insert))
    assert refusal == "unknown node type 'script'"


def _nested(depth: int) -> Callable[[Doc[Any]], None]:
    """Append ``bulletList > listItem > ...`` `depth` elements deep, a paragraph at the
    bottom (one element at a time: pycrdt integrates a nested prelim recursively)."""
    def change(doc: Doc[Any]) -> None:
        parent: Any = text_fragment(doc)
        for level in range(depth - 1):
            parent = parent.children.append(
                XmlElement("bulletList" if level % 2 == 0 else "listItem"))
        parent.children.append(XmlElement("paragraph", {}, [XmlText("fond")]))
    return change


def test_elements_nested_past_the_bound_are_refused_wherever_they_are_inserted() -> None:
    # Found by the fuzzer (tests/e2e/test_hostile_fuzz.py): 400 nested lists made every
    # HTML export of the document fail with RecursionError (a 500).
    bounds = TextBounds(block_chars=200, attribute_chars=100, depth=9)
    live = _charte()
    ok = _edit(live, _nested(9))
    assert ShapeMirror(bounds).judge(live, ok) is None
    live.apply_update(ok)
    too_deep = _edit(live, _nested(10))
    assert ShapeMirror(bounds).judge(live, too_deep) == "elements nest at most 9 deep"

    def below(doc: Doc[Any]) -> None:  # two more under the deepest list item: 10 deep
        element = _element(doc, len(text_fragment(doc).children) - 1)
        for _ in range(7):
            child = element.children[0]
            assert isinstance(child, XmlElement)
            element = child
        assert element.tag == "listItem"
        element.children.append(XmlElement("bulletList")).children.append(
            XmlElement("listItem"))

    assert ShapeMirror(bounds).judge(live, _edit(live, below)) == "elements nest at most 9 deep"


def test_a_tree_deeper_than_the_stack_is_judged_and_rendered_without_recursion_error() -> None:
    live = _charte()
    deep = _edit(live, _nested(3_000))
    assert ShapeMirror(BOUNDS).judge(live, deep) == "elements nest at most 48 deep"
    live.apply_update(deep)  # as a document stored before the rule may hold it
    assert "fond" not in to_html(live) and "<ul>" in to_html(live)
    assert to_markdown(live).startswith("## Article premier")
    assert len(to_json(live)["blocks"]) > 100  # type: ignore[arg-type]


def test_a_block_longer_than_the_bound_is_refused_and_one_at_it_is_not() -> None:
    live = _charte()
    mirror = ShapeMirror(BOUNDS)
    length = len("La commune garantit l'égalité.")

    def grow(by: int) -> Callable[[Doc[Any]], None]:
        def change(doc: Doc[Any]) -> None:
            text = _element(doc, 1).children[0]
            assert isinstance(text, XmlText)
            text.insert(0, "é" * by)
        return change

    assert mirror.judge(live, _edit(live, grow(200 - length))) is None
    refusal = mirror.judge(live, _edit(live, grow(201 - length)))
    assert refusal == "a block holds at most 200 characters"


def test_unknown_marks_and_long_hrefs_are_refused() -> None:
    live = _charte()

    def mark(name: str, value: object) -> Callable[[Doc[Any]], None]:
        def change(doc: Doc[Any]) -> None:
            text = _element(doc, 1).children[0]
            assert isinstance(text, XmlText)
            text.format(0, 3, {name: value})
        return change

    mirror = ShapeMirror(BOUNDS)
    assert mirror.judge(live, _edit(live, mark("blink", {}))) == "unknown mark 'blink'"
    refusal = mirror.judge(live, _edit(live, mark("link", {"href": "h" * 101})))
    assert refusal is not None and "at most 100 characters" in refusal
    assert mirror.judge(live, _edit(live, mark("link", {"href": "https://ville.fr",
                                                       "target": None}))) is None


def test_honest_edits_are_accepted_on_top_of_each_other_before_they_are_applied() -> None:
    live = _charte()
    mirror = ShapeMirror(BOUNDS)
    editor: Doc[Any] = Doc()
    editor.apply_update(live.get_update())
    for word in ("Zoé ", "propose "):
        before = editor.get_state()
        text = _element(editor, 1).children[0]
        assert isinstance(text, XmlText)
        text.insert(0, word)
        assert mirror.judge(live, editor.get_update(before)) is None
    before = editor.get_state()
    text_fragment(editor).children.append(
        XmlElement("heading", {"level": 3, "id": "h-élodie"},  # type: ignore[arg-type]
                   [XmlText("Article 2")]))
    assert mirror.judge(live, editor.get_update(before)) is None
    assert text_fragment(live).children.__len__() == 3  # judging never touches the live doc


def test_an_update_that_does_not_apply_raises_invalid_update() -> None:
    with pytest.raises(InvalidUpdate):
        ShapeMirror(BOUNDS).judge(_charte(), b"\x05\x01\x02")


def test_renderers_clamp_a_stored_level_and_start() -> None:
    doc = _charte()
    _element(doc, 0).attributes["level"] = 1e9
    _element(doc, 2).attributes["start"] = float("inf")
    markdown = to_markdown(doc)
    assert markdown.startswith("###### Article premier\n")
    assert "1. un" in markdown
    html = to_html(doc)
    assert "<h6" in html and "start=" not in html
    assert to_json(doc)["blocks"][0]["level"] == 6  # type: ignore[index,call-overload]
    _element(doc, 2).attributes["start"] = 10**12
    assert "999999999. un" in to_markdown(doc)
    assert len(to_markdown(doc)) < 200


def test_a_patch_past_the_data_bounds_is_refused_before_anything_is_applied() -> None:
    doc: Doc[Any] = Doc()
    apply_merge_patch(doc, {"title": "Suivi", "entries": {"a": {"body": "x"}, "b": {"body": "y"}}})
    cases: list[tuple[JsonObject, str]] = [
        ({"entries": {"c": {"body": "z"}, "d": {"body": "w"}}}, "at entries: more than 3"),
        ({"entries": {"c": {"body": "z" * 21}}}, "at entries/c/body: a string longer"),
        ({"entries": {"c": {"author": {"name": {"x": 1}}}}}, "nested deeper than 4"),
        ({"k" * 21: 1}, "a string longer than 20"),
        ({"tags": [1, 2, 3, 4]}, "at tags: more than 3"),
    ]
    for patch, says in cases:
        with pytest.raises(SchemaError, match=says):
            check_patch_bounds(doc, patch, DATA)
    with pytest.raises(SchemaError, match="at most 12 values: split it"):
        check_patch_bounds(doc, {"entries": {"a": {"body": "x", "place": "y", "link": "z"},
                                             "b": {"body": "x", "place": "y", "link": "z"},
                                             "c": {"body": "x", "place": "y", "link": "z"}}},
                           DATA)
    # Removing one entry makes room for another.
    check_patch_bounds(doc, {"entries": {"a": None, "c": {"body": "z"}, "d": {"body": "w"}}},
                       DATA)


def test_changed_values_are_checked_with_the_objects_holding_them() -> None:
    after: JsonObject = {"title": "Suivi",
                         "entries": {"a": {}, "b": {}, "c": {}, "d": {"body": "ok"}}}
    with pytest.raises(SchemaError, match="at entries: more than 3"):
        check_changed_bounds(after, [("entries", "d")], DATA)
    check_changed_bounds({"entries": {"a": {"body": "ok"}}}, [("entries", "a")], DATA)
    with pytest.raises(SchemaError, match="nested deeper"):
        check_changed_bounds({"e": {"a": {"b": {"c": {}}}}}, [("e",)], DATA)


def test_a_patch_reads_only_the_items_it_names() -> None:
    doc: Doc[Any] = Doc()
    apply_merge_patch(doc, {"title": "Suivi", "themes": {"t": {"label": "T"}},
                            "entries": {f"e{i}": {"body": str(i)} for i in range(50)}})
    seen = read_touched(doc, {"entries": {"e7": {"body": "sept"}, "neuf": {"body": "9"}}},
                        ("entries", "themes"))
    assert seen == {"title": "Suivi", "themes": {}, "entries": {"e7": {"body": "7"}}}
    after = merge_patch(seen, {"entries": {"e7": {"body": "sept"}}})
    assert isinstance(after, dict)
    assert changed_paths(seen, after) == [("entries", "e7", "body")]


def test_read_data_reads_the_whole_tree_as_json() -> None:
    doc: Doc[Any] = Doc()
    root(doc)["x"] = Map({"n": 3.0, "f": 2.5, "l": ["é", True, None]})
    assert read_data(doc) == {"x": {"f": 2.5, "l": ["é", True, None], "n": 3}}
