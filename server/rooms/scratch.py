"""The copies of live documents that server-side changes (`Hub.transform`) are made on.

A change runs on a copy of the room's document; what it changed is the update of its
own transactions (`changes_of`), committed and applied to the live document like any
client's. A large document keeps its copy between changes (`ScratchCopies`), brought
up to date with the updates of the live document's transactions since: a change then
costs what it and the edits since change, not a copy of the document, nor a difference
of two documents (yrs encodes a difference with the whole delete set: O(history)).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from pycrdt import Doc, TransactionEvent, merge_updates

from crdt.protocol import EMPTY_UPDATE
from server.rooms.room import Room

T = TypeVar("T")

KEPT_SCRATCH_BYTES = 256 * 1024
"""A document whose state is at least this large keeps its copy between changes
(copying it again would cost what the document weighs, on the event loop)."""

_UPDATES_FOLLOWED = 1024
"""Live transactions a kept copy follows before it is dropped (the next change copies
the document again)."""


def changes_of(doc: Doc[Any], mutate: Callable[[Doc[Any]], T]) -> tuple[T, bytes]:
    """`mutate(doc)`, and the update of the transactions it made (empty: none)."""
    updates: list[bytes] = []
    subscription = doc.observe(lambda event: updates.append(event.update))
    try:
        result = mutate(doc)
    finally:
        doc.unobserve(subscription)
    if not updates:
        return result, EMPTY_UPDATE
    return result, updates[0] if len(updates) == 1 else merge_updates(*updates)


class FollowedCopy:
    """A copy of a room's document that follows its transactions (from before the copy
    was made, or taken), applied when it is caught up."""

    def __init__(self, room: Room, copy: Doc[Any], *, is_large: bool) -> None:
        self.room = room
        self.copy = copy
        self.is_large = is_large
        """Whether the copy is worth keeping between changes."""
        self._pending: list[bytes] = []
        self._overflowed = False
        self._subscription = room.doc.observe(self._observed)

    @classmethod
    def of(cls, room: Room) -> FollowedCopy:
        """A new copy of the room's document, following it from now on."""
        copy: Doc[Any] = Doc(client_id=room.doc.client_id)
        state = room.doc.get_update()
        copy.apply_update(state)
        return cls(room, copy, is_large=len(state) >= KEPT_SCRATCH_BYTES)

    def _observed(self, event: TransactionEvent) -> None:
        if self._overflowed:
            return
        self._pending.append(event.update)
        if len(self._pending) > _UPDATES_FOLLOWED:
            self._overflowed = True
            self._pending.clear()

    def catch_up(self) -> bool:
        """Apply the live transactions seen since; False when it fell too far behind.
        Applying the copy's own change back again is a no-op for Yjs."""
        if self._overflowed:
            return False
        for update in self._pending:
            self.copy.apply_update(update)
        self._pending.clear()
        return True

    def close(self) -> None:
        """Stop following the live document."""
        self.room.doc.unobserve(self._subscription)


class ScratchCopies:
    """The kept copies of large documents, one per loaded room."""

    def __init__(self) -> None:
        self._kept: dict[str, FollowedCopy] = {}

    def take(self, room: Room) -> FollowedCopy:
        """A copy of the room's document, equal to it and following it: the kept one
        (a failed change then leaves nothing behind), or a new one. Give it back with
        `keep` or `close` it."""
        kept = self._kept.pop(room.doc_id, None)
        if kept is not None:
            if kept.room is room and kept.catch_up():
                return kept
            kept.close()
        return FollowedCopy.of(room)

    def keep(self, followed: FollowedCopy) -> None:
        """Keep `followed` for the next change of its room (it goes on following it)."""
        self.drop(followed.room.doc_id)
        self._kept[followed.room.doc_id] = followed

    def drop(self, doc_id: str) -> None:
        """Forget the copy of `doc_id` (its room was evicted)."""
        kept = self._kept.pop(doc_id, None)
        if kept is not None:
            kept.close()
