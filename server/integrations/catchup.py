"""Catching a node's live documents up from storage after a gap in the Redis relay.

Pub/sub keeps nothing for a node that is not listening: after a subscription, a Redis
reconnect, a peer's resync request or a peer's death, the document's stored state minus
what the live document has (by state vector) is applied and relayed, and the stored
freeze state is applied too (a freeze published during the gap was missed as well).
"""

from __future__ import annotations

import logging

import anyio

from crdt.doc_id import is_annotations
from crdt.document import doc_from_update, is_empty_update
from crdt.errors import InvalidUpdate
from server.integrations.cluster_metrics import ClusterMetrics
from server.rooms.hub import Hub
from storage.base import DocumentStore, StorageUnavailable

log = logging.getLogger("palabre.cluster")

RETRY_SECONDS = 1.0


class CatchUp:
    """The documents waiting to be caught up, and the task that does it one at a time."""

    def __init__(self, hub: Hub, store: DocumentStore, metrics: ClusterMetrics) -> None:
        self._hub = hub
        self._store = store
        self._metrics = metrics
        self._wanted: set[str] = set()
        self._event: anyio.Event | None = None  # made in `run_forever`: it needs the loop

    def want(self, doc_id: str) -> None:
        """Catch `doc_id` up soon (once, however often it is asked meanwhile)."""
        self._wanted.add(doc_id)
        if self._event is not None:
            self._event.set()

    async def run_forever(self) -> None:
        """Catch up the wanted documents as they come."""
        self._event = anyio.Event()
        while True:
            if not self._wanted:
                await self._event.wait()
            self._event = anyio.Event()
            wanted, self._wanted = self._wanted, set()
            for doc_id in wanted:
                await self._catch_up(doc_id)

    async def _catch_up(self, doc_id: str) -> None:
        """Apply what storage has of `doc_id` and its live document lacks."""
        room = self._hub.loaded_room(doc_id)
        if room is None:
            return
        try:
            stored = await self._store.load(doc_id)
            missing = doc_from_update(stored.update).get_update(room.doc.get_state())
        except (StorageUnavailable, InvalidUpdate) as exc:
            self._metrics.catch_ups.labels(outcome="failed").inc()
            log.error("catch-up failed: %s; retrying", exc, extra={"doc_id": doc_id})
            await self._retry(doc_id)
            return
        if room.is_open and not is_empty_update(missing) and room.apply_peer_update(missing):
            self._metrics.catch_ups.labels(outcome="applied").inc()
            log.info("caught up %d bytes from storage", len(missing), extra={"doc_id": doc_id})
        else:
            self._metrics.catch_ups.labels(outcome="level").inc()
        await self._catch_up_freeze(doc_id)

    async def _catch_up_freeze(self, doc_id: str) -> None:
        """Apply the stored freeze state when the live room holds another."""
        room = self._hub.loaded_room(doc_id)
        if room is None or is_annotations(doc_id):
            return
        try:
            frozen, comments_open = await self._hub.stored_freeze(doc_id)
        except StorageUnavailable as exc:
            log.error("freeze catch-up failed: %s; retrying", exc, extra={"doc_id": doc_id})
            await self._retry(doc_id)
            return
        if (frozen, comments_open) != (room.is_frozen, room.comments_open):
            await self._hub.set_freeze(doc_id, frozen=frozen, comments_open=comments_open,
                                       publish=False)
            log.info("freeze=%s caught up from storage", frozen, extra={"doc_id": doc_id})

    async def _retry(self, doc_id: str) -> None:
        await anyio.sleep(RETRY_SECONDS)
        self.want(doc_id)
