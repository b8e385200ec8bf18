"""Engine construction and migrations: SQLite (aiosqlite, WAL) or PostgreSQL (asyncpg).

Nothing here runs at import time; `create_engine` builds an engine and `migrate` brings
its schema to the latest Alembic revision.
"""

from __future__ import annotations

import logging
import os
import sqlite3
import stat
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from storage.base import StorageUnavailable

log = logging.getLogger("palabre.storage")

PRIVATE_FILE_MODE = 0o600
"""Mode of the SQLite database and its ``-wal`` and ``-shm`` files: the owner's only."""

SQLITE_BUSY_TIMEOUT_MS = 30_000
"""How long a SQLite connection waits for another writer's lock before failing."""

DEFAULT_APPLICATION_NAME = "palabre"
"""How palabre's PostgreSQL connections show in ``pg_stat_activity`` unless the URL says."""

MIGRATION_LOCK_KEY = 0x7061_6C61_6272_6501
"""PostgreSQL advisory lock key held while migrating ("palabre" + 1)."""

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
_IMMEDIATE = "palabre_sqlite_immediate"
_DRIVERS = {
    "sqlite": "sqlite+aiosqlite",
    "postgresql": "postgresql+asyncpg",
    "postgres": "postgresql+asyncpg",
}


def database_url_for(data_dir: Path) -> str:
    """Return the default database URL: ``palabre.db`` (SQLite) in the data folder."""
    return f"sqlite+aiosqlite:///{data_dir / 'palabre.db'}"


def normalize_url(url: str) -> str:
    """Rewrite a database URL to its async driver.

    ``sqlite:///…`` becomes ``sqlite+aiosqlite:///…``; ``postgresql://…`` and
    ``postgres://…`` become ``postgresql+asyncpg://…`` (a libpq ``sslmode`` query
    parameter becomes asyncpg's ``ssl``).

    Raises:
        ValueError: the URL does not parse or names another database.
    """
    try:
        parsed = make_url(url)
    except ArgumentError as exc:
        raise ValueError(f"not a database URL: {exc}") from exc
    backend = parsed.drivername.partition("+")[0]
    driver = _DRIVERS.get(backend)
    if driver is None:
        raise ValueError(f"unsupported database {backend!r}: use sqlite or postgresql")
    parsed = parsed.set(drivername=driver)
    if driver == "postgresql+asyncpg" and "sslmode" in parsed.query:
        sslmode = parsed.query["sslmode"]
        parsed = parsed.difference_update_query(["sslmode"]).update_query_dict(
            {"ssl": sslmode if isinstance(sslmode, str) else sslmode[0]}
        )
    return parsed.render_as_string(hide_password=False)


def create_engine(url: str, *, busy_timeout_ms: int = SQLITE_BUSY_TIMEOUT_MS) -> AsyncEngine:
    """Build the AsyncEngine for a database URL (see `normalize_url`).

    SQLite runs in WAL mode with ``synchronous=NORMAL``: a committed transaction survives
    the process being killed (SIGKILL), and only an OS crash or power loss can lose the
    last commits (the database itself stays consistent). Its file, WAL and shared-memory
    files are the owner's only (`PRIVATE_FILE_MODE`): the file is made so before SQLite
    first opens it (SQLite gives the WAL and SHM files the database's mode), and a more
    open mode found on an existing file is narrowed on every connection. Connections
    wait up to `busy_timeout_ms` for another writer and enforce foreign keys. PostgreSQL gets
    a pre-pinged pool of 10 (+10 overflow) connections, named in ``pg_stat_activity`` by the
    URL's ``application_name`` (libpq's parameter; default `DEFAULT_APPLICATION_NAME`).

    Raises:
        ValueError: the URL is not a supported database URL.
    """
    parsed = make_url(normalize_url(url))
    if parsed.get_backend_name() == "sqlite":
        path = _sqlite_path(parsed.database)
        if path is not None:
            _make_private(path, create=True)
        engine = create_async_engine(parsed, connect_args={"timeout": busy_timeout_ms / 1000})
        event.listen(
            engine.sync_engine, "connect",
            partial(_configure_sqlite, path=path, busy_timeout_ms=busy_timeout_ms),
        )
        event.listen(engine.sync_engine, "begin", _begin_sqlite)
        return engine
    name = parsed.query.get("application_name", DEFAULT_APPLICATION_NAME)
    return create_async_engine(
        parsed.difference_update_query(["application_name"]),
        pool_size=10,
        max_overflow=10,
        pool_timeout=10,
        pool_recycle=1800,
        pool_pre_ping=True,
        connect_args={
            "timeout": 10, "command_timeout": 60,
            "server_settings": {"application_name": name if isinstance(name, str) else name[0]},
        },
    )


def write_engine(engine: AsyncEngine) -> AsyncEngine:
    """The same engine (and pool) for transactions that write.

    On SQLite these start with ``BEGIN IMMEDIATE``: the write lock is taken first, so a
    transaction that reads then writes cannot fail on a snapshot another writer outdated.
    """
    return engine.execution_options(**{_IMMEDIATE: True})


async def migrate(engine: AsyncEngine) -> None:
    """Bring the schema to the latest revision; a no-op when it is already there.

    Safe when several processes start at once: PostgreSQL serialises them on an advisory
    lock held for the migration transaction, SQLite on its write lock.

    Raises:
        StorageUnavailable: the database cannot be reached or the migration failed.
    """
    try:
        async with write_engine(engine).begin() as conn:
            if conn.dialect.name == "postgresql":
                await conn.execute(
                    text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK_KEY}
                )
            await conn.run_sync(_upgrade)
    except (SQLAlchemyError, OSError) as exc:
        raise StorageUnavailable(f"cannot migrate the database: {exc}") from exc


def _upgrade(connection: Connection) -> None:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS).replace("%", "%%"))
    config.attributes["connection"] = connection
    current = MigrationContext.configure(connection).get_current_revision()
    scripts = ScriptDirectory.from_config(config)
    if current is not None and current not in {s.revision for s in scripts.walk_revisions()}:
        # A newer release migrated this database while this node was still on the older
        # one (a rolling upgrade, or a node restarted midway). Migrations only expand the
        # schema (docs/operations.md), so this code still works on it.
        log.warning(
            "the database is at schema revision %s, newer than this palabre knows (up to "
            "%s): running on it without migrating; upgrade this node", current,
            scripts.get_current_head(),
        )
        return
    command.upgrade(config, "head")


def sqlite_file(url: str) -> Path | None:
    """The file of a SQLite database URL; ``None`` for another engine or an in-memory one.

    Raises:
        ValueError: not a database URL palabre supports.
    """
    parsed = make_url(normalize_url(url))
    if parsed.get_backend_name() != "sqlite":
        return None
    return _sqlite_path(parsed.database)


def _sqlite_path(database: str | None) -> Path | None:
    """The file of a SQLite database, or ``None`` for an in-memory one."""
    if not database or database == ":memory:" or database.startswith("file:"):
        return None
    return Path(database)


def _make_private(path: Path, *, create: bool = False) -> None:
    """Give the database file and its WAL and SHM files `PRIVATE_FILE_MODE`.

    With `create`, a missing database file is made empty with that mode first (SQLite
    takes an empty file for an empty database), so it is never readable by others.
    """
    if create and path.parent.is_dir():
        try:
            os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, PRIVATE_FILE_MODE))
        except FileExistsError:
            pass
    for file in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
        try:
            if stat.S_IMODE(file.stat().st_mode) & 0o077:
                file.chmod(PRIVATE_FILE_MODE)
        except FileNotFoundError:
            continue


def _configure_sqlite(
    dbapi_connection: Any, _record: Any, *, path: Path | None, busy_timeout_ms: int
) -> None:
    # SQLAlchemy emits BEGIN itself (`_begin_sqlite`): the driver's legacy transaction
    # control would leave SELECTs and DDL outside the transaction.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute(f"PRAGMA busy_timeout={busy_timeout_ms}")
        _while_locked(lambda: cursor.execute("PRAGMA journal_mode=WAL"))
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
    finally:
        cursor.close()
    if path is not None:
        _make_private(path)


def _while_locked(statement: Callable[[], object]) -> None:
    """Run `statement`, again while SQLite answers "database is locked", up to the busy timeout.

    Turning a new file to WAL takes an exclusive lock that SQLite refuses at once, without
    its busy handler, while another connection (another process starting at the same
    moment) holds one; that refusal is retried here. Runs once per new connection.
    """
    deadline = time.monotonic() + SQLITE_BUSY_TIMEOUT_MS / 1000
    delay = 0.005
    while True:
        try:
            statement()
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
        time.sleep(delay)  # rare and short: only two connections opening one new file
        delay = min(2 * delay, 0.2)


def _begin_sqlite(conn: Connection) -> None:
    immediate = conn.get_execution_options().get(_IMMEDIATE, False)
    conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")
