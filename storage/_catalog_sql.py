"""`DocumentCatalog` and `WebhookRegistry` on SQLAlchemy Core: a part of `SqlDocumentStore`."""

from __future__ import annotations

import dataclasses
import json
from abc import abstractmethod
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from sqlalchemy import ColumnElement, Row, delete, func, insert, or_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from storage._catalog_rules import CatalogRules
from storage._sql_connections import SqlConnections, dialect_insert, hold_advisory_lock, lock_key
from storage.base import ANNOTATIONS_SUFFIX, DocumentNotFound
from storage.catalog import DeliveryAttempt, DocumentExists, DocumentMeta, Webhook, WebhookNotFound
from storage.models import AuthorshipRow, DeliveryRow, DocumentRow, LogRow, StateRow, WebhookRow

_DOCUMENT_COLUMNS = (
    DocumentRow.doc_id,
    DocumentRow.kind,
    DocumentRow.title,
    DocumentRow.created_at,
    DocumentRow.updated_at,
    DocumentRow.created_by,
    DocumentRow.is_public,
    DocumentRow.deleted_at,
    DocumentRow.schema,
)
_IS_NOT_COMPANION = (
    # Not LIKE: SQLite's LIKE ignores case, and D.ANNOTATIONS is a document of its own.
    func.substr(DocumentRow.doc_id, func.length(DocumentRow.doc_id) - len(ANNOTATIONS_SUFFIX) + 1)
    != ANNOTATIONS_SUFFIX
)
_DocumentFields = Row[str, str, str, float, float, str | None, bool, float | None, str | None]
_WebhookFields = Row[str, str, str, str, str | None, float, str | None]
_WEBHOOK_COLUMNS = (
    WebhookRow.webhook_id,
    WebhookRow.url,
    WebhookRow.secret,
    WebhookRow.events,
    WebhookRow.doc_id,
    WebhookRow.created_at,
    WebhookRow.created_by,
)
_DELIVERY_COLUMNS = (
    DeliveryRow.webhook_id,
    DeliveryRow.event_id,
    DeliveryRow.event,
    DeliveryRow.attempt,
    DeliveryRow.at,
    DeliveryRow.status,
    DeliveryRow.error,
)


class SqlCatalog(SqlConnections, CatalogRules):
    """Document metadata and webhooks on the store's engines: one transaction per call.

    Writes run on the write engine (``BEGIN IMMEDIATE`` on SQLite); PostgreSQL row locks
    (``FOR UPDATE``) order them against appends, which update the same document rows.
    """

    @abstractmethod
    def _forget(self, doc_ids: Iterable[str]) -> None:
        """Drop what the store remembers of purged documents (log row counters)."""

    async def _insert_document(self, meta: DocumentMeta) -> DocumentMeta:
        values = _document_values(meta)
        async with self._writing(f"create {meta.doc_id!r}") as conn:
            # Inserted first, so two concurrent creations (or an append's upsert) meet
            # on the primary key instead of both finding no row.
            created = await conn.execute(
                dialect_insert(conn, DocumentRow)
                .values(values)
                .on_conflict_do_nothing(index_elements=[DocumentRow.doc_id])
            )
            if not created.rowcount:
                await _claim_implicit(conn, meta.doc_id, values)
            row = await _document_row(conn, meta.doc_id)
        assert row is not None  # written in this transaction
        return _document(row)

    async def _find_document(self, doc_id: str) -> DocumentMeta | None:
        async with self._reading(f"read {doc_id!r}") as conn:
            row = await _document_row(conn, doc_id)
        return None if row is None else _document(row)

    async def _document_page(
        self, limit: int, after: str | None, include_deleted: bool
    ) -> Sequence[DocumentMeta]:
        async with self._reading("list documents") as conn:
            # Byte order on every database (PostgreSQL's may follow a locale), so pages
            # come in the same order as on SQLite and in memory.
            doc_id: ColumnElement[str] = (
                DocumentRow.doc_id.collate("C")
                if conn.dialect.name == "postgresql"
                else DocumentRow.doc_id.expression
            )
            query = select(*_DOCUMENT_COLUMNS).where(_IS_NOT_COMPANION).order_by(doc_id)
            if after is not None:
                query = query.where(doc_id > after)
            if not include_deleted:
                query = query.where(DocumentRow.deleted_at.is_(None))
            rows = (await conn.execute(query.limit(limit))).all()
        return [_document(row) for row in rows]

    async def _change_live(
        self, doc_id: str, changes: Mapping[str, Any], verb: str
    ) -> DocumentMeta:
        async with self._writing(f"{verb} {doc_id!r}") as conn:
            changed = await conn.execute(
                update(DocumentRow)
                .where(DocumentRow.doc_id == doc_id, DocumentRow.deleted_at.is_(None))
                .values(dict(changes))
            )
            row = await _document_row(conn, doc_id) if changed.rowcount else None
        if row is None:
            raise DocumentNotFound(f"no live document {doc_id!r}")
        return _document(row)

    async def purge_document(self, doc_id: str) -> None:
        doc_ids = sorted({doc_id, doc_id + ANNOTATIONS_SUFFIX})
        async with self._writing(f"purge {doc_id!r}") as conn:
            # The compaction lock: a compaction cannot write a state row back after the
            # purge deleted it.
            for key in sorted(compaction_lock_key(d) for d in doc_ids):
                await hold_advisory_lock(conn, key)
            row = await _document_row(conn, doc_id, for_update=True)
            if row is None or row.deleted_at is None:
                raise DocumentNotFound(f"no deleted document {doc_id!r}")
            for model in (LogRow, StateRow, AuthorshipRow, DocumentRow):
                await conn.execute(delete(model).where(model.doc_id.in_(doc_ids)))
            webhooks = select(WebhookRow.webhook_id).where(WebhookRow.doc_id.in_(doc_ids))
            await conn.execute(delete(DeliveryRow).where(DeliveryRow.webhook_id.in_(webhooks)))
            await conn.execute(delete(WebhookRow).where(WebhookRow.doc_id.in_(doc_ids)))
        self._forget(doc_ids)

    async def _insert_webhook(self, webhook: Webhook) -> None:
        values = dataclasses.asdict(webhook) | {"events": json.dumps(list(webhook.events))}
        async with self._writing("add a webhook") as conn:
            await conn.execute(insert(WebhookRow), values)

    async def list_webhooks(self, *, doc_id: str | None = None) -> Sequence[Webhook]:
        query = select(*_WEBHOOK_COLUMNS).order_by(WebhookRow.created_at, WebhookRow.webhook_id)
        if doc_id is not None:
            query = query.where(or_(WebhookRow.doc_id == doc_id, WebhookRow.doc_id.is_(None)))
        async with self._reading("list webhooks") as conn:
            rows = (await conn.execute(query)).all()
        return [_webhook(row) for row in rows]

    async def set_webhook_secret(self, webhook_id: str, secret: str) -> None:
        async with self._writing(f"set the secret of webhook {webhook_id!r}") as conn:
            changed = await conn.execute(
                update(WebhookRow).where(WebhookRow.webhook_id == webhook_id)
                .values(secret=secret)
            )
            if not changed.rowcount:
                raise WebhookNotFound(f"no webhook {webhook_id!r}")

    async def remove_webhook(self, webhook_id: str) -> None:
        async with self._writing(f"remove webhook {webhook_id!r}") as conn:
            removed = await conn.execute(
                delete(WebhookRow).where(WebhookRow.webhook_id == webhook_id)
            )
            if not removed.rowcount:
                raise WebhookNotFound(f"no webhook {webhook_id!r}")
            await conn.execute(delete(DeliveryRow).where(DeliveryRow.webhook_id == webhook_id))

    async def record_attempt(self, attempt: DeliveryAttempt) -> None:
        async with self._writing("record a delivery attempt") as conn:
            await conn.execute(insert(DeliveryRow), dataclasses.asdict(attempt))

    async def _attempt_page(self, webhook_id: str, limit: int) -> Sequence[DeliveryAttempt]:
        query = (
            select(*_DELIVERY_COLUMNS)
            .where(DeliveryRow.webhook_id == webhook_id)
            .order_by(DeliveryRow.at.desc(), DeliveryRow.id.desc())
            .limit(limit)
        )
        async with self._reading(f"list attempts of {webhook_id!r}") as conn:
            rows = (await conn.execute(query)).all()
        return [DeliveryAttempt(**row._asdict()) for row in rows]


def compaction_lock_key(doc_id: str) -> int:
    """The PostgreSQL advisory lock key held while compacting or purging a document."""
    return lock_key(doc_id, b"palabre-compact")


async def _claim_implicit(conn: AsyncConnection, doc_id: str, values: dict[str, Any]) -> None:
    existing = await _document_row(conn, doc_id, for_update=True)
    if (
        existing is None  # purged since the insert met it: it did exist
        or existing.title
        or existing.deleted_at is not None
        or await _has_content(conn, doc_id)
    ):
        raise DocumentExists(f"document {doc_id!r} already exists")
    # A row an empty append made, with no title and no content: the id is free.
    claimed = {key: value for key, value in values.items() if key != "created_at"}
    await conn.execute(update(DocumentRow).where(DocumentRow.doc_id == doc_id).values(claimed))


def _document_values(meta: DocumentMeta) -> dict[str, Any]:
    # deleted_at left out: a new or claimed row is live, and the column defaults to NULL.
    return {k: v for k, v in dataclasses.asdict(meta).items() if k != "deleted_at"}


async def _document_row(
    conn: AsyncConnection, doc_id: str, *, for_update: bool = False
) -> _DocumentFields | None:
    query = select(*_DOCUMENT_COLUMNS).where(DocumentRow.doc_id == doc_id)
    if for_update and conn.dialect.name == "postgresql":
        query = query.with_for_update()
    return (await conn.execute(query)).first()


async def _has_content(conn: AsyncConnection, doc_id: str) -> bool:
    in_log = select(LogRow.seq).where(LogRow.doc_id == doc_id).limit(1)
    in_state = select(StateRow.doc_id).where(StateRow.doc_id == doc_id)
    return bool(await conn.scalar(select(in_log.exists() | in_state.exists())))


def _document(row: _DocumentFields) -> DocumentMeta:
    return DocumentMeta(**row._asdict() | {"is_public": bool(row.is_public)})


def _webhook(row: _WebhookFields) -> Webhook:
    return Webhook(**row._asdict() | {"events": tuple(json.loads(row.events))})
