"""Which principal delivered which Yjs items: derived at compaction, before the log goes,
and when the authorship of a document is read."""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Sequence

import anyio.to_thread
from pycrdt import get_state

from crdt.document import apply, decode_state_vector, doc_from_update
from crdt.errors import InvalidUpdate
from crdt.protocol import EMPTY_UPDATE
from crdt.struct_ranges import struct_ranges
from storage.authorship import AuthorshipRange
from storage.base import LogEntry, StorageUnavailable

SPELL_SECONDS = 300.0
"""Longest time one range spans: rows delivered further apart start a new range, so that
each range says when its items were inserted to within five minutes."""


def derive_authorship(state: bytes | None, rows: Sequence[LogEntry]) -> list[AuthorshipRange]:
    """Attribute every Yjs item the log rows add to ``state`` to the row that delivered it.

    Each row's update is walked for the clock ranges it carries (`struct_ranges`); the
    part of a range no earlier row (nor ``state``) holds is that row's. So structs
    relayed by a client on behalf of another Yjs client are attributed to whoever
    delivered them first. Adjacent ranges of one client with the same principal and
    connection are merged while they span at most `SPELL_SECONDS`. A row the walker
    cannot read (a content kind Yjs lacks) makes the whole log be replayed into a
    document instead (`replayed_authorship`).

    Raises:
        InvalidUpdate: the state or a row does not decode.
    """
    covered: dict[int, _Intervals] = {}
    if state is not None:
        for client_id, end in decode_state_vector(get_state(state)).items():
            covered[client_id] = _Intervals(end)
    try:
        delivered = [struct_ranges(row.update) for row in rows]
    except InvalidUpdate:
        return replayed_authorship(state, rows)
    ranges = _Ranges()
    for row, carried in zip(rows, delivered, strict=True):
        for client_id, start, end in carried:
            intervals = covered.get(client_id)
            if intervals is None:
                intervals = covered[client_id] = _Intervals(0)
            for fresh_start, fresh_end in intervals.add(start, end):
                ranges.attribute(client_id, fresh_start, fresh_end, row)
    return ranges.found


def replayed_authorship(state: bytes | None, rows: Sequence[LogEntry]) -> list[AuthorshipRange]:
    """`derive_authorship` by replaying the rows in seq order into a document (slow).

    The clocks a row makes the document's state vector advance are that row's, so structs
    that arrive before the ones they depend on go to the row that makes them integrable.
    (The state vector of a row alone is not enough: pycrdt's ``get_state`` of an update
    only counts clients whose structs start at clock 0.)

    Raises:
        InvalidUpdate: the state or a row does not decode.
    """
    doc = doc_from_update(state if state is not None else EMPTY_UPDATE)
    before = decode_state_vector(doc.get_state())
    ranges = _Ranges()
    for row in rows:
        apply(doc, row.update)
        after = decode_state_vector(doc.get_state())
        for client_id, end in after.items():
            start = before.get(client_id, 0)
            if end > start:
                ranges.attribute(client_id, start, end, row)
        before = after
    return ranges.found


async def logged_authorship(
    doc_id: str, state: bytes | None, rows: Sequence[LogEntry]
) -> list[AuthorshipRange]:
    """`derive_authorship` of a document's log rows, in a worker thread.

    Raises:
        StorageUnavailable: the state or a row does not decode.
    """
    if not rows:
        return []
    try:
        return await anyio.to_thread.run_sync(derive_authorship, state, rows)
    except InvalidUpdate as exc:
        raise StorageUnavailable(f"stored {doc_id!r} does not decode: {exc}") from exc


class _Ranges:
    """Authorship ranges in the order found, each client's last one open to extension."""

    def __init__(self) -> None:
        self.found: list[AuthorshipRange] = []
        self._last: dict[int, AuthorshipRange] = {}

    def attribute(self, client_id: int, start: int, end: int, row: LogEntry) -> None:
        previous = self._last.get(client_id)
        if (
            previous is not None
            and previous.clock_end == start
            and previous.principal == row.principal
            and previous.connection_id == row.connection_id
            and row.received_at - previous.first_at <= SPELL_SECONDS
        ):
            previous.clock_end = end
            previous.first_at = min(previous.first_at, row.received_at)
            previous.last_at = max(previous.last_at, row.received_at)
            return
        current = AuthorshipRange(
            client_id=client_id,
            clock_start=start,
            clock_end=end,
            principal=row.principal,
            connection_id=row.connection_id,
            first_at=row.received_at,
            last_at=row.received_at,
        )
        self._last[client_id] = current
        self.found.append(current)


class _Intervals:
    """The clocks of one client already attributed: disjoint sorted ``[start, end)``."""

    __slots__ = ("ends", "starts")

    def __init__(self, end: int) -> None:
        self.starts = [0] if end else []
        self.ends = [end] if end else []

    def add(self, start: int, end: int) -> list[tuple[int, int]]:
        """Cover ``[start, end)``; return the parts of it that were not covered yet."""
        starts, ends = self.starts, self.ends
        if not ends or start >= ends[-1]:  # the usual case: past everything so far
            if ends and start == ends[-1]:
                ends[-1] = end
            else:
                starts.append(start)
                ends.append(end)
            return [(start, end)]
        fresh: list[tuple[int, int]] = []
        at = start
        first = bisect_right(ends, start)  # the first interval ending after `start`
        last = first
        while last < len(starts) and starts[last] <= end:
            if starts[last] > at:
                fresh.append((at, starts[last]))
            at = max(at, ends[last])
            last += 1
        if at < end:
            fresh.append((at, end))
        merged_start = min(start, starts[first]) if first < last else start
        merged_end = max(end, ends[last - 1]) if first < last else end
        starts[first:last] = [merged_start]
        ends[first:last] = [merged_end]
        return fresh
