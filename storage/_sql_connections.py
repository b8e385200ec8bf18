"""The engines of an open SQL store, shared by its parts: the log, the catalog, the archive."""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager

from sqlalchemy import text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from storage.base import StorageUnavailable
from storage.models import DocumentRow, FreezeRow, StateRow

DB_ERRORS = (SQLAlchemyError, OSError)
"""What a database failure raises (translated to StorageUnavailable)."""


class SqlConnections:
    """The read and write engines, set while the store is open, and one transaction per call.

    A database failure inside `_reading` or `_writing` leaves as StorageUnavailable
    ``cannot {what}: {cause}``; our own errors (not found, exists) pass through unchanged.
    """

    def __init__(self) -> None:
        self._engine: AsyncEngine | None = None
        self._writer: AsyncEngine | None = None

    def _reader(self) -> AsyncEngine:
        if self._engine is None:
            raise StorageUnavailable("the store is not open")
        return self._engine

    def _writer_engine(self) -> AsyncEngine:
        if self._writer is None:
            raise StorageUnavailable("the store is not open")
        return self._writer

    @asynccontextmanager
    async def _reading(self, what: str) -> AsyncIterator[AsyncConnection]:
        """A read connection (no transaction opened); see `failures_as_unavailable`."""
        with failures_as_unavailable(f"cannot {what}"):
            async with self._reader().connect() as conn:
                yield conn

    @asynccontextmanager
    async def _writing(self, what: str) -> AsyncIterator[AsyncConnection]:
        """A write transaction, committed when the block ends without error."""
        with failures_as_unavailable(f"cannot {what}"):
            async with self._writer_engine().begin() as conn:
                yield conn


@contextmanager
def failures_as_unavailable(message: str) -> Iterator[None]:
    """Turn a database failure in the block into StorageUnavailable ``{message}: {cause}``.

    Raises:
        StorageUnavailable: the database failed, or the store is closed.
    """
    try:
        yield
    except DB_ERRORS as exc:
        raise StorageUnavailable(f"{message}: {exc}") from exc


def dialect_insert(
    conn: AsyncConnection, model: type[DocumentRow] | type[StateRow] | type[FreezeRow]
) -> postgresql.Insert | sqlite.Insert:
    """An INSERT with the connection's ON CONFLICT clauses."""
    if conn.dialect.name == "postgresql":
        return postgresql.insert(model)
    return sqlite.insert(model)


def lock_key(doc_id: str, purpose: bytes) -> int:
    """A PostgreSQL advisory lock key for `doc_id`, distinct per `purpose` (16 bytes at most)."""
    digest = hashlib.blake2b(doc_id.encode(), digest_size=8, person=purpose).digest()
    return int.from_bytes(digest, "big", signed=True)


async def hold_advisory_lock(conn: AsyncConnection, key: int) -> None:
    """Take a PostgreSQL transaction advisory lock (a no-op on SQLite, which has one writer)."""
    if conn.dialect.name == "postgresql":
        await conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": key})
