"""`Votes` in memory: a part of `MemoryDocumentStore`."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

from storage._memory_access import MemoryAccess
from storage.votes import (
    Ballot,
    BallotFinal,
    Choice,
    Counts,
    Decide,
    NotOnBallot,
    VoteClosed,
    VoteNotFound,
    VoteRecord,
)


class MemoryVotes(MemoryAccess):
    """The votes, counts and ballots in dicts, with the SQL part's semantics."""

    def __init__(self) -> None:
        self._votes: dict[str, VoteRecord] = {}
        self._counts: dict[str, dict[str, Counts]] = {}
        self._ballots: dict[tuple[str, str, str], Ballot] = {}

    async def open_vote(self, vote: VoteRecord) -> None:
        await self._enter()
        self._votes[vote.vote_id] = vote
        self._counts[vote.vote_id] = {a: Counts(amendment_id=a) for a in vote.amendment_ids}

    async def get_vote(self, doc_id: str, vote_id: str) -> VoteRecord:
        await self._enter()
        return self._known_vote(doc_id, vote_id)

    async def list_votes(self, doc_id: str, *, limit: int) -> Sequence[VoteRecord]:
        await self._enter()
        mine = [v for v in self._votes.values() if v.doc_id == doc_id]
        return sorted(mine, key=lambda v: (-v.opened_at, v.vote_id))[:limit]

    async def cast_ballot(
        self, *, doc_id: str, vote_id: str, amendment_id: str, voter: str, voter_name: str,
        choice: Choice, at: float,
    ) -> Counts:
        await self._enter()
        vote = self._known_vote(doc_id, vote_id)
        if not vote.is_open:
            raise VoteClosed("this vote is closed: ballots are no longer taken")
        counts = self._counts[vote_id].get(amendment_id)
        if counts is None:
            raise NotOnBallot(f"amendment {amendment_id[:64]!r} is not on this vote")
        key = (vote_id, amendment_id, voter)
        earlier = self._ballots.get(key)
        if earlier is not None:
            if vote.ballot == "secret":
                raise BallotFinal("a secret ballot cannot be changed: yours on this "
                                  "amendment is already counted")
            counts = counts.moved(earlier.choice, -1)
        counts = counts.moved(choice, 1)
        self._counts[vote_id][amendment_id] = counts
        self._ballots[key] = Ballot(
            vote_id=vote_id, amendment_id=amendment_id, voter=voter, voter_name=voter_name,
            choice=None if vote.ballot == "secret" else choice, cast_at=at)
        return counts

    async def list_ballots(self, vote_id: str) -> Sequence[Ballot]:
        await self._enter()
        return [b for k, b in sorted(self._ballots.items()) if k[0] == vote_id]

    async def vote_counts(self, vote_id: str) -> Sequence[Counts]:
        await self._enter()
        vote = self._votes.get(vote_id)
        if vote is None:
            return []
        return [self._counts[vote_id][a] for a in vote.amendment_ids]

    async def close_vote(
        self, *, doc_id: str, vote_id: str, by: str, at: float, decide: Decide,
    ) -> tuple[VoteRecord, Sequence[Counts]]:
        await self._enter()
        vote = self._known_vote(doc_id, vote_id)
        if not vote.is_open:
            raise VoteClosed("this vote is already closed")
        counts = [self._counts[vote_id][a] for a in vote.amendment_ids]
        closed = dataclasses.replace(vote, closed_by=by, closed_at=at, results=decide(counts))
        self._votes[vote_id] = closed
        return closed, counts

    def _known_vote(self, doc_id: str, vote_id: str) -> VoteRecord:
        vote = self._votes.get(vote_id)
        if vote is None or vote.doc_id != doc_id:
            raise VoteNotFound(f"no vote {vote_id[:64]!r} on this document")
        return vote
