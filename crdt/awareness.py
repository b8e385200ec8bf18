"""Awareness updates: codec, and a registry of client states owned by connections.

An awareness update is ``varuint count`` then, per client, ``varuint client_id``,
``varuint clock`` and a length-prefixed JSON state (``null`` once the client left).
The server never parses the JSON: it keeps the latest bytes per client and relays them.
A state's size is the length of those bytes, read while decoding: bounding it costs
nothing per message.

A connection owns the client ids it introduced, for as long as it lives (also after it
removed their state): another connection may neither update nor remove them, except one
of the same principal (a client that reconnects keeps its Yjs client id while the server
may not yet have seen its old socket close). States relayed by peer nodes are trusted.
"""

from __future__ import annotations

from collections.abc import Container, Iterable, Sequence
from dataclasses import dataclass

from crdt.errors import CrdtError
from crdt.protocol import Reader, encode_varbytes, encode_varuint

NULL_STATE = b"null"


class AwarenessRefused(CrdtError):
    """An awareness update breaks a bound or an ownership rule; nothing of it was applied."""


class StateTooLarge(AwarenessRefused):
    """One client's state is larger than the bound."""


class ForeignClientId(AwarenessRefused):
    """The update sets or removes a client id another connection introduced."""


class TooManyClientIds(AwarenessRefused):
    """The connection would own more client ids than the bound."""


class AwarenessFull(AwarenessRefused):
    """The document's awareness already holds as many bytes as it may; not the sender's
    fault, so its socket may stay."""


@dataclass(frozen=True, slots=True, kw_only=True)
class AwarenessBounds:
    """What one connection may put in a document's awareness."""

    state_bytes: int
    """Largest state (its JSON bytes) of one client."""
    clients: int
    """Client ids one connection may introduce."""
    principal_bytes: int
    """State bytes one principal may hold in one document, over all its connections."""
    document_bytes: int
    """State bytes of one document, everyone's (what a newcomer receives on joining)."""


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


def decode_awareness_update(
    update: bytes, bounds: AwarenessBounds | None = None
) -> list[AwarenessEntry]:
    """Decode an awareness update into its entries, within `bounds` when given.

    Raises:
        ProtocolError: truncated data, a bad varint or trailing bytes.
        TooManyClientIds: more entries than `bounds.clients` (checked before decoding).
        StateTooLarge: a state longer than `bounds.state_bytes`.
    """
    reader = Reader(update)
    count = reader.varuint()
    if bounds is not None and count > bounds.clients:
        raise TooManyClientIds(
            f"awareness update of {count} clients: at most {bounds.clients} per connection"
        )
    entries = []
    for _ in range(count):
        client_id = reader.varuint()
        clock = reader.varuint()
        state = reader.varbytes()
        if bounds is not None and len(state) > bounds.state_bytes:
            raise StateTooLarge(
                f"awareness state of {len(state)} bytes exceeds {bounds.state_bytes}"
            )
        entries.append(AwarenessEntry(client_id, clock, state))
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
    An owner with a principal (a local connection) keeps its ids until it closes; an owner
    without one (a peer node, trusted) loses an id when it removes its state. The bytes
    of the live states are counted as they change, in total and per principal.
    """

    __slots__ = ("_bytes", "_bytes_of", "_ids", "_owners", "_principals", "_states")

    def __init__(self) -> None:
        self._states: dict[int, AwarenessEntry] = {}
        self._owners: dict[int, str] = {}
        self._ids: dict[str, set[int]] = {}
        """Client ids of each owner, removed states included (local owners)."""
        self._principals: dict[str, str] = {}
        """The principal of each local owner (peer nodes have none)."""
        self._bytes = 0
        self._bytes_of: dict[str, int] = {}

    def apply(
        self,
        owner: str,
        entries: Iterable[AwarenessEntry],
        *,
        principal: str | None = None,
        bounds: AwarenessBounds | None = None,
    ) -> list[AwarenessEntry]:
        """Record entries sent by `owner`; return those that are news to relay.

        With a `principal` (a local connection), the whole update is checked before
        anything of it is recorded: `owner` may only set or remove the ids it introduced,
        or take over one introduced by another owner of the same principal (a client that
        reconnects keeps its id while the server may not yet have seen its old socket
        close), and stays within `bounds`. Without one (a peer node, trusted), an id
        announced by a new owner moves to it.

        Raises:
            ForeignClientId: an id belongs to another principal's connection or a peer node.
            TooManyClientIds: `owner` would own more than `bounds.clients` ids.
            StateTooLarge: the principal would hold more than `bounds.principal_bytes`.
            AwarenessFull: the document would hold more than `bounds.document_bytes`.
        """
        entries = list(entries)
        if principal is not None:
            self._check_owner(owner, entries, principal, bounds)
            if bounds is not None:
                self._check_bytes(entries, principal, bounds)
            self._principals.setdefault(owner, principal)
        fresh = []
        for entry in entries:
            client_id = entry.client_id
            previous = self._owners.get(client_id)
            is_move = previous is not None and previous != owner
            if not is_move and _is_stale(entry, self._states.get(client_id)):
                continue
            self._drop_state(client_id)
            if previous is not None and is_move:
                self._ids[previous].discard(client_id)
            if entry.is_removal and principal is None:
                self._owners.pop(client_id, None)
                self._ids.get(owner, set()).discard(client_id)
            else:
                self._owners[client_id] = owner
                self._ids.setdefault(owner, set()).add(client_id)
                if not entry.is_removal:
                    self._put_state(entry)
            fresh.append(entry)
        return fresh

    def _check_owner(
        self,
        owner: str,
        entries: list[AwarenessEntry],
        principal: str,
        bounds: AwarenessBounds | None,
    ) -> None:
        added: set[int] = set()
        for entry in entries:
            client_id = entry.client_id
            previous = self._owners.get(client_id)
            if previous == owner or (previous is None and entry.is_removal):
                continue
            if previous is not None and self._principals.get(previous) != principal:
                raise ForeignClientId(
                    f"awareness client id {client_id} belongs to another connection"
                )
            added.add(client_id)
        owned = len(self._ids.get(owner, ()))
        if bounds is not None and owned + len(added) > bounds.clients:
            raise TooManyClientIds(
                f"awareness: at most {bounds.clients} client ids per connection"
            )

    def _check_bytes(
        self, entries: list[AwarenessEntry], principal: str, bounds: AwarenessBounds
    ) -> None:
        # Only ids of this principal pass `_check_owner`: every change is its own.
        growth = 0
        for entry in entries:
            current = self._states.get(entry.client_id)
            growth += 0 if entry.is_removal else len(entry.state)
            growth -= len(current.state) if current is not None else 0
        if growth <= 0:
            return
        held = self._bytes_of.get(principal, 0) + growth
        if held > bounds.principal_bytes:
            raise StateTooLarge(
                f"awareness states of {held} bytes from one user in this document "
                f"exceed {bounds.principal_bytes}"
            )
        if self._bytes + growth > bounds.document_bytes:
            raise AwarenessFull(
                f"awareness of this document is full ({bounds.document_bytes} bytes): "
                "your presence is not shown"
            )

    def _drop_state(self, client_id: int) -> None:
        """Forget `client_id`'s state, if any, and its bytes (its owner stays as it is)."""
        entry = self._states.pop(client_id, None)
        if entry is None:
            return
        size = len(entry.state)
        self._bytes -= size
        principal = self._principals.get(self._owners.get(client_id, ""))
        if principal is not None:
            left = self._bytes_of[principal] - size
            if left > 0:
                self._bytes_of[principal] = left
            else:
                del self._bytes_of[principal]

    def _put_state(self, entry: AwarenessEntry) -> None:
        """Record `entry` (its id's state dropped first) under its id's owner."""
        self._states[entry.client_id] = entry
        size = len(entry.state)
        self._bytes += size
        principal = self._principals.get(self._owners[entry.client_id])
        if principal is not None:
            self._bytes_of[principal] = self._bytes_of.get(principal, 0) + size

    def remove_owner(self, owner: str) -> list[AwarenessEntry]:
        """Forget every client id `owner` announced; return their removal entries."""
        removals = []
        for client_id in self._ids.pop(owner, ()):
            entry = self._states.get(client_id)
            self._drop_state(client_id)
            del self._owners[client_id]
            if entry is not None:
                removals.append(AwarenessEntry(client_id, entry.clock + 1, NULL_STATE))
        self._principals.pop(owner, None)
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

    @property
    def state_bytes(self) -> int:
        """Bytes of every live state: what a newcomer receives on joining."""
        return self._bytes

    def __len__(self) -> int:
        return len(self._states)


def _is_stale(entry: AwarenessEntry, current: AwarenessEntry | None) -> bool:
    """Whether `entry` tells nothing new after `current` (y-protocols' clock rule)."""
    if current is None:
        return entry.is_removal  # Already gone, or never known: nothing to tell anyone.
    return entry.clock < current.clock or (
        entry.clock == current.clock and not entry.is_removal
    )
