"""Webhooks: an observer with its own bounded queue, tasks, HMAC signatures and retries.

The hub and the API call `WebhookDispatcher.notify` / `on_commit`, which only queue and
never wait; a pump hands queued events to a few delivery workers, which POST each to
every webhook that wants it (``httpx``), retrying network errors, 5xx and 429 with
jittered exponential back-off (``Retry-After`` honoured up to a cap), never other 4xx.
Every try is recorded through `WebhookRegistry.record_attempt`. Signatures and how a
receiver verifies them: `server._webhook_rules`. The only importer of httpx besides
`server.auth` (OIDC).
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass

import anyio
import httpx
from anyio.abc import ObjectReceiveStream, ObjectSendStream

from server._webhook_rules import (
    Debouncer,
    EventQueue,
    Outgoing,
    WebhookEvent,
    backoff_delay,
    retry_after_seconds,
    sign,
)
from server.metrics import Metrics
from server.permissions import ANNOTATIONS_SUFFIX
from server.settings import Settings
from storage.base import StorageUnavailable
from storage.catalog import DeliveryAttempt, Webhook, WebhookRegistry

log = logging.getLogger("palabre.webhooks")

WORKERS = 4
"""Deliveries in flight at once; a receiver being retried holds one of them."""


@dataclass(frozen=True, slots=True)
class _Result:
    status: int | None
    error: str | None
    retry_after: float | None = None

    @property
    def is_success(self) -> bool:
        return self.status is not None and 200 <= self.status < 300

    @property
    def is_retryable(self) -> bool:
        return self.status is None or self.status >= 500 or self.status == 429


def state_vector_etag(state_vector: bytes) -> str:
    """An entity tag for a document state: a digest of its state vector."""
    return '"' + hashlib.sha256(state_vector).hexdigest()[:32] + '"'


class WebhookDispatcher:
    """Queues events and delivers them, signed, to registered webhooks while `running`."""

    def __init__(
        self,
        settings: Settings,
        registry: WebhookRegistry,
        metrics: Metrics,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._settings = settings
        self._registry = registry
        self._metrics = metrics
        self._transport = transport
        self._clock = clock
        self._debouncer = Debouncer(settings.webhook_debounce_seconds)
        self._queue = EventQueue(settings.webhook_queue_size)
        self._queued = anyio.Event()
        self._tick = anyio.Event()
        self._idle = anyio.Event()
        self._in_flight = 0
        self._is_running = False
        self._client: httpx.AsyncClient | None = None

    # -- producers (synchronous, never block) --------------------------------------------

    def on_commit(self, doc_id: str, state_vector: bytes) -> None:
        """A batch of `doc_id` was committed; `document.changed` follows, debounced.

        Companions (``D.annotations``) are left out: their changes go out as annotation
        events.
        """
        if doc_id.endswith(ANNOTATIONS_SUFFIX):
            return
        if self._debouncer.commit(doc_id, state_vector, self._clock()):
            self._tick.set()

    def notify(self, event: WebhookEvent, doc_id: str, data: dict[str, object]) -> None:
        """Queue `event` about `doc_id` for every webhook subscribed to it."""
        item = Outgoing(
            event_id=uuid.uuid4().hex, event=event, doc_id=doc_id,
            created_at=time.time(), data=data,
        )
        if not self._is_running:
            self._dropped(item, "the dispatcher is not running")
            return
        dropped = self._queue.put(item)
        if dropped is not None:
            self._dropped(dropped, "the queue is full")
        self._queued.set()

    def _dropped(self, item: Outgoing, why: str) -> None:
        self._metrics.errors.labels(kind="webhook_dropped").inc()
        log.warning(
            "webhook event %s %s dropped: %s", item.event, item.event_id, why,
            extra={"doc_id": item.doc_id},
        )

    # -- lifetime -----------------------------------------------------------------------

    @asynccontextmanager
    async def running(self) -> AsyncIterator[WebhookDispatcher]:
        """Deliver until exit; then flush for `webhook_shutdown_seconds`, dropping the rest."""
        timeout = httpx.Timeout(self._settings.webhook_timeout_seconds)
        async with httpx.AsyncClient(
            timeout=timeout, transport=self._transport, follow_redirects=False
        ) as client, anyio.create_task_group() as tg:
            self._client = client
            self._is_running = True
            send, receive = anyio.create_memory_object_stream[Outgoing]()
            tg.start_soon(self._debounce_loop)
            tg.start_soon(self._pump, send)
            for _ in range(WORKERS):
                tg.start_soon(self._work, receive.clone())
            receive.close()
            try:
                yield self
            finally:
                with anyio.CancelScope(shield=True):
                    await self._flush()
                self._is_running = False
                tg.cancel_scope.cancel()

    async def _flush(self) -> None:
        for doc_id, state_vector in self._debouncer.pop_all():
            self._changed(doc_id, state_vector)
        with anyio.move_on_after(self._settings.webhook_shutdown_seconds):
            while len(self._queue) or self._in_flight:
                self._idle = anyio.Event()
                await self._idle.wait()
        left = len(self._queue) + self._in_flight
        if left:
            self._metrics.errors.labels(kind="webhook_dropped").inc(left)
            log.warning("shutdown: %d webhook deliveries dropped past the deadline", left)

    def _changed(self, doc_id: str, state_vector: bytes) -> None:
        self.notify(
            WebhookEvent.DOCUMENT_CHANGED, doc_id, {"etag": state_vector_etag(state_vector)}
        )

    async def _debounce_loop(self) -> None:
        while True:
            for doc_id, state_vector in self._debouncer.pop_due(self._clock()):
                self._changed(doc_id, state_vector)
            self._tick = anyio.Event()
            with anyio.move_on_after(self._debouncer.next_due() - self._clock()):
                await self._tick.wait()

    async def _pump(self, send: ObjectSendStream[Outgoing]) -> None:
        async with send:
            while True:
                item = self._queue.get()
                if item is None:
                    self._queued = anyio.Event()
                    await self._queued.wait()
                    continue
                self._in_flight += 1
                await send.send(item)

    async def _work(self, receive: ObjectReceiveStream[Outgoing]) -> None:
        async with receive:
            async for item in receive:
                try:
                    await self._deliver_everywhere(item)
                except Exception:
                    # A task boundary: one bad event must not stop deliveries.
                    log.exception("webhook event %s failed", item.event_id)
                finally:
                    self._in_flight -= 1
                    if not len(self._queue) and not self._in_flight:
                        self._idle.set()

    # -- delivery -----------------------------------------------------------------------

    async def _deliver_everywhere(self, item: Outgoing) -> None:
        try:
            webhooks = await self._registry.list_webhooks(doc_id=item.doc_id)
        except StorageUnavailable as exc:
            self._dropped(item, f"webhooks could not be listed: {exc}")
            return
        for webhook in webhooks:
            if item.event in webhook.events:
                await self._deliver(webhook, item)

    async def _deliver(self, webhook: Webhook, item: Outgoing) -> bool:
        """POST `item` to `webhook` until it succeeds, fails for good or runs out of tries."""
        body = _body(item)
        settings = self._settings
        for attempt in range(1, settings.webhook_max_attempts + 1):
            result = await self._post(webhook, item, body)
            await self._record(webhook, item, attempt, result)
            if result.is_success:
                return True
            if not result.is_retryable or attempt == settings.webhook_max_attempts:
                break
            delay = result.retry_after
            if delay is None:
                delay = backoff_delay(
                    attempt, base=settings.webhook_retry_base_seconds,
                    cap=settings.webhook_retry_max_seconds,
                )
            await anyio.sleep(delay)
        self._metrics.errors.labels(kind="webhook_failed").inc()
        log.warning(
            "webhook %s gave up on event %s after %d tries (%s)", webhook.webhook_id,
            item.event_id, attempt, result.error or result.status, extra={"doc_id": item.doc_id},
        )
        return False

    async def _post(self, webhook: Webhook, item: Outgoing, body: bytes) -> _Result:
        assert self._client is not None, "deliveries run only while the dispatcher runs"
        timestamp = int(time.time())
        headers = {
            "Content-Type": "application/json",
            "User-Agent": "palabre-webhooks",
            "Palabre-Event": item.event.value,
            "Palabre-Delivery": item.event_id,
            "Palabre-Timestamp": str(timestamp),
            "Palabre-Signature": sign(webhook.secret, timestamp, body),
        }
        try:
            response = await self._client.post(webhook.url, content=body, headers=headers)
        except httpx.HTTPError as exc:
            return _Result(None, f"{type(exc).__name__}: {exc}"[:500])
        retry_after = retry_after_seconds(
            response.headers.get("Retry-After"), now=time.time(),
            cap=self._settings.webhook_retry_max_seconds,
        )
        error = None if response.is_success else response.reason_phrase or None
        return _Result(response.status_code, error, retry_after)

    async def _record(
        self, webhook: Webhook, item: Outgoing, attempt: int, result: _Result
    ) -> None:
        record = DeliveryAttempt(
            webhook_id=webhook.webhook_id, event_id=item.event_id, event=item.event.value,
            attempt=attempt, at=time.time(), status=result.status, error=result.error,
        )
        try:
            await self._registry.record_attempt(record)
        except StorageUnavailable as exc:
            log.error("webhook attempt not recorded: %s", exc, extra={"doc_id": item.doc_id})


def _body(item: Outgoing) -> bytes:
    """The JSON body; ``created_at`` in Unix seconds, as everywhere in the API."""
    payload = {
        "id": item.event_id, "event": item.event.value, "doc_id": item.doc_id,
        "created_at": item.created_at, "data": item.data,
    }
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode()
