"""A consistent copy of a live SQLite database, through SQLite's online backup API.

The copy is taken in one backup step: a single read transaction, so it is the database as
one commit left it. In WAL mode a reader never blocks writers, so the server keeps
committing while the copy runs (its checkpoints wait for the copy to finish). The copy is
then turned into a standalone file (rollback journal, no ``-wal``) and checked.
"""

from __future__ import annotations

import sqlite3
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path

from storage.base import StorageUnavailable
from storage.engine import (
    MIGRATIONS,
    PRIVATE_FILE_MODE,
    SQLITE_BUSY_TIMEOUT_MS,
    _make_private,
)


@dataclass(frozen=True, slots=True, kw_only=True)
class DatabaseSummary:
    """What a database copy holds, for the backup's manifest and messages."""

    schema_revision: str | None
    """The Alembic revision the schema is at; ``None`` when it was never migrated."""
    documents: int
    snapshots: int
    update_rows: int


def copy_sqlite(source: Path, target: Path) -> DatabaseSummary:
    """Copy the database `source` (in use or not) to the new file `target`, and check it.

    Raises:
        StorageUnavailable: `source` cannot be read (missing, locked past the busy
            timeout, not a database) or the copy fails its integrity check.
        FileExistsError: `target` exists.
    """
    if not source.is_file():
        raise StorageUnavailable(f"no database at {source}")
    target.touch(mode=PRIVATE_FILE_MODE, exist_ok=False)
    try:
        with _open(f"file:{source}?mode=ro", uri=True) as reader, _open(str(target)) as copy:
            # pages=-1: the whole database in one step, under one read transaction.
            # Stepwise copies restart whenever the server commits, and might never end.
            reader.backup(copy, pages=-1)
            copy.execute("PRAGMA journal_mode=DELETE")
        # Reading a WAL database with the server stopped makes its -wal and -shm files.
        _make_private(source)
        return check_sqlite(target)
    except sqlite3.Error as exc:
        target.unlink(missing_ok=True)
        raise StorageUnavailable(f"cannot copy {source}: {exc}") from exc
    except BaseException:
        target.unlink(missing_ok=True)
        raise


def check_sqlite(path: Path) -> DatabaseSummary:
    """Run SQLite's integrity check on `path` and count what it holds.

    Raises:
        StorageUnavailable: the file is not a sound palabre database.
    """
    try:
        with _open(f"file:{path}?mode=ro", uri=True) as db:
            problems = [row[0] for row in db.execute("PRAGMA integrity_check")]
            if problems != ["ok"]:
                raise StorageUnavailable(
                    f"{path} fails SQLite's integrity check: {'; '.join(problems[:3])}"
                )
            tables = {row[0] for row in db.execute("SELECT name FROM sqlite_master")}
            revision = (
                db.execute("SELECT version_num FROM alembic_version").fetchone()
                if "alembic_version" in tables else None
            )
            return DatabaseSummary(
                schema_revision=revision[0] if revision else None,
                documents=_count(db, tables, "documents"),
                snapshots=_count(db, tables, "snapshots"),
                update_rows=_count(db, tables, "updates"),
            )
    except sqlite3.Error as exc:
        raise StorageUnavailable(f"{path} is not a readable database: {exc}") from exc


def _open(database: str, *, uri: bool = False) -> closing[sqlite3.Connection]:
    # sqlite3's own context manager commits but never closes.
    return closing(sqlite3.connect(
        database, uri=uri, timeout=SQLITE_BUSY_TIMEOUT_MS / 1000, isolation_level=None
    ))


def _count(db: sqlite3.Connection, tables: set[str], table: str) -> int:
    if table not in tables:
        return 0
    row = db.execute(f"SELECT count(*) FROM {table}").fetchone()  # our table names
    return int(row[0])


def known_revisions() -> frozenset[str]:
    """The schema revisions this code knows (and can migrate from)."""
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS).replace("%", "%%"))
    scripts = ScriptDirectory.from_config(config)
    return frozenset(script.revision for script in scripts.walk_revisions())
