"""A simulated assembly member: reads, points, types, deletes and rewrites one paragraph.

Each member edits the paragraph it is given for the session and nobody else's, so it knows
exactly what that paragraph must read once everyone has converged (`expected`): that is
what the member "believes it wrote", checked against the archive afterwards. Edits go to
the paragraph's `XmlText` at UTF-8 byte offsets (pycrdt counts bytes, not characters).
"""

from __future__ import annotations

import random
import time
from dataclasses import dataclass, field
from itertools import pairwise
from typing import Any

from pycrdt import Doc, XmlText

from client.presence import JsonObject
from client.scenario.latency import LatencyTracker
from client.scenario.pace import POINT_SECONDS, READ_SECONDS, SELECT_SECONDS, WORD_SECONDS, Pace
from client.scenario.phrases import sentence
from client.session import Session
from crdt.document import decode_state_vector
from crdt.schema import find_element, plain_text

LONG_PARAGRAPH = 600
"""Characters past which a member shortens its paragraph instead of adding to it."""
_COLOURS = ("#e6194b", "#3cb44b", "#4363d8", "#f58231", "#911eb4", "#46f0f0", "#f032e6",
            "#bcf60c", "#008080", "#9a6324", "#800000", "#000075")


class ParagraphGone(Exception):
    """The paragraph a member was given is not a plain text block of the document."""


@dataclass(slots=True)
class Member:
    """One simulated person: a name, a token, a Doc kept across sessions, what it wrote."""

    index: int
    name: str
    token: str
    rng: random.Random
    doc: Doc[Any] = field(default_factory=Doc)
    edits: int = 0
    inserted: int = 0
    """Characters typed in all (UTF-16 units, as Yjs counts them)."""
    deleted: int = 0
    """Characters deleted in all (UTF-16 units)."""
    expected: dict[int, tuple[str, str]] = field(default_factory=dict)
    """Session number → (paragraph id, the text this member left it with)."""
    last_clock: int = 0
    """The next clock of this member's last insert: the final history must reach it."""

    @property
    def colour(self) -> str:
        """The colour of this member's cursor."""
        return _COLOURS[self.index % len(_COLOURS)]

    async def attend(
        self, session: Session, session_no: int, paragraph_id: str, *, until: float,
        pace: Pace, tracker: LatencyTracker,
    ) -> None:
        """Work on `paragraph_id` at human pace until the monotonic time `until`: read,
        point, type a sentence, delete a word, rewrite a sentence or cut one.

        Raises:
            ParagraphGone: the paragraph is missing or not a single run of text.
        """
        text = _text_of(session.doc, paragraph_id)
        model = plain_text(text)
        self._point(session, paragraph_id, 0)
        while time.monotonic() < until:
            # A long paragraph gets cut rather than lengthened, as a drafting group would.
            is_long = len(model) > LONG_PARAGRAPH
            action = self.rng.choices(
                ("read", "point", "type", "delete", "rewrite", "cut"),
                weights=(3, 2, 0 if is_long else 4, 1, 2, 3 if is_long else 0),
            )[0]
            if action == "read":
                await pace.pause(self.rng, READ_SECONDS)
            elif action == "point":
                await pace.pause(self.rng, POINT_SECONDS)
                self._point(session, paragraph_id, self.rng.randint(0, len(model)))
            elif action == "type":
                model = await self._type(session, text, model, _sentence_end(model, self.rng),
                                         pace, tracker, paragraph_id)
            else:
                span = _word_span(model, self.rng) if action == "delete" else \
                    _sentence_span(model, self.rng)
                if span is None:
                    continue
                await pace.pause(self.rng, SELECT_SECONDS)
                model = self._delete(text, model, *span)
                if action == "rewrite":
                    model = await self._type(session, text, model, span[0], pace, tracker,
                                             paragraph_id)
        self.expected[session_no] = (paragraph_id, model)

    async def listen(
        self, session: Session, paragraphs: tuple[str, ...], *, until: float, pace: Pace
    ) -> None:
        """Read and move the cursor around without typing, until the time `until`."""
        while time.monotonic() < until and paragraphs:
            await pace.pause(self.rng, READ_SECONDS)
            self._point(session, self.rng.choice(paragraphs), 0)

    def _point(self, session: Session, paragraph_id: str, offset: int) -> None:
        """Publish our presence: name, colour, where we are, and our caret if we typed."""
        caret: JsonObject | None = None
        if self.last_clock:
            # A Yjs relative position, as y-prosemirror's cursor plugin reads it: right
            # after the last character we typed (clocks count UTF-16 units, as in Yjs).
            position: JsonObject = {
                "item": {"client": self.doc.client_id, "clock": self.last_clock - 1},
                "assoc": -1,
            }
            caret = {"anchor": position, "head": position}
        state: JsonObject = {
            "user": {"name": self.name, "color": self.colour},
            "cursor": caret,
            "palabre": {"paragraph_id": paragraph_id, "offset": offset},
        }
        session.set_awareness(state)

    async def _type(
        self, session: Session, text: XmlText, model: str, at: int, pace: Pace,
        tracker: LatencyTracker, paragraph_id: str,
    ) -> str:
        """Type a new sentence at character `at`, one word (and its space) per edit."""
        words = sentence(self.rng).split(" ")
        lead = " " if at > 0 and model[at - 1 : at] not in (" ", "") else ""
        for n, word in enumerate(words):
            piece = (lead if n == 0 else "") + word + (" " if n + 1 < len(words) else "")
            if n + 1 == len(words) and at < len(model) and model[at] != " ":
                piece += " "
            await pace.pause(self.rng, WORD_SECONDS)
            text.insert(len(model[:at].encode()), piece)
            model = model[:at] + piece + model[at:]
            at += len(piece)
            self.edits += 1
            self.inserted += _units(piece)
            self.last_clock = decode_state_vector(self.doc.get_state()).get(self.doc.client_id, 0)
            tracker.wrote(self.doc.client_id, self.last_clock, time.monotonic())
        self._point(session, paragraph_id, at)
        return model

    def _delete(self, text: XmlText, model: str, start: int, end: int) -> str:
        del text[len(model[:start].encode()) : len(model[:end].encode())]
        self.edits += 1
        self.deleted += _units(model[start:end])
        return model[:start] + model[end:]


def _units(text: str) -> int:
    """The length of `text` in UTF-16 code units, as Yjs counts characters."""
    return len(text.encode("utf-16-le")) // 2


def _text_of(doc: Doc[Any], paragraph_id: str) -> XmlText:
    element = find_element(doc, paragraph_id)
    if element is None or len(element.children) != 1:
        raise ParagraphGone(f"paragraph {paragraph_id} is not a single run of text")
    child = element.children[0]
    if not isinstance(child, XmlText):
        raise ParagraphGone(f"paragraph {paragraph_id} holds no text")
    return child


def _sentence_end(model: str, rng: random.Random) -> int:
    """A character offset where a sentence ends (or the end of the paragraph)."""
    ends = [i + 1 for i, char in enumerate(model) if char in ".;:!?"] or [len(model)]
    return rng.choice(ends)


def _sentence_span(model: str, rng: random.Random) -> tuple[int, int] | None:
    """A sentence (start, end) to rewrite, its trailing space included; None if too short."""
    bounds = [0] + [i + 1 for i, char in enumerate(model) if char in ".!?"]
    if bounds[-1] != len(model):
        bounds.append(len(model))
    spans = [(a, b) for a, b in pairwise(bounds) if b - a > 3]
    if len(spans) < 2:
        return None  # keep at least one sentence: a paragraph is never emptied
    start, end = rng.choice(spans)
    while start < end and model[start] == " ":
        start += 1
    if end < len(model) and model[end] == " ":
        end += 1
    return start, end


def _word_span(model: str, rng: random.Random) -> tuple[int, int] | None:
    """A word and the space after it, or None when the paragraph is one word or less."""
    starts = [i for i, char in enumerate(model) if char != " " and (i == 0 or model[i - 1] == " ")]
    if len(starts) < 4:
        return None
    start = rng.choice(starts[:-1])
    end = model.find(" ", start)
    return (start, end + 1) if end > 0 else None


async def track_arrivals(session: Session, tracker: LatencyTracker) -> None:
    """Tell `tracker` each time the session's document changes, until cancelled."""
    me = session.client_id
    while True:
        changed = session.changed
        tracker.saw(me, decode_state_vector(session.doc.get_state()), time.monotonic())
        await changed.wait()

