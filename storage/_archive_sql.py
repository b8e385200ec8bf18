"""`Archive` on SQLAlchemy Core: a part of `SqlDocumentStore`."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Row, insert, or_, select
from sqlalchemy.ext.asyncio import AsyncConnection

from storage._archive_rules import ArchiveRules, SnapshotMaker
from storage._sql_connections import SqlConnections, dialect_insert, hold_advisory_lock, lock_key
from storage.archive import AuditEntry, FreezeState, Snapshot, SnapshotNotFound, detail_names
from storage.models import AuditRow, FreezeRow, SnapshotRow

_SNAPSHOT_COLUMNS = tuple(SnapshotRow.__table__.columns)
_FreezeFields = Row[bool, float | None, str | None, bool]
_AUDIT_COLUMNS = (AuditRow.entry_id, AuditRow.doc_id, AuditRow.action, AuditRow.actor_sub,
                  AuditRow.actor_name, AuditRow.at, AuditRow.detail)


class SqlArchive(SqlConnections, ArchiveRules):
    """Snapshots, freeze states and the audit log: one short transaction per call.

    Snapshot rows are inserted and never updated: there is no update path here.
    """

    async def _append_snapshot(self, doc_id: str, make: SnapshotMaker) -> Snapshot:
        async with self._writing(f"archive a snapshot of {doc_id!r}") as conn:
            await hold_advisory_lock(conn, archive_lock_key(doc_id))
            last = (
                await conn.execute(
                    select(SnapshotRow.number, SnapshotRow.chain_hash)
                    .where(SnapshotRow.doc_id == doc_id)
                    .order_by(SnapshotRow.number.desc())
                    .limit(1)
                )
            ).first()
            if last is None:
                snapshot = make(1, None)
            else:
                snapshot = make(last.number + 1, last.chain_hash)
            await conn.execute(insert(SnapshotRow), _snapshot_values(snapshot))
        return snapshot

    async def list_snapshots(self, doc_id: str) -> Sequence[Snapshot]:
        query = (
            select(*_SNAPSHOT_COLUMNS)
            .where(SnapshotRow.doc_id == doc_id)
            .order_by(SnapshotRow.number)
        )
        async with self._reading(f"list snapshots of {doc_id!r}") as conn:
            rows = (await conn.execute(query)).all()
        return [_snapshot(row) for row in rows]

    async def get_snapshot(self, doc_id: str, snapshot_id: str) -> Snapshot:
        query = select(*_SNAPSHOT_COLUMNS).where(
            SnapshotRow.doc_id == doc_id, SnapshotRow.snapshot_id == snapshot_id
        )
        async with self._reading(f"read snapshot {snapshot_id!r}") as conn:
            row = (await conn.execute(query)).first()
        if row is None:
            raise SnapshotNotFound(f"document {doc_id!r} has no snapshot {snapshot_id!r}")
        return _snapshot(row)

    async def _find_freeze(self, doc_id: str) -> FreezeState | None:
        async with self._reading(f"read the freeze of {doc_id!r}") as conn:
            row = await _freeze_row(conn, doc_id)
        return _freeze(doc_id, row)

    async def _store_freeze(self, state: FreezeState, now: float) -> FreezeState:
        values: dict[str, Any] = {
            "doc_id": state.doc_id, "frozen": state.frozen, "frozen_at": state.frozen_at,
            "frozen_by": state.frozen_by, "comments_open": state.comments_open,
            "updated_at": now,
        }
        async with self._writing(f"set the freeze of {state.doc_id!r}") as conn:
            upsert = dialect_insert(conn, FreezeRow)
            await conn.execute(
                upsert.on_conflict_do_update(
                    index_elements=[FreezeRow.doc_id],
                    set_={key: value for key, value in values.items() if key != "doc_id"},
                ),
                values,
            )
            row = await _freeze_row(conn, state.doc_id)
        stored = _freeze(state.doc_id, row)
        assert stored is not None  # written in this transaction
        return stored

    async def _append_audit(self, entry: AuditEntry, detail: str) -> AuditEntry:
        async with self._writing(f"record {entry.action!r}") as conn:
            inserted = await conn.execute(
                insert(AuditRow).returning(AuditRow.entry_id),
                {"doc_id": entry.doc_id, "action": entry.action, "actor_sub": entry.actor_sub,
                 "actor_name": entry.actor_name, "at": entry.at, "detail": detail},
            )
            entry_id = inserted.scalar_one()
        return dataclasses.replace(entry, entry_id=entry_id)

    async def _audit_page(
        self, doc_id: str, limit: int, before: int | None
    ) -> Sequence[AuditEntry]:
        query = (
            select(*_AUDIT_COLUMNS)
            .where(AuditRow.doc_id == doc_id)
            .order_by(AuditRow.entry_id.desc())
            .limit(limit)
        )
        if before is not None:
            query = query.where(AuditRow.entry_id < before)
        async with self._reading(f"list the audit of {doc_id!r}") as conn:
            rows = (await conn.execute(query)).all()
        return [AuditEntry(**row._asdict() | {"detail": json.loads(row.detail)}) for row in rows]

    async def audit_about(self, sub: str, *, limit: int) -> Sequence[AuditEntry]:
        pattern = "%" + _like_escaped(detail_names(sub)) + "%"
        query = (
            select(*_AUDIT_COLUMNS)
            .where(or_(AuditRow.actor_sub == sub, AuditRow.detail.like(pattern, escape="\\")))
            .order_by(AuditRow.entry_id.desc())
            .limit(limit)
        )
        async with self._reading(f"list the audit about {sub!r}") as conn:
            rows = (await conn.execute(query)).all()
        return [AuditEntry(**row._asdict() | {"detail": json.loads(row.detail)}) for row in rows]


def _like_escaped(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def archive_lock_key(doc_id: str) -> int:
    """The PostgreSQL advisory lock key held while a snapshot of `doc_id` is archived."""
    return lock_key(doc_id, b"palabre-archive")


async def _freeze_row(conn: AsyncConnection, doc_id: str) -> _FreezeFields | None:
    query = select(FreezeRow.frozen, FreezeRow.frozen_at, FreezeRow.frozen_by,
                   FreezeRow.comments_open).where(FreezeRow.doc_id == doc_id)
    return (await conn.execute(query)).first()


def _freeze(doc_id: str, row: _FreezeFields | None) -> FreezeState | None:
    if row is None:
        return None
    return FreezeState(doc_id=doc_id, frozen=bool(row.frozen), frozen_at=row.frozen_at,
                       frozen_by=row.frozen_by, comments_open=bool(row.comments_open))


def _snapshot_values(snapshot: Snapshot) -> dict[str, Any]:
    return {column.name: getattr(snapshot, column.name) for column in _SNAPSHOT_COLUMNS}


def snapshot_from_row(row: Row[Any]) -> Snapshot:
    """A snapshot read with every column of the table."""
    return _snapshot(row)


def _snapshot(row: Row[Any]) -> Snapshot:
    values = row._mapping
    return Snapshot(**{
        column.name: values[column.name] for column in _SNAPSHOT_COLUMNS
    } | {"adopted": bool(values["adopted"]), "state": bytes(values["state"]),
         "annotations_state": bytes(values["annotations_state"])})
