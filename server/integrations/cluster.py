"""Scale-out over Redis: the nodes of a cluster relay what they accept to each other.

Every node stores to the same PostgreSQL. What a node accepts — committed updates (client
and server writes), its own clients' awareness (the states, then their public forms for the
clients who may not see names), freeze changes, stateless broadcasts — it
publishes on the document's channel ``{prefix}doc:{doc_id}`` as one kind byte, its 16-byte
node id and the payload; the other nodes following that document apply and relay it
without storing it again, and a node drops its own frames. A loss of rights (a
document deleted or made private) goes on the nodes channel too, which every node follows
whatever it has loaded (a node that loaded the document a moment ago, and has not
subscribed to its channel yet, still hears it: its sockets close, and what it remembers of
the catalogue is forgotten); so does a change of a person's rights (removed, another
role). A node subscribes to the documents it has loaded.

Pub/sub keeps nothing for a node that is not listening, so every gap ends with a catch-up
from storage (what it holds that the document lacks, by state vector): after a
subscription, a reconnect, a peer's ``RESYNC`` or a peer's death. Updates are published
only after their commit, so storage always holds what a node missed.

Heartbeats go to ``{prefix}nodes``; a node silent for `cluster_node_timeout_seconds` is
dead and its clients' awareness is removed everywhere (``BYE`` and closing sockets do it
at once). A node expects its own heartbeats back, or resubscribes. Without Redis it keeps
serving its own clients and reports ``degraded`` on ``/readyz``. Compaction and the
``document.changed`` webhook take Redis locks, so one node at a time does them. See
docs/deployment.md.
"""

from __future__ import annotations

import logging
import math
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import anyio
from anyio.abc import TaskGroup
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream
from redis.asyncio import Redis
from redis.asyncio.client import PubSub
from redis.exceptions import RedisError

from crdt.errors import ProtocolError
from server.access.roster import RightsChange, Roster
from server.integrations.catchup import CatchUp
from server.integrations.cluster_metrics import ClusterMetrics
from server.metrics import Metrics
from server.rooms.hub import Hub
from server.rooms.revocation import Revocation
from server.settings import Settings
from storage.base import DocumentStore

log = logging.getLogger("palabre.cluster")

UPDATE = b"u"
AWARENESS = b"a"
PUBLIC_AWARENESS = b"p"
FREEZE = b"f"
ACCESS = b"x"
REVOKED = b"v"
"""On the nodes channel: a document's loss of rights, ``{change}\n{doc_id}``."""
STATELESS = b"s"
QUERY_AWARENESS = b"q"
RESYNC = b"r"
HEARTBEAT = b"h"
BYE = b"b"

_REVOCATIONS = frozenset(change.value for change in Revocation)

NODE_ID_BYTES = 16
PEER_OWNER_PREFIX = "peer:"
"""Awareness states relayed from node X are owned by ``peer:X`` in a room's registry."""

_OUTBOX = 10_000
_PUBLISH_BATCH = 512
_POLL_SECONDS = 0.05
_COMPACTION_LOCK_MS = 120_000
_RECONNECT_MAX_SECONDS = 2.0
_RELEASE_LOCK = "if redis.call('get',KEYS[1])==ARGV[1] then return redis.call('del',KEYS[1]) end"

_Down = (RedisError, OSError)


class _Broken(Exception):
    """The subscription stopped hearing this node's own heartbeats."""


class RedisCluster:
    """The Redis `Fanout`: publishes what this node accepts, applies what other nodes do."""

    def __init__(
        self, settings: Settings, store: DocumentStore, metrics: Metrics, *,
        roster: Roster | None = None,
    ) -> None:
        """Configure the relay; nothing connects before `running`. Changes of a person's
        rights from other nodes are applied to `roster` (and to this node's sockets).

        Raises:
            ValueError: no Redis URL, or a node id that is not 1 to 16 ASCII characters.
        """
        if not settings.redis_url:
            raise ValueError("a cluster needs PALABRE_REDIS_URL")
        node_id = settings.node_id or uuid.uuid4().hex[:NODE_ID_BYTES]
        if not node_id.isascii() or not 0 < len(node_id) <= NODE_ID_BYTES:
            raise ValueError(f"node id {node_id!r} must be 1 to 16 ASCII characters")
        self.node_id = node_id
        self._tag = node_id.encode().ljust(NODE_ID_BYTES, b" ")
        self._url = settings.redis_url
        self._prefix = settings.redis_prefix
        self._nodes_channel = f"{self._prefix}nodes".encode()
        self._heartbeat = settings.cluster_heartbeat_seconds
        self._node_timeout = settings.cluster_node_timeout_seconds
        self._debounce_ms = max(1, int(settings.webhook_debounce_seconds * 1000))
        self._hub: Hub  # given to `running`: the hub is built with this relay as its fan-out
        self._store = store
        self._roster = roster
        self.metrics = ClusterMetrics(metrics)
        self._errors = metrics.errors
        self._wanted: set[str] = set()
        self._subscribed: set[str] = set()
        self._catch_up: CatchUp
        self._last_seen: dict[str, float] = {}
        self._own_heartbeat_at = math.inf
        self._redis: Redis | None = None
        self._send: MemoryObjectSendStream[tuple[bytes, bytes]] | None = None
        self._task_group: TaskGroup | None = None
        self._is_publish_lost = False
        self._is_subscribed = False
        self._is_publishing = True
        self.down_reason: str | None = "not connected yet"

    # -- the Fanout port (synchronous: called on the relay path, never waits) ------------

    def publish_update(self, doc_id: str, update: bytes) -> None:
        """Share an update this node committed."""
        self._publish(self._channel(doc_id), UPDATE, update)

    def publish_awareness(self, doc_id: str, update: bytes) -> None:
        """Share an awareness update of this node's own clients."""
        self._publish(self._channel(doc_id), AWARENESS, update)

    def publish_public_awareness(self, doc_id: str, update: bytes) -> None:
        """Share the public forms of this node's clients' states (after the states)."""
        self._publish(self._channel(doc_id), PUBLIC_AWARENESS, update)

    def publish_freeze(self, doc_id: str, *, frozen: bool, comments_open: bool) -> None:
        """Share a freeze change this node stored and applied."""
        self._publish(self._channel(doc_id), FREEZE, bytes([frozen, comments_open]))

    def publish_access(self, doc_id: str, change: str) -> None:
        """Share a loss of rights on a document (deleted, made private) applied here.

        On the nodes channel, heard by every node whatever it has loaded or subscribed to;
        and on the document's channel as before, for nodes of an older release during a
        rolling upgrade (a node hearing both applies it twice, which changes nothing).
        """
        self._publish(self._nodes_channel, REVOKED, f"{change}\n{doc_id}".encode())
        self._publish(self._channel(doc_id), ACCESS, change.encode())

    def publish_rights(self, change: str) -> None:
        # On the nodes channel, which every node follows whatever it has loaded.
        self._publish(self._nodes_channel, ACCESS, change.encode())

    def publish_stateless(self, doc_id: str, payload: str) -> None:
        """Share a stateless payload broadcast to a document's clients on this node."""
        self._publish(self._channel(doc_id), STATELESS, payload.encode())

    def watch(self, doc_id: str) -> None:
        """Follow a document just loaded; it is caught up once the subscription holds."""
        self._wanted.add(doc_id)
        if doc_id in self._subscribed:
            # Evicted and loaded again while still subscribed: frames that came while no
            # room was loaded were dropped. Otherwise the new subscription catches up.
            self._catch_up.want(doc_id)

    def unwatch(self, doc_id: str) -> None:
        """Stop following an evicted document."""
        self._wanted.discard(doc_id)

    @asynccontextmanager
    async def compaction_lock(self, doc_id: str) -> AsyncIterator[bool]:
        """Hold ``{prefix}lock:compact:{doc_id}``; yield False when another node holds it.

        Without Redis the lock is taken as granted: the store's PostgreSQL advisory lock
        and its check of the state row still keep two compactions from both writing.
        """
        key = f"{self._prefix}lock:compact:{doc_id}"
        token = uuid.uuid4().hex
        redis = self._redis
        try:
            is_taken = redis is None or bool(
                await redis.set(key, token, nx=True, px=_COMPACTION_LOCK_MS)
            )
        except _Down as exc:
            log.warning("compaction lock unavailable (%s); relying on the database lock", exc,
                        extra={"doc_id": doc_id})
            redis, is_taken = None, True
        if not is_taken:
            self.metrics.compactions.labels(outcome="skipped_locked").inc()
            log.info("compaction skipped: another node holds the lock", extra={"doc_id": doc_id})
            yield False
            return
        started = time.time()
        log.info("compaction lock taken at %.6f", started, extra={"doc_id": doc_id})
        try:
            yield True
            self.metrics.compactions.labels(outcome="done").inc()
        finally:
            log.info("compaction lock released at %.6f (taken at %.6f)", time.time(), started,
                     extra={"doc_id": doc_id})
            if redis is not None:
                with anyio.CancelScope(shield=True):
                    try:
                        await redis.eval(_RELEASE_LOCK, 1, key, token)
                    except _Down as exc:
                        log.warning("compaction lock not released (it expires): %s", exc)

    async def claim_change(self, doc_id: str) -> bool:
        """Whether this node sends the next ``document.changed`` webhook of `doc_id`.

        The first node to set ``{prefix}lock:webhook:{doc_id}`` for one debounce window
        sends it; without Redis every node does (a duplicate beats a lost event).
        """
        redis = self._redis
        if redis is None:
            return True
        key = f"{self._prefix}lock:webhook:{doc_id}"
        try:
            return bool(await redis.set(key, self.node_id, nx=True, px=self._debounce_ms))
        except _Down as exc:
            log.warning("webhook lock unavailable (%s): sending anyway", exc,
                        extra={"doc_id": doc_id})
            return True

    # -- health ---------------------------------------------------------------------------

    @property
    def is_connected(self) -> bool:
        """Whether this node both hears and reaches the others through Redis now."""
        return self._is_subscribed and self._is_publishing

    def _set_health(self, *, subscribed: bool | None = None, publishing: bool | None = None,
                    reason: str | None = None) -> None:
        was = self.is_connected
        if subscribed is not None:
            self._is_subscribed = subscribed
        if publishing is not None:
            self._is_publishing = publishing
        if self.is_connected:
            self.down_reason = None
        elif reason is not None:
            self.down_reason = reason
        if was and not self.is_connected:
            log.error("Redis unavailable (%s): this node serves its own clients only", reason)
        elif self.is_connected and not was:
            log.info("Redis reachable again: relaying between nodes")
        self.metrics.redis_up.set(1 if self.is_connected else 0)

    def status(self) -> dict[str, object]:
        """What ``/readyz`` shows of the cluster."""
        redis = "ok" if self.is_connected else f"unavailable: {self.down_reason}"
        return {"node_id": self.node_id, "redis": redis, "peer_nodes": len(self._last_seen)}

    # -- lifetime -------------------------------------------------------------------------

    @asynccontextmanager
    async def running(self, hub: Hub) -> AsyncIterator[RedisCluster]:
        """Relay `hub`'s rooms while the app runs; at exit say ``BYE`` and close."""
        self._hub = hub
        self._catch_up = CatchUp(hub, self._store, self.metrics)
        self._redis = Redis.from_url(
            self._url, socket_connect_timeout=2, socket_timeout=5, health_check_interval=0
        )
        send, receive = anyio.create_memory_object_stream[tuple[bytes, bytes]](_OUTBOX)
        self._send = send
        self.metrics.redis_up.set(0)
        try:
            async with anyio.create_task_group() as tg:
                self._task_group = tg
                tg.start_soon(self._publish_forever, receive)
                tg.start_soon(self._subscribe_forever)
                tg.start_soon(self._heartbeat_forever)
                tg.start_soon(self._catch_up.run_forever)
                try:
                    yield self
                finally:
                    self._send = None
                    with anyio.CancelScope(shield=True), anyio.move_on_after(2):
                        try:
                            await self._redis.publish(self._nodes_channel, BYE + self._tag)
                        except _Down as exc:
                            log.warning("leaving the cluster without BYE: %s", exc)
                    tg.cancel_scope.cancel()
        finally:
            self._task_group = None
            with anyio.CancelScope(shield=True):
                await self._redis.aclose()
            self._redis = None

    # -- publishing -----------------------------------------------------------------------

    def _channel(self, doc_id: str) -> bytes:
        return f"{self._prefix}doc:{doc_id}".encode()

    def _publish(self, channel: bytes, kind: bytes, payload: bytes) -> None:
        if self._send is None:
            return
        try:
            self._send.send_nowait((channel, kind + self._tag + payload))
        except anyio.WouldBlock:
            # The others will miss it: they catch up from storage once we say RESYNC.
            self.metrics.lost.inc()
            self._is_publish_lost = True

    async def _publish_forever(
        self, receive: MemoryObjectReceiveStream[tuple[bytes, bytes]]
    ) -> None:
        assert self._redis is not None
        async with receive:
            async for first in receive:
                batch = [first]
                while len(batch) < _PUBLISH_BATCH:
                    try:
                        batch.append(receive.receive_nowait())
                    except anyio.WouldBlock:
                        break
                try:
                    async with self._redis.pipeline(transaction=False) as pipe:
                        for channel, frame in batch:
                            pipe.publish(channel, frame)
                        await pipe.execute()
                except _Down as exc:
                    self.metrics.lost.inc(len(batch))
                    if not self._is_publish_lost:
                        log.error("cannot publish to Redis: %s; serving this node's clients only",
                                  exc)
                    self._is_publish_lost = True
                    self._set_health(publishing=False, reason=f"publish failed: {exc}")
                    continue
                for _, frame in batch:
                    self.metrics.published.labels(kind=chr(frame[0])).inc()
                if not self._is_publishing:
                    self._set_health(publishing=True)
                if self._is_publish_lost:
                    self._is_publish_lost = False
                    self._announce_resync()

    def _announce_resync(self) -> None:
        """Ask the other nodes to catch up every document we follow from storage."""
        log.info("asking other nodes to catch up %d documents", len(self._wanted))
        for doc_id in list(self._wanted):
            self._publish(self._channel(doc_id), RESYNC, b"")

    async def _heartbeat_forever(self) -> None:
        while True:
            self._publish(self._nodes_channel, HEARTBEAT, b"")
            self._expire_nodes()
            await anyio.sleep(self._heartbeat)

    def _expire_nodes(self) -> None:
        now = time.monotonic()
        for node_id, seen in list(self._last_seen.items()):
            if now - seen > self._node_timeout:
                log.warning("node %s silent for %.1f s: removing its clients' awareness",
                            node_id, now - seen)
                self.metrics.expired.inc()
                self._forget_node(node_id)

    def _forget_node(self, node_id: str) -> None:
        self._last_seen.pop(node_id, None)
        self.metrics.nodes.set(len(self._last_seen))
        for room in self._hub.loaded_rooms:
            room.presence.drop_peer(PEER_OWNER_PREFIX + node_id)
            # A node that died may have committed updates it never got to publish.
            self._catch_up.want(room.doc_id)

    # -- subscribing ----------------------------------------------------------------------

    async def _subscribe_forever(self) -> None:
        attempt = 0
        while True:
            try:
                await self._listen()
            except (*_Down, _Broken) as exc:
                self._set_health(subscribed=False, reason=str(exc) or type(exc).__name__)
            await anyio.sleep(min(_RECONNECT_MAX_SECONDS, 0.05 * 2**attempt))
            attempt = 0 if self.is_connected else min(attempt + 1, 10)

    async def _listen(self) -> None:
        """Subscribe, catch up every loaded document, then dispatch frames until a failure.

        Raises:
            RedisError, OSError: the connection failed.
            _Broken: our own heartbeats stopped coming back.
        """
        assert self._redis is not None
        pubsub: PubSub = self._redis.pubsub()
        try:
            await pubsub.subscribe(self._nodes_channel)
            subscribed = self._subscribed = set()
            self._own_heartbeat_at = time.monotonic()
            was_down = not self._is_subscribed
            while True:
                await self._follow(pubsub, subscribed)
                message = await pubsub.get_message(timeout=_POLL_SECONDS)
                if message is not None:
                    self._dispatch(message, was_down)
                if time.monotonic() - self._own_heartbeat_at > 3 * self._heartbeat + 1:
                    raise _Broken("own heartbeats stopped coming back")
        finally:
            with anyio.CancelScope(shield=True):
                try:
                    await pubsub.aclose()
                except _Down:
                    pass  # the connection is gone already; nothing to release

    async def _follow(self, pubsub: PubSub, subscribed: set[str]) -> None:
        """Subscribe to newly loaded documents, unsubscribe from evicted ones."""
        added = self._wanted - subscribed
        removed = subscribed - self._wanted
        if added:
            await pubsub.subscribe(*(self._channel(doc_id) for doc_id in added))
            subscribed |= added
        if removed:
            await pubsub.unsubscribe(*(self._channel(doc_id) for doc_id in removed))
            subscribed -= removed

    def _dispatch(self, message: dict[str, Any], was_down: bool) -> None:
        kind = message["type"]
        channel: bytes = message["channel"]
        if kind == "unsubscribe":
            self.metrics.documents.dec()
            return
        if kind == "subscribe":
            if channel == self._nodes_channel:
                self.metrics.documents.set(0)
                self._on_connected(was_down)
            else:
                self.metrics.documents.inc()
                doc_id = channel[len(self._channel("")) :].decode()
                self._catch_up.want(doc_id)
                # Both ways, since the others may have subscribed before or after us: ask for
                # their clients' awareness, and tell ours (published before we listened,
                # a node subscribing earlier heard it, one subscribing later did not).
                self._publish(channel, QUERY_AWARENESS, b"")
                self._announce_awareness(channel, doc_id)
            return
        if kind != "message":
            return
        frame: bytes = message["data"]
        self._on_frame(channel, frame)

    def _on_connected(self, was_down: bool) -> None:
        self._set_health(subscribed=True)
        self.metrics.reconnects.inc()
        log.info("subscribed to Redis as node %s", self.node_id)
        if was_down:
            # Whatever was published while we were away is in storage: catch up, and have
            # the others catch up what we committed meanwhile.
            for doc_id in list(self._wanted):
                self._catch_up.want(doc_id)
            self._announce_resync()

    def _on_frame(self, channel: bytes, frame: bytes) -> None:
        kind, sender, payload = frame[:1], frame[1 : 1 + NODE_ID_BYTES], frame[1 + NODE_ID_BYTES :]
        if sender == self._tag:
            if kind == HEARTBEAT:
                self._own_heartbeat_at = time.monotonic()
            return
        node_id = sender.decode(errors="replace").rstrip()
        self.metrics.received.labels(kind=kind.decode(errors="replace")).inc()
        if kind == BYE:
            log.info("node %s left the cluster", node_id)
            self._forget_node(node_id)
            return
        self._last_seen[node_id] = time.monotonic()
        self.metrics.nodes.set(len(self._last_seen))
        if channel == self._nodes_channel:
            if kind == ACCESS:
                self._apply_rights(node_id, payload)
            elif kind == REVOKED:
                self._apply_revocation(node_id, payload)
            return
        doc_id = channel[len(self._channel("")) :].decode()
        room = self._hub.loaded_room(doc_id)
        if room is None:
            return  # evicted meanwhile; a later load reads storage
        if kind == UPDATE:
            room.apply_peer_update(payload)
        elif kind in (AWARENESS, PUBLIC_AWARENESS):
            try:
                if kind == AWARENESS:
                    room.presence.receive_from_peer(PEER_OWNER_PREFIX + node_id, payload)
                else:
                    room.presence.receive_public_from_peer(PEER_OWNER_PREFIX + node_id, payload)
            except ProtocolError as exc:
                self._errors.labels(kind="peer_awareness_invalid").inc()
                log.error("bad awareness from node %s: %s", node_id, exc,
                          extra={"doc_id": doc_id})
        elif kind == QUERY_AWARENESS:
            self._announce_awareness(channel, doc_id)
        elif kind == RESYNC:
            self._catch_up.want(doc_id)
        elif kind == STATELESS:
            room.broadcast_stateless(payload.decode(errors="replace"), sender=None)
        elif kind == FREEZE and len(payload) == 2 and self._task_group is not None:
            self._task_group.start_soon(self._apply_freeze, doc_id, payload)
        elif kind == ACCESS and payload.decode(errors="replace") in _REVOCATIONS:
            self._hub.revoke_here(doc_id, Revocation(payload.decode()))
            log.info("rights lost (%s) from another node applied", payload.decode(),
                     extra={"doc_id": doc_id})
        else:
            self._errors.labels(kind="peer_frame_unknown").inc()
            log.error("unknown frame %r from node %s", kind, node_id, extra={"doc_id": doc_id})

    def _apply_revocation(self, node_id: str, payload: bytes) -> None:
        change, _, doc_id = payload.decode(errors="replace").partition("\n")
        if change not in _REVOCATIONS or not doc_id:
            self._errors.labels(kind="peer_frame_unknown").inc()
            log.error("bad revocation from node %s: %r", node_id, payload[:80])
            return
        self._hub.revoke_here(doc_id, Revocation(change))
        log.info("rights lost (%s) on node %s applied", change, node_id,
                 extra={"doc_id": doc_id})

    def _apply_rights(self, node_id: str, payload: bytes) -> None:
        try:
            change = RightsChange.decode(payload.decode())
        except (UnicodeDecodeError, ValueError) as exc:
            self._errors.labels(kind="peer_frame_unknown").inc()
            log.error("bad rights change from node %s: %s", node_id, exc)
            return
        if self._roster is not None:
            self._roster.apply(change)
        self._hub.change_rights_here(change)
        log.info("rights of %r changed on node %s applied", change.sub, node_id)

    def _announce_awareness(self, channel: bytes, doc_id: str) -> None:
        """Publish the awareness states of this node's own clients of `doc_id`, if any."""
        room = self._hub.loaded_room(doc_id)
        states = room.presence.local_states() if room is not None else None
        if states is not None:
            real, public = states
            self._publish(channel, AWARENESS, real)
            if public is not None:
                self._publish(channel, PUBLIC_AWARENESS, public)

    async def _apply_freeze(self, doc_id: str, payload: bytes) -> None:
        frozen, comments_open = bool(payload[0]), bool(payload[1])
        await self._hub.set_freeze(doc_id, frozen=frozen, comments_open=comments_open,
                                   publish=False)
        log.info("freeze=%s from another node applied", frozen, extra={"doc_id": doc_id})
