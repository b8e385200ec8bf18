"""What each update of a log changed, counted once: characters inserted and deleted.

An update re-asserts what its sender already sent: a reconnecting client's sync step 2
carries every struct the server lacks *and the whole delete set of its document*, so
counting each logged update's delete set counts old deletions again. `EditCounter`
starts from a document state (what existed before the counted window) and counts, update
after update, only the string clocks and deletions not seen yet.
"""

from __future__ import annotations

from bisect import bisect_right

from crdt.struct_ranges import _STRING, edit_parts


class _Spans:
    """Disjoint sorted ``[start, end)`` clock spans of one client."""

    __slots__ = ("ends", "starts")

    def __init__(self) -> None:
        self.starts: list[int] = []
        self.ends: list[int] = []

    def add(self, start: int, end: int) -> int:
        """Cover ``[start, end)``; return how many of its clocks were not covered yet."""
        if end <= start:
            return 0
        starts, ends = self.starts, self.ends
        first = bisect_right(ends, start - 1)  # the first span ending at or after `start`
        last = first
        covered = 0
        while last < len(starts) and starts[last] <= end:
            covered += max(0, min(end, ends[last]) - max(start, starts[last]))
            last += 1
        merged_start = min(start, starts[first]) if first < last else start
        merged_end = max(end, ends[last - 1]) if first < last else end
        starts[first:last] = [merged_start]
        ends[first:last] = [merged_end]
        return (end - start) - covered


class EditCounter:
    """Counts the new characters inserted and deleted by updates applied in order.

    Raises (from `count` and the constructor):
        InvalidUpdate: an update does not decode.
    """

    def __init__(self, before: bytes | None = None) -> None:
        self._items: dict[int, _Spans] = {}
        self._deleted: dict[int, _Spans] = {}
        if before is not None:
            self.count(before)

    def count(self, update: bytes) -> tuple[int, int, bool]:
        """``(inserted, deleted, changed)``: the characters `update` adds to what was
        counted so far, and whether it added anything at all (any item or deletion)."""
        structs, deletions = edit_parts(update)
        inserted = 0
        changed = False
        for struct in structs:
            spans = self._items.setdefault(struct.client, _Spans())
            fresh = spans.add(struct.clock, struct.clock + struct.length)
            changed = changed or fresh > 0
            if struct.kind == _STRING:
                inserted += fresh
        deleted = 0
        for client, clock, length in deletions:
            deleted += self._deleted.setdefault(client, _Spans()).add(clock, clock + length)
        return inserted, deleted, changed or deleted > 0
