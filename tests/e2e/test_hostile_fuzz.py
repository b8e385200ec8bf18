"""Fuzzing a real server through real sockets: y-websocket frames on ``/ws/{doc}``,
Hocuspocus frames on ``/hocuspocus``, and ProseMirror trees with adversarial node names
and attributes sent as sync updates.

After every example: each socket the attacker opened ended with a documented close code
(never 1011, never without an answer), the probes and every export of the document answer
without 5xx, a fresh socket sync reads a tree the shape rules (`crdt.shape`) accept, an
honest member's edit reaches another honest member, and the server's stderr holds no
traceback. One server serves every example of the module (`tests.e2e.fuzzing`). In CI
(``CI=true``) the examples are derandomized: the same ones on every run.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pycrdt import Doc, Text, XmlElement, XmlFragment, XmlText

from crdt.awareness import AwarenessEntry, encode_awareness_update
from crdt.hocuspocus import HocuspocusType, prefix
from crdt.protocol import (
    encode_awareness,
    encode_sync_step1,
    encode_sync_step2,
    encode_sync_update,
    encode_varstring,
    encode_varuint,
)
from crdt.schema import FRAGMENT
from tests.e2e.fuzzing import (
    ATTACKER,
    DOCUMENTED_CLOSES,
    MAX_MESSAGE_BYTES,
    FuzzTarget,
    Honest,
    close_after,
    fuzz_target,
    replica,
    state_of,
)

FUZZ = settings(
    max_examples=int(os.environ.get("PALABRE_FUZZ_EXAMPLES", "50")),
    deadline=None,
    derandomize=os.environ.get("CI", "").lower() == "true",
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    database=None,
)


@pytest.fixture(scope="module")
def target(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FuzzTarget]:
    """One server for the module's examples."""
    with fuzz_target(tmp_path_factory.mktemp("fuzz") / "data") as running:
        yield running


# -- y-websocket frames -------------------------------------------------------------------

varuints = st.one_of(st.integers(0, 300), st.integers(0, 2**64)).map(encode_varuint)
bad_varints = st.sampled_from([b"\x80", b"\xff" * 9, b"\xff" * 12, b"\x80\x80\x80", b""])
lengths = st.one_of(st.integers(0, 40), st.sampled_from([2**31, 2**53, 2**63, 10**6]))


client_ids = st.integers(1, 2**32 - 1)


def yjs_update(text: str, client_id: int = 7) -> bytes:
    """A valid Yjs update (text inserted in ``body``) from client `client_id`."""
    doc: Doc[Any] = Doc(client_id=client_id)
    doc.get("body", type=Text).insert(0, text)
    update: bytes = doc.get_update()
    return update


@st.composite
def garbled_updates(draw: st.DrawFn) -> bytes:
    """A valid-looking Yjs update, then bytes flipped, cut or appended."""
    update = bytearray(yjs_update(draw(st.text(max_size=20)), draw(client_ids)))
    for _ in range(draw(st.integers(0, 3))):
        at = draw(st.integers(0, len(update) - 1))
        update[at] = draw(st.integers(0, 255))
    cut = draw(st.integers(0, len(update)))
    return bytes(update[:cut]) + draw(st.binary(max_size=8))


@st.composite
def awareness_payloads(draw: st.DrawFn) -> bytes:
    """An awareness update: plausible entries with random ids, clocks and states."""
    states = st.one_of(
        st.just(b"null"), st.just(b'{"user":{"name":"M"}}'), st.binary(max_size=30),
        st.text(max_size=30).map(lambda t: b'{"user":{"name":' + repr(t).encode() + b"}}"),
        st.integers(0, 20_000).map(lambda n: b'{"x":"' + b"a" * n + b'"}'),
    )
    entries = draw(st.lists(st.builds(
        AwarenessEntry, st.integers(0, 2**53), st.integers(0, 2**53), states,
    ), max_size=4))
    return encode_awareness_update(entries)


@st.composite
def y_messages(draw: st.DrawFn) -> bytes:
    """One y-websocket message: well-formed, malformed, or plausible with garbage."""
    kind = draw(st.sampled_from(["sync", "awareness", "auth", "query", "raw", "length"]))
    if kind == "sync":
        payload = draw(st.one_of(garbled_updates(), st.binary(max_size=40),
                                 st.builds(yjs_update, st.text(max_size=30), client_ids)))
        step = draw(st.sampled_from([encode_sync_step1, encode_sync_step2, encode_sync_update]))
        return step(payload) + draw(st.sampled_from([b"", b"\x00", b"\xff"]))
    if kind == "awareness":
        return encode_awareness(draw(st.one_of(awareness_payloads(), st.binary(max_size=40))))
    if kind == "auth":
        return b"\x02" + draw(varuints) + encode_varstring(draw(st.text(max_size=20)))
    if kind == "query":
        return b"\x03" + draw(st.binary(max_size=4))
    if kind == "length":  # a declared length the frame does not hold
        return draw(st.sampled_from([b"\x00", b"\x01"])) + draw(varuints) + \
            encode_varuint(draw(lengths)) + draw(st.binary(max_size=10))
    return draw(st.one_of(bad_varints, st.binary(max_size=50), varuints))


frames = st.one_of(
    y_messages(), y_messages(), y_messages(),
    st.text(max_size=20),  # a text frame where binary is expected
    st.just("<oversized>"),  # stands for a sync update past the message bound
)
OVERSIZED = b"\x00\x02" + encode_varuint(MAX_MESSAGE_BYTES) + b"\x00" * MAX_MESSAGE_BYTES


def expanded(script: list[bytes | str]) -> list[bytes | str]:
    """The frames to send (a short stand-in drawn, so that a failure's repr stays short)."""
    return [OVERSIZED if frame == "<oversized>" else frame for frame in script]


@FUZZ
@given(script=st.lists(frames, min_size=1, max_size=5))
def test_ywebsocket_frames_never_break_the_server(
    target: FuzzTarget, honest_ws: Honest, script: list[bytes | str],
) -> None:
    code = target.run(lambda: close_after(target.attacker_url("/ws/fuzz-ws"), expanded(script)))
    assert code in DOCUMENTED_CLOSES, code
    target.assert_still_serving("fuzz-ws", honest_ws)


@pytest.fixture(scope="module")
def honest_ws(target: FuzzTarget) -> Iterator[Honest]:
    with target.honest("fuzz-ws") as honest:
        yield honest


# -- Hocuspocus frames --------------------------------------------------------------------

names = st.one_of(
    st.sampled_from(["fuzz-hp", "fuzz-hp", "fuzz-hp-b", "..", "", "x" * 300, "ré/sumé"]),
    st.text(max_size=12),
)


@st.composite
def hocuspocus_frames(draw: st.DrawFn, token: str) -> bytes:
    """One Hocuspocus frame about a drawn document."""
    head = prefix(draw(names))
    kind = draw(st.sampled_from(["auth", "auth", "y", "stateless", "close", "type", "raw"]))
    if kind == "auth":
        presented = draw(st.one_of(st.just(token), st.text(max_size=30)))
        return head + bytes([HocuspocusType.AUTH]) + draw(st.one_of(
            st.just(b"\x00"), varuints)) + encode_varstring(presented) + draw(st.one_of(
                st.just(encode_varstring("palabre-fuzz")), st.binary(max_size=3)))
    if kind == "y":
        return head + draw(y_messages())
    if kind == "stateless":
        return head + bytes([HocuspocusType.STATELESS]) + draw(st.one_of(
            st.text(max_size=40).map(encode_varstring), st.binary(max_size=8)))
    if kind == "close":
        return head + bytes([HocuspocusType.CLOSE]) + draw(st.binary(max_size=3))
    if kind == "type":
        return head + draw(varuints) + draw(st.binary(max_size=10))
    return draw(st.one_of(st.binary(max_size=40), bad_varints, st.just(b"\x0a")))


@FUZZ
@given(data=st.data())
def test_hocuspocus_frames_never_break_the_server(
    target: FuzzTarget, honest_hp: Honest, data: st.DataObject,
) -> None:
    token = target.token(*ATTACKER)
    first = prefix("fuzz-hp") + bytes([HocuspocusType.AUTH, 0]) + encode_varstring(token)
    script = data.draw(st.lists(hocuspocus_frames(token), min_size=1, max_size=6))
    url = target.process.ws_url + "/hocuspocus"
    code = target.run(lambda: close_after(url, [first, *script]))
    assert code in DOCUMENTED_CLOSES, code
    target.assert_still_serving("fuzz-hp", honest_hp)


@pytest.fixture(scope="module")
def honest_hp(target: FuzzTarget) -> Iterator[Honest]:
    with target.honest("fuzz-hp") as honest:
        yield honest


# -- ProseMirror trees --------------------------------------------------------------------

TAGS = ["heading", "paragraph", "bulletList", "orderedList", "listItem", "hardBreak"]
ODD_TAGS = ["", "script", "Heading", "heading\x00", "x" * 200, "doc", "text", "image"]
KEYS = ["level", "start", "id", "type", "onclick", "style", "", "k" * 100, "level--1"]
int64s = st.integers(-(2**63), 2**63 - 1)  # what a Yjs "any" holds as an integer
values: st.SearchStrategy[Any] = st.one_of(
    st.integers(-3, 9), st.sampled_from([-(2**53), 2**53, 10**9, 999_999_999, 10**18]),
    st.floats(allow_nan=False, allow_infinity=False), st.booleans(), st.none(),
    st.text(max_size=12), st.sampled_from(["p-1", "a b", "x" * 129, "1", "a" * 3_000]),
    st.lists(int64s, max_size=3), st.dictionaries(st.text(max_size=4), int64s, max_size=2),
)
MARK_NAMES = ["bold", "italic", "link", "code", "bold--a1b2", "script", "href", "x" * 60]
marks = st.dictionaries(
    st.sampled_from(MARK_NAMES),
    st.one_of(st.none(), st.just({}), values, st.dictionaries(
        st.sampled_from(["href", "target", "onclick", "title"]),
        st.one_of(st.text(max_size=10), st.just("j" * 400), values), max_size=2)),
    max_size=2,
)


@st.composite
def leaves(draw: st.DrawFn) -> tuple[str, Any]:
    """A text run: its text (sometimes past the block bound) and marks."""
    text = draw(st.one_of(st.text(max_size=20), st.integers(0, 4_000).map(lambda n: "é" * n)))
    return ("text", (text or "·", draw(marks)))


def elements(children: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.tuples(
        st.just("element"),
        st.tuples(
            st.one_of(st.sampled_from(TAGS), st.sampled_from(TAGS), st.sampled_from(ODD_TAGS)),
            st.dictionaries(st.sampled_from(KEYS), values, max_size=3),
            st.lists(children, max_size=3),
        ),
    )


trees = st.recursive(leaves(), elements, max_leaves=8)


@st.composite
def deep_chains(draw: st.DrawFn) -> Any:
    """A list nested `depth` times (``bulletList > listItem > bulletList ...``)."""
    node: Any = ("element", ("paragraph", {}, [("text", ("fond", {}))]))
    for level in range(draw(st.integers(1, 400))):
        tag = "listItem" if level % 2 == 0 else "bulletList"
        node = ("element", (tag, {}, [node]))
    return node


def build(parent: XmlFragment | XmlElement, index: int, node: Any) -> None:
    """Insert the drawn `node` at `index` of `parent`."""
    kind, payload = node
    if kind == "text":
        text, attrs = payload
        inserted = parent.children.insert(index, XmlText())
        inserted.insert(0, text, attrs or None)
        return
    tag, attrs, children = payload
    element = parent.children.insert(index, XmlElement(tag))
    for key, value in attrs.items():
        element.attributes[key] = value
    for position, child in enumerate(children):
        build(element, position, child)


@st.composite
def tree_edits(draw: st.DrawFn) -> tuple[str, Any]:
    """Insert a tree (or a deep chain) somewhere, or set attributes on an existing node."""
    kind = draw(st.sampled_from(["insert", "insert", "deep", "attributes", "mark"]))
    if kind == "insert":
        return kind, draw(elements(trees))
    if kind == "deep":
        return "insert", draw(deep_chains())
    if kind == "attributes":
        return kind, draw(st.dictionaries(st.sampled_from(KEYS), values, min_size=1, max_size=2))
    return kind, draw(leaves())


def edited_update(state: bytes, edits: list[tuple[str, Any]], where: float) -> bytes:
    """The update making `edits` on a replica of `state`."""
    doc = replica(state)
    before = doc.get_state()
    fragment = doc.get(FRAGMENT, type=XmlFragment)
    for kind, payload in edits:
        existing = [child for child in fragment.children if isinstance(child, XmlElement)]
        index = round(where * len(fragment.children))
        if kind == "insert":
            build(fragment, index, payload)
        elif existing and kind == "attributes":
            element = existing[round(where * (len(existing) - 1))]
            for key, value in payload.items():
                element.attributes[key] = value
        elif existing:
            build(existing[round(where * (len(existing) - 1))], 0, payload)
    update: bytes = doc.get_update(before)
    return update


@FUZZ
@given(edits=st.lists(tree_edits(), min_size=1, max_size=3), where=st.floats(0, 1))
def test_adversarial_trees_are_never_stored(
    target: FuzzTarget, honest_tree: Honest, edits: list[tuple[str, Any]], where: float,
) -> None:
    async def attack() -> int:
        update = edited_update(state_of(honest_tree), edits, where)
        frame = encode_sync_update(update)
        return await close_after(target.attacker_url("/ws/fuzz-tree"), [frame])

    code = target.run(attack)
    assert code in DOCUMENTED_CLOSES, code
    target.assert_still_serving("fuzz-tree", honest_tree)


@pytest.fixture(scope="module")
def honest_tree(target: FuzzTarget) -> Iterator[Honest]:
    with target.honest("fuzz-tree") as honest:
        yield honest


def test_the_log_checked_is_the_servers(target: FuzzTarget) -> None:
    """The traceback check reads what the server writes (its startup at least)."""
    assert Path(target.log).read_text(encoding="utf-8").strip()

