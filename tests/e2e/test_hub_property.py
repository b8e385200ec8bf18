"""Property: whatever 2-4 clients do through a real server (concurrent edits, clean or
abrupt disconnects, edits made offline, reconnections), they end with the same document,
equal to one pycrdt Doc fed every update any of them made, and so does a late joiner."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from uuid import uuid4

import anyio
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pycrdt import Doc, Text, XmlFragment

import client
from tests.client.crowd import add_paragraph, contents, crowd, recorded, wait_all
from tests.conftest import ServerFactory

PIECES = ("Zoé", "Élodie", "François", " l'égalité", " — ", "ç", "œuvre", "Article 1. ")


@dataclass(frozen=True, slots=True)
class Turn:
    """A step taken by one client: `who` picks it (modulo the number of clients)."""

    who: int


@dataclass(frozen=True, slots=True)
class Edit(Turn):
    """An edit at `at`, a position relative to the client's text (0 to 1)."""

    at: float


@dataclass(frozen=True, slots=True)
class Insert(Edit):
    """Insert `text` there."""

    text: str


@dataclass(frozen=True, slots=True)
class Delete(Edit):
    """Delete up to `length` characters from there."""

    length: int


@dataclass(frozen=True, slots=True)
class Paragraph(Edit):
    """Add a paragraph holding `text` at that relative place among the paragraphs."""

    text: str


@dataclass(frozen=True, slots=True)
class Disconnect(Turn):
    """Go offline, `abrupt`ly (the socket just drops) or cleanly."""

    abrupt: bool


@dataclass(frozen=True, slots=True)
class Reconnect(Turn):
    """Come back online; edits made offline then sync."""


@dataclass(frozen=True, slots=True)
class Settle(Turn):
    """Wait until everything this client sent is flushed (nothing while it is offline)."""


Step = Insert | Delete | Paragraph | Disconnect | Reconnect | Settle

who = st.integers(min_value=0, max_value=3)
where = st.floats(min_value=0.0, max_value=1.0)
piece = st.sampled_from(PIECES)
steps = st.lists(
    st.one_of(
        st.builds(Insert, who, where, piece),
        st.builds(Delete, who, where, st.integers(min_value=1, max_value=6)),
        st.builds(Paragraph, who, where, piece),
        st.builds(Disconnect, who, st.booleans()),
        st.builds(Reconnect, who),
        st.builds(Settle, who),
    ),
    min_size=1,
    max_size=30,
)


def utf8_offset(text: str, char_index: int) -> int:
    """pycrdt indexes Y.Text by UTF-8 bytes; convert a character index."""
    return len(text[:char_index].encode("utf-8"))


def apply_edit(session: client.Session, step: Insert | Delete | Paragraph, number: int) -> None:
    text = session.doc.get("texte", type=Text)
    current = str(text)
    if isinstance(step, Insert):
        text.insert(utf8_offset(current, round(step.at * len(current))), step.text)
    elif isinstance(step, Delete):
        if current:
            start = min(round(step.at * len(current)), len(current) - 1)
            end = min(start + step.length, len(current))
            del text[utf8_offset(current, start) : utf8_offset(current, end)]
    else:
        count = len(session.doc.get("default", type=XmlFragment).children)
        add_paragraph(session, round(step.at * count), step.text, paragraph_id=f"p-{number}")


async def run_steps(server_url: str, token: str, client_count: int, script: list[Step]) -> None:
    reference: Doc[Any] = Doc()
    doc_id = f"propriete-{uuid4().hex[:8]}"
    offline: set[int] = set()
    async with crowd(server_url, doc_id, client_count, token=token) as sessions:
        for number, step in enumerate(script):
            index = step.who % client_count
            session = sessions[index]
            if isinstance(step, Insert | Delete | Paragraph):
                with recorded(session, reference):
                    apply_edit(session, step, number)
            elif isinstance(step, Disconnect):
                offline.add(index)
                await session.disconnect(abrupt=step.abrupt)
            elif isinstance(step, Reconnect):
                offline.discard(index)
                session.resume()
            elif index not in offline:
                await session.flushed()
        for session in sessions:
            session.resume()
        expected = (
            str(reference.get("texte", type=Text)),
            str(reference.get("default", type=XmlFragment)),
        )
        await wait_all(sessions, lambda: all(contents(s) == expected for s in sessions))
        async with client.connect(server_url, doc_id, token) as late:
            await late.synced()
            assert contents(late) == expected


@settings(
    max_examples=15,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(client_count=st.integers(min_value=2, max_value=4), script=steps)
async def test_random_edits_disconnects_and_offline_edits_converge_to_every_update(
    start_server: ServerFactory, client_count: int, script: list[Step]
) -> None:
    async with start_server() as server:
        with anyio.fail_after(20):
            await run_steps(server.url, server.token(), client_count, script)
