"""The authorship port: who delivered which Yjs items of a document, and when.

Each accepted update is logged with its principal and arrival time; compaction keeps that
as ranges of item clocks (the ``authorship`` table) before the log rows go. Reading the
authorship of a document joins both: the stored ranges and those of the log rows not
compacted yet.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol


@dataclass(slots=True, kw_only=True)
class AuthorshipRange:
    """Items ``(client_id, clock)`` for clock in ``[clock_start, clock_end)``, as delivered."""

    client_id: int
    clock_start: int
    clock_end: int
    principal: str | None
    connection_id: str | None
    first_at: float
    last_at: float


class Authorship(Protocol):
    """Who delivered which items of a document."""

    async def authorship(self, doc_id: str) -> Sequence[AuthorshipRange]:
        """Every range of items of `doc_id` with who delivered it (compacted or still in
        the log), in no particular order; a document never stored has none.

        Raises:
            StorageUnavailable: the database failed, or the stored log does not decode.
        """
