"""Store factories for the storage tests: in memory, SQLite in tmp_path, shared PostgreSQL."""

from __future__ import annotations

import functools
import uuid
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Protocol

import anyio
import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url

from storage.engine import create_engine, normalize_url
from storage.memory import MemoryDocumentStore
from storage.sql import SqlDocumentStore
from storage.stats import StoreStats
from tests.conftest import postgres_or_skip

AnyStore = MemoryDocumentStore | SqlDocumentStore


class StoreFactory(Protocol):
    """Builds an unopened store of the parametrised backend."""

    def __call__(
        self, *, commit_window: float = 0.002, compact_threshold: int = 0, close_timeout: float = 10
    ) -> AnyStore: ...


class SqlStoreFactory(Protocol):
    """Builds an unopened SQL store of the parametrised database."""

    def __call__(
        self, *, commit_window: float = 0.002, compact_threshold: int = 0, close_timeout: float = 10
    ) -> SqlDocumentStore: ...


async def reachable_postgres_url() -> str:
    """The test PostgreSQL URL; skips the test (fails it in CI) when it cannot be reached."""
    return await postgres_or_skip()


@pytest.fixture
async def postgres_url() -> str:
    """The reachable test PostgreSQL URL (skip or, in CI, fail otherwise)."""
    return await reachable_postgres_url()


async def _database_url(backend: str, tmp_path: Path) -> str:
    if backend == "postgres":
        return await reachable_postgres_url()
    return f"sqlite:///{tmp_path / 'palabre.db'}"


@pytest.fixture(params=["memory", "sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
async def make_store(request: pytest.FixtureRequest, tmp_path: Path) -> StoreFactory:
    """Factory of unopened stores (``async with make_store(**options) as store``)."""
    backend: str = request.param
    if backend == "memory":
        return MemoryDocumentStore
    return functools.partial(SqlDocumentStore, await _database_url(backend, tmp_path))


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
async def make_sql_store(request: pytest.FixtureRequest, tmp_path: Path) -> SqlStoreFactory:
    """Factory of unopened SQL stores on SQLite (in tmp_path) and on PostgreSQL."""
    return functools.partial(SqlDocumentStore, await _database_url(request.param, tmp_path))


@pytest.fixture
async def scratch_postgres_url() -> AsyncIterator[str]:
    """A fresh, empty PostgreSQL database, dropped afterwards (not the shared one)."""
    url = make_url(normalize_url(await reachable_postgres_url()))
    name = f"palabre_scratch_{uuid.uuid4().hex[:12]}"
    admin = create_engine(url.render_as_string(hide_password=False))
    admin = admin.execution_options(isolation_level="AUTOCOMMIT")
    try:
        async with admin.connect() as conn:
            await conn.execute(text(f'CREATE DATABASE "{name}"'))
        yield url.set(database=name).render_as_string(hide_password=False)
    finally:
        async with admin.connect() as conn:
            await conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        await admin.dispose()


@pytest.fixture
def doc_id() -> str:
    """A document id no other test uses (the PostgreSQL database is shared)."""
    return f"doc-{uuid.uuid4().hex}"


async def wait_until(stats: StoreStats, condition: Callable[[StoreStats], bool]) -> None:
    """Wait until `condition(stats)` holds (woken by each counter change), failing after 10 s."""
    with anyio.fail_after(10):
        await stats.wait_for(condition)
