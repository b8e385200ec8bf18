"""`DocumentCatalog` and `WebhookRegistry` in memory, mixed into `MemoryDocumentStore`."""

from __future__ import annotations

import dataclasses
import time
import uuid
from abc import ABC, abstractmethod
from collections.abc import Iterable, Sequence

import anyio.lowlevel

from storage.base import ANNOTATIONS_SUFFIX, DocumentNotFound
from storage.catalog import (
    DeliveryAttempt,
    DocumentExists,
    DocumentMeta,
    Webhook,
    WebhookNotFound,
    check_new_document,
    check_page,
)


class MemoryCatalog(ABC):
    """Document metadata and webhooks in dicts, with the SQL catalog's semantics."""

    def __init__(self) -> None:
        self._meta: dict[str, DocumentMeta] = {}
        self._webhooks: dict[str, Webhook] = {}
        self._attempts: list[DeliveryAttempt] = []

    @abstractmethod
    def _check_usable(self) -> None:
        """Raise StorageUnavailable when the store is closed or marked unavailable."""

    @abstractmethod
    def _has_content(self, doc_id: str) -> bool:
        """Whether the document has log rows or a compacted state."""

    @abstractmethod
    def _erase(self, doc_ids: Iterable[str]) -> None:
        """Drop the documents' log and state."""

    async def _enter(self) -> None:
        # Every call is a checkpoint, as a database round trip would be.
        await anyio.lowlevel.checkpoint()
        self._check_usable()

    def _touch(self, doc_id: str, now: float) -> None:
        """Record an append: make the implicit row, or bump ``updated_at``."""
        meta = self._meta.get(doc_id)
        if meta is None:
            self._meta[doc_id] = DocumentMeta(
                doc_id=doc_id, kind="text", title="", created_at=now, updated_at=now
            )
        else:
            self._meta[doc_id] = dataclasses.replace(meta, updated_at=now)

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
            DocumentExists: the id is taken.
            StorageUnavailable: the store is closed or marked unavailable.
            ValueError: bad doc_id length or kind.
        """
        check_new_document(doc_id, kind)
        await self._enter()
        now = time.time()
        existing = self._meta.get(doc_id)
        if existing is not None and (
            existing.title or existing.deleted_at is not None or self._has_content(doc_id)
        ):
            raise DocumentExists(f"document {doc_id!r} already exists")
        meta = DocumentMeta(
            doc_id=doc_id,
            kind=kind,
            title=title,
            created_at=existing.created_at if existing is not None else now,
            updated_at=now,
            created_by=created_by,
            is_public=is_public,
            schema=schema,
        )
        self._meta[doc_id] = meta
        return meta

    async def get_document(self, doc_id: str, *, include_deleted: bool = False) -> DocumentMeta:
        """See `DocumentCatalog.get_document`.

        Raises:
            DocumentNotFound: no such document (or deleted, unless `include_deleted`).
            StorageUnavailable: the store is closed or marked unavailable.
        """
        await self._enter()
        meta = self._meta.get(doc_id)
        if meta is None or (meta.deleted_at is not None and not include_deleted):
            raise DocumentNotFound(f"no document {doc_id!r}")
        return meta

    async def list_documents(
        self, *, limit: int = 50, after: str | None = None, include_deleted: bool = False
    ) -> Sequence[DocumentMeta]:
        """See `DocumentCatalog.list_documents`.

        Raises:
            StorageUnavailable: the store is closed or marked unavailable.
            ValueError: `limit` is below 1.
        """
        check_page(limit)
        await self._enter()
        found = sorted(
            (
                meta
                for doc_id, meta in self._meta.items()
                if not doc_id.endswith(ANNOTATIONS_SUFFIX)
                and (after is None or doc_id > after)
                and (include_deleted or meta.deleted_at is None)
            ),
            key=lambda meta: meta.doc_id,
        )
        return found[:limit]

    async def update_document(
        self, doc_id: str, *, title: str | None = None, is_public: bool | None = None
    ) -> DocumentMeta:
        """See `DocumentCatalog.update_document`.

        Raises:
            DocumentNotFound: no such live document.
            StorageUnavailable: the store is closed or marked unavailable.
        """
        await self._enter()
        meta = self._live(doc_id)
        meta = dataclasses.replace(
            meta,
            title=meta.title if title is None else title,
            is_public=meta.is_public if is_public is None else is_public,
            updated_at=time.time(),
        )
        self._meta[doc_id] = meta
        return meta

    async def delete_document(self, doc_id: str) -> DocumentMeta:
        """See `DocumentCatalog.delete_document`.

        Raises:
            DocumentNotFound: no such live document.
            StorageUnavailable: the store is closed or marked unavailable.
        """
        await self._enter()
        now = time.time()
        meta = dataclasses.replace(self._live(doc_id), updated_at=now, deleted_at=now)
        self._meta[doc_id] = meta
        return meta

    def _live(self, doc_id: str) -> DocumentMeta:
        meta = self._meta.get(doc_id)
        if meta is None or meta.deleted_at is not None:
            raise DocumentNotFound(f"no live document {doc_id!r}")
        return meta

    async def purge_document(self, doc_id: str) -> None:
        """See `DocumentCatalog.purge_document`.

        Raises:
            DocumentNotFound: no such soft-deleted document.
            StorageUnavailable: the store is closed or marked unavailable.
        """
        await self._enter()
        meta = self._meta.get(doc_id)
        if meta is None or meta.deleted_at is None:
            raise DocumentNotFound(f"no deleted document {doc_id!r}")
        doc_ids = {doc_id, doc_id + ANNOTATIONS_SUFFIX}
        for purged in doc_ids:
            self._meta.pop(purged, None)
        self._erase(doc_ids)
        gone = {w.webhook_id for w in self._webhooks.values() if w.doc_id in doc_ids}
        for webhook_id in gone:
            del self._webhooks[webhook_id]
        self._attempts = [a for a in self._attempts if a.webhook_id not in gone]

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
            StorageUnavailable: the store is closed or marked unavailable.
        """
        await self._enter()
        webhook = Webhook(
            webhook_id=uuid.uuid4().hex,
            url=url,
            secret=secret,
            events=tuple(events),
            doc_id=doc_id,
            created_at=time.time(),
            created_by=created_by,
        )
        self._webhooks[webhook.webhook_id] = webhook
        return webhook

    async def list_webhooks(self, *, doc_id: str | None = None) -> Sequence[Webhook]:
        """See `WebhookRegistry.list_webhooks` (oldest first).

        Raises:
            StorageUnavailable: the store is closed or marked unavailable.
        """
        await self._enter()
        return sorted(
            (
                w
                for w in self._webhooks.values()
                if doc_id is None or w.doc_id is None or w.doc_id == doc_id
            ),
            key=lambda w: (w.created_at, w.webhook_id),
        )

    async def remove_webhook(self, webhook_id: str) -> None:
        """See `WebhookRegistry.remove_webhook`.

        Raises:
            WebhookNotFound: no such webhook.
            StorageUnavailable: the store is closed or marked unavailable.
        """
        await self._enter()
        if self._webhooks.pop(webhook_id, None) is None:
            raise WebhookNotFound(f"no webhook {webhook_id!r}")
        self._attempts = [a for a in self._attempts if a.webhook_id != webhook_id]

    async def record_attempt(self, attempt: DeliveryAttempt) -> None:
        """See `WebhookRegistry.record_attempt`.

        Raises:
            StorageUnavailable: the store is closed or marked unavailable.
        """
        await self._enter()
        self._attempts.append(attempt)

    async def list_attempts(
        self, webhook_id: str, *, limit: int = 100
    ) -> Sequence[DeliveryAttempt]:
        """See `WebhookRegistry.list_attempts`.

        Raises:
            StorageUnavailable: the store is closed or marked unavailable.
            ValueError: `limit` is below 1.
        """
        check_page(limit)
        await self._enter()
        recorded = [
            (a.at, n, a) for n, a in enumerate(self._attempts) if a.webhook_id == webhook_id
        ]
        recorded.sort(key=lambda item: (item[0], item[1]), reverse=True)
        return [a for _, _, a in recorded[:limit]]
