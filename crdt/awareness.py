"""Awareness updates: codec, and a registry of client states owned by connections.

An awareness update is ``varuint count`` then, per client, ``varuint client_id``,
``varuint clock`` and a length-prefixed JSON state (``null`` once the client left).
The server keeps the latest bytes per client and relays them. It parses a client's state
once, on decoding, only to refuse one that is not JSON (every y-protocols client runs
``JSON.parse`` on each state it receives: one that throws would cost every browser the
rest of that message, its peers' presence included); a state is at most
`AwarenessBounds.state_bytes`, so that costs little. A state's size is the length of its
bytes, read while decoding.

A connection owns the client ids it introduced, for as long as it lives (also after it
removed their state): another connection may neither update nor remove them, except one
of the same principal (a client that reconnects keeps its Yjs client id while the server
may not yet have seen its old socket close). States relayed by peer nodes are trusted.
"""

from __future__ import annotations

import json
from collections.abc import Container, Iterable, Sequence
from dataclasses import dataclass

from crdt.errors import CrdtError, ProtocolError
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
        ProtocolError: truncated data, a bad varint, trailing bytes, or (with `bounds`: a
            client's update) a state that is not JSON.
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
        if bounds is not None:
            _check_json(state)
        entries.append(AwarenessEntry(client_id, clock, state))
    reader.expect_end()
    return entries


def _check_json(state: bytes) -> None:
    """Refuse a state a browser's ``JSON.parse`` would throw on.

    Raises:
        ProtocolError: not UTF-8 JSON (``NaN`` and ``Infinity`` are not JSON either).
    """
    try:
        json.loads(state.decode("utf-8"), parse_constant=_refuse_constant)
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise ProtocolError("an awareness state is not JSON") from exc


def _refuse_constant(name: str) -> object:
    raise ValueError(f"{name} is not JSON")


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
            entries = [entry for entry in entries if not self._is_echo(entry, principal)]
            self._check(owner, entries, principal, bounds)
            self._principals.setdefault(owner, principal)
        principal = self._principals.get(owner)
        fresh = []
        for entry in entries:
            client_id = entry.client_id
            previous = self._owners.get(client_id)
            current = self._states.get(client_id)
            is_move = previous is not None and previous != owner
            if not is_move and _is_stale(entry, current):
                continue
            if current is not None:
                self._count(current, principal if previous == owner else
                            self._principals.get(previous or ""), -1)
            if previous is not None and is_move:
                self._ids[previous].discard(client_id)
            if entry.is_removal:
                self._states.pop(client_id, None)
            else:
                self._states[client_id] = entry
                self._count(entry, principal, 1)
            if entry.is_removal and principal is None:
                self._owners.pop(client_id, None)
                self._ids.get(owner, set()).discard(client_id)
            elif not is_move and previous is not None:
                pass  # Already ours: the common case (a cursor move) ends here.
            else:
                self._owners[client_id] = owner
                self._ids.setdefault(owner, set()).add(client_id)
            fresh.append(entry)
        return fresh

    def _is_echo(self, entry: AwarenessEntry, principal: str) -> bool:
        """Whether `entry` only repeats what is known of another principal's client id.

        y-websocket clients send back every awareness change they apply, remote ones
        included (and, after 30 s without news, a removal at the same clock): not news,
        so ignored as before, never taken for a claim on the id. A newer clock is a claim.
        """
        previous = self._owners.get(entry.client_id)
        if previous is None or self._principals.get(previous) == principal:
            return False
        current = self._states.get(entry.client_id)
        return current is None or entry.clock <= current.clock

    def _check(
        self,
        owner: str,
        entries: list[AwarenessEntry],
        principal: str,
        bounds: AwarenessBounds | None,
    ) -> None:
        """Raise if `owner` may not apply `entries` (see `apply`); change nothing."""
        added: set[int] = set()
        growth = 0
        for entry in entries:
            client_id = entry.client_id
            current = self._states.get(client_id)
            growth += (0 if entry.is_removal else len(entry.state)) - (
                0 if current is None else len(current.state)
            )
            previous = self._owners.get(client_id)
            if previous == owner or (previous is None and entry.is_removal):
                continue
            if previous is not None and self._principals.get(previous) != principal:
                raise ForeignClientId(
                    f"awareness client id {client_id} belongs to another connection"
                )
            added.add(client_id)
        if bounds is None:
            return
        if added and len(self._ids.get(owner, ())) + len(added) > bounds.clients:
            raise TooManyClientIds(
                f"awareness: at most {bounds.clients} client ids per connection"
            )
        if growth <= 0:
            return
        # Only ids of this principal got here: every byte of `growth` is its own.
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

    def _count(self, entry: AwarenessEntry, principal: str | None, sign: int) -> None:
        """Add (`sign` 1) or take back (-1) the bytes of `entry`, held by `principal`."""
        size = sign * len(entry.state)
        self._bytes += size
        if principal is not None:
            held = self._bytes_of.get(principal, 0) + size
            if held > 0:
                self._bytes_of[principal] = held
            else:
                self._bytes_of.pop(principal, None)

    def remove_owner(self, owner: str) -> list[AwarenessEntry]:
        """Forget every client id `owner` announced; return their removal entries."""
        removals = []
        principal = self._principals.get(owner)
        for client_id in self._ids.pop(owner, ()):
            del self._owners[client_id]
            entry = self._states.pop(client_id, None)
            if entry is not None:
                self._count(entry, principal, -1)
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

    def state_of(self, client_id: int) -> AwarenessEntry | None:
        """The live state of `client_id`, if any."""
        return self._states.get(client_id)

    def owner_of(self, client_id: int) -> str | None:
        """Who announced `client_id` (a connection id, or a peer node's owner key)."""
        return self._owners.get(client_id)

    @property
    def state_bytes(self) -> int:
        """Bytes of every live state: what a newcomer receives on joining."""
        return self._bytes

    def __len__(self) -> int:
        return len(self._states)


_PUBLIC_COLOUR_CHARS = 32


def public_state(entry: AwarenessEntry, name: str) -> AwarenessEntry:
    """`entry` as shown to readers who may not see people's names, `name` in place of theirs.

    Only what an editor draws is kept: ``user.name`` (replaced by `name`), ``user.color``
    (a short string) and ``cursor``; every other field is dropped, whatever a client put
    there. A removal stays a removal. The entry was decoded with bounds (valid JSON).
    """
    if entry.is_removal:
        return entry
    state = json.loads(entry.state)
    shown: dict[str, object] = {}
    if isinstance(state, dict):
        user = state.get("user")
        if isinstance(user, dict):
            colour = user.get("color")
            shown["user"] = {"name": name} | (
                {"color": colour} if isinstance(colour, str)
                and len(colour) <= _PUBLIC_COLOUR_CHARS else {})
        if "cursor" in state:
            shown["cursor"] = state["cursor"]
    encoded = json.dumps(shown, ensure_ascii=False, separators=(",", ":")).encode()
    return AwarenessEntry(entry.client_id, entry.clock, encoded)


def _is_stale(entry: AwarenessEntry, current: AwarenessEntry | None) -> bool:
    """Whether `entry` tells nothing new after `current` (y-protocols' clock rule)."""
    if current is None:
        return entry.is_removal  # Already gone, or never known: nothing to tell anyone.
    return entry.clock < current.clock or (
        entry.clock == current.clock and not entry.is_removal
    )
