"""Shared PostgreSQL: nodes starting at once on an empty database, one compaction at a time."""

from __future__ import annotations

import re
from contextlib import AsyncExitStack
from functools import partial
from pathlib import Path
from uuid import uuid4

import anyio
import asyncpg
import pytest
from sqlalchemy.engine import make_url

from client.session import Session, connect
from tests.conftest import postgres_or_skip
from tests.e2e.api import all_synced, body, text_of
from tests.e2e.serverprocess import ServerProcess
from tests.multinode.nodes import lock_to_hold, metric, redis_or_skip, start_cluster

pytestmark = pytest.mark.postgres

_LOCK_LINE = re.compile(r"compaction lock released at ([\d.]+) \(taken at ([\d.]+)\) doc_id=(\S+)")


def holds(session: Session, *pieces: str) -> bool:
    text = text_of(session)
    return all(piece in text for piece in pieces)


async def admin(database_url: str) -> asyncpg.Connection:
    url = make_url(database_url)
    return await asyncpg.connect(host=url.host, port=url.port or 5432, user=url.username,
                                 password=url.password, database=url.database)


async def test_two_nodes_start_at_once_on_an_empty_database(tmp_path: Path) -> None:
    redis_url, database_url = await redis_or_skip(), await postgres_or_skip()
    name = f"palabre_mn_{uuid4().hex[:10]}"
    conn = await admin(database_url)
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
        fresh = make_url(database_url).set(database=name).render_as_string(hide_password=False)
        doc_id = f"mn-start-{uuid4().hex[:8]}"
        async with start_cluster(tmp_path, 2, redis_url=redis_url, database_url=fresh,
                                 simultaneous=True) as (first, second), \
                connect(first.url, doc_id, first.token()) as a, \
                connect(second.url, doc_id, second.token()) as b:
            await all_synced(a, b)
            body(a).insert(0, "Bonjour depuis le premier nœud. ")
            body(b).insert(0, "Bonjour depuis le second. ")
            for session in (a, b):
                await session.wait_for(partial(holds, session, "premier", "second"), timeout=15)
    finally:
        with anyio.CancelScope(shield=True):
            await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            await conn.close()


async def write_separately(writer: Session, watcher: Session, name: str, count: int) -> None:
    """`count` edits, each committed on its own (the watcher sees one before the next)."""
    for i in range(count):
        marker = f"<{name}-{i}>"
        body(writer).insert(len(body(writer)), marker)
        await watcher.wait_for(partial(holds, watcher, marker), timeout=15)


async def test_a_node_skips_compaction_while_another_holds_the_lock(tmp_path: Path) -> None:
    async with lock_to_hold("compact", "mn-compact") as lock, \
            start_cluster(tmp_path, 2, redis_url=lock.redis_url, database_url=lock.database_url,
                          prefix=lock.prefix,
                          extra_env={"PALABRE_COMPACT_THRESHOLD": "20"}) as nodes, \
            connect(nodes[0].url, lock.doc_id, nodes[0].token()) as writer, \
            connect(nodes[1].url, lock.doc_id, nodes[1].token()) as watcher:
        await all_synced(writer, watcher)
        assert await lock.redis.set(lock.key, "another-node", px=60_000, nx=True)
        await write_separately(writer, watcher, "held", 30)
        assert await metric(nodes[0], "palabre_cluster_compactions_total",
                            'outcome="skipped_locked"') >= 1
        assert await metric(nodes[0], "palabre_cluster_compactions_total",
                            'outcome="done"') == 0
        await lock.redis.delete(lock.key)
        with anyio.fail_after(30):
            i = 0
            while await metric(nodes[0], "palabre_cluster_compactions_total",
                               'outcome="done"') < 1:
                await write_separately(writer, watcher, f"free{i}", 1)
                i += 1
        async with connect(nodes[1].url, lock.doc_id, nodes[1].token()) as reader:
            await reader.wait_for(lambda: text_of(reader) == text_of(writer), timeout=15)
        assert text_of(writer).count("<held-") == 30


def lock_intervals(node: ServerProcess, doc_id: str) -> list[tuple[float, float]]:
    text = (node.data_dir / "server.log").read_text(encoding="utf-8")
    return [(float(taken), float(released)) for released, taken, doc in _LOCK_LINE.findall(text)
            if doc == doc_id]


async def test_only_one_node_compacts_a_document_at_a_time(tmp_path: Path) -> None:
    redis_url, database_url = await redis_or_skip(), await postgres_or_skip()
    doc_id = f"mn-compact2-{uuid4().hex[:8]}"
    async with start_cluster(tmp_path, 2, redis_url=redis_url, database_url=database_url,
                             extra_env={"PALABRE_COMPACT_THRESHOLD": "10"}) as nodes, \
            AsyncExitStack() as exits:
        a = await exits.enter_async_context(connect(nodes[0].url, doc_id, nodes[0].token()))
        b = await exits.enter_async_context(connect(nodes[1].url, doc_id, nodes[1].token()))
        await all_synced(a, b)
        async with anyio.create_task_group() as tg:
            tg.start_soon(write_separately, a, b, "a", 60)
            tg.start_soon(write_separately, b, a, "b", 60)
        # Commits outrun a compaction (its merge runs in a child process): write on until
        # two have completed, however the nodes shared them.
        extra = 0
        with anyio.fail_after(60):
            while sum([await metric(node, "palabre_cluster_compactions_total",
                                    'outcome="done"') for node in nodes]) < 2:
                async with anyio.create_task_group() as tg:
                    tg.start_soon(write_separately, a, b, f"a{extra}", 1)
                    tg.start_soon(write_separately, b, a, f"b{extra}", 1)
                extra += 1
        await a.wait_for(lambda: text_of(a) == text_of(b), timeout=15)
        assert text_of(a).count("<a-") == 60 and text_of(a).count("<b-") == 60
        assert all(f"<a{i}-0>" in text_of(a) and f"<b{i}-0>" in text_of(a) for i in range(extra))
    first, second = (lock_intervals(node, doc_id) for node in nodes)
    assert len(first) + len(second) >= 2
    for taken, released in first:
        for other_taken, other_released in second:
            assert released <= other_taken or other_released <= taken, (
                "two nodes compacted the document at the same time"
            )
