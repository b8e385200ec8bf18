"""What a scenario run is asked to do."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from client.scenario.people import TokenMinter

ArchiveVerifier = Callable[[str], Awaitable[tuple[bool, str]]]
"""``verify(doc_id)`` → (chain holds, what it found): the server-side chain check."""


@dataclass(frozen=True, slots=True, kw_only=True)
class ScenarioConfig:
    """A scenario against the server at `url`, driven with a facilitator's token.

    `mint` makes one token per simulated person (``palabre scenario --data-dir``); without
    it everyone acts with the facilitator's token. `session_seconds` is each session's
    length in human time, divided by `speed` on the clock. `before_checks` runs between
    the assembly's work and the final checks (a test uses it to tamper with the archive).
    """

    url: str
    facilitator_token: str
    mint: TokenMinter | None = None
    sessions: int = 12
    members: int = 30
    citizens: int = 200
    speed: float = 20.0
    session_seconds: float = 120.0
    watch: bool = False
    doc_id: str | None = None
    seed: int = 9
    archive_verifier: ArchiveVerifier | None = None
    before_checks: Callable[[str], Awaitable[None]] | None = None
    say: Callable[[str], None] = print

    def __post_init__(self) -> None:
        if self.sessions < 1 or self.members < 1 or self.citizens < 0:
            raise ValueError("sessions and members must be at least 1, citizens at least 0")
        if self.speed <= 0 or self.session_seconds <= 0:
            raise ValueError("speed and session_seconds must be positive")
