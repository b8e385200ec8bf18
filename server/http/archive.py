"""``/api/documents/{id}/snapshots``: archive a stage, list the archive, read and restore.

Snapshots are taken from the live rooms (the text and its ``D.annotations`` companion)
and stored by the `Archive` port, hash-chained. Facilitators snapshot and restore; whoever
may read a document (the public too, when it is public) lists and reads its snapshots.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from pycrdt import Doc
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from crdt.convert import render
from crdt.doc_id import ANNOTATIONS_SUFFIX
from crdt.document import doc_from_update
from crdt.errors import InvalidUpdate, SchemaError
from crdt.restore import replace_text
from server.access.auth import Principal, Role
from server.access.permissions import Action, require
from server.errors import BadRequest, NotFound, Overloaded
from server.events import WebhookEvent
from server.http.context import (
    ApiContext,
    JsonObject,
    caller,
    doc_id_of,
    governance_changed,
    live_document,
    only_fields,
    read_json,
    storage_errors,
    text_field,
)
from storage.archive import Archive, Snapshot, SnapshotNotFound, is_archive

MAX_LABEL = 500
_SNAPSHOT_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")
_MEDIA_TYPES: dict[str, str] = {
    "md": "text/markdown; charset=utf-8",
    "html": "text/html; charset=utf-8",
    "text": "text/plain; charset=utf-8",
    "json": "application/json",
    "yjs": "application/octet-stream",
}


class Archives:
    """The snapshot endpoints, bound to one app's context (its catalog keeps the archive)."""

    def __init__(self, context: ApiContext) -> None:
        self._context = context
        catalog = context.catalog
        self._archive: Archive | None = catalog if is_archive(catalog) else None

    def routes(self) -> list[Route]:
        """The routes, relative to ``/api``."""
        base = "/documents/{doc_id}/snapshots"
        return [
            Route(base, self.create_snapshot, methods=["POST"]),
            Route(base, self.list_snapshots, methods=["GET"]),
            Route("/documents/{doc_id}/stages", self.list_stages, methods=["GET"]),
            Route(base + "/{snapshot_id}", self.get_snapshot, methods=["GET"]),
            Route(base + "/{snapshot_id}/content", self.get_content, methods=["GET"]),
            Route(base + "/{snapshot_id}/restore", self.restore, methods=["POST"]),
        ]

    def _store(self) -> Archive:
        if self._archive is None:
            raise Overloaded("this server's store keeps no archive")
        return self._archive

    async def _readable(self, request: Request) -> tuple[Principal, str]:
        principal = await caller(request, self._context)
        doc_id = doc_id_of(request)
        meta = await live_document(self._context, doc_id)
        require(principal, Action.READ, doc_id, doc_is_public=meta.is_public)
        return principal, doc_id

    async def _snapshot(self, request: Request, doc_id: str) -> Snapshot:
        snapshot_id = str(request.path_params["snapshot_id"])
        if not _SNAPSHOT_ID.fullmatch(snapshot_id):
            raise NotFound(f"document {doc_id!r} has no snapshot {snapshot_id!r}")
        with archive_errors(doc_id):
            return await self._store().get_snapshot(doc_id, snapshot_id)

    async def create_snapshot(self, request: Request) -> Response:
        """``POST .../snapshots`` ``{"label", "stage"}`` (facilitators): 201, the snapshot."""
        principal = await caller(request, self._context)
        doc_id = doc_id_of(request)
        body = await read_json(request, self._context)
        meta = await live_document(self._context, doc_id)
        require(principal, Action.SNAPSHOT, doc_id, doc_is_public=meta.is_public)
        only_fields(body, {"label", "stage"})
        label = text_field(body, "label", required=True, max_length=MAX_LABEL) or ""
        stage = text_field(body, "stage", required=True, max_length=MAX_LABEL) or ""
        hub = self._context.hub
        with storage_errors(doc_id):
            # The state is taken at once and rendered from that copy: the live text may
            # change during the awaits below, the snapshot stays one consistent version.
            state = (await hub.room(doc_id)).doc.get_update()
            annotations = (await hub.room(doc_id + ANNOTATIONS_SUFFIX)).doc.get_update()
        text = doc_from_update(state)
        with archive_errors(doc_id):
            snapshot = await self._store().add_snapshot(
                doc_id=doc_id, stage=stage, label=label, created_by=principal.sub,
                created_by_name=principal.name, state=state, markdown=render(text, "md"),
                html=render(text, "html"), annotations_state=annotations,
            )
            await self._store().record_audit(
                doc_id=doc_id, action="snapshot.created", actor_sub=principal.sub,
                actor_name=principal.name, detail=_audit_detail(snapshot),
            )
        if self._context.notify is not None:
            self._context.notify(WebhookEvent.SNAPSHOT_CREATED, doc_id, _audit_detail(snapshot))
        await governance_changed(self._context, doc_id)
        response = JSONResponse(snapshot_json(snapshot, principal), status_code=201)
        response.headers["Location"] = f"{request.url.path.rstrip('/')}/{snapshot.snapshot_id}"
        return response

    async def list_snapshots(self, request: Request) -> Response:
        """``GET .../snapshots``: every snapshot by number, without the content."""
        principal, doc_id = await self._readable(request)
        with archive_errors(doc_id):
            snapshots = await self._store().list_snapshots(doc_id)
        return JSONResponse({"snapshots": [snapshot_json(s, principal) for s in snapshots]})

    async def list_stages(self, request: Request) -> Response:
        """``GET .../stages``: the document's stages in the order they were first archived.

        A stage is the ``stage`` of its snapshots: the list says which snapshots each
        stage holds (by number) and whether one of them is the adopted version.
        """
        principal, doc_id = await self._readable(request)
        with archive_errors(doc_id):
            snapshots = await self._store().list_snapshots(doc_id)
        stages: dict[str, list[Snapshot]] = {}
        for snapshot in snapshots:
            stages.setdefault(snapshot.stage, []).append(snapshot)
        return JSONResponse({"stages": [
            {
                "stage": stage,
                "snapshots": [snapshot_json(s, principal) for s in members],
                "adopted": any(s.adopted for s in members),
            }
            for stage, members in stages.items()
        ]})

    async def get_snapshot(self, request: Request) -> Response:
        """``GET .../snapshots/{sid}``: one snapshot's metadata."""
        principal, doc_id = await self._readable(request)
        return JSONResponse(snapshot_json(await self._snapshot(request, doc_id), principal))

    async def get_content(self, request: Request) -> Response:
        """``GET .../snapshots/{sid}/content?format=md|html|text|json|yjs``."""
        fmt = request.query_params.get("format", "md")
        if fmt not in _MEDIA_TYPES:
            raise BadRequest(f"format must be one of {', '.join(_MEDIA_TYPES)}, not {fmt!r}")
        _, doc_id = await self._readable(request)
        snapshot = await self._snapshot(request, doc_id)
        headers = {"ETag": f'"{snapshot.chain_hash[:40]}-{fmt}"',
                   "Cache-Control": "private, max-age=31536000, immutable",
                   "Vary": "Authorization"}
        body: str | bytes
        if fmt == "yjs":
            body = snapshot.state
        elif fmt == "md":
            body = snapshot.markdown
        elif fmt == "html":
            body = snapshot.html
        else:
            body = render(_stored_text(snapshot), "text" if fmt == "text" else "json")
        return Response(body, media_type=_MEDIA_TYPES[fmt], headers=headers)

    async def restore(self, request: Request) -> Response:
        """``POST .../snapshots/{sid}/restore`` (facilitators): the live text becomes it.

        A server write through the hub: every block keeps its id, so comments follow.
        """
        principal = await caller(request, self._context)
        doc_id = doc_id_of(request)
        meta = await live_document(self._context, doc_id)
        require(principal, Action.SNAPSHOT, doc_id, doc_is_public=meta.is_public)
        snapshot = await self._snapshot(request, doc_id)
        with archive_errors(doc_id):
            frozen = await self._store().get_freeze(doc_id)
        require(principal, Action.EDIT, doc_id, doc_is_public=meta.is_public,
                doc_is_frozen=frozen.frozen)
        source = _stored_text(snapshot)

        def restore(doc: Doc[Any]) -> None:
            replace_text(doc, source)

        with storage_errors(doc_id):
            await self._context.hub.transform(doc_id, restore, principal=principal.sub)
        detail = _audit_detail(snapshot)
        with archive_errors(doc_id):
            await self._store().record_audit(
                doc_id=doc_id, action="snapshot.restored", actor_sub=principal.sub,
                actor_name=principal.name, detail=detail,
            )
        return JSONResponse({"restored": snapshot_json(snapshot, principal)})


def snapshot_json(snapshot: Snapshot, principal: Principal) -> JsonObject:
    """A snapshot's metadata as the API shows it (no author id to the public)."""
    shown: JsonObject = {
        "id": snapshot.snapshot_id, "number": snapshot.number, "stage": snapshot.stage,
        "label": snapshot.label, "created_at": snapshot.created_at,
        "created_by": snapshot.created_by, "created_by_name": snapshot.created_by_name,
        "hash": snapshot.content_hash, "previous_hash": snapshot.previous_hash,
        "chain_hash": snapshot.chain_hash, "adopted": snapshot.adopted,
    }
    if principal.role is Role.PUBLIC:
        shown["created_by"] = None
    return shown


def _audit_detail(snapshot: Snapshot) -> JsonObject:
    return {"snapshot_id": snapshot.snapshot_id, "number": snapshot.number,
            "stage": snapshot.stage, "label": snapshot.label, "hash": snapshot.content_hash}


def _stored_text(snapshot: Snapshot) -> Doc[Any]:
    """The snapshot's text as a document.

    Raises:
        Overloaded: the stored state does not decode (a damaged archive).
    """
    try:
        return doc_from_update(snapshot.state)
    except (InvalidUpdate, SchemaError) as exc:
        raise Overloaded(f"snapshot {snapshot.number} does not decode: {exc}") from exc


@contextmanager
def archive_errors(doc_id: str) -> Iterator[None]:
    """Translate archive errors: an unknown snapshot is 404, the rest as `storage_errors`.

    Raises:
        NotFound: no such snapshot (or document).
        Overloaded: storage is down.
    """
    try:
        with storage_errors(doc_id):
            yield
    except SnapshotNotFound as exc:
        raise NotFound(str(exc)) from exc
