"""Amendments and a vote: citizens amend the first draft, members vote in a sitting.

On the first draft, the facilitator opens amendments to citizens; four citizens each
propose to open a paragraph with a linking word (two of them the same paragraph, so that
accepting one outdates the other); others support two of them. After the working
sessions, a sitting examines them: an amendment the members' rewriting outdated is
rebased by its author (the same change on the current wording); the facilitator puts
three to a public vote; the members present vote, one changing its vote; while the vote
is closed (which applies the accepted wordings) members keep typing at the end of the
same paragraphs. Then the checks: accepted wording present, rejected absent, every word
typed kept, the competing amendment outdated, the tallies in the sitting's minutes.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Any, cast

import anyio
from pycrdt import Doc

from client.api import JsonObject
from client.errors import SessionError
from client.scenario._api import AssemblyApi
from client.scenario.checks import Checks
from client.scenario.citizens import Citizen
from client.scenario.layout import Layout
from client.scenario.member import Member, ParagraphGone, _text_of
from client.scenario.pace import WORD_SECONDS, Pace
from client.session import Session
from crdt.convert import to_json

LEADS = ("Désormais", "En outre", "Par ailleurs", "De plus")
"""The linking word each of the four amendments opens its paragraph with."""
PLAN = ((0, 0), (1, 0), (2, 1), (3, 2))
"""(amendment, target paragraph): the first two compete for the same paragraph."""
CHOICES = ("for", "for", "against")
"""How members vote on the amendments put to a vote (the 1st, 3rd and 4th)."""
TYPED_WORDS = 6
"""Words each typist appends to an amended paragraph while the vote is closed."""


def amended(text: str, lead: str) -> str:
    """`text` opened by `lead`: "La charte…" → "Désormais, la charte…"."""
    return f"{lead}, {text[:1].lower()}{text[1:]}"


def _opens_with_word(text: str) -> bool:
    return len(text) > 3 and text[:1].isupper() and text[1:2].isalpha()


@dataclass(slots=True)
class Amending:
    """The amendments of one run, from the first draft to the vote."""

    doc_id: str
    paragraphs: list[str] = field(default_factory=list)
    ids: list[str] = field(default_factory=list)
    authors: list[Citizen] = field(default_factory=list)
    rebased: int = 0
    typed: dict[str, list[str]] = field(default_factory=dict)
    """Paragraph id → what was appended to it while the vote was closed."""
    failures: list[str] = field(default_factory=list)

    @classmethod
    def possible(cls, citizens: list[Citizen], layout: Layout) -> bool:
        """Whether the run has enough citizens and paragraphs to amend."""
        return len(citizens) >= len(LEADS) and len(layout.paragraphs) >= 3

    async def propose(
        self, api: AssemblyApi, url: str, doc: Doc[Any], layout: Layout,
        citizens: list[Citizen], *, per_person: bool,
    ) -> None:
        """Open amendments to citizens; four citizens propose, the next ones support.

        Raises:
            ApiError: the server refused a step.
        """
        texts = _texts(doc)
        self.paragraphs = [p for p in layout.paragraphs if _opens_with_word(texts.get(p, ""))][:3]
        await api.set_amendments_open(self.doc_id, True)
        for (n, target), lead in zip(PLAN, LEADS, strict=True):
            author = citizens[n]
            paragraph = self.paragraphs[target]
            async with AssemblyApi(url, author.token) as own:
                made = await own.propose_amendment(
                    self.doc_id, paragraph, amended(texts[paragraph], lead),
                    f"Relier le paragraphe au précédent ({lead.lower()}).")
            self.ids.append(str(made["id"]))
            self.authors.append(author)
        supporters = citizens[len(LEADS): len(LEADS) + 3] if per_person else citizens[:1]
        for citizen in supporters:
            async with AssemblyApi(url, citizen.token) as own:
                for amendment_id in (self.ids[0], self.ids[2]):
                    await own.support_amendment(self.doc_id, amendment_id)
        await api.set_amendments_open(self.doc_id, False)

    async def sitting(
        self, api: AssemblyApi, url: str, members: list[Member], sessions: list[Session],
        pace: Pace, checks: Checks, rng: random.Random,
    ) -> JsonObject:
        """Rebase, vote, close while members type; record the checks; the vote closed.

        Raises:
            ApiError: the server refused a step.
        """
        for n in (0, 2, 3):
            shown = await api.get_amendment(self.doc_id, self.ids[n])
            if shown.get("outdated") is True:
                async with AssemblyApi(url, self.authors[n].token) as own:
                    await own.rebase_amendment(self.doc_id, self.ids[n],
                                               amended(str(shown["now"]), LEADS[n]))
                self.rebased += 1
        support = [int(str((await api.get_amendment(self.doc_id, self.ids[n]))["supports"]))
                   for n in (0, 2)]
        voted = [self.ids[0], self.ids[2], self.ids[3]]
        vote = await api.open_vote(self.doc_id, voted, ballot="public", rule="majority")
        vote_id = str(vote["id"])
        voters = members if len({m.token for m in members}) == len(members) else members[:1]
        for index, member in enumerate(voters):
            async with AssemblyApi(url, member.token) as own:
                if index == 0:  # changes its mind on the first amendment
                    await own.cast_ballot(self.doc_id, vote_id, voted[0], "against")
                for amendment_id, choice in zip(voted, CHOICES, strict=True):
                    await own.cast_ballot(self.doc_id, vote_id, amendment_id, choice)
        typists = list(zip(sessions, self.paragraphs[:2] * len(sessions), strict=False))[:2]
        done = anyio.Event()
        async with anyio.create_task_group() as group:
            for session, paragraph in typists:
                group.start_soon(self._type_at_end, session, paragraph, pace, rng, done)
            await pace.pause(rng, WORD_SECONDS)
            try:
                closed = await api.close_vote(self.doc_id, vote_id)
            finally:
                done.set()
        results = {str(r["amendment_id"]): r for r in _list(closed.get("results"))}
        expected = {voted[0]: "accepted", voted[1]: "accepted", voted[2]: "rejected"}
        got = {k: str(results.get(k, {}).get("result")) for k in voted}
        checks.record("amendments: the vote decided as the members voted",
                      got == expected and all(results[k].get("applied") is True for k in voted),
                      f"{len(voters)} voters, {support} supports, {self.rebased} rebased; "
                      + ", ".join(f"{k[:8]} {v}" for k, v in got.items()))
        return closed

    async def _type_at_end(
        self, session: Session, paragraph: str, pace: Pace, rng: random.Random,
        done: anyio.Event,
    ) -> None:
        """Append words to `paragraph` until the vote is closed, and a few more."""
        typed = self.typed.setdefault(paragraph, [])
        try:
            text = _text_of(session.doc, paragraph)
            while not done.is_set() or len(typed) < TYPED_WORDS:
                word = f" mot{len(typed)}-{session.doc.client_id % 1000}"
                text.insert(len(text), word)
                typed.append(word)
                await pace.pause(rng, WORD_SECONDS)
        except (ParagraphGone, SessionError) as exc:
            self.failures.append(f"typing into {paragraph}: {exc!r}")

    async def verify(self, api: AssemblyApi, doc: Doc[Any], minutes: JsonObject,
                     checks: Checks, voters: int) -> None:
        """Record whether the text, the amendments and the minutes say what happened.

        Raises:
            ApiError: the server refused a read.
        """
        texts = _texts(doc)
        first, second, third = self.paragraphs
        ok_accepted = (texts[first].startswith(f"{LEADS[0]}, ")
                       and texts[second].startswith(f"{LEADS[2]}, "))
        ok_rejected = not texts[third].startswith(f"{LEADS[3]}, ") and not texts[
            first].startswith(f"{LEADS[1]}, ")
        checks.record("amendments: accepted wording present, rejected absent",
                      ok_accepted and ok_rejected,
                      f"{texts[first][:40]!r} / {texts[second][:40]!r} / {texts[third][:40]!r}")
        lost = [f"{p}: {w!r}" for p, words in self.typed.items() for w in words
                if w not in texts.get(p, "")]
        typed = sum(len(words) for words in self.typed.values())
        failures = self.failures
        checks.record("amendments: words typed while they were applied are kept",
                      not lost and not failures and typed > 0,
                      "; ".join((failures + lost)[:4]) or f"{typed} words in "
                      f"{len(self.typed)} amended paragraphs")
        competing = await api.get_amendment(self.doc_id, self.ids[1])
        checks.record("amendments: the competing amendment is outdated once one is applied",
                      competing.get("outdated") is True and competing.get("state") == "submitted",
                      f"state {competing.get('state')}, outdated {competing.get('outdated')}")
        closed = [d for d in _list(minutes.get("decisions")) if d.get("action") == "vote.closed"]
        detail = closed[0].get("detail") if closed else None
        rows = _list(detail.get("results")) if isinstance(detail, dict) else []
        cast_ok = len(rows) == 3 and all(
            int(str(r.get("for", 0))) + int(str(r.get("against", 0)))
            + int(str(r.get("abstain", 0))) == voters for r in rows)
        checks.record("amendments: the tallies are in the sitting's minutes", cast_ok,
                      "; ".join(f"{str(r.get('amendment_id'))[:8]} {r.get('result')} "
                                f"({r.get('for')}/{r.get('against')}/{r.get('abstain')})"
                                for r in rows) or "no vote.closed decision")


def _texts(doc: Doc[Any]) -> dict[str, str]:
    blocks = to_json(doc)["blocks"]
    assert isinstance(blocks, list)
    return {str(b["id"]): str(b["text"]) for b in blocks if isinstance(b, dict)}


def _list(value: object) -> list[JsonObject]:
    return [cast(JsonObject, v) for v in value if isinstance(v, dict)] \
        if isinstance(value, list) else []

