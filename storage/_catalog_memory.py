"""`DocumentCatalog` and `WebhookRegistry` in memory: a part of `MemoryDocumentStore`."""

from __future__ import annotations

import dataclasses
from abc import abstractmethod
from collections.abc import Collection, Mapping, Sequence
from typing import Any

from storage._catalog_rules import CatalogRules
from storage._memory_access import MemoryAccess
from storage.base import ANNOTATIONS_SUFFIX, DocumentNotFound
from storage.catalog import DeliveryAttempt, DocumentExists, DocumentMeta, Webhook, WebhookNotFound


class MemoryCatalog(MemoryAccess, CatalogRules):
    """Document metadata and webhooks in dicts, with the SQL catalog's semantics."""

    def __init__(self) -> None:
        self._meta: dict[str, DocumentMeta] = {}
        self._webhooks: dict[str, Webhook] = {}
        self._attempts: list[DeliveryAttempt] = []

    @abstractmethod
    def _has_content(self, doc_id: str) -> bool:
        """Whether the document has log rows or a compacted state."""

    @abstractmethod
    def _erase(self, doc_ids: Collection[str]) -> None:
        """Drop the documents' log and state."""

    def _touch(self, doc_id: str, now: float) -> None:
        """Record an append: make the implicit row, or bump ``updated_at``."""
        meta = self._meta.get(doc_id)
        if meta is None:
            self._meta[doc_id] = DocumentMeta(
                doc_id=doc_id, kind="text", title="", created_at=now, updated_at=now
            )
        else:
            self._meta[doc_id] = dataclasses.replace(meta, updated_at=now)

    async def _insert_document(self, meta: DocumentMeta) -> DocumentMeta:
        await self._enter()
        existing = self._meta.get(meta.doc_id)
        if existing is not None:
            if existing.title or existing.deleted_at is not None or self._has_content(meta.doc_id):
                raise DocumentExists(f"document {meta.doc_id!r} already exists")
            meta = dataclasses.replace(meta, created_at=existing.created_at)
        self._meta[meta.doc_id] = meta
        return meta

    async def _find_document(self, doc_id: str) -> DocumentMeta | None:
        await self._enter()
        return self._meta.get(doc_id)

    async def _document_page(
        self, limit: int, after: str | None, include_deleted: bool
    ) -> Sequence[DocumentMeta]:
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

    async def _change_live(
        self, doc_id: str, changes: Mapping[str, Any], verb: str
    ) -> DocumentMeta:
        await self._enter()
        meta = self._meta.get(doc_id)
        if meta is None or meta.deleted_at is not None:
            raise DocumentNotFound(f"no live document {doc_id!r}")
        meta = dataclasses.replace(meta, **changes)
        self._meta[doc_id] = meta
        return meta

    async def purge_document(self, doc_id: str) -> None:
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

    async def _insert_webhook(self, webhook: Webhook) -> None:
        await self._enter()
        self._webhooks[webhook.webhook_id] = webhook

    async def list_webhooks(self, *, doc_id: str | None = None) -> Sequence[Webhook]:
        await self._enter()
        return sorted(
            (
                w
                for w in self._webhooks.values()
                if doc_id is None or w.doc_id is None or w.doc_id == doc_id
            ),
            key=lambda w: (w.created_at, w.webhook_id),
        )

    async def set_webhook_secret(self, webhook_id: str, secret: str) -> None:
        await self._enter()
        webhook = self._webhooks.get(webhook_id)
        if webhook is None:
            raise WebhookNotFound(f"no webhook {webhook_id!r}")
        self._webhooks[webhook_id] = dataclasses.replace(webhook, secret=secret)

    async def remove_webhook(self, webhook_id: str) -> None:
        await self._enter()
        if self._webhooks.pop(webhook_id, None) is None:
            raise WebhookNotFound(f"no webhook {webhook_id!r}")
        self._attempts = [a for a in self._attempts if a.webhook_id != webhook_id]

    async def record_attempt(self, attempt: DeliveryAttempt) -> None:
        await self._enter()
        self._attempts.append(attempt)

    async def _attempt_page(self, webhook_id: str, limit: int) -> Sequence[DeliveryAttempt]:
        await self._enter()
        recorded = [
            (a.at, n, a) for n, a in enumerate(self._attempts) if a.webhook_id == webhook_id
        ]
        recorded.sort(key=lambda item: (item[0], item[1]), reverse=True)
        return [a for _, _, a in recorded[:limit]]
