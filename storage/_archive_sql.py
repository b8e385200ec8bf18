"""`Archive` on SQLAlchemy Core, mixed into `SqlDocumentStore`."""

from __future__ import annotations

import hashlib
import json
import time
import uuid
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import Row, insert, select, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from storage._catalog_sql import DB_ERRORS
from storage.archive import (
    AuditEntry,
    ChainReport,
    FreezeState,
    Snapshot,
    SnapshotNotFound,
    chain_hash,
    check_chain,
    content_hash,
)
from storage.base import StorageUnavailable
from storage.catalog import check_page
from storage.models import AuditRow, FreezeRow, SnapshotRow

_SNAPSHOT_COLUMNS = tuple(SnapshotRow.__table__.columns)
_FreezeFields = Row[bool, float | None, str | None, bool]


class SqlArchive(ABC):
    """Snapshots, freeze states and the audit log: one short transaction per call.

    Snapshot rows are inserted and never updated: there is no update path here.
    """

    @abstractmethod
    def _reader(self) -> AsyncEngine:
        """The engine for reads; raises StorageUnavailable when the store is closed."""

    @abstractmethod
    def _writer_engine(self) -> AsyncEngine:
        """The engine for writes; raises StorageUnavailable when the store is closed."""

    async def add_snapshot(
        self,
        *,
        doc_id: str,
        stage: str,
        label: str,
        created_by: str | None,
        created_by_name: str | None,
        state: bytes,
        markdown: str,
        html: str,
        annotations_state: bytes,
        adopted: bool = False,
    ) -> Snapshot:
        """See `Archive.add_snapshot`.

        Raises:
            StorageUnavailable: the database failed; nothing is stored.
        """
        created_at = time.time()
        content = content_hash(
            state=state, markdown=markdown, html=html, annotations_state=annotations_state,
            stage=stage, label=label, created_at=created_at, created_by=created_by,
            adopted=adopted,
        )
        try:
            async with self._writer_engine().begin() as conn:
                if conn.dialect.name == "postgresql":
                    key = archive_lock_key(doc_id)
                    await conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": key})
                last = (
                    await conn.execute(
                        select(SnapshotRow.number, SnapshotRow.chain_hash)
                        .where(SnapshotRow.doc_id == doc_id)
                        .order_by(SnapshotRow.number.desc())
                        .limit(1)
                    )
                ).first()
                previous = last.chain_hash if last is not None else None
                snapshot = Snapshot(
                    snapshot_id=uuid.uuid4().hex, doc_id=doc_id,
                    number=last.number + 1 if last is not None else 1, stage=stage,
                    label=label, created_at=created_at, created_by=created_by,
                    created_by_name=created_by_name, state=state, markdown=markdown,
                    html=html, annotations_state=annotations_state, content_hash=content,
                    previous_hash=previous, chain_hash=chain_hash(previous, content),
                    adopted=adopted,
                )
                await conn.execute(insert(SnapshotRow), _snapshot_values(snapshot))
        except DB_ERRORS as exc:
            raise StorageUnavailable(f"cannot archive a snapshot of {doc_id!r}: {exc}") from exc
        return snapshot

    async def list_snapshots(self, doc_id: str) -> Sequence[Snapshot]:
        """See `Archive.list_snapshots`.

        Raises:
            StorageUnavailable: the database failed.
        """
        query = (
            select(*_SNAPSHOT_COLUMNS)
            .where(SnapshotRow.doc_id == doc_id)
            .order_by(SnapshotRow.number)
        )
        try:
            async with self._reader().connect() as conn:
                rows = (await conn.execute(query)).all()
        except DB_ERRORS as exc:
            raise StorageUnavailable(f"cannot list snapshots of {doc_id!r}: {exc}") from exc
        return [_snapshot(row) for row in rows]

    async def get_snapshot(self, doc_id: str, snapshot_id: str) -> Snapshot:
        """See `Archive.get_snapshot`.

        Raises:
            SnapshotNotFound: the document has no snapshot with this id.
            StorageUnavailable: the database failed.
        """
        query = select(*_SNAPSHOT_COLUMNS).where(
            SnapshotRow.doc_id == doc_id, SnapshotRow.snapshot_id == snapshot_id
        )
        try:
            async with self._reader().connect() as conn:
                row = (await conn.execute(query)).first()
        except DB_ERRORS as exc:
            raise StorageUnavailable(f"cannot read snapshot {snapshot_id!r}: {exc}") from exc
        if row is None:
            raise SnapshotNotFound(f"document {doc_id!r} has no snapshot {snapshot_id!r}")
        return _snapshot(row)

    async def verify_chain(self, doc_id: str) -> ChainReport:
        """See `Archive.verify_chain`.

        Raises:
            StorageUnavailable: the database failed.
        """
        return check_chain(doc_id, await self.list_snapshots(doc_id))

    async def get_freeze(self, doc_id: str) -> FreezeState:
        """See `Archive.get_freeze`.

        Raises:
            StorageUnavailable: the database failed.
        """
        try:
            async with self._reader().connect() as conn:
                row = await _freeze_row(conn, doc_id)
        except DB_ERRORS as exc:
            raise StorageUnavailable(f"cannot read the freeze of {doc_id!r}: {exc}") from exc
        return _freeze(doc_id, row)

    async def set_freeze(
        self, doc_id: str, *, frozen: bool, by: str | None, comments_open: bool
    ) -> FreezeState:
        """See `Archive.set_freeze`.

        Raises:
            StorageUnavailable: the database failed.
        """
        now = time.time()
        values: dict[str, Any] = {
            "doc_id": doc_id, "frozen": frozen, "frozen_at": now if frozen else None,
            "frozen_by": by if frozen else None, "comments_open": comments_open,
            "updated_at": now,
        }
        try:
            async with self._writer_engine().begin() as conn:
                upsert = _dialect_insert(conn)
                await conn.execute(
                    upsert.on_conflict_do_update(
                        index_elements=[FreezeRow.doc_id],
                        set_={key: value for key, value in values.items() if key != "doc_id"},
                    ),
                    values,
                )
                row = await _freeze_row(conn, doc_id)
        except DB_ERRORS as exc:
            raise StorageUnavailable(f"cannot set the freeze of {doc_id!r}: {exc}") from exc
        return _freeze(doc_id, row)

    async def record_audit(
        self,
        *,
        doc_id: str | None,
        action: str,
        actor_sub: str | None,
        actor_name: str | None,
        detail: Mapping[str, object],
    ) -> AuditEntry:
        """See `Archive.record_audit`.

        Raises:
            StorageUnavailable: the database failed.
            TypeError: `detail` is not JSON-serialisable.
        """
        encoded = json.dumps(dict(detail), ensure_ascii=False, sort_keys=True)
        at = time.time()
        try:
            async with self._writer_engine().begin() as conn:
                inserted = await conn.execute(
                    insert(AuditRow).returning(AuditRow.entry_id),
                    {"doc_id": doc_id, "action": action, "actor_sub": actor_sub,
                     "actor_name": actor_name, "at": at, "detail": encoded},
                )
                entry_id = inserted.scalar_one()
        except DB_ERRORS as exc:
            raise StorageUnavailable(f"cannot record {action!r}: {exc}") from exc
        return AuditEntry(entry_id=entry_id, doc_id=doc_id, action=action, actor_sub=actor_sub,
                          actor_name=actor_name, at=at, detail=json.loads(encoded))

    async def list_audit(
        self, doc_id: str, *, limit: int = 100, before: int | None = None
    ) -> Sequence[AuditEntry]:
        """See `Archive.list_audit`.

        Raises:
            StorageUnavailable: the database failed.
            ValueError: `limit` is below 1.
        """
        check_page(limit)
        query = (
            select(AuditRow.entry_id, AuditRow.doc_id, AuditRow.action, AuditRow.actor_sub,
                   AuditRow.actor_name, AuditRow.at, AuditRow.detail)
            .where(AuditRow.doc_id == doc_id)
            .order_by(AuditRow.entry_id.desc())
            .limit(limit)
        )
        if before is not None:
            query = query.where(AuditRow.entry_id < before)
        try:
            async with self._reader().connect() as conn:
                rows = (await conn.execute(query)).all()
        except DB_ERRORS as exc:
            raise StorageUnavailable(f"cannot list the audit of {doc_id!r}: {exc}") from exc
        return [
            AuditEntry(entry_id=r.entry_id, doc_id=r.doc_id, action=r.action,
                       actor_sub=r.actor_sub, actor_name=r.actor_name, at=r.at,
                       detail=json.loads(r.detail))
            for r in rows
        ]


def archive_lock_key(doc_id: str) -> int:
    """The PostgreSQL advisory lock key held while a snapshot of `doc_id` is archived."""
    digest = hashlib.blake2b(doc_id.encode(), digest_size=8, person=b"palabre-archive").digest()
    return int.from_bytes(digest, "big", signed=True)


def _dialect_insert(conn: AsyncConnection) -> postgresql.Insert | sqlite.Insert:
    if conn.dialect.name == "postgresql":
        return postgresql.insert(FreezeRow)
    return sqlite.insert(FreezeRow)


async def _freeze_row(conn: AsyncConnection, doc_id: str) -> _FreezeFields | None:
    query = select(FreezeRow.frozen, FreezeRow.frozen_at, FreezeRow.frozen_by,
                   FreezeRow.comments_open).where(FreezeRow.doc_id == doc_id)
    return (await conn.execute(query)).first()


def _freeze(doc_id: str, row: _FreezeFields | None) -> FreezeState:
    if row is None:
        return FreezeState(doc_id=doc_id, frozen=False, frozen_at=None, frozen_by=None,
                           comments_open=False)
    return FreezeState(doc_id=doc_id, frozen=bool(row.frozen), frozen_at=row.frozen_at,
                       frozen_by=row.frozen_by, comments_open=bool(row.comments_open))


def _snapshot_values(snapshot: Snapshot) -> dict[str, Any]:
    return {column.name: getattr(snapshot, column.name) for column in _SNAPSHOT_COLUMNS}


def _snapshot(row: Row[Any]) -> Snapshot:
    values = row._mapping
    return Snapshot(**{
        column.name: values[column.name] for column in _SNAPSHOT_COLUMNS
    } | {"adopted": bool(values["adopted"]), "state": bytes(values["state"]),
         "annotations_state": bytes(values["annotations_state"])})
