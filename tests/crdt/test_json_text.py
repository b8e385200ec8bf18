"""`crdt.json_text`: the text of a data document from kept pieces is the text of the
whole, and a new version encodes only the items that changed."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import crdt.json_text as json_text
from crdt.json_text import IdentityMemo, JsonPieces, to_text

scalars = st.none() | st.booleans() | st.integers(-10**6, 10**6) | st.text(max_size=8) \
    | st.floats(allow_nan=False, allow_infinity=False)
values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=3)
                      | st.dictionaries(st.text(max_size=4), inner, max_size=3), max_leaves=8)
items = st.dictionaries(st.text(max_size=6), st.dictionaries(st.text(max_size=4), values,
                                                             max_size=4), max_size=6)
documents = st.fixed_dictionaries({"title": st.text(max_size=10), "actors": items,
                                   "history": st.lists(values, max_size=3)})


def whole(data: object) -> str:
    return json.dumps(data, ensure_ascii=False, separators=(",", ":"), allow_nan=False)


def render(pieces: JsonPieces, data: dict[str, Any]) -> str:
    """`data` written with its actors' pieces, as the data views join them."""
    return "{" + ",".join(
        to_text(key) + ":" + ("{" + b",".join(pieces.piece(k, item) for k, item in value.items())
                              .decode() + "}" if key == "actors" else to_text(value))
        for key, value in data.items()) + "}"


@settings(max_examples=200, deadline=None)
@given(first=documents, second=documents)
def test_the_text_from_pieces_is_the_text_of_the_whole_version_after_version(
    first: dict[str, Any], second: dict[str, Any],
) -> None:
    pieces = JsonPieces()
    assert render(pieces, first) == whole(first)
    # The next version shares the items it did not change, as a mirror's does.
    mixed = {**second, "actors": {**first["actors"], **second["actors"]}}
    for key in second["actors"]:
        if key in first["actors"]:
            pieces.forget(first["actors"][key])
    assert render(pieces, mixed) == whole(mixed)


def test_a_new_version_encodes_only_the_items_that_changed(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    actors = {f"a{n}": {"name": f"Acteur {n}", "tags": ["épicerie"], "n": n}
              for n in range(1000)}
    data: dict[str, Any] = {"title": "Carte", "actors": actors}
    pieces = JsonPieces()
    render(pieces, data)
    encoded: list[object] = []

    def counting(value: object) -> str:
        encoded.append(value)
        return to_text(value)

    monkeypatch.setattr(json_text, "to_text", counting)
    changed = {**actors, "a7": {**actors["a7"], "name": "Changé"}}
    after = {**data, "actors": changed}
    pieces.forget(actors["a7"])
    text = render(pieces, after)
    assert [value for value in encoded if isinstance(value, dict)] == [changed["a7"]]
    assert json.loads(text) == after
    assert len(pieces) == 1000  # the replaced item's text is forgotten


def test_an_identity_memo_derives_once_per_object_and_forgets_what_is_gone() -> None:
    memo = IdentityMemo()
    calls: list[object] = []
    kept = [{"n": n} for n in range(10)]

    def derive(value: dict[str, int]) -> int:
        calls.append(value)
        return value["n"] * 2

    assert [memo.get(value, derive) for value in kept * 2] == [n * 2 for n in range(10)] * 2
    assert len(calls) == 10
    assert memo.forget(kept[5]) == 10 and memo.forget(kept[5]) is None
    assert len(memo) == 9
    memo.get(kept[5], derive)
    assert len(calls) == 11
