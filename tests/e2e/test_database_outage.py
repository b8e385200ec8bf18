"""The database goes away while clients type, then comes back: nothing acknowledged is lost.

PostgreSQL: the CI machine's server is shared, so the node gets a database of its own and an
``application_name`` of its own; only the connections carrying both are cut
(``pg_terminate_backend``), and the outage is that database refusing connections
(``ALLOW_CONNECTIONS false``) — what a restart or a failover looks like to the node.
SQLite: another process holds the write lock past the busy timeout.
"""

from __future__ import annotations

import contextlib
import re
import sys
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from functools import partial

import anyio
import httpx
import pytest
from sqlalchemy.engine import make_url

from client.session import Session, connect
from tests.conftest import RunningServer, ServerFactory, postgres_or_skip
from tests.e2e.api import all_synced, body, text_of

PIECE = re.compile(r"\[(\d+) amendement\]")
UNLIMITED = {"socket_update_rate_per_second": 0.0, "http_rate_per_second": 0.0}


def pieces_in(text: str) -> list[int]:
    return [int(number) for number in PIECE.findall(text)]


@dataclass(slots=True)
class Typist:
    """Types a numbered piece after another; records what another client had seen."""

    writer: Session
    observer: Session
    typed: int = 0
    seen_before_outage: list[int] = field(default_factory=list)

    async def type(self, stop: anyio.Event) -> None:
        text = body(self.writer)
        while not stop.is_set():
            text += f"[{self.typed} amendement]"
            self.typed += 1
            # Typing cadence (a person types; the client keeps what it cannot send),
            # not a wait for anything to happen.
            await anyio.sleep(0.01)

    def seen(self, count: int) -> bool:
        return len(pieces_in(text_of(self.observer))) >= count

    def complete(self) -> bool:
        return pieces_in(text_of(self.observer)) == list(range(self.typed))


async def readiness(server: RunningServer) -> tuple[int, dict[str, object]]:
    async with httpx.AsyncClient(base_url=server.url, timeout=15) as http:
        answer = await http.get("/readyz")
    return answer.status_code, answer.json()


async def wait_ready(server: RunningServer, predicate: Callable[[int, dict[str, object]], bool],
                     within: float) -> dict[str, object]:
    with anyio.fail_after(within):
        while True:
            status, answer = await readiness(server)
            if predicate(status, answer):
                return answer
            await anyio.sleep(0.05)  # polling the probe, as a load balancer does


@contextlib.asynccontextmanager
async def typing_session(server: RunningServer, doc_id: str) -> AsyncIterator[Typist]:
    token = server_token(server)
    async with connect(server.url, doc_id, token) as writer, \
            connect(server.url, doc_id, token) as observer:
        await all_synced(writer, observer)
        yield Typist(writer, observer)


def closed_with(session: Session, code: int) -> bool:
    return session.last_close is not None and session.last_close[0] == code


def server_token(server: RunningServer) -> str:
    return server.token("member", "Zoé Lefèvre")


@contextlib.asynccontextmanager
async def private_database() -> AsyncIterator[tuple[str, str, str]]:
    """A database of this test's own on the test PostgreSQL: (node URL, admin URL, name)."""
    import asyncpg

    base = make_url(await postgres_or_skip())
    name = f"palabre_outage_{uuid.uuid4().hex[:10]}"
    admin = base.set(drivername="postgresql").render_as_string(hide_password=False)
    conn = await asyncpg.connect(admin)
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
        app = f"palabre-{uuid.uuid4().hex[:8]}"
        node = base.set(database=name, query={"application_name": app})
        yield node.render_as_string(hide_password=False), admin, app
    finally:
        await conn.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true')
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await conn.close()


async def cut(admin: str, database: str, app: str) -> int:
    """Terminate this node's connections (and only them); how many there were."""
    import asyncpg

    conn = await asyncpg.connect(admin)
    try:
        return len(await conn.fetch(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE datname = $1 AND application_name = $2", database, app,
        ))
    finally:
        await conn.close()


async def allow_connections(admin: str, database: str, *, allowed: bool) -> None:
    import asyncpg

    conn = await asyncpg.connect(admin)
    try:
        await conn.execute(f'ALTER DATABASE "{database}" ALLOW_CONNECTIONS {str(allowed).lower()}')
    finally:
        await conn.close()


@pytest.mark.postgres
async def test_postgresql_cut_and_down_while_typing_loses_nothing(
    start_server: ServerFactory,
) -> None:
    async with private_database() as (url, admin, app), \
            start_server(database_url=url, **UNLIMITED) as server, \
            typing_session(server, "charte") as typist:
        database = make_url(url).database or ""
        stop = anyio.Event()
        async with anyio.create_task_group() as tg:
            tg.start_soon(typist.type, stop)
            # Connections cut under the node, five times, while it commits.
            for _ in range(5):
                await typist.observer.wait_for(partial(typist.seen, typist.typed + 10),
                                               timeout=20)
                assert await cut(admin, database, app) > 0
            # Then the database refuses connections for a while.
            await allow_connections(admin, database, allowed=False)
            await cut(admin, database, app)
            typist.seen_before_outage = pieces_in(text_of(typist.observer))
            down = await wait_ready(server, lambda status, _: status == 503, within=20)
            assert down["error"] == "storage_unavailable"
            assert "not currently accepting connections" in str(down["detail"]), down
            # Writes that cannot commit are refused: 1013, the client keeps its edits.
            await typist.writer.wait_for(partial(closed_with, typist.writer, 1013), timeout=10)
            stuck = len(pieces_in(text_of(typist.observer)))
            goal = typist.typed + 100
            await typist.writer.wait_for(lambda: typist.typed >= goal, timeout=10)
            assert len(pieces_in(text_of(typist.observer))) == stuck, "relayed, not committed"
            await allow_connections(admin, database, allowed=True)
            await wait_ready(server, lambda status, body: body.get("status") == "ready",
                             within=20)
            stop.set()
        await typist.observer.wait_for(typist.complete, timeout=30)
    assert pieces_in(text_of(typist.observer))[: len(typist.seen_before_outage)] == \
        typist.seen_before_outage


LOCKER = (
    "import sqlite3, sys\n"
    "db = sqlite3.connect(sys.argv[1], isolation_level=None)\n"
    "db.execute('BEGIN IMMEDIATE')\n"
    "print('locked', flush=True)\n"
    "sys.stdin.read()\n"
    "db.execute('ROLLBACK')\n"
)


async def test_sqlite_locked_by_another_process_past_the_busy_timeout_loses_nothing(
    start_server: ServerFactory,
) -> None:
    async with start_server(sqlite_busy_timeout_seconds=0.5, **UNLIMITED) as server, \
            typing_session(server, "charte") as typist:
        stop = anyio.Event()
        async with anyio.create_task_group() as tg:
            tg.start_soon(typist.type, stop)
            await typist.observer.wait_for(partial(typist.seen, 10), timeout=20)
            locker = await anyio.open_process(
                [sys.executable, "-c", LOCKER, str(server.settings.data_dir / "palabre.db")]
            )
            try:
                assert locker.stdout is not None and locker.stdin is not None
                with anyio.fail_after(10):
                    assert b"locked" in await locker.stdout.receive()
                typist.seen_before_outage = pieces_in(text_of(typist.observer))
                await typist.writer.wait_for(partial(closed_with, typist.writer, 1013),
                                             timeout=10)
                down = await wait_ready(server, lambda status, _: status == 503, within=10)
                assert "database is locked" in str(down["detail"]), down
                stuck = len(pieces_in(text_of(typist.observer)))
                goal = typist.typed + 100
                await typist.writer.wait_for(lambda: typist.typed >= goal, timeout=10)
                assert len(pieces_in(text_of(typist.observer))) == stuck
            finally:
                if locker.stdin is not None:
                    await locker.stdin.aclose()
                with anyio.fail_after(10):
                    await locker.wait()
                await locker.aclose()
            await typist.observer.wait_for(partial(typist.seen, goal), timeout=30)
            await wait_ready(server, lambda status, body: body.get("status") == "ready",
                             within=20)
            stop.set()
        await typist.observer.wait_for(typist.complete, timeout=30)
    assert pieces_in(text_of(typist.observer))[: len(typist.seen_before_outage)] == \
        typist.seen_before_outage
