"""Client-side awareness: our local state with its clock, and the states of our peers.

States are JSON objects carried as UTF-8 bytes (`crdt.awareness` encodes lengths in
bytes, so accented names survive). The rules follow y-protocols' ``awareness.js``: a state
replaces the known one when its clock is higher, and a ``null`` state at the same clock
removes it.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping

from crdt.awareness import NULL_STATE, AwarenessEntry, encode_awareness_update
from crdt.protocol import encode_awareness

JsonValue = None | bool | int | float | str | list["JsonValue"] | dict[str, "JsonValue"]
JsonObject = dict[str, JsonValue]

log = logging.getLogger(__name__)


def encode_state(state: JsonObject | None) -> bytes:
    """Serialise a state as compact UTF-8 JSON (``null`` for a removal)."""
    return json.dumps(state, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def decode_state(raw: bytes) -> JsonObject | None:
    """Parse a state; None for ``null``.

    Raises:
        ValueError: not UTF-8 JSON, or JSON that is neither an object nor null.
    """
    value: JsonValue = json.loads(raw.decode("utf-8"))
    if value is not None and not isinstance(value, dict):
        raise ValueError("an awareness state must be a JSON object or null")
    return value


class Presence:
    """Our awareness state and clock, plus every peer's latest state."""

    __slots__ = ("_clocks", "_local", "_local_clock", "_peers", "client_id")

    def __init__(self, client_id: int) -> None:
        self.client_id = client_id
        self._local: JsonObject | None = None
        self._local_clock = -1
        self._peers: dict[int, JsonObject] = {}
        self._clocks: dict[int, int] = {}

    @property
    def local(self) -> JsonObject | None:
        """Our current state, None before the first `set_local` or after `clear_local`."""
        return self._local

    @property
    def peers(self) -> Mapping[int, JsonObject]:
        """Other clients' states by client id (a read-only view)."""
        return self._peers

    def set_local(self, state: JsonObject) -> bytes:
        """Replace our state, advance our clock, and return the awareness message to send."""
        # Round-trip through JSON: a state that cannot be serialised fails here, in the
        # caller, and we never keep a reference to a dict the caller may mutate later.
        raw = encode_state(state)
        self._local = decode_state(raw)
        self._local_clock += 1
        return self._message(raw)

    def clear_local(self) -> bytes | None:
        """Drop our state; return the removal message, or None if we had no state."""
        message = self.leave()
        self._local = None
        return message

    def leave(self) -> bytes | None:
        """Removal message for a clean close; our state is kept for a later `announce`."""
        if self._local is None:
            return None
        self._local_clock += 1
        return self._message(NULL_STATE)

    def announce(self) -> bytes | None:
        """Message that re-announces our state on a new connection (None if no state).

        The server tells the others that our previous connection's state is gone with a
        clock one above ours (`AwarenessRegistry.remove_owner`), and y-protocols peers
        ignore a state whose clock is not above the one they know: step over it.
        """
        if self._local is None:
            return None
        self._local_clock += 2
        return self._message(encode_state(self._local))

    def current(self) -> bytes | None:
        """Message with our state at its current clock, for a query-awareness."""
        if self._local is None:
            return None
        return self._message(encode_state(self._local))

    def forget_peers(self) -> bool:
        """Forget every peer (our connection dropped); return whether any was known."""
        had_peers = bool(self._peers)
        self._peers.clear()
        # The next connection's snapshot is authoritative: accept its clocks as they are.
        self._clocks.clear()
        return had_peers

    def apply(self, entries: list[AwarenessEntry]) -> tuple[bool, bytes | None]:
        """Apply entries received from the server.

        Returns whether any peer changed, and a message to send when the server said our
        own state is gone while we still have one (we re-assert it with a higher clock,
        as y-protocols does).
        """
        changed = False
        reassert = None
        for entry in entries:
            if entry.client_id == self.client_id:
                if entry.is_removal and self._local is not None:
                    self._local_clock = max(self._local_clock, entry.clock)
                    reassert = self._message(encode_state(self._local), bump=True)
                continue
            changed |= self._apply_peer(entry)
        return changed, reassert

    def _apply_peer(self, entry: AwarenessEntry) -> bool:
        known = self._clocks.get(entry.client_id)
        is_newer = known is None or entry.clock > known
        is_removal_now = (
            entry.is_removal and entry.clock == known and entry.client_id in self._peers
        )
        if not (is_newer or is_removal_now):
            return False
        try:
            state = decode_state(entry.state)
        except ValueError:
            # A peer's malformed state must not end our session; the server relays bytes
            # without parsing them, so this is the only place it can be noticed.
            log.warning("ignoring malformed awareness state of client %d", entry.client_id)
            return False
        self._clocks[entry.client_id] = entry.clock
        if state is None:
            return self._peers.pop(entry.client_id, None) is not None
        self._peers[entry.client_id] = state
        return True

    def _message(self, raw: bytes, *, bump: bool = False) -> bytes:
        if bump:
            self._local_clock += 1
        entry = AwarenessEntry(self.client_id, self._local_clock, raw)
        return encode_awareness(encode_awareness_update([entry]))
