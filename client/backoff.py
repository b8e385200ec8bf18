"""Reconnection delays: bounded exponential back-off with jitter."""

from __future__ import annotations

import random
from dataclasses import dataclass


@dataclass(frozen=True, slots=True, kw_only=True)
class Backoff:
    """How long to wait before each reconnection attempt.

    Attempt ``n`` (0-based) waits ``min(maximum, initial * factor**n)`` scaled down by a
    random fraction of at most `jitter`, so that many clients dropped at once by a
    restarting server do not come back in lock-step. `max_attempts` bounds the number of
    consecutive failed attempts (None: retry for ever); the count restarts once a
    connection has synced.
    """

    initial: float = 0.05
    maximum: float = 5.0
    factor: float = 2.0
    jitter: float = 0.5
    max_attempts: int | None = None

    def __post_init__(self) -> None:
        if self.initial < 0 or self.maximum < self.initial or self.factor < 1:
            raise ValueError("back-off needs 0 <= initial <= maximum and factor >= 1")
        if not 0 <= self.jitter <= 1:
            raise ValueError("jitter is a fraction between 0 and 1")
        if self.max_attempts is not None and self.max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")

    def delay(self, attempt: int, rng: random.Random) -> float:
        """Seconds to wait before attempt number `attempt` (0 is the first retry)."""
        # Cap the exponent so that a long outage cannot overflow the float.
        base = min(self.maximum, self.initial * self.factor ** min(attempt, 64))
        return base * (1.0 - self.jitter * rng.random())

    def is_exhausted(self, attempt: int) -> bool:
        """Whether `attempt` consecutive failures are all we may try."""
        return self.max_attempts is not None and attempt >= self.max_attempts
