"""Which document a socket may open: a live one of the catalogue that its principal may read.

A socket (``/ws`` or one Hocuspocus document) names a document id. It is admitted when
the text document (for a companion ``D.annotations``, its ``D``) is in the catalogue, not
deleted, and readable by the principal (public documents by anyone). An unknown id is
created, catalogued with its creator as ``POST /api/documents`` does, only when
``PALABRE_CREATE_ON_CONNECT`` lets the principal (`permissions.may_create_on_connect`);
otherwise, and for a deleted document, the socket gets 4403. So no socket makes a
document that the catalogue does not know.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from crdt.doc_id import ANNOTATIONS_SUFFIX, is_annotations
from server.access.auth import Principal
from server.access.permissions import (
    Action,
    may_create_on_connect,
    require,
    whole_read_action,
)
from server.errors import Forbidden, Overloaded
from server.rooms.known_documents import KnownDocuments
from server.rooms.revocation import Revocation
from storage.base import DocumentNotFound, StorageUnavailable
from storage.catalog import DocumentCatalog, DocumentExists, DocumentMeta

log = logging.getLogger("palabre.admission")

DocumentCreated = Callable[[DocumentMeta, Principal], Awaitable[None]]
"""Told of a document a socket created (the audit log records it)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Admission:
    """The catalogue check of every socket, and creation on connect."""

    catalog: DocumentCatalog
    known: KnownDocuments
    """The catalogue read through (the hub's: a revocation forgets what it knew)."""
    create_on_connect: str = "facilitators"
    on_created: DocumentCreated | None = None

    async def admit(self, principal: Principal, doc_id: str) -> DocumentMeta:
        """The catalogued text document behind `doc_id`, once `principal` may read it.

        Raises:
            Forbidden: deleted, unknown and not creatable by `principal`, or not readable.
            Overloaded: the catalogue cannot be read.
        """
        base = doc_id.removesuffix(ANNOTATIONS_SUFFIX) if is_annotations(doc_id) else doc_id
        if not base or is_annotations(base):
            raise Forbidden(f"{doc_id!r} is not a document")
        try:
            try:
                meta = await self.known.get_document(base, include_deleted=True)
            except DocumentNotFound:
                meta = await self._create(principal, base)
        except StorageUnavailable as exc:
            raise Overloaded(f"the catalogue cannot be read: {exc}") from exc
        if meta.deleted_at is not None:
            raise Forbidden(Revocation.DELETED.reason)
        require(principal, Action.READ, doc_id, doc_is_public=meta.is_public)
        whole = whole_read_action(meta.schema if meta.kind == "data" else None)
        if whole is not Action.READ:
            try:
                require(principal, whole, doc_id, doc_is_public=meta.is_public)
            except Forbidden as exc:
                raise Forbidden(f"{exc.detail}: read this map through the API") from exc
        return meta

    async def _create(self, principal: Principal, doc_id: str) -> DocumentMeta:
        """Create `doc_id` for `principal`, if connecting may create it.

        Raises:
            Forbidden: it may not (or may not even read it).
            StorageUnavailable: the catalogue failed.
        """
        require(principal, Action.READ, doc_id)
        if not may_create_on_connect(principal, doc_id, self.create_on_connect):
            raise Forbidden(
                f"no document {doc_id!r}: ask a facilitator to create it first"
            )
        try:
            meta = await self.catalog.create_document(
                doc_id, title=doc_id, created_by=principal.sub
            )
        except DocumentExists:
            # Another socket (or a POST) created it meanwhile: join that one.
            return await self.known.get_document(doc_id, include_deleted=True)
        self.known.remember(meta)
        log.info("document created by a socket of %s", principal.sub,
                 extra={"doc_id": doc_id})
        if self.on_created is not None:
            await self.on_created(meta, principal)
        return meta
