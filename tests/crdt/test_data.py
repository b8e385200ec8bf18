"""JSON on Y.Map/Y.Array: RFC 7396 merge patches as the smallest CRDT change."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pycrdt import Doc

from crdt.data import (
    Json,
    JsonMirror,
    apply_merge_patch,
    changed_paths,
    merge_patch,
    read_data,
)
from crdt.errors import SchemaError
from crdt.schemas import SCHEMA_NAMES, load_example, validate

# RFC 7396, appendix A (the cases whose target is an object: a document's root is one).
RFC_CASES: list[tuple[Json, Json, Json]] = [
    ({"a": "b"}, {"a": "c"}, {"a": "c"}),
    ({"a": "b"}, {"b": "c"}, {"a": "b", "b": "c"}),
    ({"a": "b"}, {"a": None}, {}),
    ({"a": "b", "b": "c"}, {"a": None}, {"b": "c"}),
    ({"a": ["b"]}, {"a": "c"}, {"a": "c"}),
    ({"a": "c"}, {"a": ["b"]}, {"a": ["b"]}),
    ({"a": {"b": "c"}}, {"a": {"b": "d", "c": None}}, {"a": {"b": "d"}}),
    ({"a": [{"b": "c"}]}, {"a": [1]}, {"a": [1]}),
    ({"e": None}, {"a": 1}, {"e": None, "a": 1}),
    ({}, {"a": {"bb": {"ccc": None}}}, {"a": {"bb": {}}}),
]


@pytest.mark.parametrize(("target", "patch", "expected"), RFC_CASES)
def test_rfc_7396_examples_hold_on_json_and_on_the_document(
    target: Json, patch: Json, expected: Json
) -> None:
    assert merge_patch(target, patch) == expected
    doc: Doc[Any] = Doc()
    assert isinstance(target, dict) and isinstance(patch, dict)
    apply_merge_patch(doc, target)
    apply_merge_patch(doc, patch)
    if target == {"e": None}:
        expected = {"a": 1}  # a null in the first patch deletes nothing and stores nothing
    assert read_data(doc) == expected


def test_patches_of_different_fields_made_concurrently_both_survive() -> None:
    base: Doc[Any] = Doc()
    apply_merge_patch(base, load_example("catalogue"))
    left: Doc[Any] = Doc()
    right: Doc[Any] = Doc()
    left.apply_update(base.get_update())
    right.apply_update(base.get_update())
    apply_merge_patch(left, {"projects": {"fontaines": {"progress": 20}}})
    apply_merge_patch(right, {"projects": {"fontaines": {"title": "Fontaines fraîches"},
                                           "jardins-partages": {"theme": "nature"}}})
    left.apply_update(right.get_update(left.get_state()))
    right.apply_update(left.get_update(right.get_state()))
    assert read_data(left) == read_data(right)
    data: dict[str, Any] = dict(read_data(left))
    fontaines = data["projects"]["fontaines"]
    assert fontaines["progress"] == 20 and fontaines["title"] == "Fontaines fraîches"
    assert data["projects"]["jardins-partages"]["theme"] == "nature"


def test_a_patch_that_changes_nothing_writes_nothing() -> None:
    doc: Doc[Any] = Doc()
    apply_merge_patch(doc, load_example("library"))
    state = doc.get_state()
    apply_merge_patch(doc, {"title": load_example("library")["title"],
                            "resources": {"retour-nancy": {"tags": [
                                "retour d'expérience", "constitution municipale"]}}})
    assert doc.get_state() == state


def test_changed_paths_go_as_deep_as_objects() -> None:
    before: Json = {"a": {"b": 1, "c": [1, 2]}, "d": 1}
    after: Json = {"a": {"b": 2, "c": [1, 2, 3]}, "e": 1}
    assert changed_paths(before, after) == [("a", "b"), ("a", "c"), ("d",), ("e",)]


@pytest.mark.parametrize("name", SCHEMA_NAMES)
def test_every_example_is_valid_and_a_broken_one_is_refused_saying_where(name: str) -> None:
    example = load_example(name)
    validate(name, example)
    with pytest.raises(SchemaError, match=r"at \(root\)"):
        validate(name, {**example, "inconnu": 1})


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**31), 2**31) | st.text(max_size=5),
    lambda inner: st.lists(inner, max_size=3)
    | st.dictionaries(st.sampled_from("abcd"), inner, max_size=3),
    max_leaves=12,
)
objects = st.dictionaries(st.sampled_from("abcd"), json_values, max_size=4)


@settings(max_examples=200, deadline=None)
@given(first=objects, second=objects)
def test_applying_a_patch_to_the_document_equals_rfc_7396_on_json(
    first: dict[str, Json], second: dict[str, Json]
) -> None:
    doc: Doc[Any] = Doc()
    apply_merge_patch(doc, first)
    assert read_data(doc) == merge_patch({}, first)
    apply_merge_patch(doc, second)
    assert read_data(doc) == merge_patch(merge_patch({}, first), second)
    copy: Doc[Any] = Doc()
    copy.apply_update(doc.get_update())
    assert read_data(copy) == read_data(doc)


@settings(max_examples=200, deadline=None)
@given(first=objects, patches=st.lists(objects, min_size=1, max_size=4))
def test_a_mirror_rereads_only_what_changed_and_equals_a_full_read(
    first: dict[str, Json], patches: list[dict[str, Json]]
) -> None:
    writer: Doc[Any] = Doc()
    apply_merge_patch(writer, first)
    mirror = JsonMirror(writer.get_update())
    assert mirror.data == read_data(writer)
    for patch in patches:
        state = writer.get_state()
        apply_merge_patch(writer, patch)
        before, touched = mirror.apply(writer.get_update(state))
        assert mirror.data == read_data(writer) == read_data(mirror.doc)
        # Whatever differs lies under a touched path.
        for path in changed_paths(before, mirror.data):
            assert any(path[: len(item)] == item for item in touched), (path, touched)
