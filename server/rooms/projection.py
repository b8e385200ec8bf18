"""The public view of a ``D.annotations`` room, served to the sockets that may not see names.

Citizens and the public read a text's annotations through a second, in-memory, read-only
document: the real one as `crdt.projection` rewrites it, subjects and names shown as the
APIs show them (`PublicNames`). It is built from the real document when the room loads
and follows it: every update the real document takes (a commit here, a frame from
another node, a catch-up) is projected, applied to the view and relayed to its readers, in
order, off the relay path of the real document (names are looked up in storage). Its
items keep the real ids, so every node and every reload make the same view. Nothing of it
is stored; a reader's writes are refused like any write to ``D.annotations``.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Collection, Mapping
from typing import Any, Protocol

import anyio
from pycrdt import Doc

from crdt.document import apply, is_empty_update
from crdt.errors import InvalidUpdate
from crdt.projection import Lens, Public
from crdt.protocol import encode_sync_update
from server.metrics import Metrics
from server.rooms.client import Client
from storage.base import StorageUnavailable

log = logging.getLogger("palabre.projection")

class PublicNames(Protocol):
    """How readers who may not see names see people."""

    async def __call__(self, subs: Collection[str], *, patient: bool) -> Mapping[str, Public]:
        """Each of `subs` as readers who may not see names see them. `patient`: a live
        write's authors, whose first sighting may still be on its way to storage.

        Raises:
            StorageUnavailable: the people cannot be read.
        """

_RETRY_SECONDS = 1.0


class Projection:
    """A room's public view: its document, its readers, the real updates still to show."""

    def __init__(self, doc_id: str, names: PublicNames, metrics: Metrics) -> None:
        self.doc_id = doc_id
        self.doc: Doc[Any] = Doc()
        self.readers: set[Client] = set()
        self._names = names
        self._metrics = metrics
        self._lens = Lens()
        self._queue: list[bytes] = []
        self._started = False
        self._built = False
        self._building = anyio.Lock()

    @property
    def is_behind(self) -> bool:
        """Whether real updates wait to be projected (once the view is built)."""
        return self._built and bool(self._queue)

    async def ready(self, state: Callable[[], bytes]) -> None:
        """Build the view from the real document's whole `state`, once, before its first
        reader joins (a room no reader opens costs nothing). The projection runs in a
        worker thread: a large document does not hold the event loop.

        Raises:
            StorageUnavailable: the people cannot be read (the next reader tries again).
            InvalidUpdate: the state does not decode.
        """
        async with self._building:
            if self._built:
                return
            self._started = True  # from here on, `follow` queues what the real doc takes
            whole = state()
            try:
                projected = await self._project(whole, patient=False, threaded=True)
            except BaseException:
                self._started = False
                self._queue.clear()
                raise
            apply(self.doc, projected)
            self._built = True

    def follow(self, update: bytes) -> None:
        """Queue an update the real document took, to be projected by `catch_up` (nothing
        before the view is first built: the build reads the whole document)."""
        if self._started and not is_empty_update(update):
            self._queue.append(update)

    async def catch_up(self, send: Callable[[set[Client], bytes], None]) -> None:
        """Project what is queued, apply it to the view and `send` it to the readers.

        A failure to read the people keeps the queue for the next call, after a pause.
        """
        while self._queue:
            update = self._queue[0]
            started = time.perf_counter()
            try:
                projected = await self._project(update, patient=True)
            except StorageUnavailable as exc:
                self._metrics.errors.labels(kind="projection_failed").inc()
                log.error("public view behind: %s", exc, extra={"doc_id": self.doc_id})
                await anyio.sleep(_RETRY_SECONDS)
                return
            except InvalidUpdate:
                # Applied to the real document already, so this is our reader's limit.
                log.exception("update not projected", extra={"doc_id": self.doc_id})
                self._metrics.errors.labels(kind="projection_failed").inc()
                self._queue.pop(0)
                continue
            self._queue.pop(0)
            apply(self.doc, projected)
            self._metrics.projection_seconds.observe(time.perf_counter() - started)
            if self.readers:
                send(self.readers, encode_sync_update(projected))

    async def _project(self, update: bytes, *, patient: bool, threaded: bool = False) -> bytes:
        if threaded:
            reading = await anyio.to_thread.run_sync(self._lens.read, update)
        else:
            reading = self._lens.read(update)
        names = await self._names(reading.subjects, patient=patient) if reading.subjects \
            else {}
        if threaded:
            return await anyio.to_thread.run_sync(self._lens.project, reading, names)
        return self._lens.project(reading, names)
