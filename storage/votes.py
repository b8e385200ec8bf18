"""The votes port: votes of a session on amendments, their ballots and running counts.

A vote is opened on one amendment or a batch, with a ballot kind and a rule; members cast
one ballot per amendment (a second one from the same voter is a change, not another
ballot). ``public`` ballots keep each voter's choice. ``secret`` ballots keep only *who*
voted on which amendment (the choice column stays empty) and per-amendment running counts,
updated in the same transaction as the ballot; so a secret ballot cannot be changed (the
store no longer knows what to take back). Closing stores the results once.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Final, Literal, Protocol

from storage.base import StorageError

Choice = Literal["for", "against", "abstain"]
CHOICES: Final[tuple[Choice, ...]] = ("for", "against", "abstain")
BallotKind = Literal["public", "secret"]
BALLOT_KINDS: Final[tuple[BallotKind, ...]] = ("public", "secret")
Rule = Literal["majority", "two_thirds"]
RULES: Final[tuple[Rule, ...]] = ("majority", "two_thirds")

Decide = Callable[[Sequence["Counts"]], str]
"""The results (JSON) a vote's final counts give, computed inside the closing transaction."""


class VoteNotFound(StorageError):
    """No vote of this document has this id."""


class VoteClosed(StorageError):
    """The vote is closed: no more ballots, no second close."""


class BallotFinal(StorageError):
    """A secret ballot was already cast by this voter on this amendment: it cannot change."""


class NotOnBallot(StorageError):
    """The amendment is not one the vote is on."""


@dataclass(frozen=True, slots=True, kw_only=True)
class VoteRecord:
    """One vote; times are Unix seconds; `results` is the JSON stored at close."""

    vote_id: str
    doc_id: str
    session_id: str
    amendment_ids: tuple[str, ...]
    ballot: BallotKind
    rule: Rule
    opened_by: str
    opened_by_name: str
    opened_at: float
    closed_by: str | None = None
    closed_at: float | None = None
    results: str | None = None

    @property
    def is_open(self) -> bool:
        """Whether ballots are still taken."""
        return self.closed_at is None


@dataclass(frozen=True, slots=True, kw_only=True)
class Counts:
    """The running count of one amendment's ballots."""

    amendment_id: str
    for_: int = 0
    against: int = 0
    abstain: int = 0

    @property
    def cast(self) -> int:
        """Ballots cast, abstentions included."""
        return self.for_ + self.against + self.abstain

    def moved(self, choice: Choice | None, step: int) -> Counts:
        """These counts with `step` added to `choice` (``None``: unchanged)."""
        return Counts(
            amendment_id=self.amendment_id,
            for_=self.for_ + (step if choice == "for" else 0),
            against=self.against + (step if choice == "against" else 0),
            abstain=self.abstain + (step if choice == "abstain" else 0),
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class Ballot:
    """Who voted on which amendment; `choice` is ``None`` for a secret ballot."""

    vote_id: str
    amendment_id: str
    voter: str
    voter_name: str
    choice: Choice | None
    cast_at: float


class Votes(Protocol):
    """Votes by document, their ballots and counts."""

    async def open_vote(self, vote: VoteRecord) -> None:
        """Store a new open vote with zero counts for each of its amendments.

        Raises:
            StorageUnavailable: the database failed.
        """

    async def get_vote(self, doc_id: str, vote_id: str) -> VoteRecord:
        """The vote `vote_id` of `doc_id`.

        Raises:
            VoteNotFound: no such vote of this document.
            StorageUnavailable: the database failed.
        """

    async def list_votes(self, doc_id: str, *, limit: int) -> Sequence[VoteRecord]:
        """At most `limit` votes of `doc_id`, the newest first.

        Raises:
            StorageUnavailable: the database failed.
        """

    async def cast_ballot(
        self, *, doc_id: str, vote_id: str, amendment_id: str, voter: str, voter_name: str,
        choice: Choice, at: float,
    ) -> Counts:
        """Record `voter`'s ballot (a second one on the same amendment replaces the first,
        in a public vote) and the counts, in one transaction; the counts after.

        Raises:
            VoteNotFound: no such vote. VoteClosed: it is closed.
            NotOnBallot: the amendment is not on this vote.
            BallotFinal: a secret ballot of this voter on this amendment exists.
            StorageUnavailable: the database failed.
        """

    async def list_ballots(self, vote_id: str) -> Sequence[Ballot]:
        """Every ballot of the vote, by amendment then voter.

        Raises:
            StorageUnavailable: the database failed.
        """

    async def vote_counts(self, vote_id: str) -> Sequence[Counts]:
        """The running counts of each amendment of the vote, in the vote's order.

        Raises:
            StorageUnavailable: the database failed.
        """

    async def close_vote(
        self, *, doc_id: str, vote_id: str, by: str, at: float, decide: Decide,
    ) -> tuple[VoteRecord, Sequence[Counts]]:
        """Close an open vote (once: no ballot is taken after) and store as its results
        what `decide` makes of the final counts, in one transaction; the vote and counts.

        Raises:
            VoteNotFound: no such vote. VoteClosed: it was already closed.
            StorageUnavailable: the database failed.
        """
