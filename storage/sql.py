"""The SQL document store (SQLite or PostgreSQL): group-commit appends, compaction."""

from __future__ import annotations

import dataclasses
import sqlite3
import time
from collections.abc import Mapping, Sequence, Set
from contextlib import closing
from pathlib import Path

import anyio
import anyio.lowlevel
from sqlalchemy import delete, func, insert, select, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

from crdt.document import merge
from crdt.errors import InvalidUpdate
from storage._archive_sql import SqlArchive
from storage._authorship import logged_authorship
from storage._batch_writer import BatchWriter, open_batch_writer
from storage._catalog_sql import SqlCatalog, compaction_lock_key
from storage._compaction_worker import MergeWorker
from storage._erasure_sql import SqlErasure
from storage._group_commit import GroupCommitStore
from storage._invitations_sql import SqlInvitations
from storage._pending import PendingAppend
from storage._people_sql import SqlPeople
from storage._sessions_sql import SqlSessions
from storage._signin_sql import SqlSigninSessions
from storage._sql_connections import (
    SqlConnections,
    dialect_insert,
    failures_as_unavailable,
    hold_advisory_lock,
)
from storage._votes_sql import SqlVotes
from storage.authorship import AuthorshipRange
from storage.base import LogEntry, StorageUnavailable, StoredDocument
from storage.engine import (
    SQLITE_BUSY_TIMEOUT_MS,
    create_engine,
    migrate,
    normalize_url,
    sqlite_file,
    write_engine,
)
from storage.models import AuthorshipRow, DocumentRow, LogRow, StateRow
from storage.port import Storage

_PROBE_TIMEOUT = 0.5
"""Seconds the readiness probe waits for SQLite's write lock."""
_DELETE_CHUNK = 500
_MERGE_CHUNK = 250


class SqlDocumentStore(
    GroupCommitStore, SqlCatalog, SqlArchive, SqlPeople, SqlSessions, SqlSigninSessions,
    SqlInvitations, SqlErasure, SqlVotes, Storage,
):
    """The whole `Storage` port on SQLAlchemy: SQLite (default) or PostgreSQL, same code.

    Built from one part per port, each a class of its own module over the shared engines
    (`SqlConnections`): `GroupCommitStore` (`DocumentStore`, with the backend operations
    below), `SqlCatalog` (`DocumentCatalog`, `WebhookRegistry`) and `SqlArchive`
    (`Archive`). They are base classes rather than objects the store holds because the
    port is one object: held parts would need every port method forwarded by hand.

    Appends from every task, for every document, are grouped by one writer task into one
    transaction (see `GroupCommitStore`). Compaction holds a per-document PostgreSQL
    advisory lock (SQLite has a single writer), so one node at a time compacts a document.
    ``log_rows`` counts are kept in memory: exact on one node, advisory across nodes
    (another node's appends show up at the next load or compaction). Enter and leave the
    store from the same task (its writer runs in a task group opened by ``__aenter__``).
    """

    def __init__(
        self,
        url: str,
        *,
        commit_window: float = 0.0,
        compact_threshold: int = 0,
        close_timeout: float = 10.0,
        busy_timeout: float = SQLITE_BUSY_TIMEOUT_MS / 1000,
    ) -> None:
        """Configure the store; nothing connects before ``async with``.

        `busy_timeout` (SQLite): how long a transaction waits for another process's lock
        before it fails (its appends are then refused: clients retry).

        Raises:
            ValueError: the URL is not a SQLite or PostgreSQL URL, or a number is negative.
        """
        GroupCommitStore.__init__(
            self,
            commit_window=commit_window,
            compact_threshold=compact_threshold,
            close_timeout=close_timeout,
        )
        SqlConnections.__init__(self)
        self.url = normalize_url(url)
        if busy_timeout <= 0:
            raise ValueError("busy_timeout must be positive")
        self._busy_timeout_ms = round(busy_timeout * 1000)
        self._batch_writer: BatchWriter | None = None
        self._merge_worker = MergeWorker()

    async def check(self) -> None:
        """Run ``SELECT 1``; after a failed append, also see whether a write could start.

        On SQLite a reader is not held up by another process's write lock, so after an
        append failed the probe takes the write lock for a moment (waiting at most
        `_PROBE_TIMEOUT`) and releases it at once.

        Raises:
            StorageUnavailable: the database cannot be reached, its write lock cannot be
                had, or the store is not open.
        """
        with failures_as_unavailable("database unreachable"):
            async with self._reader().connect() as conn:
                await conn.execute(text("SELECT 1"))
        error, path = self.write_error, sqlite_file(self.url)
        if error is not None and path is not None:
            try:
                await anyio.to_thread.run_sync(_take_write_lock, path)
            except sqlite3.Error as exc:
                raise StorageUnavailable(f"writes failing: {exc} (last append: {error})") from exc

    async def _open(self) -> None:
        engine = create_engine(self.url, busy_timeout_ms=self._busy_timeout_ms)
        try:
            await migrate(engine)
        except BaseException:
            with anyio.CancelScope(shield=True):
                await engine.dispose()
            raise
        self._engine, self._writer = engine, write_engine(engine)
        try:
            self._batch_writer = await open_batch_writer(
                engine, busy_timeout_ms=self._busy_timeout_ms
            )
        except StorageUnavailable:
            self._engine = self._writer = None
            with anyio.CancelScope(shield=True):
                await engine.dispose()
            raise

    async def _close(self) -> None:
        await self._merge_worker.aclose()
        batch_writer, self._batch_writer = self._batch_writer, None
        if batch_writer is not None:
            with anyio.CancelScope(shield=True):
                await batch_writer.aclose()
        engine, self._engine, self._writer = self._engine, None, None
        if engine is not None:
            with anyio.CancelScope(shield=True):
                await engine.dispose()

    async def _load(self, doc_id: str) -> StoredDocument:
        async with self._reading(f"load {doc_id!r}") as conn, conn.begin():
            # The log is read before the state: compaction only moves rows from the log
            # into the state, so under READ COMMITTED (PostgreSQL) a compaction committed
            # between the two reads shows in the state instead of being lost.
            log = await conn.execute(
                select(LogRow.update).where(LogRow.doc_id == doc_id).order_by(LogRow.seq)
            )
            updates = list(log.scalars())
            state = await conn.scalar(select(StateRow.state).where(StateRow.doc_id == doc_id))
            exists = bool(updates) or state is not None or await _has_document(conn, doc_id)
        try:
            # In chunks with a checkpoint between them: one merge call of a long log holds
            # the event loop (half a second for 10,000 rows).
            parts = [state] if state is not None else []
            for start in range(0, len(updates), _MERGE_CHUNK):
                parts.append(merge(updates[start : start + _MERGE_CHUNK]))
                await anyio.lowlevel.checkpoint()
            update = merge(parts)
        except InvalidUpdate as exc:
            raise StorageUnavailable(f"stored {doc_id!r} does not decode: {exc}") from exc
        return StoredDocument(
            doc_id=doc_id, update=update, log_rows=len(updates), is_new=not exists
        )

    async def authorship(self, doc_id: str) -> Sequence[AuthorshipRange]:
        """The stored ranges of `doc_id` plus those of its log rows (derived off the loop).

        Raises:
            StorageUnavailable: the database failed, or the stored log does not decode.
        """
        async with self._reading(f"authorship {doc_id!r}") as conn, conn.begin():
            # Log first, as in `_load`: a compaction committed in between shows in the
            # state and the ranges (the log rows then add nothing new).
            log = (
                await conn.execute(
                    select(LogRow.update, LogRow.received_at, LogRow.connection_id,
                           LogRow.principal)
                    .where(LogRow.doc_id == doc_id)
                    .order_by(LogRow.seq)
                )
            ).all()
            state = await conn.scalar(select(StateRow.state).where(StateRow.doc_id == doc_id))
            stored = (
                await conn.execute(
                    select(AuthorshipRow.client_id, AuthorshipRow.clock_start,
                           AuthorshipRow.clock_end, AuthorshipRow.principal,
                           AuthorshipRow.connection_id, AuthorshipRow.first_at,
                           AuthorshipRow.last_at)
                    .where(AuthorshipRow.doc_id == doc_id)
                    .order_by(AuthorshipRow.id)
                )
            ).all()
        ranges = [AuthorshipRange(**row._asdict()) for row in stored]
        entries = [
            LogEntry(update=row.update, received_at=row.received_at,
                     connection_id=row.connection_id, principal=row.principal)
            for row in log
        ]
        return ranges + await logged_authorship(doc_id, state, entries)

    async def _write(
        self, batch: Sequence[PendingAppend], uncounted: Set[str]
    ) -> Mapping[str, int]:
        now = time.time()
        if not uncounted and self._batch_writer is not None:
            # The hot path: the documents' row counts are known, so no COUNT is needed.
            await self._batch_writer.write(
                [(doc_id, now, now) for doc_id in sorted({p.doc_id for p in batch})],
                [
                    (p.doc_id, e.update, e.received_at, e.connection_id, e.principal)
                    for p in batch
                    for e in p.entries
                ],
            )
            return {}
        documents = [
            {"doc_id": doc_id, "created_at": now, "updated_at": now}
            # sorted: concurrent transactions lock the document rows in one order
            for doc_id in sorted({p.doc_id for p in batch})
        ]
        rows = [
            {
                "doc_id": pending.doc_id,
                "update": entry.update,
                "received_at": entry.received_at,
                "connection_id": entry.connection_id,
                "principal": entry.principal,
            }
            for pending in batch
            for entry in pending.entries
        ]
        with failures_as_unavailable("append transaction failed"):
            async with self._writer_engine().begin() as conn:
                await conn.execute(_upsert_documents(conn), documents)
                if rows:
                    await conn.execute(insert(LogRow), rows)
                if not uncounted:
                    return {}
                counts = await conn.execute(
                    select(LogRow.doc_id, func.count())
                    .where(LogRow.doc_id.in_(uncounted))
                    .group_by(LogRow.doc_id)
                )
                counted = {doc_id: 0 for doc_id in uncounted}
                counted.update({doc_id: count for doc_id, count in counts})
                return counted

    async def _compact(self, doc_id: str) -> int | None:
        """Read the log, merge it off the event loop, then write in one short transaction.

        Merging and deriving authorship take seconds for a long log: done inside the write
        transaction (or on the event loop) they stalled every append and every relay of
        the server. Nothing is locked while they run; the write transaction then checks
        that no other compaction (another node) moved the state meanwhile, or gives up.
        """
        async with self._reading(f"compact {doc_id!r}") as conn, conn.begin():
            rows = (
                await conn.execute(
                    select(
                        LogRow.seq,
                        LogRow.update,
                        LogRow.received_at,
                        LogRow.connection_id,
                        LogRow.principal,
                    )
                    .where(LogRow.doc_id == doc_id)
                    .order_by(LogRow.seq)
                )
            ).all()
            previous = (
                await conn.execute(
                    select(StateRow.state, StateRow.through_seq).where(StateRow.doc_id == doc_id)
                )
            ).first()
        if not rows:
            return None
        base = previous.state if previous is not None else None
        base_seq = previous.through_seq if previous is not None else None
        fields = [(row.update, row.received_at, row.connection_id, row.principal) for row in rows]
        state, ranges = await self._merge_worker.merge_log(doc_id, base, fields)
        async with self._writing(f"compact {doc_id!r}") as conn:
            await hold_advisory_lock(conn, compaction_lock_key(doc_id))
            current = await conn.scalar(
                select(StateRow.through_seq).where(StateRow.doc_id == doc_id)
            )
            if current != base_seq:
                return None  # Another compaction got there first: its state stands.
            last_seq = max(rows[-1].seq, base_seq or 0)
            await _write_state(conn, doc_id, last_seq, state, ranges)
            # Deleted by seq, not by range: on PostgreSQL a row with a lower seq may commit
            # after the read above; it stays in the log (`load` merges it).
            seqs = [row.seq for row in rows]
            for start in range(0, len(seqs), _DELETE_CHUNK):
                chunk = seqs[start : start + _DELETE_CHUNK]
                await conn.execute(delete(LogRow).where(LogRow.seq.in_(chunk)))
            left = await conn.scalar(
                select(func.count()).select_from(LogRow).where(LogRow.doc_id == doc_id)
            )
            return left or 0


def _take_write_lock(path: Path) -> None:
    with closing(sqlite3.connect(path, timeout=_PROBE_TIMEOUT, isolation_level=None)) as conn:
        conn.execute("BEGIN IMMEDIATE")
        conn.execute("ROLLBACK")


async def _write_state(
    conn: AsyncConnection,
    doc_id: str,
    last_seq: int,
    state: bytes,
    ranges: Sequence[AuthorshipRange],
) -> None:
    values = {
        "doc_id": doc_id,
        "state": state,
        "through_seq": last_seq,
        "compacted_at": time.time(),
    }
    upsert = dialect_insert(conn, StateRow)
    await conn.execute(
        upsert.on_conflict_do_update(
            index_elements=[StateRow.doc_id],
            set_={
                "state": upsert.excluded.state,
                "through_seq": upsert.excluded.through_seq,
                "compacted_at": upsert.excluded.compacted_at,
            },
        ),
        values,
    )
    if ranges:
        await conn.execute(
            insert(AuthorshipRow),
            [dataclasses.asdict(r) | {"doc_id": doc_id} for r in ranges],
        )


def _upsert_documents(conn: AsyncConnection) -> postgresql.Insert | sqlite.Insert:
    upsert = dialect_insert(conn, DocumentRow)
    return upsert.on_conflict_do_update(
        index_elements=[DocumentRow.doc_id], set_={"updated_at": upsert.excluded.updated_at}
    )


async def _has_document(conn: AsyncConnection, doc_id: str) -> bool:
    found = await conn.scalar(select(DocumentRow.doc_id).where(DocumentRow.doc_id == doc_id))
    return found is not None
