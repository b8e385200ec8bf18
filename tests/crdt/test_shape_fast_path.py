"""The text guard's fast path: plain keystrokes skip the shadow, yet every bound holds."""

from __future__ import annotations

from typing import Any

from pycrdt import Doc, Text, XmlElement, XmlFragment, XmlText

from crdt.schema import plain_text
from crdt.shape import ShapeMirror, TextBounds, unjudged_chars
from crdt.struct_ranges import decode_state_vector

BOUNDS = TextBounds(block_chars=8_000, attribute_chars=100)
MARGIN = unjudged_chars(BOUNDS)


def _docs() -> tuple[Doc[Any], Doc[Any]]:
    live: Doc[Any] = Doc()
    live.get("default", type=XmlFragment).children.append(
        XmlElement("heading", {"id": "h", "level": 1},  # type: ignore[arg-type]
                   [XmlText("Titre")]))
    editor: Doc[Any] = Doc()
    editor.apply_update(live.get_update())
    return live, editor


def _varuint(value: int) -> bytes:
    out = bytearray()
    while value >= 0x80:
        out.append(value & 0x7F | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def test_a_block_typed_in_small_updates_stops_within_the_margin() -> None:
    live, editor = _docs()
    mirror = ShapeMirror(BOUNDS)
    text = editor.get("default", type=XmlFragment).children[0].children[0]
    assert isinstance(text, XmlText)
    refused = 0
    for _ in range(BOUNDS.block_chars + 3 * MARGIN):
        before = editor.get_state()
        text.insert(len(text), "x")
        update = editor.get_update(before)
        if mirror.judge(live, update) is None:
            live.apply_update(update)
        else:
            refused += 1
            editor = Doc()  # the refused edit is dropped: start again from the live text
            editor.apply_update(live.get_update())
            text = editor.get("default", type=XmlFragment).children[0].children[0]
            assert isinstance(text, XmlText)
    heading = live.get("default", type=XmlFragment).children[0]
    assert isinstance(heading, XmlElement)
    assert len(plain_text(heading)) <= BOUNDS.block_chars + MARGIN
    assert refused >= MARGIN  # once found too long, every growth is refused


def test_an_attribute_update_after_keystrokes_is_judged() -> None:
    live, editor = _docs()
    mirror = ShapeMirror(BOUNDS)
    heading = editor.get("default", type=XmlFragment).children[0]
    assert isinstance(heading, XmlElement)
    text = heading.children[0]
    assert isinstance(text, XmlText)
    for _ in range(5):
        before = editor.get_state()
        text.insert(0, "a")
        update = editor.get_update(before)
        assert mirror.judge(live, update) is None
        live.apply_update(update)
    before = editor.get_state()
    heading.attributes["level"] = 9
    assert mirror.judge(live, editor.get_update(before)) == \
        "a heading level is a whole number from 1 to 6"


def test_a_string_placed_after_an_attribute_value_is_judged() -> None:
    """A string whose left neighbour is an attribute's value sets that attribute."""
    live, editor = _docs()
    mirror = ShapeMirror(BOUNDS)
    heading = editor.get("default", type=XmlFragment).children[0]
    assert isinstance(heading, XmlElement)
    client = editor.client_id
    before = editor.get_state()
    heading.attributes["level"] = 2
    update = editor.get_update(before)
    assert mirror.judge(live, update) is None
    live.apply_update(update)
    clock = 0
    hostile = (b"\x01\x01" + _varuint(client) + _varuint(clock + 1) + b"\x84"
               + _varuint(client) + _varuint(clock) + b"\x01<" + b"\x00")
    assert mirror.judge(live, hostile) == "a heading level is a whole number from 1 to 6"


def test_typing_in_a_root_text_beside_the_fragment_skips_the_shadow() -> None:
    """A root ``Y.Text`` outside the editor's fragment has no shape: its keystrokes are
    accepted from their bytes, and the shadow does not follow them one by one."""
    live, editor = _docs()
    mirror = ShapeMirror(BOUNDS)
    notes = editor.get("notes", type=Text)
    for i in range(20):
        before = editor.get_state()
        notes.insert(len(notes), f"note {i};")
        update = editor.get_update(before)
        assert mirror.judge(live, update) is None
        live.apply_update(update)
    shadow = mirror._shadow  # the fast path leaves it as built at the first judgement
    assert shadow is not None
    assert editor.client_id not in decode_state_vector(shadow.get_state())
    assert str(live.get("notes", type=Text)) == "".join(f"note {i};" for i in range(20))
    heading = editor.get("default", type=XmlFragment).children[0]
    assert isinstance(heading, XmlElement)
    before = editor.get_state()
    heading.attributes["level"] = 9  # the fragment is still judged in full
    assert mirror.judge(live, editor.get_update(before)) == \
        "a heading level is a whole number from 1 to 6"
