"""A node publishes a document only while another node follows it.

With document affinity in the proxy most documents live on one node: their updates and
awareness stay off Redis (counted in ``palabre_cluster_kept``) once the second after the
load, when the node cannot know yet who follows, is over. A second node that loads
the document says so (``FOLLOWS``), and whatever the first kept meanwhile reaches it from
storage; a node of an earlier release, whose heartbeats do not say ``FOLLOWS``, hears
everything.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from functools import partial
from pathlib import Path
from uuid import uuid4

import anyio
import pytest
from redis.asyncio import Redis

from client.session import Session, connect
from tests.conftest import postgres_or_skip
from tests.e2e.api import all_synced, body, text_of
from tests.e2e.serverprocess import ServerProcess
from tests.multinode.nodes import (
    HEARTBEAT_SECONDS,
    metric,
    redis_or_skip,
    start_cluster,
    wait_for_metric,
)

pytestmark = pytest.mark.postgres

KEPT = "palabre_cluster_kept_total"
PUBLISHED = "palabre_cluster_published_total"
UPDATES = 'kind="u"'


@asynccontextmanager
async def two_nodes(tmp_path: Path, prefix: str) -> AsyncIterator[list[ServerProcess]]:
    redis_url, database_url = await redis_or_skip(), await postgres_or_skip()
    async with start_cluster(tmp_path, 2, redis_url=redis_url, database_url=database_url,
                             prefix=prefix) as nodes:
        yield nodes


def holds(session: Session, markers: set[str]) -> bool:
    text = text_of(session)
    return all(marker in text for marker in markers)


async def until_kept(node: ServerProcess, session: Session, typed: set[str]) -> float:
    """Type into `session` until `node` keeps its updates off Redis (the second after a
    load, when the document's followers cannot be known yet, is over); then the updates
    it published so far."""
    with anyio.fail_after(20):
        while await metric(node, KEPT, UPDATES) < 1:
            await type_markers(session, f"attente{len(typed)}", 1, typed)
            await anyio.sleep(0.05)
    return await metric(node, PUBLISHED, UPDATES)


async def type_markers(session: Session, name: str, count: int, typed: set[str]) -> None:
    """Type `count` markers into `session`, each flushed (acknowledged) before the next."""
    for i in range(count):
        marker = f"[{name}-{i}]"
        body(session).insert(0, marker)
        with anyio.fail_after(10):
            await session.flushed()
        typed.add(marker)


async def test_a_document_is_published_only_while_another_node_follows_it(
    tmp_path: Path,
) -> None:
    doc_id = f"mn-follow-{uuid4().hex[:8]}"
    async with two_nodes(tmp_path, f"palabre-test-{uuid4().hex[:10]}:") as (first, second):
        typed: set[str] = set()
        async with connect(first.url, doc_id, first.token("member", "Zoé")) as zoe:
            with anyio.fail_after(10):
                await zoe.synced()
            await wait_for_metric(first, "palabre_cluster_documents", at_least=1)
            published = await until_kept(first, zoe, typed)
            # Nobody else follows it: nothing more of it goes to Redis.
            kept = await metric(first, KEPT, UPDATES)
            await type_markers(zoe, "seule", 5, typed)
            await wait_for_metric(first, KEPT, UPDATES, at_least=kept + 1)
            assert await metric(first, PUBLISHED, UPDATES) == published
            # Zoé types on while a member opens the document on the second node: what the
            # first node kept before it heard of the second reaches it from storage, what
            # it typed after, over Redis.
            async with connect(second.url, doc_id, second.token("member", "Élodie")) as elodie:
                async with anyio.create_task_group() as tasks:
                    tasks.start_soon(type_markers, zoe, "pendant", 30, typed)
                    with anyio.fail_after(10):
                        await elodie.synced()
                    await wait_for_metric(second, "palabre_cluster_documents", at_least=1)
                # The first node answered the second's FOLLOWS: it publishes to it now.
                await wait_for_metric(second, "palabre_cluster_received_total", 'kind="t"',
                                      at_least=1)
                await type_markers(zoe, "fin", 5, typed)
                await type_markers(elodie, "ailleurs", 5, typed)
                await zoe.wait_for(partial(holds, zoe, typed), timeout=30)
                await elodie.wait_for(partial(holds, elodie, typed), timeout=30)
                await all_synced(zoe, elodie)
                assert text_of(zoe) == text_of(elodie)
                assert await metric(first, PUBLISHED, UPDATES) >= 1
                assert await metric(second, PUBLISHED, UPDATES) >= 1


async def test_a_node_that_does_not_say_what_it_follows_hears_everything(
    tmp_path: Path,
) -> None:
    """A node of an earlier release (heartbeats without ``FOLLOWS``, played here by a
    Redis client) is published every document, and told to catch up when first heard."""
    doc_id = f"mn-legacy-{uuid4().hex[:8]}"
    prefix = f"palabre-test-{uuid4().hex[:10]}:"
    async with two_nodes(tmp_path, prefix) as (first, _second):
        redis = Redis.from_url(await redis_or_skip())
        heard: list[bytes] = []
        try:
            async with connect(first.url, doc_id, first.token("member", "Zoé")) as zoe:
                with anyio.fail_after(10):
                    await zoe.synced()
                await until_kept(first, zoe, set())
                pubsub = redis.pubsub()
                await pubsub.subscribe(f"{prefix}doc:{doc_id}")
                with anyio.fail_after(10):  # the subscription holds once Redis confirms it
                    while (await pubsub.get_message(timeout=1) or {}).get("type") != "subscribe":
                        pass
                tag = b"ancien".ljust(16, b" ")

                async def beat() -> None:
                    while True:
                        await redis.publish(f"{prefix}nodes", b"h" + tag)
                        await anyio.sleep(HEARTBEAT_SECONDS)

                async def listen() -> None:
                    while True:
                        message = await pubsub.get_message(ignore_subscribe_messages=True,
                                                           timeout=1)
                        if message is not None:
                            heard.append(bytes(message["data"][:1]))

                async with anyio.create_task_group() as tasks:
                    tasks.start_soon(beat)
                    tasks.start_soon(listen)
                    with anyio.fail_after(10):
                        while b"r" not in heard:  # noqa: ASYNC110
                            await anyio.sleep(0.02)  # frames arrive in the listening task
                    await type_markers(zoe, "après", 3, set())
                    with anyio.fail_after(10):
                        while b"u" not in heard:  # noqa: ASYNC110
                            await anyio.sleep(0.02)
                    tasks.cancel_scope.cancel()
                await pubsub.aclose()
        finally:
            await redis.aclose()
