"""``/api/documents/{id}/snapshots``: archive a stage, list the archive, read and restore.

Snapshots are taken from the live rooms (the text and its ``D.annotations`` companion)
and stored hash-chained (`Governance.snapshot`). Facilitators snapshot and restore; whoever
may read a document (the public too, when it is public) lists and reads its snapshots.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Sequence
from typing import Any

from pycrdt import Doc
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from crdt.actors import GEOJSON_MEDIA_TYPE
from crdt.convert import render
from crdt.data import JsonObject as DataObject
from crdt.data import read_data
from server.access.auth import Principal, Role
from server.access.permissions import Action, require, whole_read_action
from server.errors import NotFound
from server.http.authorize import Authorized, requires
from server.http.body import JsonObject, only_fields, read_json, text_field
from server.http.context import MEDIA_TYPES, ApiContext, content_format, created
from server.modules.actors import geojson_of, view_for, view_key
from server.modules.governance import stored_text
from server.modules.names import INSIDERS, DisplayNames
from storage.archive import Snapshot

MAX_LABEL = 500
_SNAPSHOT_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")
_SNAPSHOT_MEDIA_TYPES = {**MEDIA_TYPES, "yjs": "application/octet-stream",
                         "geojson": GEOJSON_MEDIA_TYPE}


class Archives:
    """The snapshot endpoints, bound to one app's context."""

    def __init__(self, context: ApiContext) -> None:
        self.context = context
        self._names = DisplayNames(context.store)

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

    async def _shown(self, snapshots: Sequence[Snapshot], principal: Principal
                     ) -> list[JsonObject]:
        """Snapshots' metadata, their makers named as `principal` may see them."""
        shown = [snapshot_json(s, principal) for s in snapshots]
        if principal.role not in INSIDERS:
            names = await self._names.show([s.created_by for s in snapshots], principal)
            for entry, snapshot in zip(shown, snapshots, strict=True):
                if snapshot.created_by is not None:
                    entry["created_by_name"] = names[snapshot.created_by].display_name
        return shown

    async def _snapshot(self, request: Request, doc_id: str) -> Snapshot:
        snapshot_id = str(request.path_params["snapshot_id"])
        if not _SNAPSHOT_ID.fullmatch(snapshot_id):
            raise NotFound(f"document {doc_id!r} has no snapshot {snapshot_id!r}")
        return await self.context.store.get_snapshot(doc_id, snapshot_id)

    @requires(Action.SNAPSHOT)
    async def create_snapshot(self, request: Request, auth: Authorized) -> Response:
        """``POST .../snapshots`` ``{"label", "stage"}`` (facilitators): 201, the snapshot."""
        body = await read_json(request, self.context.max_body_bytes)
        only_fields(body, {"label", "stage"})
        if self.context.disk is not None:
            self.context.disk.ensure(0)
        snapshot = await self.context.governance.snapshot(
            auth.doc_id, auth.principal,
            label=text_field(body, "label", required=True, max_length=MAX_LABEL) or "",
            stage=text_field(body, "stage", required=True, max_length=MAX_LABEL) or "",
        )
        return created(snapshot_json(snapshot, auth.principal),
                       f"{request.url.path.rstrip('/')}/{snapshot.snapshot_id}")

    @requires(Action.READ)
    async def list_snapshots(self, request: Request, auth: Authorized) -> Response:
        """``GET .../snapshots``: every snapshot by number, without the content."""
        snapshots = await self.context.store.list_snapshots(auth.doc_id)
        return JSONResponse({"snapshots": await self._shown(snapshots, auth.principal)})

    @requires(Action.READ)
    async def list_stages(self, request: Request, auth: Authorized) -> Response:
        """``GET .../stages``: the document's stages in the order they were first archived.

        A stage is the ``stage`` of its snapshots: the list says which snapshots each
        stage holds (by number) and whether one of them is the adopted version.
        """
        snapshots = await self.context.store.list_snapshots(auth.doc_id)
        stages: dict[str, list[Snapshot]] = {}
        for snapshot in snapshots:
            stages.setdefault(snapshot.stage, []).append(snapshot)
        return JSONResponse({"stages": [
            {
                "stage": stage,
                "snapshots": await self._shown(members, auth.principal),
                "adopted": any(s.adopted for s in members),
            }
            for stage, members in stages.items()
        ]})

    @requires(Action.READ)
    async def get_snapshot(self, request: Request, auth: Authorized) -> Response:
        """``GET .../snapshots/{sid}``: one snapshot's metadata."""
        snapshot = await self._snapshot(request, auth.doc_id)
        return JSONResponse((await self._shown([snapshot], auth.principal))[0])

    @requires(Action.READ)
    async def get_content(self, request: Request, auth: Authorized) -> Response:
        """``GET .../snapshots/{sid}/content?format=md|html|text|json|yjs|geojson``.

        A data document's snapshot reads as its JSON (``json``; the reader's view of an
        actors map, as ``GET .../data`` shows it) or, for actors maps, as GeoJSON; its
        Yjs state only for who may read the document whole.
        """
        fmt = content_format(request, _SNAPSHOT_MEDIA_TYPES)
        meta, principal = auth.meta, auth.principal
        schema = meta.schema if meta.kind == "data" else None
        snapshot = await self._snapshot(request, auth.doc_id)
        view = view_key(schema, principal, auth.doc_id)
        headers = {"ETag": f'"{snapshot.chain_hash[:40]}-{fmt}-{_digest(view)}"',
                   "Cache-Control": "private, max-age=31536000, immutable",
                   "Vary": "Authorization"}
        body: str | bytes
        if fmt == "geojson" or (schema is not None and fmt == "json"):
            data = view_for(schema, principal, auth.doc_id, _data_of(snapshot.state))
            shown = geojson_of(schema, data) if fmt == "geojson" else data
            body = json.dumps(shown, ensure_ascii=False)
        elif fmt == "yjs":
            require(principal, whole_read_action(schema), auth.doc_id,
                    doc_is_public=meta.is_public)
            body = snapshot.state
        elif fmt == "md":
            body = snapshot.markdown
        elif fmt == "html":
            body = snapshot.html
        else:
            body = render(stored_text(snapshot), "text" if fmt == "text" else "json")
        return Response(body, media_type=_SNAPSHOT_MEDIA_TYPES[fmt], headers=headers)

    @requires(Action.SNAPSHOT)
    async def restore(self, request: Request, auth: Authorized) -> Response:
        """``POST .../snapshots/{sid}/restore`` (facilitators): the live text becomes it.

        A server write through the hub: every block keeps its id, so comments follow.
        """
        snapshot = await self._snapshot(request, auth.doc_id)
        await self.context.governance.restore(auth.doc_id, auth.principal, snapshot,
                                              doc_is_public=auth.meta.is_public)
        return JSONResponse({"restored": snapshot_json(snapshot, auth.principal)})


def _data_of(state: bytes) -> DataObject:
    doc: Doc[Any] = Doc()
    doc.apply_update(state)
    return read_data(doc)


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:12]


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
