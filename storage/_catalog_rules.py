"""What the SQL and in-memory catalogs share: argument checks and the records they make."""

from __future__ import annotations

import time
import uuid
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from typing import Any

from storage.base import DocumentNotFound
from storage.catalog import (
    DeliveryAttempt,
    DocumentCatalog,
    DocumentMeta,
    Webhook,
    WebhookRegistry,
    check_new_document,
    check_page,
)


class CatalogRules(DocumentCatalog, WebhookRegistry, ABC):
    """`DocumentCatalog` and `WebhookRegistry` up to the storing, which a backend does.

    The public methods here check their arguments, make the new record (ids, times) and
    decide what is found; the abstract methods below store and read, raising
    StorageUnavailable when the backend fails. The port methods with nothing to share
    (`purge_document`, `list_webhooks`, `remove_webhook`, `record_attempt`) are the
    backend's own.
    """

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
        check_new_document(doc_id, kind)
        now = time.time()
        meta = DocumentMeta(doc_id=doc_id, kind=kind, title=title, created_at=now,
                            updated_at=now, created_by=created_by, is_public=is_public,
                            schema=schema)
        return await self._insert_document(meta)

    async def get_document(self, doc_id: str, *, include_deleted: bool = False) -> DocumentMeta:
        meta = await self._find_document(doc_id)
        if meta is None or (meta.deleted_at is not None and not include_deleted):
            raise DocumentNotFound(f"no document {doc_id!r}")
        return meta

    async def list_documents(
        self, *, limit: int = 50, after: str | None = None, include_deleted: bool = False
    ) -> Sequence[DocumentMeta]:
        check_page(limit)
        return await self._document_page(limit, after, include_deleted)

    async def update_document(
        self, doc_id: str, *, title: str | None = None, is_public: bool | None = None
    ) -> DocumentMeta:
        changes: dict[str, Any] = {"updated_at": time.time()}
        if title is not None:
            changes["title"] = title
        if is_public is not None:
            changes["is_public"] = is_public
        return await self._change_live(doc_id, changes, "update")

    async def delete_document(self, doc_id: str) -> DocumentMeta:
        now = time.time()
        return await self._change_live(doc_id, {"updated_at": now, "deleted_at": now}, "delete")

    async def add_webhook(
        self,
        *,
        url: str,
        secret: str,
        events: Sequence[str],
        doc_id: str | None,
        created_by: str | None,
    ) -> Webhook:
        webhook = Webhook(webhook_id=uuid.uuid4().hex, url=url, secret=secret,
                          events=tuple(events), doc_id=doc_id, created_at=time.time(),
                          created_by=created_by)
        await self._insert_webhook(webhook)
        return webhook

    async def list_attempts(
        self, webhook_id: str, *, limit: int = 100
    ) -> Sequence[DeliveryAttempt]:
        check_page(limit)
        return await self._attempt_page(webhook_id, limit)

    @abstractmethod
    async def _insert_document(self, meta: DocumentMeta) -> DocumentMeta:
        """Store a new document, or claim the implicit row of a free id (see `create_document`).

        A claimed row keeps its ``created_at``; the stored metadata is returned.

        Raises:
            DocumentExists: the id is taken.
        """

    @abstractmethod
    async def _find_document(self, doc_id: str) -> DocumentMeta | None:
        """The document's metadata, deleted or not; ``None`` when there is no row."""

    @abstractmethod
    async def _document_page(
        self, limit: int, after: str | None, include_deleted: bool
    ) -> Sequence[DocumentMeta]:
        """One page of `list_documents`, its arguments checked."""

    @abstractmethod
    async def _change_live(
        self, doc_id: str, changes: Mapping[str, Any], verb: str
    ) -> DocumentMeta:
        """Set fields of a live document (``DocumentMeta`` names); `verb` names it in errors.

        Raises:
            DocumentNotFound: no such live document.
        """

    @abstractmethod
    async def _insert_webhook(self, webhook: Webhook) -> None:
        """Store a new webhook."""

    @abstractmethod
    async def _attempt_page(self, webhook_id: str, limit: int) -> Sequence[DeliveryAttempt]:
        """The webhook's latest `limit` attempts, newest first (ties: last recorded first)."""
