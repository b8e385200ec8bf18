"""``/api/documents/{id}/data`` and friends: structured documents over HTTP.

Read as JSON (strong ETag), merge-patch (RFC 7396), follow as Server-Sent Events; library
files up and down; agenda feeds imported on demand and exported as iCalendar.
"""

from __future__ import annotations

import json
import logging
import math
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

import anyio
from pycrdt import Doc
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response, StreamingResponse
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from crdt.actors import GEOJSON_MEDIA_TYPE
from crdt.agenda import export_ics
from crdt.data import JsonObject, apply_merge_patch, merge_patch, normalize, read_data
from crdt.errors import SchemaError
from crdt.schemas import validate
from server.access.auth import Principal, Role
from server.access.permissions import Action, is_allowed, require
from server.access.ratelimit import principal_key
from server.errors import (
    BadRequest,
    Invalid,
    NotFound,
    RateLimited,
    UnsupportedMediaType,
)
from server.http.authorize import Authorized, requires
from server.http.body import etag_matches, read_json, read_limited
from server.http.context import ApiContext
from server.limits import Limits
from server.modules.actors import geojson_patch, view_key
from server.modules.agenda import AgendaImporter
from server.modules.data_documents import DataDocuments, require_data
from server.modules.files import CONTENT_TYPE, INLINE_TYPES, FileStore
from server.rooms.revocation import Revocation
from storage.base import DocumentNotFound, StorageUnavailable

log = logging.getLogger("palabre.api")

MERGE_PATCH = "application/merge-patch+json"
KEEPALIVE_SECONDS = 15.0


class DataApi:
    """The data-document endpoints, bound to one app's context."""

    def __init__(
        self, context: ApiContext, data: DataDocuments, files: FileStore,
        agenda: AgendaImporter, *, max_file_bytes: int,
    ) -> None:
        self.context = context
        self._data = data
        self._files = files
        self._agenda = agenda
        self._max_file_bytes = max_file_bytes
        self._streams: dict[str, int] = {}
        """Open event streams per principal key, on this node."""

    def routes(self) -> list[Route]:
        """The routes, relative to ``/api``."""
        return [
            Route("/documents/{doc_id}/data", self.get_data, methods=["GET"]),
            Route("/documents/{doc_id}/data", self.patch_data, methods=["PATCH"]),
            Route("/documents/{doc_id}/data", self.import_data, methods=["POST"]),
            Route("/documents/{doc_id}/data/events", self.events, methods=["GET"]),
            Route("/documents/{doc_id}/resources/{resource_id}/file", self.upload,
                  methods=["PUT"]),
            Route("/documents/{doc_id}/files/{file_id}", self.download, methods=["GET"]),
            Route("/documents/{doc_id}/agenda/import", self.import_agenda, methods=["POST"]),
            Route("/documents/{doc_id}/agenda.ics", self.export_agenda, methods=["GET"]),
        ]

    @requires(Action.READ)
    async def get_data(self, request: Request, auth: Authorized) -> Response:
        """``GET .../data[?theme=][?format=json|geojson]``: the document as JSON (monitoring:
        one theme's entries; actors: the caller's view, or a GeoJSON FeatureCollection)."""
        meta = auth.meta
        schema = require_data(meta)
        theme = request.query_params.get("theme")
        fmt = request.query_params.get("format", "json")
        if fmt not in ("json", "geojson"):
            raise BadRequest(f"format must be json or geojson, not {fmt!r}")
        if theme is not None:
            if meta.schema != "monitoring":
                raise BadRequest("theme filters monitoring documents only")
            if not theme or len(theme) > 64:
                raise BadRequest("theme must be 1-64 characters")
        room = await self.context.hub.room(meta.doc_id)
        variant = "|".join((theme or "", fmt,
                            view_key(meta.schema, auth.principal, meta.doc_id)))
        etag = self._data.views.etag(room, variant)
        headers = {"ETag": etag, "Cache-Control": "private, no-cache", "Vary": "Authorization"}
        if etag_matches(request, etag):
            return Response(status_code=304, headers=headers)
        views = self._data.views
        if schema == "agenda" and fmt == "json" and is_allowed(
                auth.principal, Action.MODERATE, meta.doc_id):
            # Moderators read each failed feed's detail; readers FEED_ERROR only.
            data = self._agenda.with_details(meta.doc_id, views.data(room))
            return JSONResponse(data, headers=headers)
        body = views.view_body(room, schema, auth.principal, meta.doc_id, theme=theme, fmt=fmt)
        return Response(body, headers=headers, media_type=(
            GEOJSON_MEDIA_TYPE if fmt == "geojson" else "application/json"))

    @requires(Action.READ)
    async def patch_data(self, request: Request, auth: Authorized) -> Response:
        """``PATCH .../data`` (``application/merge-patch+json``): the new data, with its ETag."""
        schema = require_data(auth.meta)
        body = await read_json(request, self.context.max_body_bytes,
                               media_types=(MERGE_PATCH, "application/json"),
                               max_values=values_per_write(self.context.limits, auth.principal))
        patch = normalize(body)
        assert isinstance(patch, dict)
        if auth.meta.schema == "agenda":
            self._agenda.check_feeds(patch)
        await self._data.patch(auth.meta, auth.principal, patch)
        room = await self.context.hub.room(auth.doc_id)
        answer = self._data.views.view_body(room, schema, auth.principal, auth.doc_id)
        return Response(answer, headers={"ETag": self._data.views.etag(room)},
                        media_type="application/json")

    @requires(Action.READ)
    async def import_data(self, request: Request, auth: Authorized) -> Response:
        """``POST .../data?format=geojson``: import a FeatureCollection into an actors map.

        Judged as the merge patch it amounts to (field rules, schema, bounds): a refusal
        (403, 422 naming the feature or field) writes nothing.
        """
        require_data(auth.meta)
        fmt = request.query_params.get("format")
        if fmt != "geojson":
            raise BadRequest("POST .../data imports ?format=geojson; patch JSON with PATCH")
        # A feature carries fewer than twice the values of the patch it becomes (its
        # "type", "geometry" and "properties" wrappers), and the patch is bounded too.
        body = await read_json(request, self.context.max_body_bytes,
                               media_types=(GEOJSON_MEDIA_TYPE, "application/json"),
                               max_values=2 * values_per_write(self.context.limits,
                                                               auth.principal))
        patch = geojson_patch(auth.meta.schema, normalize(body),
                              max_features=self.context.limits.data_entries_per_collection)
        await self._data.patch(auth.meta, auth.principal, patch)
        imported = patch.get("actors")
        ids = sorted(imported) if isinstance(imported, dict) else []
        return JSONResponse({"imported": len(ids), "ids": ids})

    @requires(Action.READ, token_in_query=True)
    async def events(self, request: Request, auth: Authorized) -> Response:
        """``GET .../data/events``: Server-Sent Events, one ``data`` event per change.

        The token may come as ``?token=`` (``EventSource`` cannot set headers). A stream
        ends with an ``end`` event (its reason) when the token expires (plus the leeway)
        or the reader loses its right (document deleted or made private); at most
        ``limits.streams_per_principal`` open at once per principal on this node (429,
        answered after the refusal delay).
        """
        meta = auth.meta
        require_data(meta)
        theme = request.query_params.get("theme")
        key = principal_key(auth.principal, request.client.host if request.client else None)
        limit = self.context.limits.streams_per_principal
        if limit > 0 and self._streams.get(key, 0) >= limit:
            await self.context.access.pacer.pause(key)
            raise RateLimited(
                f"too many open event streams for this token's subject: at most {limit} "
                "on this node; close one and retry"
            )
        self._streams[key] = self._streams.get(key, 0) + 1
        return _Stream(self._follow(auth, theme), release=lambda: self._release_stream(key))

    async def _follow(self, auth: Authorized, theme: str | None) -> AsyncIterator[str | bytes]:
        """The events of one stream, until its token expires or its right is lost."""
        expires_at = auth.principal.expires_at
        ends_at = math.inf if expires_at is None else (
            expires_at + self.context.token_leeway_seconds
        )
        async with self._data.follow(auth.doc_id) as wait:
            room = await self.context.hub.room(auth.doc_id)
            last = b""
            while True:
                body = self._data.views.view_body(room, auth.meta.schema or "",
                                                  auth.principal, auth.doc_id,
                                                  theme=theme or None)
                if body is not last and body != last:
                    last = body
                    yield b"retry: 2000\nevent: data\ndata: " + body + b"\n\n"
                revoked = room.access_changed
                timeout = min(KEEPALIVE_SECONDS, ends_at - time.time())
                with anyio.move_on_after(max(0.0, timeout)) as scope:
                    await _first_of(wait, revoked.wait)
                if time.time() >= ends_at:
                    yield _end("token expired")
                    return
                if scope.cancelled_caught or revoked.is_set():
                    # A revocation, or the keep-alive's safety net (a lost cluster frame).
                    reason = await self._lost_right(auth)
                    if reason is not None:
                        yield _end(reason)
                        return
                if scope.cancelled_caught:
                    yield ": keep-alive\n\n"

    async def _lost_right(self, auth: Authorized) -> str | None:
        """Why the stream's reader may no longer read its document; ``None``: it still may."""
        try:
            meta = await self.context.store.get_document(auth.doc_id)
        except DocumentNotFound:
            return Revocation.DELETED.reason
        except StorageUnavailable:
            return None  # Judged again at the next keep-alive.
        if not is_allowed(auth.principal, Action.READ, auth.doc_id,
                          doc_is_public=meta.is_public):
            return Revocation.MADE_PRIVATE.reason
        return None

    def _release_stream(self, key: str) -> None:
        held = self._streams.get(key, 0) - 1
        if held > 0:
            self._streams[key] = held
        else:
            self._streams.pop(key, None)

    @requires(Action.EDIT)
    async def upload(self, request: Request, auth: Authorized) -> Response:
        """``PUT .../resources/{rid}/file?name=``: attach the body to a library resource."""
        doc_id = auth.doc_id
        if require_data(auth.meta) != "library":
            raise NotFound("files attach to library documents only")
        resource_id = str(request.path_params["resource_id"])
        name = (request.query_params.get("name") or "").strip()
        if not name or len(name) > 255 or any(c in name for c in "/\\\x00"):
            raise BadRequest("give the file's name as ?name= (1-255 characters, no slash)")
        content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if not CONTENT_TYPE.fullmatch(content_type):
            raise UnsupportedMediaType("send the file's own Content-Type (type/subtype)")
        content = await _read_limited(request, self._max_file_bytes)
        room = await self.context.hub.room(doc_id)
        require(auth.principal, Action.EDIT, doc_id, doc_is_frozen=room.is_frozen)
        resources = read_data(room.doc).get("resources")
        if not isinstance(resources, dict) or resource_id not in resources:
            raise NotFound(f"no resource {resource_id!r}: add it with PATCH first")
        if self.context.disk is not None:
            self.context.disk.ensure(len(content))
        try:
            file_id = await anyio.to_thread.run_sync(self._files.save, doc_id, content)
        except OSError as exc:
            log.error("file not stored: %s", exc, extra={"doc_id": doc_id})
            raise Invalid("the file could not be stored") from exc
        described: JsonObject = {"id": file_id, "name": name, "content_type": content_type,
                                 "size": len(content)}
        await self.context.hub.transform(
            doc_id, lambda doc: _attach(doc, resource_id, described),
            principal=auth.principal.sub,
        )
        return JSONResponse(described, status_code=201)

    @requires(Action.READ, token_in_query=True)
    async def download(self, request: Request, auth: Authorized) -> Response:
        """``GET .../files/{file_id}``: a stored file, with the type it was uploaded with."""
        meta = auth.meta
        require_data(meta)
        file_id = str(request.path_params["file_id"])
        room = await self.context.hub.room(meta.doc_id)
        described = _find_file(read_data(room.doc), file_id)
        path = self._files.path(meta.doc_id, file_id)
        if described is None or path is None:
            raise NotFound(f"no file {file_id!r} in {meta.doc_id!r}")
        content_type = str(described["content_type"])
        disposition = "inline" if content_type in INLINE_TYPES else "attachment"
        return FileResponse(
            path, media_type=content_type, filename=str(described["name"]),
            content_disposition_type=disposition,
            headers={"X-Content-Type-Options": "nosniff",
                     "Content-Security-Policy": "default-src 'none'; sandbox"},
        )

    @requires(Action.MODERATE)
    async def import_agenda(self, request: Request, auth: Authorized) -> Response:
        """``POST .../agenda/import``: import the agenda's feeds now (moderators)."""
        if require_data(auth.meta) != "agenda":
            raise NotFound("feeds belong to agenda documents")
        report = await self._agenda.import_feeds(auth.doc_id)
        return JSONResponse({"feeds": report})

    @requires(Action.READ, token_in_query=True)
    async def export_agenda(self, request: Request, auth: Authorized) -> Response:
        """``GET .../agenda.ics``: the merged agenda as iCalendar."""
        meta = auth.meta
        require_data(meta)
        if meta.schema != "agenda":
            raise NotFound("only agenda documents export iCalendar")
        room = await self.context.hub.room(meta.doc_id)
        body = export_ics(read_data(room.doc), stamp=datetime.now(UTC))
        return Response(body, media_type="text/calendar; charset=utf-8", headers={
            "Content-Disposition": f'attachment; filename="{meta.doc_id}.ics"',
        })


class _Stream(StreamingResponse):
    """An event stream that gives its principal's slot back however it ends."""

    def __init__(self, events: AsyncIterator[str | bytes], *,
                 release: Callable[[], None]) -> None:
        super().__init__(events, media_type="text/event-stream", headers={
            "Cache-Control": "no-cache", "X-Accel-Buffering": "no",
        })
        self._release = release

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Stream, then free the slot (also when the client left or sending failed)."""
        try:
            await super().__call__(scope, receive, send)
        finally:
            self._release()


def _end(reason: str) -> str:
    """The last event of a stream: why it ends (``EventSource`` then reconnects and is
    refused with the matching 401, 403 or 404)."""
    return f"event: end\ndata: {json.dumps({'reason': reason})}\n\n"


async def _first_of(*waits: Callable[[], Awaitable[object]]) -> None:
    """Return as soon as one of `waits` returns (the others are cancelled)."""
    async with anyio.create_task_group() as tg:

        async def one(wait: Callable[[], Awaitable[object]]) -> None:
            await wait()
            tg.cancel_scope.cancel()

        for wait in waits:
            tg.start_soon(one, wait)


async def _read_limited(request: Request, limit: int) -> bytes:
    body = await read_limited(request, limit, "file")
    if not body:
        raise BadRequest("the file is empty")
    return body


def _attach(doc: Doc[Any], resource_id: str, described: JsonObject) -> None:
    """Set a resource's ``file`` (a server-kept field), keeping the document valid.

    Raises:
        NotFound: the resource was removed meanwhile.
    """
    data = read_data(doc)
    resources = data.get("resources")
    if not isinstance(resources, dict) or resource_id not in resources:
        raise NotFound(f"no resource {resource_id!r}")
    patch: JsonObject = {"resources": {resource_id: {"file": described}}}
    try:
        validate("library", merge_patch(data, patch))
    except SchemaError as exc:
        raise Invalid(str(exc)) from exc
    apply_merge_patch(doc, patch)


def _find_file(data: JsonObject, file_id: str) -> JsonObject | None:
    resources = data.get("resources")
    for resource in (resources.values() if isinstance(resources, dict) else []):
        if isinstance(resource, dict):
            described = resource.get("file")
            if isinstance(described, dict) and described.get("id") == file_id:
                return described
    return None


def values_per_write(limits: Limits, principal: Principal) -> int:
    """The JSON values one data write of `principal` may carry: `Limits.data_values_per_write`
    for members and facilitators, `Limits.citizen_values_per_write` (at most that) for
    citizens and the public."""
    if principal.role in (Role.MEMBER, Role.FACILITATOR):
        return limits.data_values_per_write
    return min(limits.citizen_values_per_write, limits.data_values_per_write)
