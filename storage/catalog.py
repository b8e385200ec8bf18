"""Ports for document metadata and webhooks (the Yjs content itself is `DocumentStore`'s)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from storage.base import STORED_DOC_ID_LENGTH, StorageError

DOCUMENT_KINDS = frozenset({"text", "data"})
"""The kinds of document `DocumentCatalog.create_document` accepts."""


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
    """Document metadata: create, read, list, update, soft-delete, purge.

    A document's row is made either by `create_document` or implicitly by the first
    append to its id (kind ``text``, title ``""``, not public), so documents a socket
    created show in lists too. Companions (``D.annotations``) get rows the same way but
    never show in `list_documents`. `DocumentStore.load` ignores ``deleted_at``: the
    server decides what a soft-deleted document exposes.
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
        """Create the metadata row.

        An id is taken when its row has a title, is soft-deleted, or its document has
        content (log rows or a compacted state). A row without any of these (an append of
        no entries made it) is claimed: its metadata is filled in, ``created_at`` kept.
        So is an explicitly created document whose title is empty and which has no
        content yet: give documents a title.

        Raises:
            DocumentExists: the id is taken (even by a soft-deleted document).
            StorageUnavailable: the database failed.
            ValueError: `doc_id` is empty or too long for the tables, or `kind` unknown.
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

        Ids compare as code points on every backend. Companions (``*.annotations``) are
        never listed; soft-deleted documents only with `include_deleted`.

        Raises:
            StorageUnavailable: the database failed.
            ValueError: `limit` is below 1.
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

        In the same transaction: its companion ``D.annotations`` (whether deleted or not)
        and the webhooks registered for either id, with their attempts. Close the
        document's room first: an append that commits after the purge starts it anew.

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
        """Unregister, forgetting its delivery attempts.

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
        """The latest attempts for a webhook, newest first (by ``at``, then last recorded).

        Raises:
            StorageUnavailable: the database failed.
            ValueError: `limit` is below 1.
        """



class SecretWebhookRegistry(WebhookRegistry, Protocol):
    """A `WebhookRegistry` whose stored secrets can be replaced (sealed in place)."""

    async def set_webhook_secret(self, webhook_id: str, secret: str) -> None:
        """Replace the stored secret of a webhook (the server seals plain ones at start).

        Raises:
            WebhookNotFound: no such webhook.
            StorageUnavailable: the database failed.
        """


def check_new_document(doc_id: str, kind: str) -> None:
    """Validate the arguments of `DocumentCatalog.create_document`.

    Raises:
        ValueError: `doc_id` is empty or longer than the tables hold, or `kind` is unknown.
    """
    if not 0 < len(doc_id) <= STORED_DOC_ID_LENGTH:
        raise ValueError(f"doc_id must be 1 to {STORED_DOC_ID_LENGTH} characters")
    if kind not in DOCUMENT_KINDS:
        raise ValueError(f"kind must be one of {sorted(DOCUMENT_KINDS)}, not {kind!r}")


def check_page(limit: int) -> None:
    """Validate a page size.

    Raises:
        ValueError: `limit` is below 1.
    """
    if limit < 1:
        raise ValueError(f"limit must be at least 1, not {limit}")
