"""Webhook debounce across nodes: one node at a time sends a document's ``document.changed``."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from client.session import connect
from tests.e2e.api import body
from tests.e2e.test_webhooks import receiving
from tests.multinode.nodes import lock_to_hold, start_cluster

pytestmark = pytest.mark.postgres


async def test_a_document_changed_waits_while_another_node_holds_the_window(
    tmp_path: Path,
) -> None:
    async with lock_to_hold("webhook", "mn-hook") as lock, receiving() as receiver, start_cluster(
        tmp_path, 2, redis_url=lock.redis_url, database_url=lock.database_url, prefix=lock.prefix,
        extra_env={"PALABRE_WEBHOOK_DEBOUNCE_SECONDS": "0.3",
                   "PALABRE_OUTBOUND_ALLOW": "127.0.0.1"},
    ) as (first, second):
        token = first.token("facilitator", "Loïc Ménard")
        async with httpx.AsyncClient(
            headers={"Authorization": f"Bearer {token}"}, timeout=30
        ) as http:
            response = await http.post(f"{second.url}/api/webhooks", json={
                "url": f"{receiver.url}/hook/a", "events": ["document.changed"],
                "doc_id": lock.doc_id,
            })
            assert response.status_code == 201, response.text
        # Another node sent this document's event and holds its window.
        assert await lock.redis.set(lock.key, "another-node", px=1500, nx=True)
        async with connect(first.url, lock.doc_id, first.token()) as writer:
            await writer.synced()
            body(writer).insert(0, "Article 1 — modifié.")
            await writer.flushed()
            events = await receiver.wait_for("/hook/a", 1)
        # Sent only once that window was over (the key is gone, or this node's own now).
        held = await lock.redis.get(lock.key)
        assert held != b"another-node", "sent inside another node's window"
        assert events[0].json["event"] == "document.changed"
        assert events[0].json["doc_id"] == lock.doc_id
