"""A room's awareness: who is where, judged against the bounds, relayed at once (never
stored), and shown to each client as it may see people.

Clients who may see real names (members, facilitators) get the states as their authors
sent them. The others (citizens, the public: the room's `blind` set) get each state's
public form (`crdt.awareness.public_state`): the author's public name (their pseudonym,
or their name if they chose to show it) in place of whatever name the state carries, and
nothing but the cursor and its colour. The node a client is connected to knows its
principal, so it makes the public form and shares it with the other nodes after the state
itself (`Fanout.publish_public_awareness`); a state whose public form is not known (its
author's name is still being looked up, by the room's task) is not shown to the blind.

Cost per message: one decode (varints and slices, and one ``json.loads`` of each state to
refuse one that is not JSON), one dict lookup per state, a re-encode only when part of
the update is stale; the public form (a parse and a dump of the state) only while some
client here may not see names, or in a cluster.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence

import anyio

from crdt.awareness import (
    AwarenessBounds,
    AwarenessEntry,
    AwarenessFull,
    AwarenessRefused,
    AwarenessRegistry,
    StateTooLarge,
    decode_awareness_update,
    encode_awareness_update,
    public_state,
)
from crdt.errors import ProtocolError
from crdt.protocol import encode_awareness, encode_permission_denied
from server.errors import Forbidden, MalformedMessage, MessageTooBig
from server.metrics import Metrics
from server.rooms.client import Client
from server.rooms.fanout import Fanout
from server.rooms.projection import PublicNames
from storage.base import StorageUnavailable

log = logging.getLogger("palabre.presence")

_NAMES_RETRY_SECONDS = 1.0
"""Pause before looking up public names again after storage failed."""

Send = Callable[[bytes, "set[Client] | None"], None]
"""The room's broadcast: a message to some of its clients (None: all)."""


class Presence:
    """The awareness states of one room, their public forms, and its clients' public names."""

    def __init__(
        self, doc_id: str, *, clients: set[Client], blind: set[Client], send: Send,
        wake: Callable[[], None], names: PublicNames | None, fanout: Fanout | None,
        metrics: Metrics,
    ) -> None:
        self.doc_id = doc_id
        self.registry = AwarenessRegistry()
        self._clients = clients
        """The room's clients (its set, not a copy)."""
        self.blind = blind
        """Those of them who may not see names (shared with its public view, if any)."""
        self._send = send
        self._wake = wake
        """Wakes the room's task, which calls `name_unnamed`."""
        self._names = names
        self._fanout = fanout
        self._metrics = metrics
        self._name_of: dict[str, str] = {}
        """The public name of each local client (by connection id) looked up so far."""
        self._unnamed: dict[str, Client] = {}
        """Local clients with states whose public name is to be looked up."""
        self._public: dict[int, AwarenessEntry] = {}
        """The public form of states, by client id (valid while its clock is the state's)."""

    # -- this node's clients -------------------------------------------------------------

    def receive(
        self, sender: Client, update: bytes, *, principal: str, bounds: AwarenessBounds
    ) -> None:
        """Record and relay `sender`'s update (of `principal`, its key).

        The update is checked whole before anything of it is recorded: a refused one
        changes nothing and is not relayed. When the document's awareness is full (no
        fault of the sender), the sender is told with ``permission-denied`` and its socket
        stays.

        Raises:
            MalformedMessage: undecodable.
            MessageTooBig: a state larger than `bounds.state_bytes`, or the principal's
                states in this document past `bounds.principal_bytes` (1009).
            Forbidden: another principal's client id, or more than `bounds.clients` ids
                (4403).
        """
        try:
            entries = decode_awareness_update(update, bounds)
            fresh = self.registry.apply(
                sender.connection_id, entries, principal=principal, bounds=bounds
            )
        except AwarenessFull as exc:
            sender.send(encode_permission_denied(str(exc)))
            return
        except ProtocolError as exc:
            raise MalformedMessage(f"bad awareness update: {exc}") from exc
        except StateTooLarge as exc:
            raise MessageTooBig(str(exc)) from exc
        except AwarenessRefused as exc:
            raise Forbidden(str(exc)) from exc
        if not fresh:
            return
        relayed = update if len(fresh) == len(entries) else encode_awareness_update(fresh)
        self._to_seeing(relayed)
        public = self._public_form(sender, fresh)
        if self._fanout is not None:
            self._fanout.publish_awareness(self.doc_id, relayed)
        if public is not None:
            self._show_public(public)

    def _public_form(self, sender: Client, fresh: Sequence[AwarenessEntry]) -> bytes | None:
        for entry in fresh:
            self._public.pop(entry.client_id, None)
        if self._names is None or not (self.blind or self._fanout):
            return None  # made when a blind client joins, if ever
        name = self._name_of.get(sender.connection_id)
        if name is None:
            self._unnamed[sender.connection_id] = sender
            self._wake()
            return None
        return encode_awareness_update([self._remember(public_state(e, name)) for e in fresh])

    def _remember(self, entry: AwarenessEntry) -> AwarenessEntry:
        if not entry.is_removal:
            self._public[entry.client_id] = entry
        return entry

    def leave(self, connection: Client) -> None:
        """Forget a closed client's states, telling everyone here and on the other nodes."""
        self.blind.discard(connection)
        removals = self._remove(connection.connection_id)
        if removals is not None:
            self._send(encode_awareness(removals), None)
            if self._fanout is not None:
                self._fanout.publish_awareness(self.doc_id, removals)

    def _remove(self, owner: str) -> bytes | None:
        self._name_of.pop(owner, None)
        self._unnamed.pop(owner, None)
        removals = self.registry.remove_owner(owner)
        for entry in removals:
            self._public.pop(entry.client_id, None)
        return encode_awareness_update(removals) if removals else None

    @property
    def has_unnamed(self) -> bool:
        """Whether public names are to be looked up (by `name_unnamed`)."""
        return bool(self._unnamed)

    async def name_unnamed(self) -> None:
        """Look up the public names of the clients waiting for one, then show their states
        to the blind, here and on the other nodes. A storage failure is logged, and tried
        again after a pause."""
        if self._names is None:
            self._unnamed.clear()
            return
        waiting = dict(self._unnamed)
        try:
            found = await self._names({c.principal.sub for c in waiting.values()}, patient=True)
        except StorageUnavailable as exc:
            self._metrics.errors.labels(kind="public_names_failed").inc()
            log.error("public names not read: %s", exc, extra={"doc_id": self.doc_id})
            await anyio.sleep(_NAMES_RETRY_SECONDS)
            return
        shown: list[AwarenessEntry] = []
        for connection_id, client in waiting.items():
            self._unnamed.pop(connection_id, None)
            if client not in self._clients:
                continue  # gone meanwhile
            name = self._name_of[connection_id] = found[client.principal.sub].name
            for entry in self.registry.snapshot_of({connection_id}):
                shown.append(self._remember(public_state(entry, name)))
        if shown:
            self._show_public(encode_awareness_update(shown))

    # -- what a client is shown ----------------------------------------------------------

    def message_for(self, client: Client) -> bytes:
        """Every state `client` may see as one message (the answer to query-awareness)."""
        return encode_awareness(self.states_for(client) or encode_awareness_update([]))

    def states_for(self, client: Client) -> bytes | None:
        """Every state `client` may see as one update (``None``: none), for a newcomer or a
        query-awareness. A blind client gets the public forms known; the names of this
        node's clients not looked up yet are asked for (`name_unnamed`)."""
        states = self.registry.snapshot()
        if client not in self.blind:
            return encode_awareness_update(states) if states else None
        shown = []
        local: dict[str, Client] | None = None
        for entry in states:
            public = self._public.get(entry.client_id)
            if public is not None and public.clock == entry.clock:
                shown.append(public)
                continue
            owner = self.registry.owner_of(entry.client_id) or ""
            name = self._name_of.get(owner)
            if name is not None:
                shown.append(self._remember(public_state(entry, name)))
            elif self._names is not None:
                if local is None:
                    local = {client.connection_id: client for client in self._clients}
                if owner in local:
                    self._unnamed[owner] = local[owner]
                    self._wake()
        return encode_awareness_update(shown) if shown else None

    def _to_seeing(self, update: bytes) -> None:
        """Send states as they are to the clients who may see names."""
        blind = self.blind
        self._send(encode_awareness(update), self._clients - blind if blind else None)

    def _show_public(self, public: bytes) -> None:
        """Send public forms to the blind here, and to the other nodes."""
        if self.blind:
            self._send(encode_awareness(public), self.blind)
        if self._fanout is not None:
            self._fanout.publish_public_awareness(self.doc_id, public)

    # -- other nodes' clients ------------------------------------------------------------

    def receive_from_peer(self, owner: str, update: bytes) -> None:
        """Record and relay states a peer node relayed (trusted: ids move to it) to the
        clients who may see names; the blind get their public forms, which follow.

        Raises:
            ProtocolError: the update does not decode.
        """
        fresh = self.registry.apply(owner, decode_awareness_update(update))
        for entry in fresh:
            self._public.pop(entry.client_id, None)
        states = [entry for entry in fresh if not entry.is_removal]
        if states:
            self._to_seeing(encode_awareness_update(states))
        if len(states) < len(fresh):  # removals: the same for everyone
            removals = [entry for entry in fresh if entry.is_removal]
            self._send(encode_awareness(encode_awareness_update(removals)), None)

    def receive_public_from_peer(self, owner: str, update: bytes) -> None:
        """Show the blind the public forms a peer node made of its clients' states.

        Raises:
            ProtocolError: the update does not decode.
        """
        shown = []
        for entry in decode_awareness_update(update):
            state = self.registry.state_of(entry.client_id)
            if (state is not None and state.clock == entry.clock and not entry.is_removal
                    and self.registry.owner_of(entry.client_id) == owner):
                shown.append(self._remember(entry))
        if shown and self.blind:
            self._send(encode_awareness(encode_awareness_update(shown)), self.blind)

    def drop_peer(self, owner: str) -> None:
        """Forget the states `owner` (a silent peer node) announced, telling every client."""
        removals = self._remove(owner)
        if removals is not None:
            self._send(encode_awareness(removals), None)

    def local_states(self) -> tuple[bytes, bytes | None] | None:
        """The states of this node's clients as one update, and their public forms known
        (for a node that asks; None: none)."""
        states = self.registry.snapshot_of({client.connection_id for client in self._clients})
        if not states:
            return None
        shown = [public for entry in states
                 if (public := self._public.get(entry.client_id)) is not None
                 and public.clock == entry.clock]
        return encode_awareness_update(states), (
            encode_awareness_update(shown) if shown else None)
