"""Votes on amendments during an open session: open, cast ballots, close and apply.

A facilitator opens a vote on one submitted amendment or a batch, while the document has
an open session and is not frozen; the amendments go ``evaluating``. Each member present
in that session (connected now: `SessionsService.present`) votes for, against or abstains
per amendment; another ballot on the same amendment is a change, until the close. Secret
ballots are final: the store keeps who voted but never the choice (`storage.votes`).

Closing tallies each amendment: without the quorum (the document's, counted on the members
who voted on it) the result is ``no_quorum`` and the amendment goes back to ``submitted``;
otherwise ``majority`` accepts when ``for > against``, ``two_thirds`` when ``for`` is at
least two thirds of ``for + against`` (abstentions count for the quorum only). Accepted
amendments go through `Amendments.accept` (the server writes the wording), rejected ones
are rejected "rejected by vote". Live tallies are written into each amendment's ``tally``
in the server-authored ``amendments`` map; ``vote.opened``/``vote.closed`` are audited
(the session's minutes list them) and sent to webhooks; each ballot is audited as
``ballot.cast`` (without its choice when secret).
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

from pycrdt import Doc

from crdt import amendments as live
from crdt.doc_id import ANNOTATIONS_SUFFIX
from crdt.schema import JsonValue
from server.access.auth import Principal
from server.access.permissions import Action, require
from server.errors import Conflict, Forbidden, Invalid, NotFound, PalabreError
from server.events import WebhookEvent
from server.modules.amendments import Amendments
from server.modules.governance import Governance, Notify
from server.modules.sessions import MEMBER_ROLES, SessionsService
from server.rooms.hub import Hub
from storage.port import Storage
from storage.votes import (
    BallotFinal,
    BallotKind,
    Choice,
    Counts,
    NotOnBallot,
    Rule,
    VoteClosed,
    VoteNotFound,
    VoteRecord,
)

Result = Literal["accepted", "rejected", "no_quorum"]
REJECTED_BY_VOTE = "rejected by vote"


@dataclass(frozen=True, slots=True, kw_only=True)
class Outcome:
    """One amendment's result at the close, and what applying it did."""

    counts: Counts
    result: Result
    applied: bool
    """Whether the amendment's new state was written (accepted into the text, rejected,
    back to submitted)."""
    note: str | None = None
    """Why it was not (outdated, decided meanwhile, frozen text)."""


def decide(counts: Counts, rule: Rule, quorum: int | None) -> Result:
    """The result of one amendment's counts under `rule` and `quorum` (members needed)."""
    if quorum is not None and counts.cast < quorum:
        return "no_quorum"
    if rule == "two_thirds":
        expressed = counts.for_ + counts.against
        return "accepted" if expressed > 0 and 3 * counts.for_ >= 2 * expressed else "rejected"
    return "accepted" if counts.for_ > counts.against else "rejected"


def result_json(counts: Counts, result: str) -> dict[str, JsonValue]:
    """One amendment's entry of a vote's results (DESIGN.md)."""
    return {"amendment_id": counts.amendment_id, "for": counts.for_,
            "against": counts.against, "abstain": counts.abstain, "result": result}


class VotesService:
    """Votes of a document's sessions, through the store, the hub and the amendments."""

    def __init__(
        self, store: Storage, hub: Hub, governance: Governance, amendments: Amendments,
        sessions: SessionsService, *, notify: Notify,
    ) -> None:
        self._store = store
        self._hub = hub
        self._governance = governance
        self._amendments = amendments
        self._sessions = sessions
        self._notify = notify

    async def open(
        self, doc_id: str, principal: Principal, *, amendment_ids: Sequence[str],
        ballot: BallotKind, rule: Rule, is_public: bool,
    ) -> VoteRecord:
        """Open a vote on submitted amendments during the document's open session.

        Raises:
            Forbidden: not a facilitator.
            Conflict: no open session, the text is frozen, an amendment is not submitted.
            NotFound: no such amendment.
        """
        require(principal, Action.DECIDE_AMENDMENT, doc_id, doc_is_public=is_public)
        session = await self._sessions.open_session_of(doc_id)
        if session is None:
            raise Conflict("a vote is held during an open session: open one first")
        if (await self._governance.archive.get_freeze(doc_id)).frozen:
            raise Conflict(f"document {doc_id!r} is frozen: unfreeze it to vote on "
                           "amendments")
        for amendment_id in amendment_ids:
            amendment = (await self._amendments.get(doc_id, amendment_id)).amendment
            if amendment.state != "submitted":
                raise Conflict(f"amendment {amendment_id!r} is {amendment.state}: only "
                               "submitted amendments are put to a vote")
        vote = VoteRecord(
            vote_id=uuid.uuid4().hex, doc_id=doc_id, session_id=session.session_id,
            amendment_ids=tuple(amendment_ids), ballot=ballot, rule=rule,
            opened_by=principal.sub, opened_by_name=principal.name, opened_at=time.time())
        await self._store.open_vote(vote)
        for amendment_id in amendment_ids:
            await self._amendments.evaluate(doc_id, principal, amendment_id,
                                            vote_id=vote.vote_id)
        await self._publish(vote, [Counts(amendment_id=a) for a in amendment_ids])
        detail: dict[str, object] = {
            "vote_id": vote.vote_id, "session_id": session.session_id,
            "session_number": session.number, "amendment_ids": list(amendment_ids),
            "ballot": ballot, "rule": rule}
        await self._governance.record(doc_id, WebhookEvent.VOTE_OPENED.value, principal,
                                      detail)
        self._notify(WebhookEvent.VOTE_OPENED, doc_id, dict(detail))
        return vote

    async def get(self, doc_id: str, vote_id: str) -> VoteRecord:
        """One vote of the document.

        Raises:
            NotFound: no such vote.
        """
        try:
            return await self._store.get_vote(doc_id, vote_id)
        except VoteNotFound as exc:
            raise NotFound(str(exc)) from exc

    async def list_votes(self, doc_id: str, *, limit: int) -> Sequence[VoteRecord]:
        """The document's votes, newest first."""
        return await self._store.list_votes(doc_id, limit=limit)

    async def counts(self, vote: VoteRecord) -> Sequence[Counts]:
        """The vote's running (or final) counts per amendment."""
        return await self._store.vote_counts(vote.vote_id)

    async def ballots(self, vote: VoteRecord) -> list[dict[str, JsonValue]]:
        """Who voted on what: with each choice in a public vote, without in a secret one."""
        return [{"amendment_id": b.amendment_id, "sub": b.voter, "name": b.voter_name,
                 "choice": b.choice} for b in await self._store.list_ballots(vote.vote_id)]

    async def cast(
        self, doc_id: str, principal: Principal, vote_id: str, *, amendment_id: str,
        choice: Choice, is_public: bool,
    ) -> Counts:
        """The caller's ballot on one amendment of an open vote (again: a change).

        Raises:
            Forbidden: not a member, or not present in the vote's session now.
            NotFound: no such vote. Invalid: the amendment is not on this vote.
            Conflict: the vote is closed, or a secret ballot was already cast.
        """
        require(principal, Action.VOTE, doc_id, doc_is_public=is_public)
        vote = await self.get(doc_id, vote_id)
        if not vote.is_open:
            raise Conflict("this vote is closed: ballots are no longer taken")
        session = await self._store.get_session(doc_id, vote.session_id)
        present = await self._sessions.present(session)
        if not any(p["sub"] == principal.sub and p["role"] in MEMBER_ROLES for p in present):
            raise Forbidden(f"only members present in session {session.number} vote: open "
                            "the document while the session is open")
        try:
            counts = await self._store.cast_ballot(
                doc_id=doc_id, vote_id=vote_id, amendment_id=amendment_id,
                voter=principal.sub, voter_name=principal.name, choice=choice,
                at=time.time())
        except VoteClosed as exc:
            raise Conflict(str(exc)) from exc
        except BallotFinal as exc:
            raise Conflict(str(exc)) from exc
        except NotOnBallot as exc:
            raise Invalid(str(exc)) from exc
        await self._publish(vote, [counts])
        detail: dict[str, object] = {"vote_id": vote_id, "amendment_id": amendment_id}
        if vote.ballot == "public":
            detail["choice"] = choice
        await self._governance.record(doc_id, "ballot.cast", principal, detail)
        return counts

    async def close(
        self, doc_id: str, principal: Principal, vote_id: str, *, is_public: bool,
    ) -> tuple[VoteRecord, list[Outcome]]:
        """Close the vote, tally, and decide each amendment (see the module's rules).

        Raises:
            Forbidden: not a facilitator. NotFound: no such vote.
            Conflict: the vote is already closed.
        """
        require(principal, Action.DECIDE_AMENDMENT, doc_id, doc_is_public=is_public)
        vote = await self.get(doc_id, vote_id)
        quorum = await self._sessions.quorum_needed(doc_id)

        def results(counts: Sequence[Counts]) -> str:
            return json.dumps([result_json(c, decide(c, vote.rule, quorum)) for c in counts])

        try:
            closed, final = await self._store.close_vote(
                doc_id=doc_id, vote_id=vote_id, by=principal.sub, at=time.time(),
                decide=results)
        except VoteClosed as exc:
            raise Conflict(str(exc)) from exc
        ballots = await self._ballots_of(closed)
        outcomes = [await self._apply(closed, principal, c, decide(c, vote.rule, quorum),
                                      quorum, ballots.get(c.amendment_id), is_public=is_public)
                    for c in final]
        detail: dict[str, object] = {
            "vote_id": vote_id, "ballot": vote.ballot, "rule": vote.rule,
            "quorum_needed": quorum, "results": [outcome_json(o) for o in outcomes]}
        await self._governance.record(doc_id, WebhookEvent.VOTE_CLOSED.value, principal,
                                      detail)
        self._notify(WebhookEvent.VOTE_CLOSED, doc_id, dict(detail))
        return closed, outcomes

    async def _apply(
        self, vote: VoteRecord, principal: Principal, counts: Counts, result: Result,
        quorum: int | None, ballots: list[JsonValue] | None, *, is_public: bool,
    ) -> Outcome:
        doc_id, amendment_id = vote.doc_id, counts.amendment_id
        tally = self._tally(vote, counts, result=result, quorum=quorum, ballots=ballots or [])
        try:
            if result == "accepted":
                await self._amendments.accept(doc_id, principal, amendment_id,
                                              is_public=is_public, tally=tally)
            elif result == "rejected":
                await self._amendments.reject(doc_id, principal, amendment_id,
                                              reason=REJECTED_BY_VOTE, is_public=is_public,
                                              tally=tally)
            else:
                await self._amendments.reopen(doc_id, principal, amendment_id, tally=tally)
        except PalabreError as exc:
            # Outdated, decided meanwhile, or a text frozen since the vote opened.
            note = str(exc)
            try:
                await self._amendments.reopen(doc_id, principal, amendment_id, tally=tally)
            except PalabreError:
                pass
            return Outcome(counts=counts, result=result, applied=False, note=note)
        return Outcome(counts=counts, result=result, applied=True)

    async def _publish(self, vote: VoteRecord, counts: Sequence[Counts]) -> None:
        """Write the live tallies of `counts` into the amendments map."""
        ballots = await self._ballots_of(vote)
        tallies = {c.amendment_id: self._tally(vote, c, ballots=ballots.get(c.amendment_id, []))
                   for c in counts}

        def write(doc: Doc[Any]) -> None:
            for amendment_id, tally in tallies.items():
                try:
                    live.change(doc, amendment_id, fields={"tally": tally})
                except live.AmendmentNotFound:
                    continue

        await self._hub.transform(vote.doc_id + ANNOTATIONS_SUFFIX, write, principal=None)

    async def _ballots_of(self, vote: VoteRecord) -> dict[str, list[JsonValue]]:
        """Each amendment's public ballots (``{sub, name, choice}``); none when secret."""
        found: dict[str, list[JsonValue]] = {}
        if vote.ballot == "public":
            for b in await self._store.list_ballots(vote.vote_id):
                found.setdefault(b.amendment_id, []).append(
                    {"sub": b.voter, "name": b.voter_name, "choice": b.choice})
        return found

    @staticmethod
    def _tally(
        vote: VoteRecord, counts: Counts, *, result: Result | None = None,
        quorum: int | None = None, ballots: list[JsonValue] | None = None,
    ) -> JsonValue:
        tally: dict[str, JsonValue] = {
            "vote_id": vote.vote_id, "ballot": vote.ballot, "rule": vote.rule,
            "open": result is None, "for": counts.for_, "against": counts.against,
            "abstain": counts.abstain, "voters": counts.cast}
        if ballots is not None and vote.ballot == "public":
            tally["ballots"] = ballots
        if result is not None:
            tally["result"] = result
            tally["quorum_needed"] = quorum
        return tally


def outcome_json(outcome: Outcome) -> dict[str, JsonValue]:
    """One amendment's result as the API and the audit show it."""
    shown = result_json(outcome.counts, outcome.result)
    shown["applied"] = outcome.applied
    if outcome.note is not None:
        shown["note"] = outcome.note
    return shown
