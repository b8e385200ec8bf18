"""Awareness updates: codec, and a registry of client states owned by connections.

An awareness update is ``varuint count`` then, per client, ``varuint client_id``,
``varuint clock`` and a length-prefixed JSON state (``null`` once the client left).
The server never parses the JSON: it keeps the latest bytes per client and relays them.
"""

from __future__ import annotations

from collections.abc import Container, Iterable, Sequence
from dataclasses import dataclass

from crdt.protocol import Reader, encode_varbytes, encode_varuint

NULL_STATE = b"null"


@dataclass(frozen=True, slots=True)
class AwarenessEntry:
    """One client's awareness state at a given clock; ``state`` is raw JSON bytes."""

    client_id: int
    clock: int
    state: bytes

    @property
    def is_removal(self) -> bool:
        """Whether this entry says the client left."""
        return self.state == NULL_STATE


def decode_awareness_update(update: bytes) -> list[AwarenessEntry]:
    """Decode an awareness update into its entries.

    Raises:
        ProtocolError: truncated data, a bad varint or trailing bytes.
    """
    reader = Reader(update)
    count = reader.varuint()
    entries = []
    for _ in range(count):
        client_id = reader.varuint()
        clock = reader.varuint()
        entries.append(AwarenessEntry(client_id, clock, reader.varbytes()))
    reader.expect_end()
    return entries


def encode_awareness_update(entries: Sequence[AwarenessEntry]) -> bytes:
    """Encode entries as one awareness update."""
    parts = [encode_varuint(len(entries))]
    for entry in entries:
        parts.append(encode_varuint(entry.client_id))
        parts.append(encode_varuint(entry.clock))
        parts.append(encode_varbytes(entry.state))
    return b"".join(parts)


class AwarenessRegistry:
    """The awareness states of one document, and which connection owns each client id.

    A connection owns the client ids it announced; when it closes, `remove_owner` returns
    the removal entries to broadcast so that other peers drop its cursors at once.
    """

    __slots__ = ("_owners", "_states")

    def __init__(self) -> None:
        self._states: dict[int, AwarenessEntry] = {}
        self._owners: dict[int, str] = {}

    def apply(self, owner: str, entries: Iterable[AwarenessEntry]) -> list[AwarenessEntry]:
        """Record entries sent by `owner`; return those that are news to relay.

        A client id announced by a new connection moves to it: a client that reconnects
        keeps its id while the server may not yet have seen its old socket close.
        """
        fresh = []
        for entry in entries:
            current = self._states.get(entry.client_id)
            is_move = self._owners.get(entry.client_id, owner) != owner
            if current is not None and not is_move and (
                entry.clock < current.clock
                or (entry.clock == current.clock and not entry.is_removal)
            ):
                continue
            if entry.is_removal:
                self._states.pop(entry.client_id, None)
                self._owners.pop(entry.client_id, None)
            else:
                self._states[entry.client_id] = entry
                self._owners[entry.client_id] = owner
            fresh.append(entry)
        return fresh

    def remove_owner(self, owner: str) -> list[AwarenessEntry]:
        """Forget every client id `owner` announced; return their removal entries."""
        gone = [cid for cid, who in self._owners.items() if who == owner]
        removals = []
        for client_id in gone:
            entry = self._states.pop(client_id)
            del self._owners[client_id]
            removals.append(AwarenessEntry(client_id, entry.clock + 1, NULL_STATE))
        return removals

    def snapshot_of(self, owners: Container[str]) -> list[AwarenessEntry]:
        """The live states announced by any of `owners`."""
        return [
            entry for client_id, entry in self._states.items()
            if self._owners.get(client_id) in owners
        ]

    def snapshot(self) -> list[AwarenessEntry]:
        """Every known live state, for a newcomer or a query-awareness."""
        return list(self._states.values())

    def __len__(self) -> int:
        return len(self._states)
