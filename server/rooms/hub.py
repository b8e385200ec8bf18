"""The registry of live rooms: single-flight loads, eviction after flush, compaction."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any, TypeVar

import anyio
from anyio.abc import TaskGroup
from pycrdt import Doc

from crdt.doc_id import annotations_of, is_annotations
from crdt.document import doc_from_update, is_empty_update
from crdt.errors import InvalidUpdate, SchemaError
from crdt.schema import assign_missing_ids, has_missing_ids
from server.access.roster import RightsChange
from server.errors import Overloaded
from server.limits import Limits
from server.metrics import Metrics
from server.rooms import rights
from server.rooms.client import Client
from server.rooms.committer import Committer
from server.rooms.fanout import Fanout
from server.rooms.hooks import Guard, RoomGuard, RoomHooks, notify
from server.rooms.known_documents import KnownDocuments
from server.rooms.projection import Projection
from server.rooms.revocation import Revocation
from server.rooms.room import Room
from server.rooms.scratch import ScratchCopies, changes_of
from server.settings import Settings
from storage.base import StorageUnavailable
from storage.port import Storage

log = logging.getLogger("palabre.hub")

T = TypeVar("T")

_ID_CHECK_INTERVAL_SECONDS = 0.2


class _Loading:
    """A load in flight that later joiners of the same document wait for."""

    __slots__ = ("done", "error", "room")

    def __init__(self) -> None:
        self.done = anyio.Event()
        self.room: Room | None = None
        self.error: Exception | None = None


class Hub:
    """Owns every room and the task group their committers and compactions run in."""

    def __init__(
        self, settings: Settings, store: Storage, metrics: Metrics, *,
        hooks: RoomHooks | None = None, fanout: Fanout | None = None,
        documents: KnownDocuments | None = None,
    ) -> None:
        self._settings = settings
        self._store = store
        self._metrics = metrics
        self._rooms: dict[str, Room] = {}
        self._loading: dict[str, _Loading] = {}
        self._compacting: set[str] = set()
        self._task_group: TaskGroup | None = None
        self._changed: anyio.Event  # made in `running`: events need the event loop
        self._transforming: dict[str, anyio.Lock] = {}
        self._scratches = ScratchCopies()
        self._guards: dict[str, RoomGuard] = {}
        self._missing_ids: set[str] = set()
        self._ids_wanted: anyio.Event
        self._closing = False
        self._hooks = hooks or RoomHooks()
        self._committer: Committer  # made in `running`: its events need the event loop
        self.fanout = fanout
        """The other nodes of a cluster (None: this node is alone)."""
        self.documents = documents or KnownDocuments(store)
        """The catalogue as sockets read it; a revocation forgets what it knew."""

    @asynccontextmanager
    async def running(self) -> AsyncIterator[Hub]:
        """Run the hub; on exit close every room and wait until their queues are committed."""
        self._changed = anyio.Event()
        self._ids_wanted = anyio.Event()
        self._closing = False
        self._committer = Committer(self._store, self._settings.relay_interval)
        async with anyio.create_task_group() as tg:
            self._task_group = tg
            tg.start_soon(self._committer.run)
            tg.start_soon(self._assign_ids_forever)
            try:
                yield self
            finally:
                self._closing = True
                with anyio.CancelScope(shield=True), anyio.move_on_after(
                    self._settings.shutdown_timeout_seconds
                ):
                    for room in list(self._rooms.values()):
                        room.close()
                    while self._rooms or self._compacting:
                        await self._changed.wait()
                tg.cancel_scope.cancel()
                self._task_group = None

    @property
    def limits(self) -> Limits:
        """The bounds on what clients make the server hold (`server.limits`)."""
        return self._settings.limits

    def guard_data(self, doc_id: str, rules: Guard) -> None:
        """Judge the document's socket writes by a data document's `rules` from now on.

        For a document that became a data document after its room loaded (its room then
        judged writes by the text shape); one whose rules are set already keeps them.
        """
        guard = self._guards.get(doc_id)
        if guard is not None:
            guard.use_rules(rules)

    async def stored_freeze(self, doc_id: str) -> tuple[bool, bool]:
        """A text document's stored ``(frozen, comments_open)`` (companions: never frozen).

        Raises:
            StorageUnavailable: it cannot be read.
        """
        if is_annotations(doc_id):
            return False, False
        state = await self._store.get_freeze(doc_id)
        return state.frozen, state.comments_open

    async def join(self, doc_id: str, connection: Client) -> Room:
        """Add `connection` to the document's room, loading the document once if needed.

        Raises:
            Overloaded: storage is unavailable or the server is shutting down; no room exists.
        """
        while True:
            room = await self.room(doc_id)
            try:
                await room.prepare(connection)
            except (StorageUnavailable, InvalidUpdate) as exc:
                raise Overloaded(f"the public view of {doc_id} could not be made") from exc
            if room.is_open:
                break
        room.add(connection)
        self._metrics.connections.inc()
        if self._hooks.on_join:
            notify(self._hooks.on_join, self._metrics, doc_id, doc_id,
                   connection.connection_id, connection.principal)
        return room

    def leave(self, room: Room, connection: Client) -> None:
        """Remove `connection` from its room."""
        room.remove(connection)
        self._metrics.connections.dec()
        if self._hooks.on_leave:
            notify(self._hooks.on_leave, self._metrics, room.doc_id, room.doc_id,
                   connection.connection_id)

    async def room(self, doc_id: str) -> Room:
        """The live room of `doc_id`, loaded from storage by exactly one caller.

        Raises:
            Overloaded: storage is unavailable or the server is shutting down.
        """
        while True:
            room = self._rooms.get(doc_id)
            if room is not None and room.is_open:
                return room
            loading = self._loading.get(doc_id)
            if loading is None:
                return await self._load(doc_id)
            await loading.done.wait()
            if loading.error is not None:
                raise Overloaded(f"document {doc_id} could not be loaded") from loading.error

    async def _load(self, doc_id: str) -> Room:
        if self._task_group is None or self._closing:
            raise Overloaded("server is shutting down")
        loading = self._loading[doc_id] = _Loading()
        try:
            room, guard, log_rows = await self._open(doc_id, self._task_group)
        except (StorageUnavailable, InvalidUpdate) as exc:
            loading.error = exc
            self._metrics.errors.labels(kind="load_failed").inc()
            log.error("load failed: %s", exc, extra={"doc_id": doc_id})
            raise Overloaded(f"document {doc_id} could not be loaded") from exc
        finally:
            del self._loading[doc_id]
            loading.done.set()
        self._rooms[doc_id] = room
        if guard is not None:
            self._guards[doc_id] = guard
        self._metrics.documents_loaded.inc()
        if self.fanout is not None:
            self.fanout.watch(doc_id)
        self._after_commit(room, log_rows)
        return room

    async def _open(
        self, doc_id: str, task_group: TaskGroup
    ) -> tuple[Room, RoomGuard | None, int]:
        """A running room of `doc_id`, migrated, not yet registered; its guard; its log rows.

        Raises:
            StorageUnavailable: the document, or its migration, could not be read or stored.
            InvalidUpdate: the stored state does not decode.
        """
        stored = await self._store.load(doc_id)
        doc = doc_from_update(stored.update)
        frozen, comments_open = await self.stored_freeze(doc_id)
        guard = None
        if not is_annotations(doc_id):  # companions: clients never write them
            rules = None
            if self._hooks.load_guard is not None:
                rules = await self._hooks.load_guard(doc_id)
            guard = RoomGuard(self._settings.limits, rules)
        projection = None
        if is_annotations(doc_id) and self._hooks.public_names is not None:
            projection = Projection(doc_id, self._hooks.public_names, self._metrics)
        settings = self._settings
        room = Room(
            doc_id,
            doc,
            committer=self._committer,
            metrics=self._metrics,
            grace_seconds=settings.room_grace_seconds,
            max_pending=settings.max_pending_updates,
            on_log_rows=self._after_commit,
            hooks=self._hooks,
            is_frozen=frozen,
            comments_open=comments_open,
            guard=guard,
            fanout=self.fanout,
            projection=projection,
        )
        task_group.start_soon(room.run, self._evicted)
        try:
            migrated = await self._migrate(room)
        except BaseException:
            room.close()
            raise
        return room, guard, stored.log_rows + migrated

    async def _migrate(self, room: Room) -> int:
        """Commit the `migrate` hook's change to a room no client has joined yet.

        Returns how many log rows it added (0 or 1).

        Raises:
            StorageUnavailable: the change could not be stored.
        """
        if self._hooks.migrate is None:
            return 0
        change = self._hooks.migrate(room.doc_id, room.doc)
        if change is None:
            return 0
        scratch: Doc[Any] = Doc(client_id=room.doc.client_id)
        scratch.apply_update(room.doc.get_update())
        change(scratch)
        update = scratch.get_update(room.doc.get_state())
        if is_empty_update(update):
            return 0
        await room.write(update, principal=None)
        log.info("migrated on load", extra={"doc_id": room.doc_id})
        return 1

    def _evicted(self, room: Room) -> None:
        if self._rooms.get(room.doc_id) is room:
            del self._rooms[room.doc_id]
            self._guards.pop(room.doc_id, None)
            self._scratches.drop(room.doc_id)
            self._metrics.documents_loaded.dec()
            self._metrics.evictions.inc()
            if self.fanout is not None:
                self.fanout.unwatch(room.doc_id)
        self._notify_idle()

    def loaded_room(self, doc_id: str) -> Room | None:
        """The open room of `doc_id` if it is in memory now (never loads it)."""
        room = self._rooms.get(doc_id)
        return room if room is not None and room.is_open else None

    @property
    def loaded_rooms(self) -> list[Room]:
        """Every open room in memory now."""
        return [room for room in self._rooms.values() if room.is_open]

    def _after_commit(self, room: Room, log_rows: int) -> None:
        """Called by a room after each commit, once its update is applied and relayed."""
        self._maybe_compact(room, log_rows)
        if not is_annotations(room.doc_id):
            self._missing_ids.add(room.doc_id)
            self._ids_wanted.set()

    async def set_freeze(
        self, doc_id: str, *, frozen: bool, comments_open: bool, publish: bool = True
    ) -> None:
        """Apply a stored freeze change to the document's room on this node, if loaded.

        With `publish` (a change made on this node), the other nodes of a cluster are told
        too, and apply it to their own sockets the same way.

        Returns once it holds on every socket of the document: client updates queued
        and not committed are dropped, and a commit already under way has ended, so
        nothing a client sends is stored or relayed after this returns (while frozen).
        A room loading meanwhile is waited for (it may have read the old state).
        """
        if publish and self.fanout is not None:
            self.fanout.publish_freeze(doc_id, frozen=frozen, comments_open=comments_open)
        loading = self._loading.get(doc_id)
        if loading is not None:
            await loading.done.wait()
        room = self._rooms.get(doc_id)
        if room is None or not room.is_open:
            return
        rights.freeze(room, frozen=frozen, comments_open=comments_open)
        await room.settled()

    async def revoke(self, doc_id: str, change: Revocation) -> None:
        """Apply `change` (stored by the caller) to `doc_id` and its companion, on every node.

        On this node the sockets that lose their right are closed (4403) before this
        returns, a room loading meanwhile included; the other nodes of a cluster are told
        (`Fanout.publish_access`) and do the same as the frame arrives.
        """
        for target in (doc_id, annotations_of(doc_id)):
            self.documents.forget(target)
            if self.fanout is not None:
                self.fanout.publish_access(target, change.value)
            loading = self._loading.get(target)
            if loading is not None:
                await loading.done.wait()
            self.revoke_here(target, change)

    def revoke_here(self, doc_id: str, change: Revocation) -> None:
        """Apply `change` to the room of `doc_id` on this node, if it is loaded."""
        self.documents.forget(doc_id)
        room = self.loaded_room(doc_id)
        if room is not None:
            rights.revoke(room, lambda principal: change.may_stay(principal, doc_id),
                          change.reason)

    def change_rights(self, change: RightsChange) -> None:
        """Apply a change of a person's rights (stored by the caller) on every node.

        Here, at once: a removed person's sockets close (4403) and their updates not yet
        committed are dropped; a person given another role keeps their sockets with that
        role's rights (a member made citizen edits no more). The other nodes of a cluster
        are told (`Fanout.publish_rights`) and do the same as the frame arrives.
        """
        if self.fanout is not None:
            self.fanout.publish_rights(change.encode())
        self.change_rights_here(change)

    def change_rights_here(self, change: RightsChange) -> None:
        """Apply `change` to the sockets of this node."""
        revise, reason = rights.revision(change)
        for room in self.loaded_rooms:
            rights.change_rights(room, change.sub, revise, reason)

    async def transform(
        self, doc_id: str, mutate: Callable[[Doc[Any]], T], *, principal: str | None
    ) -> T:
        """Change a document as the server peer: `mutate` a copy, then commit what it changed.

        `mutate` runs on a scratch copy of the live document; the update of its
        transactions is committed, applied and relayed through the room like any client's update, so
        nothing reaches the live document before it is durable. Transforms of one
        document run one at a time and write with the live document's own client id
        (the live document never edits by itself, so its clocks are ours to continue).
        An exception from `mutate` propagates and nothing is written.

        A large document keeps its copy between transforms, brought up to date with the
        updates of the live document's transactions (`server.rooms.scratch`): a transform
        then costs what it changes, not a copy of the document. A copy that `mutate`
        failed on, or whose write failed, is dropped.

        Raises:
            Overloaded: the document cannot be loaded, or the server is shutting down.
            StorageUnavailable: the commit failed; nothing was applied.
        """
        lock = self._transforming.setdefault(doc_id, anyio.Lock())
        try:
            async with lock:
                room = await self.room(doc_id)
                # No await from here to `room.write` queueing the update: the room stays
                # open, and its document does not change under the diff.
                followed = self._scratches.take(room)
                try:
                    result, update = changes_of(followed.copy, mutate)
                    if not is_empty_update(update):
                        await room.write(update, principal=principal)
                except BaseException:
                    followed.close()
                    raise
                if followed.is_large and self._rooms.get(doc_id) is room:
                    self._scratches.keep(followed)  # it followed what `write` let in
                else:
                    followed.close()
                return result
        finally:
            if not lock.locked() and lock.statistics().tasks_waiting == 0:
                self._transforming.pop(doc_id, None)

    async def _assign_ids_forever(self) -> None:
        """Give blocks that arrived without an id their server-assigned id, off the relay path.

        Rooms mark their document after each commit; this task checks the marked ones and
        commits the missing ids through `transform`. Its own commit marks the document
        again, and the second check finds nothing to do: there is no loop. A check walks
        the whole text (milliseconds for a long one), so a busy document is checked at
        most once per `_ID_CHECK_INTERVAL_SECONDS`, marks made meanwhile coalescing.
        """
        while True:
            await self._ids_wanted.wait()
            self._ids_wanted = anyio.Event()
            wanted, self._missing_ids = self._missing_ids, set()
            for doc_id in wanted:
                room = self._rooms.get(doc_id)
                if self._closing or room is None or room.is_frozen or not has_missing_ids(room.doc):
                    continue
                try:
                    await self.transform(doc_id, _assign_ids, principal=None)
                except (Overloaded, StorageUnavailable, SchemaError) as exc:
                    self._metrics.errors.labels(kind="assign_ids_failed").inc()
                    log.error("block ids not assigned: %s", exc, extra={"doc_id": doc_id})
            await anyio.sleep(_ID_CHECK_INTERVAL_SECONDS)

    def _maybe_compact(self, room: Room, log_rows: int) -> None:
        if (
            log_rows < self._settings.compact_threshold
            or room.doc_id in self._compacting
            or self._task_group is None
        ):
            return
        self._compacting.add(room.doc_id)
        self._task_group.start_soon(self._compact, room.doc_id)

    async def _compact(self, doc_id: str) -> None:
        try:
            if self.fanout is None:
                await self._store.compact(doc_id)
            else:
                # One node at a time compacts a document; another holding the lock does it.
                async with self.fanout.compaction_lock(doc_id) as is_taken:
                    if is_taken:
                        await self._store.compact(doc_id)
        except StorageUnavailable as exc:
            self._metrics.errors.labels(kind="compaction_failed").inc()
            log.error("compaction failed: %s", exc, extra={"doc_id": doc_id})
        finally:
            self._compacting.discard(doc_id)
            self._notify_idle()

    async def wait_unloaded(self, doc_id: str) -> None:
        """Return once `doc_id` is no longer in memory (evicted after its grace period)."""
        while doc_id in self._rooms or doc_id in self._loading:
            await self._changed.wait()

    def _notify_idle(self) -> None:
        changed, self._changed = self._changed, anyio.Event()
        changed.set()

    @property
    def loaded_documents(self) -> int:
        """How many documents are in memory now."""
        return len(self._rooms)


def _assign_ids(doc: Doc[Any]) -> None:
    assign_missing_ids(doc)
