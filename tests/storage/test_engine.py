"""Database URLs, engine settings and migrations."""

from __future__ import annotations

from pathlib import Path

import anyio
import pytest
from sqlalchemy import inspect, text
from sqlalchemy.engine import make_url

from storage.engine import create_engine, database_url_for, migrate, normalize_url
from storage.sql import SqlDocumentStore
from tests.storage.conftest import SqlStoreFactory

TABLES = {
    "alembic_version",
    "documents",
    "updates",
    "states",
    "authorship",
    "webhooks",
    "webhook_deliveries",
}


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("sqlite:///data/palabre.db", "sqlite+aiosqlite:///data/palabre.db"),
        ("sqlite+aiosqlite:////tmp/p.db", "sqlite+aiosqlite:////tmp/p.db"),
        ("postgresql://u:pw@db:5432/palabre", "postgresql+asyncpg://u:pw@db:5432/palabre"),
        ("postgres://u@db/palabre", "postgresql+asyncpg://u@db/palabre"),
        ("postgresql+psycopg://u@db/p?sslmode=require", "postgresql+asyncpg://u@db/p?ssl=require"),
    ],
)
def test_normalize_url_picks_the_async_driver(url: str, expected: str) -> None:
    assert normalize_url(url) == expected


@pytest.mark.parametrize("url", ["mysql://u@db/p", "not a url"])
def test_normalize_url_refuses_other_databases(url: str) -> None:
    with pytest.raises(ValueError):
        normalize_url(url)


def test_default_database_is_sqlite_in_the_data_dir(tmp_path: Path) -> None:
    url = make_url(database_url_for(tmp_path))
    assert url.drivername == "sqlite+aiosqlite"
    assert url.database == str(tmp_path / "palabre.db")


async def test_sqlite_runs_in_wal_with_normal_sync(tmp_path: Path) -> None:
    engine = create_engine(database_url_for(tmp_path))
    try:
        async with engine.connect() as conn:
            journal = await conn.scalar(text("PRAGMA journal_mode"))
            synchronous = await conn.scalar(text("PRAGMA synchronous"))
            busy_timeout = await conn.scalar(text("PRAGMA busy_timeout"))
            foreign_keys = await conn.scalar(text("PRAGMA foreign_keys"))
    finally:
        await engine.dispose()
    assert (journal, synchronous, foreign_keys) == ("wal", 1, 1)
    assert busy_timeout and busy_timeout >= 1000


async def test_migrations_run_twice_are_idempotent(make_sql_store: SqlStoreFactory) -> None:
    store = make_sql_store()
    engine = create_engine(store.url)
    try:
        await migrate(engine)
        await migrate(engine)
        async with engine.connect() as conn:
            tables = await conn.run_sync(lambda sync: set(inspect(sync).get_table_names()))
            version = await conn.scalar(text("SELECT version_num FROM alembic_version"))
    finally:
        await engine.dispose()
    assert tables >= TABLES
    assert version == "0010"
    async with store:
        await store.check()


async def test_two_sqlite_stores_started_at_once_both_come_up(tmp_path: Path) -> None:
    url = database_url_for(tmp_path)
    await both_come_up(SqlDocumentStore(url), SqlDocumentStore(url))


@pytest.mark.postgres
async def test_two_postgresql_stores_started_at_once_on_a_fresh_database_both_come_up(
    scratch_postgres_url: str,
) -> None:
    await both_come_up(
        SqlDocumentStore(scratch_postgres_url), SqlDocumentStore(scratch_postgres_url)
    )


async def both_come_up(first: SqlDocumentStore, second: SqlDocumentStore) -> None:
    """Open both stores concurrently; both must pass `check`."""
    checked: list[SqlDocumentStore] = []

    async def open_and_check(store: SqlDocumentStore, ready: anyio.Event) -> None:
        async with store:
            await store.check()
            checked.append(store)
            ready.set()
            await everyone_ready.wait()

    everyone_ready = anyio.Event()
    events = [anyio.Event(), anyio.Event()]
    with anyio.fail_after(30):
        async with anyio.create_task_group() as tg:
            tg.start_soon(open_and_check, first, events[0])
            tg.start_soon(open_and_check, second, events[1])
            for event in events:
                await event.wait()
            everyone_ready.set()
    assert checked and len(checked) == 2
