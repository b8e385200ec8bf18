"""Human pace, sped up: how long a simulated person takes to read, point, type or delete."""

from __future__ import annotations

import random
from dataclasses import dataclass

import anyio

READ_SECONDS = (2.0, 6.0)
"""Reading the article before acting."""
POINT_SECONDS = (0.5, 1.5)
"""Moving the cursor somewhere else."""
WORD_SECONDS = (0.3, 0.7)
"""Typing one word and its space (about 40 words a minute)."""
SELECT_SECONDS = (0.6, 1.6)
"""Selecting a span before deleting it."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Pace:
    """Human durations divided by `speed` (1 is real time; 20 is twenty times faster)."""

    speed: float

    def seconds(self, human: float) -> float:
        """Wall-clock seconds for `human` seconds of a person's time."""
        return human / self.speed

    async def pause(self, rng: random.Random, span: tuple[float, float]) -> None:
        """Wait a human duration drawn uniformly from `span`, sped up."""
        await anyio.sleep(self.seconds(rng.uniform(*span)))
