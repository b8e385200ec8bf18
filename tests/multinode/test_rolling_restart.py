"""A rolling restart (SIGTERM one node, then the other) under load loses nothing.

On SIGTERM a node stops listening, closes every socket with 1012 (service restart), commits
what its rooms hold and exits within its shutdown deadline; its clients reconnect at once
to the other node. Each client's interruption is measured (figures: bench/README.md).
"""

from __future__ import annotations

import socket
import time
from contextlib import AsyncExitStack
from functools import partial
from pathlib import Path
from uuid import uuid4

import anyio
import pytest

from client.backoff import Backoff
from client.session import Session, connect
from crdt.protocol import CloseCode
from tests.conftest import postgres_or_skip
from tests.e2e.api import all_synced, text_of
from tests.e2e.serverprocess import CLEAN_EXIT, ServerProcess, server_process
from tests.multinode.nodes import node_dirs, node_env, redis_or_skip, wait_ready
from tests.multinode.test_faults import holds_pieces, stream

pytestmark = pytest.mark.postgres

SHUTDOWN_TIMEOUT_SECONDS = 5.0
# Slow enough that the reconnection, not the back-off, decides the interruption.
PATIENT = Backoff(initial=1.0, maximum=2.0, jitter=0.0)


def free_port() -> int:
    """A loopback port free now (a restarted node must come back at the same address)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


async def interruptions(session: Session, record: list[float]) -> None:
    """Append to `record` how long each loss of the socket lasted until synced again."""
    while True:
        await session.wait_for(lambda: not session.is_connected)
        lost = time.monotonic()
        await session.wait_for(lambda: session.is_connected and session.is_synced, timeout=30)
        record.append(time.monotonic() - lost)


def moved_on(session: Session) -> bool:
    """Whether the session lost a socket and has another one."""
    return session.last_close is not None and session.is_connected


async def terminate(node: ServerProcess) -> float:
    """SIGTERM `node`; return how long it took to exit, after checking it exited cleanly."""
    began = time.monotonic()
    status = await node.stop()
    assert status in CLEAN_EXIT, f"exit status {status}"
    return time.monotonic() - began


async def test_rolling_restart_under_load_loses_nothing(tmp_path: Path) -> None:
    redis_url, database_url = await redis_or_skip(), await postgres_or_skip()
    doc_id = f"mn-roll-{uuid4().hex[:8]}"
    prefix = f"palabre-test-{uuid4().hex[:10]}:"
    dirs = node_dirs(tmp_path, 2)
    envs = [node_env(i, redis_url=redis_url, prefix=prefix, database_url=database_url, extra={
        "PALABRE_SHUTDOWN_TIMEOUT_SECONDS": str(SHUTDOWN_TIMEOUT_SECONDS),
    }) for i in range(2)]
    ports = [("--port", str(free_port())) for _ in range(2)]
    async with AsyncExitStack() as nodes_stack:
        first = await nodes_stack.enter_async_context(
            server_process(dirs[0], *ports[0], env=envs[0]))
        second = await nodes_stack.enter_async_context(
            server_process(dirs[1], *ports[1], env=envs[1]))
        for node in (first, second):
            await wait_ready(node)
        urls = [first.url, second.url]
        async with AsyncExitStack() as exits:
            # Everyone starts on the first node (the list's first URL), and on a 1012 moves
            # on to the next URL at once: the patient back-off would show in the figures.
            sessions = [
                await exits.enter_async_context(
                    connect(urls, doc_id, first.token(), backoff=PATIENT))
                for _ in range(4)
            ]
            await all_synced(*sessions)
            stop = anyio.Event()
            gaps: list[list[float]] = [[] for _ in sessions]
            exits_took: list[float] = []
            async with anyio.create_task_group() as watchers, \
                    anyio.create_task_group() as tg:
                for index, session in enumerate(sessions):
                    watchers.start_soon(interruptions, session, gaps[index])
                for name, session in zip("abcd", sessions, strict=True):
                    tg.start_soon(stream, session, name, stop)
                await sessions[3].wait_for(lambda: text_of(sessions[3]).count("<a-") >= 10,
                                           timeout=30)
                exits_took.append(await terminate(first))
                for session in sessions:
                    await session.wait_for(partial(moved_on, session), timeout=30)
                assert {s.last_close[0] for s in sessions if s.last_close} == {
                    CloseCode.SERVICE_RESTART}
                # The first node comes back; then the second one restarts in its turn.
                first = await nodes_stack.enter_async_context(
                    server_process(dirs[0], *ports[0], env=envs[0]))
                await wait_ready(first)
                written = text_of(sessions[0]).count("<a-")
                await sessions[0].wait_for(
                    lambda: text_of(sessions[0]).count("<a-") > written + 5, timeout=30)
                exits_took.append(await terminate(second))
                written = text_of(sessions[0]).count("<a-")
                await sessions[0].wait_for(
                    lambda: text_of(sessions[0]).count("<a-") > written + 5, timeout=30)
                stop.set()
                watchers.cancel_scope.cancel()
            for session in sessions:
                with anyio.fail_after(15):
                    await session.flushed()
            everything: set[str] = set()
            for session in sessions:
                everything |= set(text_of(session).split(">"))
            for session in sessions:
                await session.wait_for(partial(holds_pieces, session, everything), timeout=30)
            assert len({text_of(session) for session in sessions}) == 1
            final = text_of(sessions[0])
        # What the restarted node serves from PostgreSQL is what every client holds.
        async with connect(first.url, doc_id, first.token()) as reader:
            await reader.wait_for(lambda: text_of(reader) == final, timeout=30)
    assert all(took < 2 * SHUTDOWN_TIMEOUT_SECONDS for took in exits_took), exits_took
    # Each client lost its socket twice (one node, then the other) and came back each time.
    assert all(len(gap) == 2 for gap in gaps), gaps
    longest = max(max(gap) for gap in gaps)
    print(f"interruptions per client (s): {gaps}; exits took {exits_took}")
    # Under a second on a quiet machine (bench/README.md); the bound allows a busy CI.
    assert longest < 5.0, f"longest interruption {longest:.2f} s"
