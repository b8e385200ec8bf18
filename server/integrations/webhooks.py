"""Webhooks: an observer with its own bounded queue, tasks, HMAC signatures and retries.

The hub and the API call `WebhookDispatcher.on_commit` / `notify`, which only queue and
never wait. A pump hands queued events to a few delivery workers, which POST each to
every webhook that wants it (``httpx``). Network errors, 5xx and 429 are tried again
after a jittered exponential back-off (``Retry-After`` honoured up to a cap), other
answers are final; a try waiting for its turn sits in a schedule, not in a worker, so a
failing receiver never holds up the others. Every try is recorded through
`WebhookRegistry.record_attempt`. Concurrent tries and retries can reorder events of one
webhook: receivers order by ``created_at`` (``document.changed`` carries the latest state).
Signatures and how a receiver verifies them: `server.events`. The only importer
of httpx besides `server.access.auth` (OIDC).
"""

from __future__ import annotations

import heapq
import itertools
import logging
import math
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass

import anyio
import httpx
from anyio.abc import ObjectReceiveStream, ObjectSendStream

from crdt.doc_id import ANNOTATIONS_SUFFIX
from server.access.outbound import GuardedTransport, OutboundPolicy, refusal_of
from server.events import (
    Debouncer,
    EventQueue,
    Outcome,
    Outgoing,
    WebhookEvent,
    backoff_delay,
    encode_body,
    retry_after_seconds,
    sign,
    state_vector_etag,
)
from server.logs import redact, safe_url
from server.metrics import Metrics
from server.settings import Settings
from storage.base import StorageUnavailable
from storage.catalog import DeliveryAttempt, Webhook, WebhookRegistry

log = logging.getLogger("palabre.webhooks")

WORKERS = 4
"""Tries in flight at once."""
DEBOUNCE_TICK_SECONDS = 0.1
"""Debounce windows that end this close together are sent together (a quarter of the
debounce interval at most)."""


@dataclass(slots=True)
class _Listing:
    """One read of every webhook, shared by the deliveries of the events queued before it."""

    started: float
    done: anyio.Event
    webhooks: Sequence[Webhook] = ()
    error: StorageUnavailable | None = None


@dataclass(frozen=True, slots=True)
class _Retry:
    webhook: Webhook
    item: Outgoing
    attempt: int


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
        claim_change: Callable[[str], Awaitable[bool]] | None = None,
    ) -> None:
        """`claim_change`, in a cluster: whether this node sends the document's next
        ``document.changed`` (one node per debounce window); the others defer theirs.
        Without a `transport`, deliveries go through the outbound policy
        (`server.access.outbound`: public addresses and ``outbound_allow`` only).

        Raises:
            ValueError: ``outbound_allow`` does not parse.
        """
        self._settings = settings
        self._registry = registry
        self._metrics = metrics
        self._transport = transport
        self._policy = OutboundPolicy.parse(settings.outbound_allow)
        self._clock = clock
        self._debouncer = Debouncer(settings.webhook_debounce_seconds)
        self._tick_seconds = min(DEBOUNCE_TICK_SECONDS, settings.webhook_debounce_seconds / 4)
        self._queue = EventQueue(settings.webhook_queue_size)
        # Events are made in `running`: they need the event loop.
        self._queued: anyio.Event
        self._tick: anyio.Event
        self._idle: anyio.Event
        self._retry_due: anyio.Event
        self._in_flight = 0
        self._retries: list[tuple[float, int, _Retry]] = []
        self._retry_order = itertools.count()
        self._is_running = False
        self._client: httpx.AsyncClient | None = None
        self._claim_change = claim_change
        self._listing: _Listing | None = None

    # -- producers (synchronous, never block) --------------------------------------------

    def on_commit(self, doc_id: str, state_vector: bytes) -> None:
        """A batch of `doc_id` was committed; `document.changed` follows, debounced.

        Companions (``D.annotations``) are left out: their changes go out as annotation
        events.
        """
        if doc_id.endswith(ANNOTATIONS_SUFFIX):
            return
        # Only a first open window moves the loop's next wake-up: a later one ends later.
        if (self._debouncer.commit(doc_id, state_vector, self._clock())
                and len(self._debouncer) == 1 and self._is_running):
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
            timeout=timeout, transport=self._transport or GuardedTransport(self._policy),
            follow_redirects=False,
        ) as client, anyio.create_task_group() as tg:
            self._client = client
            self._queued, self._tick = anyio.Event(), anyio.Event()
            self._idle, self._retry_due = anyio.Event(), anyio.Event()
            self._is_running = True
            send, receive = anyio.create_memory_object_stream[Outgoing | _Retry]()
            tg.start_soon(self._debounce_loop)
            tg.start_soon(self._pump, send.clone())
            tg.start_soon(self._retry_loop, send)
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

    @property
    def _pending(self) -> int:
        return len(self._queue) + self._in_flight + len(self._retries)

    async def _flush(self) -> None:
        for doc_id, state_vector in self._debouncer.pop_all():
            self._changed(doc_id, state_vector)
        with anyio.move_on_after(self._settings.webhook_shutdown_seconds):
            while self._pending:
                self._idle = anyio.Event()
                await self._idle.wait()
        if self._pending:
            self._metrics.errors.labels(kind="webhook_dropped").inc(self._pending)
            log.warning(
                "shutdown: %d webhook deliveries dropped past the deadline", self._pending
            )

    def _changed(self, doc_id: str, state_vector: bytes) -> None:
        self.notify(
            WebhookEvent.DOCUMENT_CHANGED, doc_id, {"etag": state_vector_etag(state_vector)}
        )

    async def _debounce_loop(self) -> None:
        while True:
            for doc_id, state_vector in self._debouncer.pop_due(self._clock()):
                if self._claim_change is not None and not await self._claim_change(doc_id):
                    self._debouncer.defer(doc_id, state_vector, self._clock())
                    continue
                self._changed(doc_id, state_vector)
            self._tick = anyio.Event()
            # Windows that end within a tick go out together, so one webhook listing
            # serves them all (`_webhooks_since`) instead of one listing each.
            with anyio.move_on_after(max(self._debouncer.next_due() - self._clock(),
                                         self._tick_seconds)):
                await self._tick.wait()

    async def _pump(self, send: ObjectSendStream[Outgoing | _Retry]) -> None:
        async with send:
            while True:
                item = self._queue.get()
                if item is None:
                    self._queued = anyio.Event()
                    await self._queued.wait()
                    continue
                self._in_flight += 1
                await send.send(item)

    async def _retry_loop(self, send: ObjectSendStream[Outgoing | _Retry]) -> None:
        async with send:
            while True:
                if self._retries and self._retries[0][0] <= self._clock():
                    _, _, retry = heapq.heappop(self._retries)
                    self._in_flight += 1
                    await send.send(retry)
                    continue
                self._retry_due = anyio.Event()
                wait = self._retries[0][0] - self._clock() if self._retries else math.inf
                with anyio.move_on_after(wait):
                    await self._retry_due.wait()

    async def _work(self, receive: ObjectReceiveStream[Outgoing | _Retry]) -> None:
        async with receive:
            async for job in receive:
                try:
                    if isinstance(job, _Retry):
                        await self._try(job.webhook, job.item, job.attempt)
                    else:
                        await self._fan_out(job)
                except Exception:
                    # A task boundary: one bad event must not stop deliveries.
                    log.exception("webhook delivery failed")
                finally:
                    self._in_flight -= 1
                    if not self._pending:
                        self._idle.set()

    # -- delivery -----------------------------------------------------------------------

    async def _fan_out(self, item: Outgoing) -> None:
        try:
            webhooks = await self._webhooks_since(item.created_at)
        except StorageUnavailable as exc:
            self._dropped(item, f"webhooks could not be listed: {exc}")
            return
        for webhook in webhooks:
            if item.event in webhook.events and webhook.doc_id in (None, item.doc_id):
                await self._try(webhook, item, 1)

    async def _webhooks_since(self, created_at: float) -> Sequence[Webhook]:
        """Every webhook, read by a listing started after `created_at` (an event's).

        One listing serves every event made before it started: 500 documents changed at
        once cost one read, not 500, and no event misses a webhook registered before it.

        Raises:
            StorageUnavailable: the webhooks cannot be read.
        """
        listing = self._listing
        if listing is None or listing.started <= created_at:
            listing = self._listing = _Listing(time.time(), anyio.Event())
            try:
                listing.webhooks = await self._registry.list_webhooks()
            except StorageUnavailable as exc:
                listing.error = exc
                if self._listing is listing:
                    self._listing = None
            finally:
                listing.done.set()
        else:
            await listing.done.wait()
        if listing.error is not None:
            raise listing.error
        return listing.webhooks

    async def _try(self, webhook: Webhook, item: Outgoing, attempt: int) -> None:
        """POST `item` to `webhook` once; on a retryable failure, schedule the next try."""
        settings = self._settings
        outcome = await self._post(webhook, item)
        await self._record(webhook, item, attempt, outcome)
        if outcome.is_success:
            return
        if outcome.is_retryable and attempt < settings.webhook_max_attempts:
            delay = outcome.retry_after
            if delay is None:
                delay = backoff_delay(
                    attempt, base=settings.webhook_retry_base_seconds,
                    cap=settings.webhook_retry_max_seconds,
                )
            if len(self._retries) < settings.webhook_queue_size:
                retry = _Retry(webhook, item, attempt + 1)
                heapq.heappush(
                    self._retries, (self._clock() + delay, next(self._retry_order), retry)
                )
                self._retry_due.set()
                return
            self._dropped(item, "too many deliveries wait for a retry")
        self._metrics.errors.labels(kind="webhook_failed").inc()
        log.warning(
            "webhook %s gave up on event %s after %d tries (%s)", webhook.webhook_id,
            item.event_id, attempt, outcome.error or outcome.status,
            extra={"doc_id": item.doc_id},
        )

    async def _post(self, webhook: Webhook, item: Outgoing) -> Outcome:
        assert self._client is not None, "deliveries run only while the dispatcher runs"
        body = encode_body(item)
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
            outcome = Outcome(
                None, redact(f"{type(exc).__name__}: {exc}")[:500],
                is_refused=refusal_of(exc) is not None,
            )
            self._log_post(webhook, item, outcome)
            return outcome
        retry_after = retry_after_seconds(
            response.headers.get("Retry-After"), now=time.time(),
            cap=self._settings.webhook_retry_max_seconds,
        )
        error = None if response.is_success else response.reason_phrase or None
        outcome = Outcome(response.status_code, error, retry_after)
        self._log_post(webhook, item, outcome)
        return outcome

    def _log_post(self, webhook: Webhook, item: Outgoing, outcome: Outcome) -> None:
        # The URL without its query or credentials: a receiver's token often sits there.
        log.debug(
            "webhook %s: POST %s %s -> %s", webhook.webhook_id, safe_url(webhook.url),
            item.event.value, outcome.status or outcome.error, extra={"doc_id": item.doc_id},
        )

    async def _record(
        self, webhook: Webhook, item: Outgoing, attempt: int, outcome: Outcome
    ) -> None:
        record = DeliveryAttempt(
            webhook_id=webhook.webhook_id, event_id=item.event_id, event=item.event.value,
            attempt=attempt, at=time.time(), status=outcome.status, error=outcome.error,
        )
        try:
            await self._registry.record_attempt(record)
        except StorageUnavailable as exc:
            log.error("webhook attempt not recorded: %s", exc, extra={"doc_id": item.doc_id})
