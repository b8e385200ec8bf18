"""Ports for document metadata and webhooks (the Yjs content itself is `DocumentStore`'s)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from storage.base import StorageError


class DocumentExists(StorageError):
    """A document with this id already exists (deleted ones included, until purged)."""


class WebhookNotFound(StorageError):
    """No webhook has this id."""


@dataclass(frozen=True, slots=True, kw_only=True)
class DocumentMeta:
    """A document's metadata. ``kind`` is ``text`` or ``data``; times are Unix seconds."""

    doc_id: str
    kind: str
    title: str
    created_at: float
    updated_at: float
    created_by: str | None = None
    is_public: bool = False
    deleted_at: float | None = None
    schema: str | None = None
    """For ``data`` documents: the name of their JSON schema."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Webhook:
    """A registered receiver: ``doc_id`` ``None`` means every document."""

    webhook_id: str
    url: str
    secret: str
    events: tuple[str, ...]
    doc_id: str | None
    created_at: float
    created_by: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class DeliveryAttempt:
    """One try at delivering one event to one webhook."""

    webhook_id: str
    event_id: str
    event: str
    attempt: int
    at: float
    status: int | None
    """HTTP status, or ``None`` when no response came (refused, timeout)."""
    error: str | None = None


class DocumentCatalog(Protocol):
    """Document metadata: create, read, list, update, soft-delete, purge."""

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
        """Create the metadata row.

        Raises:
            DocumentExists: the id is taken (even by a soft-deleted document).
            StorageUnavailable: the database failed.
        """

    async def get_document(self, doc_id: str, *, include_deleted: bool = False) -> DocumentMeta:
        """Read one document's metadata.

        Raises:
            DocumentNotFound: no such document (or deleted, unless `include_deleted`).
            StorageUnavailable: the database failed.
        """

    async def list_documents(
        self, *, limit: int = 50, after: str | None = None, include_deleted: bool = False
    ) -> Sequence[DocumentMeta]:
        """Documents ordered by id, `limit` at most, ids greater than `after` (keyset paging).

        Raises:
            StorageUnavailable: the database failed.
        """

    async def update_document(
        self, doc_id: str, *, title: str | None = None, is_public: bool | None = None
    ) -> DocumentMeta:
        """Change the given fields (``None``: unchanged); bumps ``updated_at``.

        Raises:
            DocumentNotFound: no such live document.
            StorageUnavailable: the database failed.
        """

    async def delete_document(self, doc_id: str) -> DocumentMeta:
        """Soft-delete: set ``deleted_at``; every row of the document is kept until purged.

        Raises:
            DocumentNotFound: no such live document.
            StorageUnavailable: the database failed.
        """

    async def purge_document(self, doc_id: str) -> None:
        """Erase a soft-deleted document and all its rows (log, state, authorship).

        Raises:
            DocumentNotFound: no such soft-deleted document.
            StorageUnavailable: the database failed.
        """


class WebhookRegistry(Protocol):
    """Registered webhooks and the record of their delivery attempts."""

    async def add_webhook(
        self,
        *,
        url: str,
        secret: str,
        events: Sequence[str],
        doc_id: str | None,
        created_by: str | None,
    ) -> Webhook:
        """Register a receiver.

        Raises:
            StorageUnavailable: the database failed.
        """

    async def list_webhooks(self, *, doc_id: str | None = None) -> Sequence[Webhook]:
        """Every webhook, or those that fire for `doc_id` (its own and the global ones).

        Raises:
            StorageUnavailable: the database failed.
        """

    async def remove_webhook(self, webhook_id: str) -> None:
        """Unregister.

        Raises:
            WebhookNotFound: no such webhook.
            StorageUnavailable: the database failed.
        """

    async def record_attempt(self, attempt: DeliveryAttempt) -> None:
        """Append one delivery attempt.

        Raises:
            StorageUnavailable: the database failed.
        """

    async def list_attempts(
        self, webhook_id: str, *, limit: int = 100
    ) -> Sequence[DeliveryAttempt]:
        """The latest attempts for a webhook, newest first.

        Raises:
            StorageUnavailable: the database failed.
        """
