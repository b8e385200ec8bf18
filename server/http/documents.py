"""``/api/documents``: create, list, read, rename, publish, delete, and read the live text."""

from __future__ import annotations

import logging
from collections.abc import Awaitable
from typing import Any, cast

from pycrdt import Doc
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from crdt.convert import Format, import_markdown
from crdt.doc_id import ANNOTATIONS_SUFFIX, is_doc_id
from crdt.errors import SchemaError
from crdt.schema import text_fragment
from crdt.schemas import SCHEMA_NAMES
from server.access.auth import Principal
from server.access.permissions import Action, is_allowed, require
from server.errors import BadRequest, Conflict, Invalid, PalabreError
from server.http.authorize import Authorized, caller, requires
from server.http.body import JsonObject, etag_matches, int_param, only_fields, read_json, text_field
from server.http.context import MEDIA_TYPES, ApiContext, content_format, created, meta_json
from server.modules.data_documents import etag_of
from server.modules.names import annotations_sub
from server.modules.sessions import quorum_json
from server.rooms.revocation import Revocation
from storage.base import StorageError
from storage.catalog import DocumentMeta
from storage.sessions import Quorum

log = logging.getLogger("palabre.api")

SETTINGS = ("title", "is_public", "amendments_open", "quorum")
"""What ``PATCH /documents/{id}`` may change."""
MAX_TITLE = 500
MAX_PAGE = 200
MAX_QUORUM = 100_000


class Documents:
    """The document endpoints, bound to one app's context."""

    def __init__(self, context: ApiContext) -> None:
        self.context = context
        self._store = context.store

    def routes(self) -> list[Route]:
        """The routes, relative to ``/api``."""
        return [
            Route("/documents", self.list_documents, methods=["GET"]),
            Route("/documents", self.create_document, methods=["POST"]),
            Route("/documents/{doc_id}", self.get_document, methods=["GET"]),
            Route("/documents/{doc_id}", self.update_document, methods=["PATCH"]),
            Route("/documents/{doc_id}", self.delete_document, methods=["DELETE"]),
            Route("/documents/{doc_id}/content", self.get_content, methods=["GET"]),
        ]

    async def list_documents(self, request: Request) -> Response:
        """``GET /documents?limit=&after=``: the documents the caller may read, by id."""
        principal = await caller(request, self.context)
        limit = int_param(request, "limit", 50, low=1, high=MAX_PAGE)
        cursor = request.query_params.get("after")
        if cursor is not None and not is_doc_id(cursor):
            raise BadRequest("after must be a document id")
        visible: list[DocumentMeta] = []
        while len(visible) <= limit:
            # Keyset paging over everything, filtered by what the caller may read: a
            # short page from the filter is refilled, so `next` is null only at the end.
            page = await self._store.list_documents(limit=limit + 1, after=cursor)
            visible += [
                meta for meta in page
                if is_allowed(principal, Action.READ, meta.doc_id, doc_is_public=meta.is_public)
            ]
            if len(page) <= limit:
                break
            cursor = page[-1].doc_id
        shown = visible[:limit]
        more = len(visible) > limit
        return JSONResponse({
            "documents": [meta_json(meta) for meta in shown],
            "next": shown[-1].doc_id if more else None,
        })

    async def create_document(self, request: Request) -> Response:
        """``POST /documents`` ``{"id", "title", "markdown"?, "is_public"?}``: 201, metadata."""
        principal = await caller(request, self.context)
        body = await read_json(request, self.context.max_body_bytes)
        only_fields(body, {"id", "title", "markdown", "is_public", "kind", "schema", "data"})
        doc_id = text_field(body, "id", required=True, max_length=128) or ""
        if not is_doc_id(doc_id) or doc_id.endswith(ANNOTATIONS_SUFFIX):
            raise Invalid(
                "id must be 1-128 characters of [A-Za-z0-9._-], not ending with .annotations"
            )
        require(principal, Action.CREATE_DOCUMENT, doc_id)
        title = text_field(body, "title", required=True, max_length=MAX_TITLE) or ""
        kind = body.get("kind", "text")
        if kind not in ("text", "data"):
            raise Invalid("'kind' must be 'text' or 'data'")
        is_public = body.get("is_public", False)
        if not isinstance(is_public, bool):
            raise Invalid("'is_public' must be true or false")
        if kind == "data":
            return await self._create_data(request, principal, doc_id, title, is_public, body)
        if "schema" in body or "data" in body:
            raise Invalid("'schema' and 'data' are for documents of kind 'data'")
        markdown = body.get("markdown")
        if "markdown" in body and not isinstance(markdown, str):
            raise Invalid("'markdown' must be a string")  # null too: leave it out instead
        if markdown is not None and not isinstance(markdown, str):
            raise Invalid("'markdown' must be a string")
        if markdown:
            try:  # parse once before anything is stored, so bad input stores nothing
                import_markdown(Doc(), markdown)
            except SchemaError as exc:
                raise Invalid(f"markdown: {exc}") from exc
        meta = await self._store.create_document(
            doc_id, title=title, created_by=principal.sub, is_public=is_public
        )
        if markdown:
            await self._fill(doc_id, self.context.hub.transform(
                doc_id, lambda doc: _import_into_empty(doc, markdown), principal=principal.sub,
            ))
        return await self._created(request, meta, principal, {
            "title": title, "is_public": is_public, "from_markdown": bool(markdown),
        })

    async def _create_data(
        self, request: Request, principal: Principal, doc_id: str, title: str,
        is_public: bool, body: JsonObject,
    ) -> Response:
        """Create a data document: ``schema`` required, ``data`` optional (validated)."""
        schema = body.get("schema")
        if schema not in SCHEMA_NAMES:
            raise Invalid(f"'schema' must be one of {', '.join(SCHEMA_NAMES)}")
        if "markdown" in body:
            raise Invalid("'markdown' is for text documents")
        data = body.get("data")
        if data is not None and not isinstance(data, dict):
            raise Invalid("'data' must be a JSON object")
        initial = self.context.data.initial(str(schema), title, data)
        meta = await self._store.create_document(
            doc_id, title=title, kind="data", created_by=principal.sub,
            is_public=is_public, schema=str(schema),
        )
        await self._fill(doc_id, self.context.data.fill(doc_id, str(schema), principal, initial))
        return await self._created(request, meta, principal, {
            "title": title, "is_public": is_public, "schema": schema,
        })

    async def _fill(self, doc_id: str, first_write: Awaitable[object]) -> None:
        """Await a new document's first write; undo the creation when it fails."""
        try:
            await first_write
        except (PalabreError, StorageError):
            await self._forget(doc_id)
            raise

    async def _created(
        self, request: Request, meta: DocumentMeta, principal: Principal, detail: JsonObject,
    ) -> Response:
        """Audit a creation that stands; 201 with the document's metadata."""
        await self.context.governance.record(meta.doc_id, "document.created", principal, detail)
        return created(meta_json(meta), f"{request.url.path.rstrip('/')}/{meta.doc_id}")

    async def _forget(self, doc_id: str) -> None:
        """Undo a creation whose first update could not be committed."""
        try:
            await self._store.delete_document(doc_id)
            await self._store.purge_document(doc_id)
            self.context.hub.documents.forget(doc_id)
        except StorageError as exc:
            log.error("could not undo the creation of %s: %s", doc_id, exc,
                      extra={"doc_id": doc_id})

    @requires(Action.READ)
    async def get_document(self, request: Request, auth: Authorized) -> Response:
        """``GET /documents/{id}``: metadata, and who the caller is in the ``D.annotations``
        they sync (``annotations_sub``: `server.modules.names.annotations_sub`)."""
        shown = meta_json(auth.meta)
        shown["annotations_sub"] = await annotations_sub(self.context.store, auth.principal)
        return JSONResponse(shown)

    @requires(Action.CREATE_DOCUMENT)
    async def update_document(self, request: Request, auth: Authorized) -> Response:
        """``PATCH /documents/{id}`` ``{"title"?, "is_public"?, "amendments_open"?,
        "quorum"?}`` (facilitators; `quorum_setting`); made private, its public readers'
        sockets and event streams end, on every node. Each known setting is validated
        before any is changed."""
        body = await read_json(request, self.context.max_body_bytes)
        only_fields(body, set(SETTINGS))
        if not body:
            raise Invalid(f"nothing to change: give one of {', '.join(SETTINGS)}")
        title = text_field(body, "title", max_length=MAX_TITLE)
        for name in ("is_public", "amendments_open"):
            if body.get(name) is not None and not isinstance(body.get(name), bool):
                raise Invalid(f"{name!r} must be true or false")
        is_public = cast(bool | None, body.get("is_public"))
        amendments_open = body.get("amendments_open")
        if amendments_open is not None and auth.meta.kind != "text":
            raise Invalid("only a text document takes amendments")
        quorum = quorum_setting(body["quorum"]) if "quorum" in body else None
        if quorum is not None and auth.meta.kind != "text":
            raise Invalid("only a text document has sessions and a quorum")
        meta = auth.meta
        if title is not None or is_public is not None:
            meta = await self._store.update_document(auth.doc_id, title=title,
                                                     is_public=is_public)
            self.context.hub.documents.forget(auth.doc_id)
        if is_public is False:
            await self.context.hub.revoke(auth.doc_id, Revocation.MADE_PRIVATE)
        payload = meta_json(meta)
        if isinstance(amendments_open, bool):
            await self.context.amendments.set_open(auth.doc_id, auth.principal,
                                                   amendments_open, is_public=meta.is_public)
        if quorum is not None:
            await self.context.sessions.set_quorum(auth.doc_id, auth.principal, quorum)
        if meta.kind == "text":
            payload["amendments_open"] = await self.context.amendments.is_open(auth.doc_id)
            payload["quorum"] = quorum_json(await self._store.get_quorum(auth.doc_id))
        return JSONResponse(payload)

    @requires(Action.CREATE_DOCUMENT)
    async def delete_document(self, request: Request, auth: Authorized) -> Response:
        """``DELETE /documents/{id}``: soft delete (facilitators); 204. Its sockets and
        event streams end, on every node."""
        await self._store.delete_document(auth.doc_id)
        await self.context.hub.revoke(auth.doc_id, Revocation.DELETED)
        return Response(status_code=204)

    @requires(Action.READ)
    async def get_content(self, request: Request, auth: Authorized) -> Response:
        """``GET /documents/{id}/content?format=md|html|text|json``, with a strong ETag
        (the version's digest, deletions included); rendered off the event loop, cached."""
        fmt = content_format(request, MEDIA_TYPES)
        room = await self.context.hub.room(auth.doc_id)
        etag = etag_of(room.doc, fmt)
        headers = {"ETag": etag, "Cache-Control": "private, no-cache", "Vary": "Authorization"}
        if etag_matches(request, etag):
            return Response(status_code=304, headers=headers)
        body = await self.context.publisher.content(f"{auth.doc_id} {etag}",
                                                    room.doc.get_update(), _format(fmt))
        return Response(body, media_type=MEDIA_TYPES[fmt], headers=headers)


def quorum_setting(value: object) -> Quorum:
    """The quorum a ``PATCH`` asks for: null (none), a fraction of the members in (0, 1]
    written with a decimal point, or a whole number of members.

    Raises:
        Invalid: anything else.
    """
    if value is None:
        return Quorum()
    if isinstance(value, int) and not isinstance(value, bool) and 1 <= value <= MAX_QUORUM:
        return Quorum(members=value)
    if isinstance(value, float) and 0 < value <= 1:
        return Quorum(fraction=value)
    raise Invalid("'quorum' must be null, a fraction of the members such as 0.5 (at most "
                  f"1.0), or a whole number of members from 1 to {MAX_QUORUM}")


def _format(fmt: str) -> Format:
    if fmt == "md":
        return "md"
    if fmt == "html":
        return "html"
    return "text" if fmt == "text" else "json"


def _import_into_empty(doc: Doc[Any], markdown: str) -> None:
    """Import `markdown` as the text of a document that has none yet.

    Raises:
        Conflict: the document already holds text (made over a socket before it was listed).
    """
    if len(text_fragment(doc).children) > 0:
        raise Conflict("this document already has content; create it without markdown")
    import_markdown(doc, markdown)
