"""`Votes` on SQLAlchemy Core: a part of `SqlDocumentStore`.

A ballot and its counts change in one transaction that first locks the vote's row for
share and the amendment's counts row for update (PostgreSQL; SQLite serialises writers),
so concurrent ballots on any node keep the counts exact, and a close (which updates the
vote's row) waits for the ballots in flight.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import cast

from sqlalchemy import Row, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from storage._sql_connections import SqlConnections
from storage.models import BallotRow, VoteCountRow, VoteRow
from storage.votes import (
    Ballot,
    BallotFinal,
    BallotKind,
    Choice,
    Counts,
    Decide,
    NotOnBallot,
    Rule,
    VoteClosed,
    VoteNotFound,
    VoteRecord,
)

_VOTE = (VoteRow.vote_id, VoteRow.doc_id, VoteRow.session_id, VoteRow.amendment_ids,
         VoteRow.ballot, VoteRow.rule, VoteRow.opened_by, VoteRow.opened_by_name,
         VoteRow.opened_at, VoteRow.closed_by, VoteRow.closed_at, VoteRow.results)
_COLUMN = {"for": "for_count", "against": "against_count", "abstain": "abstain_count"}


class SqlVotes(SqlConnections):
    """The ``votes``, ``vote_counts`` and ``ballots`` tables."""

    async def open_vote(self, vote: VoteRecord) -> None:
        async with self._writing("open a vote") as conn:
            await conn.execute(insert(VoteRow).values(
                vote_id=vote.vote_id, doc_id=vote.doc_id, session_id=vote.session_id,
                amendment_ids=json.dumps(list(vote.amendment_ids)), ballot=vote.ballot,
                rule=vote.rule, opened_by=vote.opened_by, opened_by_name=vote.opened_by_name,
                opened_at=vote.opened_at, closed_by=None, closed_at=None, results=None))
            await conn.execute(insert(VoteCountRow), [
                {"vote_id": vote.vote_id, "amendment_id": a, "position": i, "for_count": 0,
                 "against_count": 0, "abstain_count": 0}
                for i, a in enumerate(vote.amendment_ids)])

    async def get_vote(self, doc_id: str, vote_id: str) -> VoteRecord:
        async with self._reading("read a vote") as conn:
            return await _vote(conn, doc_id, vote_id)

    async def list_votes(self, doc_id: str, *, limit: int) -> Sequence[VoteRecord]:
        query = (select(*_VOTE).where(VoteRow.doc_id == doc_id)
                 .order_by(VoteRow.opened_at.desc(), VoteRow.vote_id).limit(limit))
        async with self._reading("list votes") as conn:
            rows = (await conn.execute(query)).all()
        return [_vote_of(row) for row in rows]

    async def cast_ballot(
        self, *, doc_id: str, vote_id: str, amendment_id: str, voter: str, voter_name: str,
        choice: Choice, at: float,
    ) -> Counts:
        async with self._writing("cast a ballot") as conn:
            vote = await _vote(conn, doc_id, vote_id, lock="share")
            if not vote.is_open:
                raise VoteClosed("this vote is closed: ballots are no longer taken")
            counted = (await conn.execute(
                select(VoteCountRow.for_count, VoteCountRow.against_count,
                       VoteCountRow.abstain_count)
                .where(VoteCountRow.vote_id == vote_id,
                       VoteCountRow.amendment_id == amendment_id)
                .with_for_update())).first()
            if counted is None:
                raise NotOnBallot(f"amendment {amendment_id[:64]!r} is not on this vote")
            counts = Counts(amendment_id=amendment_id, for_=counted[0], against=counted[1],
                            abstain=counted[2])
            key = (BallotRow.vote_id == vote_id, BallotRow.amendment_id == amendment_id,
                   BallotRow.voter == voter)
            earlier = (await conn.execute(select(BallotRow.choice).where(*key))).first()
            stored = None if vote.ballot == "secret" else choice
            if earlier is None:
                await conn.execute(insert(BallotRow).values(
                    vote_id=vote_id, amendment_id=amendment_id, voter=voter,
                    voter_name=voter_name, choice=stored, cast_at=at))
            elif vote.ballot == "secret":
                raise BallotFinal("a secret ballot cannot be changed: yours on this "
                                  "amendment is already counted")
            else:
                await conn.execute(update(BallotRow).where(*key).values(
                    choice=stored, voter_name=voter_name, cast_at=at))
                counts = counts.moved(cast(Choice, earlier[0]), -1)
            counts = counts.moved(choice, 1)
            await conn.execute(update(VoteCountRow).where(
                VoteCountRow.vote_id == vote_id, VoteCountRow.amendment_id == amendment_id,
            ).values(for_count=counts.for_, against_count=counts.against,
                     abstain_count=counts.abstain))
        return counts

    async def list_ballots(self, vote_id: str) -> Sequence[Ballot]:
        query = (select(BallotRow.vote_id, BallotRow.amendment_id, BallotRow.voter,
                        BallotRow.voter_name, BallotRow.choice, BallotRow.cast_at)
                 .where(BallotRow.vote_id == vote_id)
                 .order_by(BallotRow.amendment_id, BallotRow.voter))
        async with self._reading("list ballots") as conn:
            rows = (await conn.execute(query)).all()
        return [Ballot(vote_id=r[0], amendment_id=r[1], voter=r[2], voter_name=r[3],
                       choice=cast(Choice | None, r[4]), cast_at=r[5]) for r in rows]

    async def vote_counts(self, vote_id: str) -> Sequence[Counts]:
        async with self._reading("read a vote's counts") as conn:
            return await _counts(conn, vote_id)

    async def close_vote(
        self, *, doc_id: str, vote_id: str, by: str, at: float, decide: Decide,
    ) -> tuple[VoteRecord, Sequence[Counts]]:
        async with self._writing("close a vote") as conn:
            # The update waits for the ballots in flight (they hold the row for share).
            closed = (await conn.execute(update(VoteRow).where(
                VoteRow.vote_id == vote_id, VoteRow.doc_id == doc_id,
                VoteRow.closed_at.is_(None),
            ).values(closed_by=by, closed_at=at))).rowcount
            if not closed:
                await _vote(conn, doc_id, vote_id)
                raise VoteClosed("this vote is already closed")
            counts = await _counts(conn, vote_id)
            await conn.execute(update(VoteRow).where(VoteRow.vote_id == vote_id)
                               .values(results=decide(counts)))
            return await _vote(conn, doc_id, vote_id), counts


async def _counts(conn: AsyncConnection, vote_id: str) -> list[Counts]:
    query = (select(VoteCountRow.amendment_id, VoteCountRow.for_count,
                    VoteCountRow.against_count, VoteCountRow.abstain_count)
             .where(VoteCountRow.vote_id == vote_id).order_by(VoteCountRow.position))
    rows = (await conn.execute(query)).all()
    return [Counts(amendment_id=r[0], for_=r[1], against=r[2], abstain=r[3]) for r in rows]


async def _vote(
    conn: AsyncConnection, doc_id: str, vote_id: str, *, lock: str | None = None,
) -> VoteRecord:
    query = select(*_VOTE).where(VoteRow.vote_id == vote_id, VoteRow.doc_id == doc_id)
    if lock == "share":
        query = query.with_for_update(read=True)
    row = (await conn.execute(query)).first()
    if row is None:
        raise VoteNotFound(f"no vote {vote_id[:64]!r} on this document")
    return _vote_of(row)


def _vote_of(
    row: Row[str, str, str, str, str, str, str, str, float, str | None, float | None,
             str | None],
) -> VoteRecord:
    values = row._asdict()
    return VoteRecord(
        **{**values, "amendment_ids": tuple(json.loads(values["amendment_ids"])),
           "ballot": cast(BallotKind, values["ballot"]), "rule": cast(Rule, values["rule"])})
