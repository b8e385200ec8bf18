"""Which principal delivered which Yjs items: derived at compaction, before the log goes."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass

from crdt.document import apply, decode_state_vector, doc_from_update
from crdt.protocol import EMPTY_UPDATE
from storage.base import LogEntry


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


def derive_authorship(state: bytes | None, rows: Sequence[LogEntry]) -> list[AuthorshipRange]:
    """Attribute every Yjs item the log rows add to ``state`` to the row that delivered it.

    The rows are replayed in seq order on a document holding ``state``; the clocks a row
    makes the document's state vector advance are that row's. So structs relayed by a
    client on behalf of another Yjs client are attributed to whoever delivered them first,
    and structs that arrive before the ones they depend on are attributed to the row that
    makes them integrable. Adjacent ranges of one client with the same principal and
    connection are merged.

    (The state vector of a row alone is not enough: pycrdt's ``get_state`` of an update
    only counts clients whose structs start at clock 0, so an incremental update reports
    nothing.)

    Raises:
        InvalidUpdate: the state or a row does not decode.
    """
    doc = doc_from_update(state if state is not None else EMPTY_UPDATE)
    before = decode_state_vector(doc.get_state())
    last: dict[int, AuthorshipRange] = {}
    ranges: list[AuthorshipRange] = []
    for number, row in enumerate(rows):
        if number % 32 == 31:
            # Compaction runs this in a worker thread: yield the GIL now and then, so the
            # event loop (every relay of the server) is not held up for its duration.
            time.sleep(0)
        apply(doc, row.update)
        after = decode_state_vector(doc.get_state())
        for client_id, end in after.items():
            start = before.get(client_id, 0)
            if end <= start:
                continue
            previous = last.get(client_id)
            if (
                previous is not None
                and previous.clock_end == start
                and previous.principal == row.principal
                and previous.connection_id == row.connection_id
            ):
                previous.clock_end = end
                previous.first_at = min(previous.first_at, row.received_at)
                previous.last_at = max(previous.last_at, row.received_at)
                continue
            current = AuthorshipRange(
                client_id=client_id,
                clock_start=start,
                clock_end=end,
                principal=row.principal,
                connection_id=row.connection_id,
                first_at=row.received_at,
                last_at=row.received_at,
            )
            last[client_id] = current
            ranges.append(current)
        before = after
    return ranges
