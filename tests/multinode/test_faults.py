"""Faults of a cluster: a node SIGKILLed mid-stream, Redis restarted mid-stream."""

from __future__ import annotations

from contextlib import AsyncExitStack
from functools import partial
from pathlib import Path
from uuid import uuid4

import anyio
import pytest
from redis.asyncio import Redis
from redis.exceptions import RedisError

from client.backoff import Backoff
from client.session import Session, connect
from crdt.document import decode_state_vector
from tests.conftest import postgres_or_skip
from tests.e2e.api import all_synced, body, text_of
from tests.multinode.nodes import (
    metric,
    private_redis,
    readiness,
    redis_or_skip,
    start_cluster,
    wait_ready,
)

pytestmark = pytest.mark.postgres

FAST = Backoff(initial=0.05, maximum=0.5)


def holds_pieces(session: Session, pieces: set[str]) -> bool:
    return set(text_of(session).split(">")) >= pieces


def covers(session: Session, state_vector: bytes) -> bool:
    """Whether the session's document holds everything `state_vector` describes."""
    have = decode_state_vector(session.doc.get_state())
    return all(have.get(client, 0) >= clock for client, clock in
               decode_state_vector(state_vector).items())


async def stream(session: Session, name: str, stop: anyio.Event) -> int:
    """Append numbered sentences until `stop`; return how many were written."""
    count = 0
    while not stop.is_set():
        text = body(session)
        text.insert(len(text), f"<{name}-{count}>")
        count += 1
        with anyio.move_on_after(0.02):
            await stop.wait()
    return count


async def test_sigkill_of_a_node_loses_nothing_any_client_had_received(tmp_path: Path) -> None:
    redis_url, database_url = await redis_or_skip(), await postgres_or_skip()
    doc_id = f"mn-kill-{uuid4().hex[:8]}"
    async with start_cluster(tmp_path, 2, redis_url=redis_url,
                             database_url=database_url) as (first, second), \
            AsyncExitStack() as exits:
        both = [first.url, second.url]
        back = [second.url, first.url]
        sessions = [
            await exits.enter_async_context(connect(urls, doc_id, first.token(), backoff=FAST))
            for urls in (both, both, back, back)
        ]
        with anyio.fail_after(10):
            for session in sessions:
                await session.synced()
        writers = {"a": sessions[0], "b": sessions[2]}
        stop = anyio.Event()
        snapshots: list[bytes] = []
        async with anyio.create_task_group() as tg:
            for name, writer in writers.items():
                tg.start_soon(stream, writer, name, stop)
            await sessions[3].wait_for(lambda: str(body(sessions[3])).count("<a-") >= 20,
                                       timeout=30)
            first.kill()
            snapshots = [session.doc.get_state() for session in sessions]
            # Its clients find the second node and go on writing there.
            await sessions[0].wait_for(lambda: str(body(sessions[3])).count("<a-") >= 40,
                                       timeout=30)
            stop.set()
        for session in sessions:
            with anyio.fail_after(15):
                await session.flushed()
        everything = set()
        for session in sessions:
            everything |= set(text_of(session).split(">"))
        for session in sessions:
            await session.wait_for(partial(holds_pieces, session, everything), timeout=30)
        assert len({text_of(session) for session in sessions}) == 1
        # A newcomer served from storage by the surviving node holds what anyone had seen.
        async with connect(second.url, doc_id, second.token()) as reader:
            with anyio.fail_after(10):
                await reader.synced()
            for state_vector in snapshots:
                assert covers(reader, state_vector), "an update a client had seen was lost"
            assert text_of(reader) == str(body(sessions[0]))


async def wait_redis(url: str) -> None:
    """Wait until a just started Redis answers PING."""
    with anyio.fail_after(10):
        while True:
            client = Redis.from_url(url, socket_connect_timeout=1)
            try:
                await client.ping()
                return
            except (RedisError, OSError):
                await anyio.sleep(0.05)  # the server is still starting: nothing to wait on
            finally:
                await client.aclose()


async def test_redis_restart_mid_stream_loses_no_update(tmp_path: Path) -> None:
    database_url = await postgres_or_skip()
    doc_id = f"mn-redis-{uuid4().hex[:8]}"
    with private_redis(tmp_path / "redis") as redis_server:
        await wait_redis(redis_server.url)
        async with start_cluster(tmp_path, 2, redis_url=redis_server.url,
                                 database_url=database_url) as nodes, \
                connect(nodes[0].url, doc_id, nodes[0].token()) as on_first, \
                connect(nodes[1].url, doc_id, nodes[1].token()) as on_second:
            first, second = nodes
            await all_synced(on_first, on_second)
            stop = anyio.Event()
            async with anyio.create_task_group() as tg:
                tg.start_soon(stream, on_first, "a", stop)
                tg.start_soon(stream, on_second, "b", stop)
                await on_second.wait_for(lambda: text_of(on_second).count("<a-") >= 10,
                                         timeout=30)
                redis_server.kill()
                await wait_ready(first, status="degraded")
                await wait_ready(second, status="degraded")
                assert "redis unavailable" in (await readiness(first))["reason"]
                # Both nodes keep serving their own clients meanwhile.
                written = text_of(on_first).count("<a-")
                await on_first.wait_for(lambda: text_of(on_first).count("<a-") > written + 5,
                                        timeout=10)
                redis_server.start()
                await wait_ready(first)
                await wait_ready(second)
                written = text_of(on_second).count("<a-")
                await on_second.wait_for(
                    lambda: text_of(on_second).count("<a-") > written + 5, timeout=15
                )
                stop.set()
            for session in (on_first, on_second):
                with anyio.fail_after(15):
                    await session.flushed()
            everything = set(text_of(on_first).split(">")) | set(
                text_of(on_second).split(">"))
            for session in (on_first, on_second):
                await session.wait_for(partial(holds_pieces, session, everything), timeout=30)
            assert text_of(on_first) == text_of(on_second)
            caught_up = [await metric(node, "palabre_cluster_catch_ups_total",
                                      'outcome="applied"') for node in nodes]
            assert sum(caught_up) >= 1, "the gap was not filled from storage"
