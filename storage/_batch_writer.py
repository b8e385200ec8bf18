"""The append hot path below SQLAlchemy: one batch, one transaction, one round trip.

Through SQLAlchemy's async layer a group-commit transaction cost about 1.7 ms of CPU
(statement compilation, cache keys, and with aiosqlite one thread hop per statement);
the hub commits up to hundreds of batches a second. These writers run the same two
statements — upsert the documents, insert the log rows — with the driver directly:
about 0.1 ms on SQLite (a dedicated connection in a thread of its own, one hop there
per batch)
and 0.35 ms on PostgreSQL (asyncpg ``executemany`` on a pooled connection). Loads,
compaction and migrations stay on SQLAlchemy.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Protocol, TypeVar

import anyio
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine

from storage.base import StorageUnavailable

DocumentParams = tuple[str, float, float]
"""``(doc_id, created_at, updated_at)``."""
RowParams = tuple[str, bytes, float, str | None, str | None]
"""``(doc_id, update, received_at, connection_id, principal)``."""

_SQLITE_UPSERT = (
    "INSERT INTO documents (doc_id, kind, created_at, updated_at) VALUES (?, 'text', ?, ?) "
    "ON CONFLICT (doc_id) DO UPDATE SET updated_at = excluded.updated_at"
)
_SQLITE_INSERT = (
    'INSERT INTO updates (doc_id, "update", received_at, connection_id, principal) '
    "VALUES (?, ?, ?, ?, ?)"
)
_PG_UPSERT = (
    "INSERT INTO documents (doc_id, kind, created_at, updated_at) VALUES ($1, 'text', $2, $3) "
    "ON CONFLICT (doc_id) DO UPDATE SET updated_at = excluded.updated_at"
)
_PG_INSERT = (
    'INSERT INTO updates (doc_id, "update", received_at, connection_id, principal) '
    "VALUES ($1, $2, $3, $4, $5)"
)


class BatchWriter(Protocol):
    """Writes one group-commit batch in one transaction."""

    async def write(
        self, documents: Sequence[DocumentParams], rows: Sequence[RowParams]
    ) -> None:
        """Commit the documents' upserts and the log rows, all or nothing.

        Raises:
            StorageUnavailable: the transaction failed; nothing was written.
        """

    async def aclose(self) -> None:
        """Release what the writer holds."""


T = TypeVar("T")


class SqliteBatchWriter:
    """A dedicated sqlite3 connection, used by a thread of its own.

    The thread is a one-worker executor reached with ``run_in_executor``: per batch, a
    queue put and a wake-up of the event loop, without anyio's per-call set-up (backend
    lookup, limiter, cancel scope), which cost as much as the transaction on a busy
    server.
    """

    def __init__(self, path: str, *, busy_timeout_ms: int) -> None:
        self._path = path
        self._busy_timeout_ms = busy_timeout_ms
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="palabre-sqlite")
        self._conn: sqlite3.Connection | None = None

    async def _in_thread(self, call: Callable[..., T], *args: Any) -> T:
        """Run `call` in the writer's thread; a cancelled caller still waits for its end
        (the connection is used by one call at a time, and its outcome must be known)."""
        done = asyncio.get_running_loop().run_in_executor(self._thread, call, *args)
        with anyio.CancelScope(shield=True):
            result = await done
        return result

    async def open(self) -> None:
        """Connect (after the engine has created and migrated the database).

        Raises:
            StorageUnavailable: the file cannot be opened.
        """
        try:
            await self._in_thread(self._open_sync)
        except BaseException:
            self._thread.shutdown(wait=False)
            raise

    def _open_sync(self) -> None:
        try:
            conn = sqlite3.connect(
                self._path,
                timeout=self._busy_timeout_ms / 1000,
                isolation_level=None,
                check_same_thread=False,  # opened and used in the writer's thread
            )
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            conn.execute("PRAGMA foreign_keys=ON")
        except sqlite3.Error as exc:
            raise StorageUnavailable(f"cannot open {self._path}: {exc}") from exc
        self._conn = conn

    async def write(
        self, documents: Sequence[DocumentParams], rows: Sequence[RowParams]
    ) -> None:
        """See `BatchWriter.write`."""
        await self._in_thread(self._write_sync, documents, rows)

    def _write_sync(self, documents: Sequence[DocumentParams], rows: Sequence[RowParams]) -> None:
        conn = self._conn
        if conn is None:
            raise StorageUnavailable("the store is not open")
        try:
            conn.execute("BEGIN IMMEDIATE")
            try:
                conn.executemany(_SQLITE_UPSERT, documents)
                conn.executemany(_SQLITE_INSERT, rows)
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise
        except sqlite3.Error as exc:
            raise StorageUnavailable(f"append transaction failed: {exc}") from exc

    async def aclose(self) -> None:
        """Close the connection."""
        conn, self._conn = self._conn, None
        if conn is not None:
            await self._in_thread(conn.close)
        self._thread.shutdown(wait=False)


class AsyncpgBatchWriter:
    """asyncpg ``executemany`` on a connection borrowed from the engine's pool."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def write(
        self, documents: Sequence[DocumentParams], rows: Sequence[RowParams]
    ) -> None:
        """See `BatchWriter.write`."""
        import asyncpg

        try:
            async with self._engine.connect() as conn:
                fairy = await conn.get_raw_connection()
                driver: Any = fairy.driver_connection
                async with driver.transaction():
                    await driver.executemany(_PG_UPSERT, documents)
                    await driver.executemany(_PG_INSERT, rows)
        except (SQLAlchemyError, asyncpg.PostgresError, asyncpg.InterfaceError, OSError) as exc:
            # SQLAlchemyError: the pool could not connect; InterfaceError: connection lost.
            raise StorageUnavailable(f"append transaction failed: {exc}") from exc

    async def aclose(self) -> None:
        """Nothing of its own: the pool belongs to the engine."""


async def open_batch_writer(engine: AsyncEngine, *, busy_timeout_ms: int) -> BatchWriter:
    """The fast writer for the engine's database.

    Raises:
        StorageUnavailable: it cannot connect.
    """
    url = make_url(engine.url)
    if url.get_backend_name() == "sqlite":
        writer = SqliteBatchWriter(url.database or ":memory:", busy_timeout_ms=busy_timeout_ms)
        await writer.open()
        return writer
    return AsyncpgBatchWriter(engine)
