"""One live document: validate, commit, apply, relay — in that order, for every update.

Updates from clients queue in the room; the hub's committer (`server.rooms.committer`)
takes everything queued, commits it to storage in one append (per-sender entries keep
authorship), then the room applies the merged update to the in-memory Doc and relays the
same bytes to every client. Nobody sees an update before it is durable. Awareness is
relayed at once, never stored (`server.rooms.presence`); the batches are
`server.rooms.batch`'s. The room's own task only watches its lifetime (joins,
leaves, the grace period before eviction): it does nothing per update.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable
from typing import Any

import anyio
from pycrdt import Doc

from crdt.document import apply, check_declared_clients, is_empty_update, merge
from crdt.errors import InvalidUpdate
from crdt.protocol import (
    CloseCode,
    encode_awareness,
    encode_permission_denied,
    encode_sync_step1,
    encode_sync_step2,
    encode_sync_update,
)
from server.access.permissions import Action, is_open_when_frozen, sees_real_names
from server.errors import MalformedMessage
from server.metrics import Metrics
from server.rooms.batch import Commit, Pending, entries_by_sender
from server.rooms.client import Client, broadcast
from server.rooms.committer import Committer
from server.rooms.fanout import Fanout
from server.rooms.hooks import Guard, RoomHooks, notify
from server.rooms.presence import Presence
from server.rooms.projection import Projection
from storage.base import AppendResult, AppendTicket, DocumentStore, LogEntry, StorageUnavailable

log = logging.getLogger("palabre.room")

FROZEN_NOTICE = "document frozen: edits are refused; unsaved changes were not applied"
"""Told to every socket when its document freezes, and on joining a frozen document."""

_FROZEN_REFUSAL = "document frozen: your changes were not applied"
_READ_ONLY_REFUSAL = "read-only: your changes were not applied"


class Room:
    """A loaded document with its clients, its awareness states and its commit queue."""

    def __init__(
        self,
        doc_id: str,
        doc: Doc[Any],
        *,
        committer: Committer,
        metrics: Metrics,
        grace_seconds: float,
        max_pending: int,
        on_log_rows: Callable[[Room, int], None],
        hooks: RoomHooks,
        is_frozen: bool = False,
        comments_open: bool = False,
        guard: Guard | None = None,
        fanout: Fanout | None = None,
        projection: Projection | None = None,
    ) -> None:
        self.doc_id = doc_id
        self.doc = doc
        self.metrics = metrics
        self.connections: set[Client] = set()
        self._committer = committer
        self._grace = grace_seconds
        self._max_pending = max_pending
        self._on_log_rows = on_log_rows
        self._hooks = hooks
        self._pending: list[Pending] = []
        self._peer_updates: list[bytes] = []
        self._paused: set[Client] = set()
        self._wake = anyio.Event()
        self._committed = anyio.Event()
        self._closing = False
        self._in_flight = 0
        """Batches taken by the committer and not finished yet."""
        self.last_relay = -math.inf
        """When this room's last commit was relayed (monotonic): the committer spaces them."""
        self._fanout = fanout
        self.is_open = True
        self.is_frozen = is_frozen
        """Frozen: no client write is committed (loaded once with the room, then kept)."""
        self.comments_open = comments_open
        """While frozen, whether comments are still taken."""
        self._guard = guard
        """Judges each client update before it is queued: ``None`` accepts it, a reason
        refuses it with ``permission-denied`` (data documents: schema and field rules)."""
        self.watchers = 0
        """Readers that follow the document without a socket (event streams): while
        there are any, the room is not evicted."""
        self.access_changed = anyio.Event()
        """Set (then replaced) when rights change (`server.rooms.rights`): readers without a
        socket check their right again."""
        self._projection = projection
        """The public view that clients who may not see names read instead (annotations)."""
        self.presence = Presence(
            doc_id, clients=self.connections,
            blind=projection.readers if projection is not None else set(),
            send=self._broadcast, wake=self._wake_task, names=hooks.public_names,
            fanout=fanout, metrics=metrics)
        """Awareness states, as every client may see them."""

    # -- clients -------------------------------------------------------------------------

    def add(self, connection: Client) -> None:
        """Admit a client: it is sent our sync step 1 and every known awareness state.

        On a frozen document it is told so at once (a ``permission-denied`` message).
        """
        self.connections.add(connection)
        view = self._projection
        if not sees_real_names(connection.principal):
            self.presence.blind.add(connection)
        if view is not None and connection in view.readers:
            connection.send(encode_sync_step1(view.doc.get_state()))
        else:
            connection.send(encode_sync_step1(self.doc.get_state()))
        if self.is_frozen:
            connection.send(encode_permission_denied(FROZEN_NOTICE))
        states = self.presence.states_for(connection)
        if states is not None:
            connection.send(encode_awareness(states))
        self._wake.set()

    async def prepare(self, connection: Client) -> None:
        """Make what `connection` will read ready before it is `add`ed: the public view
        (built on its first reader) for a client who may not see names.

        Raises:
            StorageUnavailable: the people cannot be read.
            InvalidUpdate: the document does not decode.
        """
        view = self._projection
        if view is not None and not sees_real_names(connection.principal):
            await view.ready(self.doc.get_update)

    def remove(self, connection: Client) -> None:
        """Drop a client and tell the others that its awareness states are gone."""
        self.connections.discard(connection)
        self._paused.discard(connection)
        self.presence.leave(connection)
        self._wake.set()

    def sync_step2_for(self, state_vector: bytes, connection: Client | None = None) -> bytes:
        """Answer a sync step 1 of `connection`: everything committed that it lacks (of
        the public view, for a client who may not see names).

        Raises:
            MalformedMessage: the state vector does not decode.
        """
        view = self._projection
        doc = view.doc if view is not None and connection in view.readers else self.doc
        try:
            check_declared_clients(state_vector)
            return encode_sync_step2(doc.get_update(state_vector))
        except (InvalidUpdate, ValueError) as exc:
            raise MalformedMessage(f"bad state vector: {exc}") from exc

    # -- peers (other nodes of a cluster) ------------------------------------------------

    def apply_peer_update(self, update: bytes) -> bool:
        """Apply an update another node committed, and relay it with the next relay.

        It is applied at once (syncs answer with it from now on) but relayed in the same
        frame as this room's next commit, or on its own after the relay spacing: clients
        get one frame per relay interval, as on a single node. It is never stored or
        published again. Returns whether it applied (an undecodable one is logged,
        counted and dropped: the next catch-up from storage levels the document).
        """
        try:
            apply(self.doc, update)
        except InvalidUpdate:
            log.exception("peer update failed to apply", extra={"doc_id": self.doc_id})
            self.metrics.errors.labels(kind="peer_apply_failed").inc()
            return False
        self._peer_updates.append(update)
        self._committer.mark(self)
        return True

    def broadcast_stateless(self, payload: str, *, sender: Client | None) -> None:
        """Send a stateless payload to every client but `sender`, here and on the other nodes.

        `sender` is ``None`` for a payload another node relayed (it is not published again).
        Clients whose protocol has no stateless messages (y-websocket) get nothing.
        """
        for connection in list(self.connections):
            if connection is not sender:
                connection.send_stateless(payload)
        if sender is not None and self._fanout is not None:
            self._fanout.publish_stateless(self.doc_id, payload)

    def set_guard(self, guard: Guard) -> None:
        """Judge client updates with `guard` from now on, unless one already does (a
        document that became a data document after its room loaded)."""
        if self._guard is None:
            self._guard = guard

    def watch(self) -> None:
        """Count a reader without a socket: the room stays loaded until it `unwatch`es."""
        self.watchers += 1
        self._wake.set()

    def unwatch(self) -> None:
        """Forget a reader counted by `watch`."""
        self.watchers -= 1
        self._wake.set()

    def drop_queued(self, drop: Callable[[Pending], bool], kind: str) -> list[Pending]:
        """Take the queued client updates `drop` selects (never stored), counted as `kind`."""
        dropped = [item for item in self._pending if drop(item)]
        if dropped:
            self._pending = [item for item in self._pending if not drop(item)]
            self.metrics.errors.labels(kind=kind).inc(len(dropped))
        return dropped

    @property
    def projection(self) -> Projection | None:
        """The public view of the document that clients who may not see names read."""
        return self._projection

    def signal_access_changed(self) -> None:
        """Wake the readers without a socket (event streams) to check their right again."""
        changed, self.access_changed = self.access_changed, anyio.Event()
        changed.set()

    async def settled(self) -> None:
        """Return once no commit is under way (one started before a freeze has ended)."""
        while self._in_flight:
            await self._committed.wait()

    # -- updates -------------------------------------------------------------------------

    def receive_update(self, update: bytes, sender: Client) -> None:
        """The write policy for a decoded, valid update from a client: the one place that
        decides whether a socket's update is queued for commit or refused.

        Refused (read-only role, frozen document, or the guard's rules): not applied,
        not relayed; the sender is told with ``permission-denied`` and the socket stays.
        A read-only client's empty update (its first sync) is no write, and is not refused.

        Raises:
            InvalidUpdateError: the guard found the update does not apply.
        """
        is_writable = self._is_writable()
        if sender.may_edit and is_writable:
            guard = self._guard
            refusal = guard(self.doc, sender.principal, update) if guard is not None else None
            if refusal is None:
                self.submit(update, sender)
            else:
                self._deny(sender, refusal)
        elif not is_empty_update(update):
            self._deny(sender, _READ_ONLY_REFUSAL if is_writable else _FROZEN_REFUSAL)
        elif sender.frame_kind is not None:
            sender.acknowledge(True)  # Nothing to store: a read-only client's sync.

    def _is_writable(self) -> bool:
        """The freeze rule (`server.access.permissions`) applied to editing this document."""
        return not self.is_frozen or is_open_when_frozen(
            Action.EDIT, comments_open=self.comments_open
        )

    def _deny(self, sender: Client, reason: str) -> None:
        self.metrics.errors.labels(kind="permission_denied").inc()
        log.info("write refused: %s", reason, extra={
            "doc_id": self.doc_id, "connection_id": sender.connection_id,
            "principal": sender.principal.sub})
        sender.send(encode_permission_denied(reason))
        if sender.frame_kind is not None:
            sender.acknowledge(False)
        notify(self._hooks.on_denied, self.metrics, self.doc_id,
               self.doc_id, sender.principal.sub, reason)

    def submit(self, update: bytes, sender: Client) -> None:
        """Queue a client update for commit; a congested room pauses the sender."""
        self._pending.append(Pending(update, sender, sender.principal.sub, time.time()))
        self._committer.mark(self)
        if len(self._pending) >= self._max_pending:
            sender.pause_reading()
            self._paused.add(sender)

    @property
    def is_congested(self) -> bool:
        """Whether more updates wait for commit than the room accepts."""
        return len(self._pending) >= self._max_pending

    async def wait_uncongested(self) -> None:
        """Return after the next commit (callers check `is_congested` again)."""
        await self._committed.wait()

    async def write(self, update: bytes, *, principal: str | None) -> None:
        """Commit, apply and relay a server-made update; return once it is relayed.

        Raises:
            StorageUnavailable: the commit failed; nothing was applied.
        """
        done = anyio.Event()
        item = Pending(update, None, principal, time.time(), done)
        self._pending.append(item)
        self._committer.mark(self)
        await done.wait()
        if item.failed:
            raise StorageUnavailable(f"could not store an update of {self.doc_id}")

    # -- lifetime ------------------------------------------------------------------------

    async def run(self, on_evict: Callable[[Room], None]) -> None:
        """Live until the room is idle past its grace period, or closed and committed;
        meanwhile bring the public view (if any) up to date as updates are relayed.

        Woken by joins, leaves, watchers, updates for the public view and the end of a
        commit of a room nobody is in (or that is closing): never per update otherwise.
        """
        while True:
            if (self._projection is not None and self._projection.is_behind
                    and not self._closing):  # closing: the readers are closed too
                await self._projection.catch_up(self._send_to)
                continue
            if self.presence.has_unnamed and not self._closing:
                await self.presence.name_unnamed()
                continue
            if self._closing and not self._is_busy:
                break
            idle = not self.connections and not self.watchers and not self._is_busy
            self._wake = anyio.Event()
            with anyio.move_on_after(self._grace if idle else math.inf):
                await self._wake.wait()
            if (idle and not self.connections and not self.watchers and not self._is_busy
                    and not self._wake.is_set()):
                break
        # Decided with no await since the last check, so no client can have joined meanwhile.
        self.is_open = False
        on_evict(self)

    @property
    def _is_busy(self) -> bool:
        """Updates queued or being committed, or peer updates not relayed yet."""
        return bool(self._pending or self._peer_updates or self._in_flight)

    @property
    def is_closing(self) -> bool:
        """Closed: what is queued is committed at once, without spacing."""
        return self._closing

    def close(self) -> None:
        """Close every client (1012: reconnect at once, to another node) and let `run`
        finish once the queue is committed."""
        self._closing = True
        for connection in list(self.connections):
            connection.request_close(CloseCode.SERVICE_RESTART, "server restarting")
        if self._pending or self._peer_updates:
            self._committer.mark(self)
        self._wake.set()

    def _relay_peer_updates(self, merged: bytes | None = None) -> None:
        """Relay the queued peer updates (with `merged`, this node's commit) as one frame."""
        updates = [merged] if merged is not None else []
        updates += self._peer_updates
        self._peer_updates = []
        if not updates:
            return
        view = self._projection
        # Clients who may not see names get the public view of these, projected next.
        to = None if view is None else self.connections - view.readers
        try:
            parts = [merge(updates)]
        except InvalidUpdate:
            # Each part applied already; relaying them apart is as good, only slower.
            log.exception("relayed updates failed to merge", extra={"doc_id": self.doc_id})
            parts = updates
        for part in parts:
            self._broadcast(encode_sync_update(part), to)
            if view is not None:
                view.follow(part)
        self.metrics.hot.updates_out += len(self.connections) * len(parts)
        if view is not None and view.is_behind:
            self._wake.set()  # the room's task projects it

    def start_commit(self, store: DocumentStore) -> Commit | None:
        """Take what is queued and queue its append in `store` (the committer's round).

        Returns the commit to finish once the append returned, or None when nothing was
        queued (peer updates alone, or a freeze dropped the queue: relayed now).
        """
        if not self._pending:
            self._relay_peer_updates()
            self.last_relay = time.monotonic()
            self._wake_if_unwatched()
            return None
        batch, self._pending = self._pending, []
        entries = entries_by_sender(batch)
        self._in_flight += 1
        try:
            ticket: AppendTicket | None = store.enqueue(self.doc_id, entries)
            error = None
        except (StorageUnavailable, ValueError) as exc:
            ticket, error = None, StorageUnavailable(str(exc))
        return Commit(self, batch, entries, ticket, error)

    def _wake_if_unwatched(self) -> None:
        """Let `run` look again after a commit when nobody is in the room, or it closes."""
        if self._closing or not (self.connections or self.watchers):
            self._wake.set()

    def finish_commit(
        self, batch: list[Pending], entries: list[LogEntry], outcome: AppendResult | Exception,
        started: float,
    ) -> None:
        """Apply and relay a batch whose append returned (or fail it)."""
        self._in_flight -= 1
        # Waiters wake only after the committer's next await: past the relay below.
        self.release_waiters()
        self._wake_if_unwatched()
        if not isinstance(outcome, AppendResult):
            self._fail_batch(batch, outcome)
            return
        result = outcome
        self.last_relay = time.monotonic()
        self.metrics.commit_seconds.observe(time.perf_counter() - started)
        self.metrics.commit_batch_size.observe(len(batch))
        merged = merge([entry.update for entry in entries])
        try:
            apply(self.doc, merged)
        except InvalidUpdate:
            # Validated on receipt; failing here means pycrdt rejects what it decoded.
            log.exception("committed update failed to apply", extra={"doc_id": self.doc_id})
            self.metrics.errors.labels(kind="apply_failed").inc()
        self._relay_peer_updates(merged)
        if self._fanout is not None:
            self._fanout.publish_update(self.doc_id, merged)
        if self._hooks.after_commit:
            notify(self._hooks.after_commit, self.metrics, self.doc_id,
                   self.doc_id, self.doc.get_state())
        for item in batch:
            if item.done is not None:
                item.done.set()
            sender = item.sender
            if sender is not None and sender.frame_kind is not None:
                sender.acknowledge(True)
        self._on_log_rows(self, result.log_rows)

    def _fail_batch(self, batch: list[Pending], exc: Exception) -> None:
        self.metrics.errors.labels(kind="storage_unavailable").inc()
        log.error("commit failed: %s", exc, extra={"doc_id": self.doc_id})
        for item in batch:
            if item.sender is not None:
                item.sender.request_close(CloseCode.OVERLOADED, "storage unavailable, retry")
            item.failed = True
            if item.done is not None:
                item.done.set()

    def release_waiters(self) -> None:
        """Wake the callers waiting for a commit, and resume the clients a full queue paused."""
        self._committed.set()
        self._committed = anyio.Event()
        if self._paused and not self.is_congested:
            paused, self._paused = self._paused, set()
            for connection in paused:
                connection.resume_reading()

    def _wake_task(self) -> None:
        self._wake.set()

    def _send_to(self, clients: set[Client], message: bytes) -> None:
        self._broadcast(message, clients)

    def _broadcast(self, message: bytes, to: set[Client] | None = None) -> None:
        """Send `message` to every client (or those of `to`)."""
        clients = self.connections if to is None else to
        self.metrics.hot.bytes_out += len(message) * len(clients)
        broadcast(message, clients)
