"""Votes in every store (memory, SQLite, PostgreSQL): ballots counted once per voter and
amendment (a second public ballot is a change), secret ballots final and without a choice
per voter, concurrent ballots counted exactly, nothing taken after the close."""

from __future__ import annotations

import uuid

import anyio
import pytest

from storage.votes import (
    BallotFinal,
    BallotKind,
    Choice,
    NotOnBallot,
    VoteClosed,
    VoteNotFound,
    VoteRecord,
)
from tests.storage.conftest import StoreFactory


def a_vote(ballot: BallotKind, *amendments: str) -> VoteRecord:
    return VoteRecord(vote_id=uuid.uuid4().hex, doc_id="charte", session_id="s1",
                      amendment_ids=amendments, ballot=ballot, rule="majority",
                      opened_by="anais", opened_by_name="Anaïs", opened_at=1000.0)


async def test_public_ballots_change_and_close(make_store: StoreFactory) -> None:
    vote = a_vote("public", "a1", "a2")
    async with make_store() as store:
        await store.open_vote(vote)
        assert await store.get_vote("charte", vote.vote_id) == vote
        with pytest.raises(VoteNotFound):
            await store.get_vote("other", vote.vote_id)
        cast = store.cast_ballot
        await cast(doc_id="charte", vote_id=vote.vote_id, amendment_id="a1", voter="bea",
                   voter_name="Béa", choice="for", at=1001.0)
        await cast(doc_id="charte", vote_id=vote.vote_id, amendment_id="a1", voter="carl",
                   voter_name="Carl", choice="against", at=1002.0)
        changed = await cast(doc_id="charte", vote_id=vote.vote_id, amendment_id="a1",
                             voter="bea", voter_name="Béa", choice="abstain", at=1003.0)
        assert (changed.for_, changed.against, changed.abstain) == (0, 1, 1)
        with pytest.raises(NotOnBallot):
            await cast(doc_id="charte", vote_id=vote.vote_id, amendment_id="a9",
                       voter="bea", voter_name="Béa", choice="for", at=1004.0)
        ballots = await store.list_ballots(vote.vote_id)
        assert [(b.voter, b.choice) for b in ballots] == [("bea", "abstain"),
                                                          ("carl", "against")]
        counts = await store.vote_counts(vote.vote_id)
        assert [(c.amendment_id, c.cast) for c in counts] == [("a1", 2), ("a2", 0)]
        closed, final = await store.close_vote(
            doc_id="charte", vote_id=vote.vote_id, by="anais", at=1010.0,
            decide=lambda counts: str(sum(c.cast for c in counts)))
        assert [c.cast for c in final] == [2, 0]
        assert (closed.closed_at, closed.results, closed.is_open) == (1010.0, "2", False)
        with pytest.raises(VoteClosed):
            await store.close_vote(doc_id="charte", vote_id=vote.vote_id, by="anais",
                                   at=1011.0, decide=lambda counts: "[]")
        with pytest.raises(VoteClosed):
            await cast(doc_id="charte", vote_id=vote.vote_id, amendment_id="a2",
                       voter="bea", voter_name="Béa", choice="for", at=1012.0)
        listed = {v.vote_id: v for v in await store.list_votes("charte", limit=1000)}
        assert listed[vote.vote_id] == closed


async def test_secret_ballots_keep_no_choice_and_are_final(make_store: StoreFactory) -> None:
    vote = a_vote("secret", "a1")
    async with make_store() as store:
        await store.open_vote(vote)
        await store.cast_ballot(doc_id="charte", vote_id=vote.vote_id, amendment_id="a1",
                                voter="bea", voter_name="Béa", choice="for", at=1001.0)
        with pytest.raises(BallotFinal, match="cannot be changed"):
            await store.cast_ballot(doc_id="charte", vote_id=vote.vote_id,
                                    amendment_id="a1", voter="bea", voter_name="Béa",
                                    choice="against", at=1002.0)
        assert [(b.voter, b.choice) for b in await store.list_ballots(vote.vote_id)] == [
            ("bea", None)]
        (counts,) = await store.vote_counts(vote.vote_id)
        assert (counts.for_, counts.against, counts.abstain) == (1, 0, 0)


async def test_concurrent_ballots_are_counted_exactly(make_store: StoreFactory) -> None:
    vote = a_vote("public", "a1")
    choices: list[Choice] = ["for", "against", "abstain"]
    async with make_store() as store:
        await store.open_vote(vote)

        async def ballot(voter: int) -> None:
            for round_ in range(3):
                await store.cast_ballot(
                    doc_id="charte", vote_id=vote.vote_id, amendment_id="a1",
                    voter=f"m{voter}", voter_name=f"M{voter}",
                    choice=choices[(voter + round_) % 3], at=1001.0 + round_)

        async with anyio.create_task_group() as tg:
            for voter in range(12):
                tg.start_soon(ballot, voter)
        (counts,) = await store.vote_counts(vote.vote_id)
        final = [b.choice for b in await store.list_ballots(vote.vote_id)]
        assert len(final) == 12
        assert (counts.for_, counts.against, counts.abstain) == (
            final.count("for"), final.count("against"), final.count("abstain"))
