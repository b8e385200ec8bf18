"""Webhook rules without I/O: signatures, debounce windows, back-off, URLs, the queue."""

from __future__ import annotations

import hashlib
import hmac

import pytest

from server.events import (
    Debouncer,
    EventQueue,
    Outgoing,
    WebhookEvent,
    backoff_delay,
    retry_after_seconds,
    sign,
    url_problem,
    verify_signature,
)

SECRET = "s3cret-de-l-assemblee"


def test_signature_is_hmac_sha256_of_timestamp_dot_body() -> None:
    body = b'{"event":"document.changed"}'
    expected = hmac.new(SECRET.encode(), b"1700000000." + body, hashlib.sha256).hexdigest()
    assert sign(SECRET, 1_700_000_000, body) == f"sha256={expected}"


def test_verification_refuses_a_changed_body_another_secret_and_stale_timestamps() -> None:
    body, now = b'{"id":"e1"}', 1_700_000_000.0
    signature = sign(SECRET, int(now), body)
    assert verify_signature(SECRET, str(int(now)), body, signature, now=now + 299)
    assert not verify_signature(SECRET, str(int(now)), body + b" ", signature, now=now)
    assert not verify_signature("autre-secret", str(int(now)), body, signature, now=now)
    assert not verify_signature(SECRET, str(int(now)), body, signature, now=now + 301)
    assert not verify_signature(SECRET, "demain", body, signature, now=now)


def test_debounce_gives_one_event_per_interval_with_the_latest_state() -> None:
    debouncer = Debouncer(2.0)
    assert debouncer.commit("charte", b"v1", now=10.0)
    assert not debouncer.commit("charte", b"v2", now=11.0)
    assert not debouncer.commit("charte", b"v3", now=11.9)
    assert debouncer.next_due() == 12.0
    assert debouncer.pop_due(11.99) == []
    assert debouncer.pop_due(12.0) == [("charte", b"v3")]
    assert debouncer.next_due() == float("inf")
    assert debouncer.commit("charte", b"v4", now=12.5)
    assert debouncer.pop_due(14.4) == []
    assert debouncer.pop_all() == [("charte", b"v4")]


def test_windows_end_in_the_order_they_opened_and_the_due_ones_come_out_together() -> None:
    debouncer = Debouncer(2.0)
    for index in range(500):
        debouncer.commit(f"doc-{index}", b"v1", now=10.0 + index / 100)
        debouncer.commit(f"doc-{index}", b"v2", now=10.5 + index / 100)  # same window
    assert len(debouncer) == 500
    assert debouncer.next_due() == 12.0
    due = debouncer.pop_due(12.1)  # 100 ms of windows: one batch
    assert due == [(f"doc-{index}", b"v2") for index in range(11)]
    assert debouncer.next_due() == 12.11
    debouncer.defer("doc-3", b"v2", now=12.1)  # back for one more window, at the end
    assert [doc_id for doc_id, _ in debouncer.pop_due(17.0)][-1] == "doc-3"
    assert len(debouncer) == 0


def test_backoff_doubles_up_to_the_cap_and_jitters_between_half_and_all() -> None:
    highest = [backoff_delay(n, base=1.0, cap=20.0, rng=lambda: 1.0) for n in range(1, 7)]
    lowest = [backoff_delay(n, base=1.0, cap=20.0, rng=lambda: 0.0) for n in range(1, 7)]
    assert highest == [1.0, 2.0, 4.0, 8.0, 16.0, 20.0]
    assert lowest == [0.5, 1.0, 2.0, 4.0, 8.0, 10.0]


def test_retry_after_in_seconds_or_as_a_date_is_capped() -> None:
    now = 1_700_000_000.0
    assert retry_after_seconds("7", now=now, cap=60.0) == 7.0
    assert retry_after_seconds("3600", now=now, cap=60.0) == 60.0
    assert retry_after_seconds("Tue, 14 Nov 2023 22:13:50 GMT", now=now, cap=60.0) == 30.0
    assert retry_after_seconds("bientôt", now=now, cap=60.0) is None
    assert retry_after_seconds(None, now=now, cap=60.0) is None


@pytest.mark.parametrize(
    ("url", "is_ok"),
    [
        ("https://decidim.example/hooks/palabre", True),
        ("http://127.0.0.1:9000/hook", True),
        ("ftp://decidim.example/hook", False),
        ("https://alice:motdepasse@decidim.example/hook", False),
        ("https://jeton@decidim.example/hook", False),
        ("/relative/hook", False),
        ("http://decidim.example:99999/hook", False),
    ],
)
def test_only_http_urls_without_credentials_receive_webhooks(url: str, is_ok: bool) -> None:
    assert (url_problem(url) is None) is is_ok


def test_a_full_queue_drops_the_oldest_document_changed_first() -> None:
    def event(n: int, kind: WebhookEvent) -> Outgoing:
        return Outgoing(event_id=f"e{n}", event=kind, doc_id="charte", created_at=0.0)

    queue = EventQueue(3)
    assert queue.put(event(1, WebhookEvent.ANNOTATION_CREATED)) is None
    assert queue.put(event(2, WebhookEvent.DOCUMENT_CHANGED)) is None
    assert queue.put(event(3, WebhookEvent.DOCUMENT_CHANGED)) is None
    dropped = queue.put(event(4, WebhookEvent.SNAPSHOT_CREATED))
    assert dropped is not None and dropped.event_id == "e2"
    dropped = queue.put(event(5, WebhookEvent.ANNOTATION_CREATED))
    assert dropped is not None and dropped.event_id == "e3"
    dropped = queue.put(event(6, WebhookEvent.ANNOTATION_CREATED))
    assert dropped is not None and dropped.event_id == "e1"
    assert [e.event_id for e in iter(queue.get, None)] == ["e4", "e5", "e6"]
