"""The registry of live rooms: single-flight loads, eviction after flush, compaction."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

import anyio
from anyio.abc import TaskGroup

from crdt.document import doc_from_update
from crdt.errors import InvalidUpdate
from server.connection import Connection
from server.errors import Overloaded
from server.metrics import Metrics
from server.room import Room
from server.settings import Settings
from storage.base import DocumentStore, StorageUnavailable

log = logging.getLogger("palabre.hub")

_SHUTDOWN_DEADLINE_SECONDS = 30.0


class _Loading:
    """A load in flight that later joiners of the same document wait for."""

    __slots__ = ("done", "error", "room")

    def __init__(self) -> None:
        self.done = anyio.Event()
        self.room: Room | None = None
        self.error: Exception | None = None


class Hub:
    """Owns every room and the task group their committers and compactions run in."""

    def __init__(self, settings: Settings, store: DocumentStore, metrics: Metrics) -> None:
        self._settings = settings
        self._store = store
        self._metrics = metrics
        self._rooms: dict[str, Room] = {}
        self._loading: dict[str, _Loading] = {}
        self._compacting: set[str] = set()
        self._task_group: TaskGroup | None = None
        self._changed: anyio.Event  # made in `running`: events need the event loop
        self.on_commit: Callable[[str, bytes], None] | None = None
        """Called with a document's id and state vector after each committed batch."""

    @asynccontextmanager
    async def running(self) -> AsyncIterator[Hub]:
        """Run the hub; on exit close every room and wait until their queues are committed."""
        self._changed = anyio.Event()
        async with anyio.create_task_group() as tg:
            self._task_group = tg
            try:
                yield self
            finally:
                with anyio.CancelScope(shield=True), anyio.move_on_after(
                    _SHUTDOWN_DEADLINE_SECONDS
                ):
                    for room in list(self._rooms.values()):
                        room.close()
                    while self._rooms or self._compacting:
                        await self._changed.wait()
                tg.cancel_scope.cancel()
                self._task_group = None

    async def join(self, doc_id: str, connection: Connection) -> Room:
        """Add `connection` to the document's room, loading the document once if needed.

        Raises:
            Overloaded: storage is unavailable or the server is shutting down; no room exists.
        """
        room = await self.room(doc_id)
        room.add(connection)
        self._metrics.connections.inc()
        return room

    def leave(self, room: Room, connection: Connection) -> None:
        """Remove `connection` from its room."""
        room.remove(connection)
        self._metrics.connections.dec()

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
        if self._task_group is None:
            raise Overloaded("server is shutting down")
        loading = self._loading[doc_id] = _Loading()
        try:
            stored = await self._store.load(doc_id)
            doc = doc_from_update(stored.update)
        except (StorageUnavailable, InvalidUpdate) as exc:
            loading.error = exc
            self._metrics.errors.labels(kind="load_failed").inc()
            log.error("load failed: %s", exc, extra={"doc_id": doc_id})
            raise Overloaded(f"document {doc_id} could not be loaded") from exc
        finally:
            del self._loading[doc_id]
            loading.done.set()
        settings = self._settings
        room = Room(
            doc_id,
            doc,
            store=self._store,
            metrics=self._metrics,
            grace_seconds=settings.room_grace_seconds,
            max_pending=settings.max_pending_updates,
            relay_interval=settings.relay_interval,
            on_log_rows=self._maybe_compact,
            on_commit=self.on_commit,
        )
        self._rooms[doc_id] = room
        self._metrics.documents_loaded.inc()
        self._task_group.start_soon(room.run, self._evicted)
        if stored.log_rows >= settings.compact_threshold:
            self._maybe_compact(room, stored.log_rows)
        return room

    def _evicted(self, room: Room) -> None:
        if self._rooms.get(room.doc_id) is room:
            del self._rooms[room.doc_id]
            self._metrics.documents_loaded.dec()
            self._metrics.evictions.inc()
        self._notify_idle()

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
