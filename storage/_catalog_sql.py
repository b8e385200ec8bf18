"""`DocumentCatalog` and `WebhookRegistry` on SQLAlchemy Core, mixed into `SqlDocumentStore`."""

from __future__ import annotations

import hashlib
import json
import time
import uuid
from abc import ABC, abstractmethod
from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import ColumnElement, Row, delete, func, insert, or_, select, text, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from storage.base import ANNOTATIONS_SUFFIX, DocumentNotFound, StorageUnavailable
from storage.catalog import (
    DeliveryAttempt,
    DocumentExists,
    DocumentMeta,
    Webhook,
    WebhookNotFound,
    check_new_document,
    check_page,
)
from storage.models import AuthorshipRow, DeliveryRow, DocumentRow, LogRow, StateRow, WebhookRow

DB_ERRORS = (SQLAlchemyError, OSError)
"""What a database failure raises (translated to StorageUnavailable)."""

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


class SqlCatalog(ABC):
    """Document metadata and webhooks on the store's engine: one transaction per call.

    Writes run on the write engine (``BEGIN IMMEDIATE`` on SQLite); PostgreSQL row locks
    (``FOR UPDATE``) order them against appends, which update the same document rows.
    """

    @abstractmethod
    def _reader(self) -> AsyncEngine:
        """The engine for reads; raises StorageUnavailable when the store is closed."""

    @abstractmethod
    def _writer_engine(self) -> AsyncEngine:
        """The engine for writes; raises StorageUnavailable when the store is closed."""

    @abstractmethod
    def _forget(self, doc_ids: Iterable[str]) -> None:
        """Drop what the store remembers of purged documents (log row counters)."""

    async def create_document(
        self,
        doc_id: str,
        *,
        title: str,
        kind: str = "text",
        created_by: str | None = None,
        is_public: bool = False,
        schema: str | None = None,
    ) -> DocumentMeta:
        """See `DocumentCatalog.create_document`.

        Raises:
            DocumentExists: the id is taken (see `DocumentCatalog.create_document`).
            StorageUnavailable: the database failed.
            ValueError: bad doc_id length or kind.
        """
        check_new_document(doc_id, kind)
        now = time.time()
        values: dict[str, Any] = {
            "doc_id": doc_id,
            "kind": kind,
            "title": title,
            "created_at": now,
            "updated_at": now,
            "created_by": created_by,
            "is_public": is_public,
            "schema": schema,
        }
        try:
            async with self._writer_engine().begin() as conn:
                # Inserted first, so two concurrent creations (or an append's upsert) meet
                # on the primary key instead of both finding no row.
                created = await conn.execute(
                    dialect_insert(conn, DocumentRow)
                    .values(values)
                    .on_conflict_do_nothing(index_elements=[DocumentRow.doc_id])
                )
                if not created.rowcount:
                    await self._claim_implicit(conn, doc_id, values)
                row = await _document_row(conn, doc_id)
        except DB_ERRORS as exc:
            raise StorageUnavailable(f"cannot create {doc_id!r}: {exc}") from exc
        assert row is not None  # written in this transaction
        return _document(row)

    async def _claim_implicit(
        self, conn: AsyncConnection, doc_id: str, values: dict[str, Any]
    ) -> None:
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

    async def get_document(self, doc_id: str, *, include_deleted: bool = False) -> DocumentMeta:
        """See `DocumentCatalog.get_document`.

        Raises:
            DocumentNotFound: no such document (or deleted, unless `include_deleted`).
            StorageUnavailable: the database failed.
        """
        try:
            async with self._reader().connect() as conn:
                row = await _document_row(conn, doc_id)
        except DB_ERRORS as exc:
            raise StorageUnavailable(f"cannot read {doc_id!r}: {exc}") from exc
        if row is None or (row.deleted_at is not None and not include_deleted):
            raise DocumentNotFound(f"no document {doc_id!r}")
        return _document(row)

    async def list_documents(
        self, *, limit: int = 50, after: str | None = None, include_deleted: bool = False
    ) -> Sequence[DocumentMeta]:
        """See `DocumentCatalog.list_documents`.

        Raises:
            StorageUnavailable: the database failed.
            ValueError: `limit` is below 1.
        """
        check_page(limit)
        try:
            async with self._reader().connect() as conn:
                # Byte order on every database (PostgreSQL's may follow a locale), so pages
                # come in the same order as on SQLite and in memory.
                doc_id: ColumnElement[str] = (
                    DocumentRow.doc_id.collate("C")
                    if conn.dialect.name == "postgresql"
                    else DocumentRow.doc_id.expression
                )
                query = (
                    select(*_DOCUMENT_COLUMNS)
                    .where(_IS_NOT_COMPANION)
                    .order_by(doc_id)
                    .limit(limit)
                )
                if after is not None:
                    query = query.where(doc_id > after)
                if not include_deleted:
                    query = query.where(DocumentRow.deleted_at.is_(None))
                rows = (await conn.execute(query)).all()
        except DB_ERRORS as exc:
            raise StorageUnavailable(f"cannot list documents: {exc}") from exc
        return [_document(row) for row in rows]

    async def update_document(
        self, doc_id: str, *, title: str | None = None, is_public: bool | None = None
    ) -> DocumentMeta:
        """See `DocumentCatalog.update_document`.

        Raises:
            DocumentNotFound: no such live document.
            StorageUnavailable: the database failed.
        """
        values: dict[str, Any] = {"updated_at": time.time()}
        if title is not None:
            values["title"] = title
        if is_public is not None:
            values["is_public"] = is_public
        return await self._change_live(doc_id, values, "update")

    async def delete_document(self, doc_id: str) -> DocumentMeta:
        """See `DocumentCatalog.delete_document`.

        Raises:
            DocumentNotFound: no such live document.
            StorageUnavailable: the database failed.
        """
        now = time.time()
        return await self._change_live(doc_id, {"updated_at": now, "deleted_at": now}, "delete")

    async def _change_live(self, doc_id: str, values: dict[str, Any], verb: str) -> DocumentMeta:
        try:
            async with self._writer_engine().begin() as conn:
                changed = await conn.execute(
                    update(DocumentRow)
                    .where(DocumentRow.doc_id == doc_id, DocumentRow.deleted_at.is_(None))
                    .values(values)
                )
                row = await _document_row(conn, doc_id) if changed.rowcount else None
        except DB_ERRORS as exc:
            raise StorageUnavailable(f"cannot {verb} {doc_id!r}: {exc}") from exc
        if row is None:
            raise DocumentNotFound(f"no live document {doc_id!r}")
        return _document(row)

    async def purge_document(self, doc_id: str) -> None:
        """See `DocumentCatalog.purge_document`.

        Raises:
            DocumentNotFound: no such soft-deleted document.
            StorageUnavailable: the database failed.
        """
        doc_ids = sorted({doc_id, doc_id + ANNOTATIONS_SUFFIX})
        try:
            async with self._writer_engine().begin() as conn:
                if conn.dialect.name == "postgresql":
                    # The compaction lock: a compaction cannot write a state row back
                    # after the purge deleted it.
                    for key in sorted(compaction_lock_key(d) for d in doc_ids):
                        await conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": key})
                row = await _document_row(conn, doc_id, for_update=True)
                if row is None or row.deleted_at is None:
                    raise DocumentNotFound(f"no deleted document {doc_id!r}")
                for model in (LogRow, StateRow, AuthorshipRow, DocumentRow):
                    await conn.execute(delete(model).where(model.doc_id.in_(doc_ids)))
                webhooks = select(WebhookRow.webhook_id).where(WebhookRow.doc_id.in_(doc_ids))
                await conn.execute(delete(DeliveryRow).where(DeliveryRow.webhook_id.in_(webhooks)))
                await conn.execute(delete(WebhookRow).where(WebhookRow.doc_id.in_(doc_ids)))
        except DB_ERRORS as exc:
            raise StorageUnavailable(f"cannot purge {doc_id!r}: {exc}") from exc
        self._forget(doc_ids)

    async def add_webhook(
        self,
        *,
        url: str,
        secret: str,
        events: Sequence[str],
        doc_id: str | None,
        created_by: str | None,
    ) -> Webhook:
        """See `WebhookRegistry.add_webhook`.

        Raises:
            StorageUnavailable: the database failed.
        """
        webhook = Webhook(
            webhook_id=uuid.uuid4().hex,
            url=url,
            secret=secret,
            events=tuple(events),
            doc_id=doc_id,
            created_at=time.time(),
            created_by=created_by,
        )
        try:
            async with self._writer_engine().begin() as conn:
                await conn.execute(
                    insert(WebhookRow),
                    {
                        "webhook_id": webhook.webhook_id,
                        "url": webhook.url,
                        "secret": webhook.secret,
                        "events": json.dumps(list(webhook.events)),
                        "doc_id": webhook.doc_id,
                        "created_at": webhook.created_at,
                        "created_by": webhook.created_by,
                    },
                )
        except DB_ERRORS as exc:
            raise StorageUnavailable(f"cannot add a webhook: {exc}") from exc
        return webhook

    async def list_webhooks(self, *, doc_id: str | None = None) -> Sequence[Webhook]:
        """See `WebhookRegistry.list_webhooks` (oldest first).

        Raises:
            StorageUnavailable: the database failed.
        """
        query = select(*_WEBHOOK_COLUMNS).order_by(WebhookRow.created_at, WebhookRow.webhook_id)
        if doc_id is not None:
            query = query.where(or_(WebhookRow.doc_id == doc_id, WebhookRow.doc_id.is_(None)))
        try:
            async with self._reader().connect() as conn:
                rows = (await conn.execute(query)).all()
        except DB_ERRORS as exc:
            raise StorageUnavailable(f"cannot list webhooks: {exc}") from exc
        return [_webhook(row) for row in rows]

    async def remove_webhook(self, webhook_id: str) -> None:
        """See `WebhookRegistry.remove_webhook`; its delivery attempts go with it.

        Raises:
            WebhookNotFound: no such webhook.
            StorageUnavailable: the database failed.
        """
        try:
            async with self._writer_engine().begin() as conn:
                removed = await conn.execute(
                    delete(WebhookRow).where(WebhookRow.webhook_id == webhook_id)
                )
                if not removed.rowcount:
                    raise WebhookNotFound(f"no webhook {webhook_id!r}")
                await conn.execute(delete(DeliveryRow).where(DeliveryRow.webhook_id == webhook_id))
        except DB_ERRORS as exc:
            raise StorageUnavailable(f"cannot remove webhook {webhook_id!r}: {exc}") from exc

    async def record_attempt(self, attempt: DeliveryAttempt) -> None:
        """See `WebhookRegistry.record_attempt`.

        Raises:
            StorageUnavailable: the database failed.
        """
        try:
            async with self._writer_engine().begin() as conn:
                await conn.execute(
                    insert(DeliveryRow),
                    {
                        "webhook_id": attempt.webhook_id,
                        "event_id": attempt.event_id,
                        "event": attempt.event,
                        "attempt": attempt.attempt,
                        "at": attempt.at,
                        "status": attempt.status,
                        "error": attempt.error,
                    },
                )
        except DB_ERRORS as exc:
            raise StorageUnavailable(f"cannot record a delivery attempt: {exc}") from exc

    async def list_attempts(
        self, webhook_id: str, *, limit: int = 100
    ) -> Sequence[DeliveryAttempt]:
        """See `WebhookRegistry.list_attempts` (ties on ``at``: last recorded first).

        Raises:
            StorageUnavailable: the database failed.
            ValueError: `limit` is below 1.
        """
        check_page(limit)
        query = (
            select(
                DeliveryRow.webhook_id,
                DeliveryRow.event_id,
                DeliveryRow.event,
                DeliveryRow.attempt,
                DeliveryRow.at,
                DeliveryRow.status,
                DeliveryRow.error,
            )
            .where(DeliveryRow.webhook_id == webhook_id)
            .order_by(DeliveryRow.at.desc(), DeliveryRow.id.desc())
            .limit(limit)
        )
        try:
            async with self._reader().connect() as conn:
                rows = (await conn.execute(query)).all()
        except DB_ERRORS as exc:
            raise StorageUnavailable(f"cannot list attempts of {webhook_id!r}: {exc}") from exc
        return [
            DeliveryAttempt(
                webhook_id=r.webhook_id,
                event_id=r.event_id,
                event=r.event,
                attempt=r.attempt,
                at=r.at,
                status=r.status,
                error=r.error,
            )
            for r in rows
        ]


def dialect_insert(
    conn: AsyncConnection, model: type[DocumentRow] | type[StateRow]
) -> postgresql.Insert | sqlite.Insert:
    """An INSERT with the connection's ON CONFLICT clauses."""
    if conn.dialect.name == "postgresql":
        return postgresql.insert(model)
    return sqlite.insert(model)


def compaction_lock_key(doc_id: str) -> int:
    """The PostgreSQL advisory lock key held while compacting or purging a document."""
    digest = hashlib.blake2b(doc_id.encode(), digest_size=8, person=b"palabre-compact").digest()
    return int.from_bytes(digest, "big", signed=True)


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
    return DocumentMeta(
        doc_id=row.doc_id,
        kind=row.kind,
        title=row.title,
        created_at=row.created_at,
        updated_at=row.updated_at,
        created_by=row.created_by,
        is_public=bool(row.is_public),
        deleted_at=row.deleted_at,
        schema=row.schema,
    )


def _webhook(row: _WebhookFields) -> Webhook:
    return Webhook(
        webhook_id=row.webhook_id,
        url=row.url,
        secret=row.secret,
        events=tuple(json.loads(row.events)),
        doc_id=row.doc_id,
        created_at=row.created_at,
        created_by=row.created_by,
    )
