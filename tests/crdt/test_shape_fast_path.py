"""The text guard's fast path: plain keystrokes skip the shadow, yet every bound holds."""

from __future__ import annotations

from typing import Any

from pycrdt import Doc, Text, XmlElement, XmlFragment, XmlText

from crdt.schema import plain_text
from crdt.shape import _UNAPPLIED_MAX, ShapeMirror, TextBounds, unjudged_chars
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
    assert mirror._shadow is None  # the live document is the only copy
    assert str(live.get("notes", type=Text)) == "".join(f"note {i};" for i in range(20))
    heading = editor.get("default", type=XmlFragment).children[0]
    assert isinstance(heading, XmlElement)
    before = editor.get_state()
    heading.attributes["level"] = 9  # the fragment is still judged in full
    assert mirror.judge(live, editor.get_update(before)) == \
        "a heading level is a whole number from 1 to 6"


def _typed(editor: Doc[Any], type_in: Any, text: str) -> bytes:
    before = editor.get_state()
    type_in.insert(len(type_in), text)
    return editor.get_update(before)


def test_free_typing_long_after_the_shadow_was_built_drops_it_and_judging_goes_on() -> None:
    """Past `_UNAPPLIED_MAX` free keystrokes the shadow is let go (one copy again), and
    the next full judgement builds it from the live document and what is not committed."""
    live, editor = _docs()
    mirror = ShapeMirror(BOUNDS)
    heading = editor.get("default", type=XmlFragment).children[0]
    assert isinstance(heading, XmlElement)
    before = editor.get_state()
    heading.attributes["level"] = 2
    update = editor.get_update(before)
    assert mirror.judge(live, update) is None
    live.apply_update(update)
    assert mirror._shadow is not None
    notes = editor.get("notes", type=Text)
    uncommitted = []
    for i in range(_UNAPPLIED_MAX + 1):
        update = _typed(editor, notes, f"{i};")
        assert mirror.judge(live, update) is None
        if i % 2:
            live.apply_update(update)
        else:
            uncommitted.append(update)  # accepted, not committed yet
    assert mirror._shadow is None
    text = heading.children[0]
    assert isinstance(text, XmlText)
    before = editor.get_state()
    text.insert(0, "Le ")
    heading.attributes["level"] = 3  # judged in full, on a shadow built again
    assert mirror.judge(live, editor.get_update(before)) is None
    shadow = mirror._shadow
    assert shadow is not None
    held = decode_state_vector(shadow.get_state())  # every accepted update, committed or not
    assert held[editor.client_id] == decode_state_vector(editor.get_state())[editor.client_id]
    before = editor.get_state()
    heading.attributes["level"] = 9
    assert mirror.judge(live, editor.get_update(before)) == \
        "a heading level is a whole number from 1 to 6"


def test_keystrokes_before_the_shadow_exists_are_measured_when_it_is_built() -> None:
    """The first full judgement builds the shadow and measures every block: a block that
    plain keystrokes took past the bound before it existed is found too long, so its next
    keystroke is judged (and refused) although the budget was just renewed."""
    bounds = TextBounds(block_chars=160, attribute_chars=100)
    live: Doc[Any] = Doc()
    blocks = live.get("default", type=XmlFragment).children
    blocks.append(XmlElement("paragraph", {"id": "p1"}, [XmlText("T" * 158)]))
    blocks.append(XmlElement("paragraph", {"id": "p2"}, [XmlText("court")]))
    editor: Doc[Any] = Doc()
    editor.apply_update(live.get_update())
    mirror = ShapeMirror(bounds)
    children = editor.get("default", type=XmlFragment).children
    long_block, other = children[0], children[1]
    assert isinstance(long_block, XmlElement) and isinstance(other, XmlElement)
    text = long_block.children[0]
    assert isinstance(text, XmlText)
    for _ in range(unjudged_chars(bounds)):  # within the budget: none judged in full
        update = _typed(editor, text, "x")
        assert mirror.judge(live, update) is None
        live.apply_update(update)
    assert mirror._shadow is None
    assert len(str(text)) > bounds.block_chars
    before = editor.get_state()
    other.attributes["id"] = "p2-bis"  # elsewhere: judged in full, accepted
    update = editor.get_update(before)
    assert mirror.judge(live, update) is None
    live.apply_update(update)
    assert mirror.judge(live, _typed(editor, text, "y")) == \
        f"a block holds at most {bounds.block_chars} characters"
    notes = editor.get("notes", type=Text)
    assert mirror.judge(live, _typed(editor, notes, "free text grows no block")) is None
