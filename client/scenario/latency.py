"""Edit latency as members see it: from a member's keystroke to another member's screen.

A member's insert advances its Yjs clock; when another member's document state vector
reaches that clock, the edit has arrived there. Deletions carry no clock and are not timed.
"""

from __future__ import annotations

import math
from collections.abc import Mapping


class LatencyTracker:
    """Records when each member wrote (client id, clock) and when each other saw it."""

    __slots__ = ("_cursors", "_writes", "samples")

    def __init__(self) -> None:
        self._writes: dict[int, list[tuple[int, float]]] = {}
        self._cursors: dict[tuple[int, int], int] = {}
        self.samples: list[float] = []

    def wrote(self, client_id: int, clock: int, at: float) -> None:
        """Member `client_id` made an edit whose next clock is `clock`, at time `at`."""
        self._writes.setdefault(client_id, []).append((clock, at))

    def saw(self, observer: int, state_vector: Mapping[int, int], at: float) -> None:
        """Member `observer`'s document reached `state_vector` at time `at`."""
        for writer, writes in self._writes.items():
            if writer == observer:
                continue
            key = (observer, writer)
            index = self._cursors.get(key, 0)
            reached = state_vector.get(writer, 0)
            while index < len(writes) and writes[index][0] <= reached:
                self.samples.append(at - writes[index][1])
                index += 1
            self._cursors[key] = index


def percentile(samples: list[float], fraction: float) -> float | None:
    """The nearest-rank percentile of `samples` (None when there are none)."""
    if not samples:
        return None
    ordered = sorted(samples)
    rank = max(1, math.ceil(fraction * len(ordered)))
    return ordered[rank - 1]
