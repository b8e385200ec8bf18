"""The webhook dispatcher over httpx's mock transport: signed, debounced, retried, never blocking.

The rules it applies (signature, back-off, debounce windows, queue): test_webhook_rules.py.
"""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import replace
from pathlib import Path

import anyio
import httpx
import pytest

from server.events import (
    WebhookEvent,
    state_vector_etag,
    verify_signature,
)
from server.integrations.webhooks import WebhookDispatcher
from server.metrics import Metrics
from server.settings import Settings
from storage.catalog import DeliveryAttempt, Webhook, WebhookNotFound

SECRET = "s3cret-de-l-assemblee"
Handler = Callable[[httpx.Request], httpx.Response]


class Registry:
    """A `WebhookRegistry` in memory that lets a test wait for recorded attempts."""

    def __init__(self, webhooks: Sequence[Webhook] = ()) -> None:
        self.webhooks = list(webhooks)
        self.attempts: list[DeliveryAttempt] = []
        self._recorded = anyio.Event()

    async def add_webhook(
        self, *, url: str, secret: str, events: Sequence[str], doc_id: str | None,
        created_by: str | None,
    ) -> Webhook:
        webhook = hook(f"w{len(self.webhooks)}", url=url, events=tuple(events), doc_id=doc_id)
        self.webhooks.append(webhook)
        return webhook

    async def list_webhooks(self, *, doc_id: str | None = None) -> Sequence[Webhook]:
        return [w for w in self.webhooks if doc_id is None or w.doc_id in {None, doc_id}]

    async def remove_webhook(self, webhook_id: str) -> None:
        raise WebhookNotFound(webhook_id)

    async def record_attempt(self, attempt: DeliveryAttempt) -> None:
        self.attempts.append(attempt)
        self._recorded.set()
        self._recorded = anyio.Event()

    async def list_attempts(
        self, webhook_id: str, *, limit: int = 100
    ) -> Sequence[DeliveryAttempt]:
        return [a for a in reversed(self.attempts) if a.webhook_id == webhook_id][:limit]

    async def wait_attempts(self, n: int) -> None:
        with anyio.fail_after(10):
            while len(self.attempts) < n:
                await self._recorded.wait()


def hook(
    webhook_id: str = "w1", *, url: str = "https://receiver.example/hook",
    events: tuple[str, ...] = ("document.changed", "annotation.created"),
    doc_id: str | None = "charte",
) -> Webhook:
    return Webhook(
        webhook_id=webhook_id, url=url, secret=SECRET, events=events, doc_id=doc_id,
        created_at=time.time(),
    )


def dropped(metrics: Metrics) -> float | None:
    return metrics.registry.get_sample_value("palabre_errors_total", {"kind": "webhook_dropped"})


def fast_settings(tmp_path: Path, **overrides: object) -> Settings:
    settings = Settings(
        data_dir=tmp_path, webhook_debounce_seconds=0.01, webhook_retry_base_seconds=0.001,
        webhook_retry_max_seconds=0.01, webhook_shutdown_seconds=5.0,
    )
    return replace(settings, **overrides)  # type: ignore[arg-type]


def replies(
    *statuses: int, headers: dict[str, str] | None = None
) -> tuple[Handler, list[httpx.Request]]:
    """A handler answering `statuses` in turn (then 200), and the requests it saw."""
    seen: list[httpx.Request] = []

    def handle(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        status = statuses[len(seen) - 1] if len(seen) <= len(statuses) else 200
        return httpx.Response(status, headers=headers)

    return handle, seen


@asynccontextmanager
async def dispatching(
    settings: Settings, registry: Registry, handler: Handler
) -> AsyncIterator[WebhookDispatcher]:
    dispatcher = WebhookDispatcher(
        settings, registry, Metrics(), transport=httpx.MockTransport(handler)
    )
    async with dispatcher.running():
        yield dispatcher


async def test_commits_become_one_signed_document_changed_with_the_latest_etag(
    tmp_path: Path,
) -> None:
    registry = Registry([hook()])
    handler, seen = replies()
    async with dispatching(fast_settings(tmp_path), registry, handler) as dispatcher:
        for state_vector in (b"\x01\x01", b"\x01\x02", b"\x01\x03"):
            dispatcher.on_commit("charte", state_vector)
        await registry.wait_attempts(1)
    assert len(seen) == 1
    request = seen[0]
    body = json.loads(request.content)
    assert body["event"] == "document.changed" and body["doc_id"] == "charte"
    assert body["data"] == {"etag": state_vector_etag(b"\x01\x03")}
    assert request.headers["Palabre-Event"] == "document.changed"
    assert request.headers["Palabre-Delivery"] == body["id"]
    assert verify_signature(
        SECRET, request.headers["Palabre-Timestamp"], request.content,
        request.headers["Palabre-Signature"], now=time.time(),
    )


@pytest.mark.parametrize(
    ("statuses", "tries"),
    [((500, 503), 3), ((429,), 2), ((400,), 1), ((404,), 1), ((500,) * 10, 4)],
)
async def test_retries_follow_the_status(
    tmp_path: Path, statuses: tuple[int, ...], tries: int
) -> None:
    registry = Registry([hook()])
    handler, seen = replies(*statuses, headers={"Retry-After": "0"})
    settings = fast_settings(tmp_path, webhook_max_attempts=4)
    async with dispatching(settings, registry, handler) as dispatcher:
        dispatcher.notify(WebhookEvent.ANNOTATION_CREATED, "charte", {"annotation_id": "a1"})
        await registry.wait_attempts(tries)
    assert len(seen) == tries
    assert [a.attempt for a in registry.attempts] == list(range(1, tries + 1))
    assert len({a.event_id for a in registry.attempts}) == 1


async def test_network_errors_are_retried_and_recorded_without_a_status(tmp_path: Path) -> None:
    registry = Registry([hook()])
    calls: list[httpx.Request] = []

    def refuse_once(request: httpx.Request) -> httpx.Response:
        calls.append(request)
        if len(calls) == 1:
            raise httpx.ConnectError("connection refused", request=request)
        return httpx.Response(204)

    async with dispatching(fast_settings(tmp_path), registry, refuse_once) as dispatcher:
        dispatcher.notify(WebhookEvent.ANNOTATION_CREATED, "charte", {})
        await registry.wait_attempts(2)
    assert [a.status for a in registry.attempts] == [None, 204]
    assert registry.attempts[0].error is not None and "ConnectError" in registry.attempts[0].error


async def test_events_go_only_to_webhooks_of_their_document_and_kind(tmp_path: Path) -> None:
    registry = Registry([
        hook("other-doc", doc_id="budget"),
        hook("other-kind", events=("snapshot.created",)),
        hook("everywhere", doc_id=None),
    ])
    handler, seen = replies()
    async with dispatching(fast_settings(tmp_path), registry, handler) as dispatcher:
        dispatcher.notify(WebhookEvent.ANNOTATION_CREATED, "charte", {})
    assert [a.webhook_id for a in registry.attempts] == ["everywhere"]
    assert len(seen) == 1


async def test_shutdown_flushes_pending_debounced_changes(tmp_path: Path) -> None:
    registry = Registry([hook()])
    handler, seen = replies()
    settings = fast_settings(tmp_path, webhook_debounce_seconds=3600.0)
    async with dispatching(settings, registry, handler) as dispatcher:
        dispatcher.on_commit("charte", b"\x00")
    assert len(seen) == 1


async def test_shutdown_drops_deliveries_still_retrying_past_its_deadline(tmp_path: Path) -> None:
    registry = Registry([hook()])
    handler, _ = replies(*(503,) * 10)
    settings = fast_settings(
        tmp_path, webhook_retry_base_seconds=3600.0, webhook_retry_max_seconds=3600.0,
        webhook_shutdown_seconds=0.05,
    )
    metrics = Metrics()
    dispatcher = WebhookDispatcher(
        settings, registry, metrics, transport=httpx.MockTransport(handler)
    )
    with anyio.fail_after(10):
        async with dispatcher.running():
            dispatcher.notify(WebhookEvent.ANNOTATION_CREATED, "charte", {})
            await registry.wait_attempts(1)
    assert dropped(metrics) == 1


async def test_notify_never_blocks_and_counts_what_a_full_queue_drops(tmp_path: Path) -> None:
    registry = Registry([hook()])
    handler, _ = replies()
    metrics = Metrics()
    settings = fast_settings(tmp_path, webhook_queue_size=2)
    dispatcher = WebhookDispatcher(
        settings, registry, metrics, transport=httpx.MockTransport(handler)
    )
    async with dispatcher.running():
        for n in range(10):  # no checkpoint in between: the pump cannot take any
            dispatcher.notify(WebhookEvent.ANNOTATION_CREATED, "charte", {"n": n})
    assert dropped(metrics) == 8
    assert len(registry.attempts) == 2


async def test_a_receiver_waiting_for_retries_does_not_hold_up_the_others(
    tmp_path: Path,
) -> None:
    registry = Registry([
        hook("down", url="https://down.example/hook"), hook("up", url="https://up.example/hook"),
    ])

    def handle(request: httpx.Request) -> httpx.Response:
        return httpx.Response(503 if request.url.host == "down.example" else 200)

    settings = fast_settings(
        tmp_path, webhook_retry_base_seconds=3600.0, webhook_retry_max_seconds=3600.0,
        webhook_shutdown_seconds=0.05,
    )
    metrics = Metrics()
    transport = httpx.MockTransport(handle)
    dispatcher = WebhookDispatcher(settings, registry, metrics, transport=transport)
    async with dispatcher.running():
        for n in range(10):
            dispatcher.notify(WebhookEvent.ANNOTATION_CREATED, "charte", {"n": n})
        await registry.wait_attempts(20)
    assert sum(a.webhook_id == "up" and a.status == 200 for a in registry.attempts) == 10
    assert dropped(metrics) == 10


class CountingRegistry(Registry):
    """A registry that counts its listings."""

    def __init__(self, webhooks: Sequence[Webhook] = ()) -> None:
        super().__init__(webhooks)
        self.listings = 0

    async def list_webhooks(self, *, doc_id: str | None = None) -> Sequence[Webhook]:
        self.listings += 1
        return await super().list_webhooks(doc_id=doc_id)


async def test_events_queued_together_share_one_listing_and_a_later_webhook_is_seen(
    tmp_path: Path,
) -> None:
    registry = CountingRegistry([hook("w1", doc_id="charte"), hook("w2", doc_id=None)])
    handler, seen = replies()
    async with dispatching(fast_settings(tmp_path), registry, handler) as dispatcher:
        for i in range(50):
            dispatcher.notify(WebhookEvent.DOCUMENT_CHANGED, f"doc{i}", {"etag": "x"})
        await registry.wait_attempts(50)  # w2 (every document) gets all 50; w1 none
        assert registry.listings <= 4  # one per worker at most, not one per event
        await registry.add_webhook(url="https://late.example/hook", secret=SECRET,
                                   events=("document.changed",), doc_id="doc7",
                                   created_by=None)
        dispatcher.notify(WebhookEvent.DOCUMENT_CHANGED, "doc7", {"etag": "y"})
        await registry.wait_attempts(52)  # w2 and the webhook registered just before
    assert "w1" not in {a.webhook_id for a in registry.attempts}
    assert sorted(r.url.host for r in seen[-2:]) == ["late.example", "receiver.example"]
