"""Registered webhooks and delivery attempts (`WebhookRegistry`) on every store."""

from __future__ import annotations

import functools

import pytest

from storage.catalog import DeliveryAttempt, Webhook, WebhookNotFound, WebhookRegistry
from tests.storage.conftest import StoreFactory


def delivery(
    webhook_id: str,
    *,
    event_id: str,
    at: float,
    status: int | None,
    event: str = "document.changed",
    attempt: int = 1,
    error: str | None = None,
) -> DeliveryAttempt:
    """A delivery attempt of `event` (``document.changed`` unless said)."""
    return DeliveryAttempt(webhook_id=webhook_id, event_id=event_id, event=event,
                           attempt=attempt, at=at, status=status, error=error)


async def add_plain_webhook(store: WebhookRegistry, doc_id: str, url: str) -> Webhook:
    """A webhook on `doc_id` for ``document.changed``, with secret ``s`` and no creator."""
    return await store.add_webhook(
        url=url, secret="s", events=["document.changed"], doc_id=doc_id, created_by=None,
    )

async def test_webhooks_list_globally_and_by_document(
    make_store: StoreFactory, doc_id: str
) -> None:
    other = f"{doc_id}-autre"
    async with make_store() as store:
        mine = await store.add_webhook(
            url="https://décidim.example/hooks/1",
            secret="clé-secrète",
            events=["document.changed", "snapshot.created"],
            doc_id=doc_id,
            created_by="élodie",
        )
        elsewhere = await store.add_webhook(
            url="https://example.org/2",
            secret="s2",
            events=["annotation.created"],
            doc_id=other,
            created_by=None,
        )
        everywhere = await store.add_webhook(
            url="https://example.org/3",
            secret="s3",
            events=["document.frozen"],
            doc_id=None,
            created_by="admin",
        )
        ours = {mine.webhook_id, elsewhere.webhook_id, everywhere.webhook_id}
        for_doc = [w for w in await store.list_webhooks(doc_id=doc_id) if w.webhook_id in ours]
        every = [w for w in await store.list_webhooks() if w.webhook_id in ours]
        # The database may be shared: a webhook for every document must not outlive us.
        await store.remove_webhook(everywhere.webhook_id)
    assert len(ours) == 3
    assert for_doc == [mine, everywhere]
    assert sorted(every, key=lambda w: w.url) == [mine, elsewhere, everywhere]
    assert mine.events == ("document.changed", "snapshot.created")
    assert (mine.url, mine.secret, mine.doc_id, mine.created_by) == (
        "https://décidim.example/hooks/1",
        "clé-secrète",
        doc_id,
        "élodie",
    )


async def test_removed_webhook_is_gone_and_removing_it_again_raises(
    make_store: StoreFactory, doc_id: str
) -> None:
    async with make_store() as store:
        hook = await add_plain_webhook(store, doc_id, "https://example.org/h")
        await store.record_attempt(
            delivery(hook.webhook_id, event_id="e1", at=1.0, status=500)
        )
        await store.remove_webhook(hook.webhook_id)
        left = await store.list_webhooks(doc_id=doc_id)
        attempts = await store.list_attempts(hook.webhook_id)
        with pytest.raises(WebhookNotFound):
            await store.remove_webhook(hook.webhook_id)
    assert hook.webhook_id not in {w.webhook_id for w in left}
    assert attempts == []


async def test_attempts_list_newest_first_up_to_the_limit(
    make_store: StoreFactory, doc_id: str
) -> None:
    async with make_store() as store:
        hook, other = [
            await add_plain_webhook(store, doc_id, f"https://example.org/{n}") for n in range(2)
        ]
        first_event = functools.partial(delivery, hook.webhook_id, event_id="évt-1")
        made = [
            first_event(attempt=1, at=100.0, status=None, error="connexion refusée"),
            first_event(attempt=2, at=102.5, status=503),
            first_event(attempt=3, at=110.0, status=200),
            # recorded last but timed earlier (a slow attempt reports late)
            delivery(hook.webhook_id, event_id="évt-2", event="snapshot.created", at=101.0,
                     status=200),
        ]
        for attempt in made:
            await store.record_attempt(attempt)
        await store.record_attempt(
            delivery(other.webhook_id, event_id="x", at=999.0, status=200)
        )
        listed = await store.list_attempts(hook.webhook_id)
        latest = await store.list_attempts(hook.webhook_id, limit=2)
        with pytest.raises(ValueError, match="limit"):
            await store.list_attempts(hook.webhook_id, limit=0)
    assert listed == [made[2], made[1], made[3], made[0]]
    assert latest == [made[2], made[1]]
