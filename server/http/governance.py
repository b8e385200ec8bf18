"""Freeze, unfreeze, adopt, diff and the audit log of a document, under ``/api/documents/{id}``.

- ``POST .../freeze`` ``{"comments_open"?}`` and ``POST .../unfreeze`` (facilitators):
  200 with the freeze state; in force on every open socket before the answer is sent.
- ``POST .../adopt`` ``{"label"?, "stage"?, "comments_open"?}`` (facilitators): freezes,
  then archives the frozen text as a snapshot flagged ``adopted``; 201 with it. Freezing
  first makes the adopted snapshot exactly the text that stays frozen.
- ``GET .../diff?from=SID|live&to=SID|live[&format=html]``: paragraph diff (`crdt.diff`).
- ``GET .../audit?limit=&before=`` (facilitators): governance actions, newest first.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import BaseRoute, Route

from crdt.convert import render
from crdt.diff import diff_html, diff_json, diff_updates
from crdt.doc_id import ANNOTATIONS_SUFFIX
from crdt.document import doc_from_update
from crdt.errors import InvalidUpdate
from server.access.auth import Principal
from server.access.permissions import Action, require
from server.errors import BadRequest, Invalid, Overloaded
from server.events import WebhookEvent
from server.http.archive import archive_errors, snapshot_json
from server.http.context import (
    ApiContext,
    JsonObject,
    caller,
    doc_id_of,
    governance_changed,
    int_param,
    live_document,
    only_fields,
    read_json,
    storage_errors,
    text_field,
)
from server.modules.governance import Governance, freeze_json, record
from storage.archive import AuditEntry

MAX_LABEL = 500
LIVE = "live"


def governance_routes(context: ApiContext, governance: Governance) -> list[BaseRoute]:
    """The governance endpoints, with their full paths (``/api/documents/...``)."""
    archive = governance.archive

    async def checked(request: Request, action: Action) -> tuple[Principal, str]:
        principal = await caller(request, context)
        doc_id = doc_id_of(request)
        meta = await live_document(context, doc_id)
        require(principal, action, doc_id, doc_is_public=meta.is_public)
        return principal, doc_id

    async def freeze(request: Request) -> Response:
        principal, doc_id = await checked(request, Action.FREEZE)
        body = await _optional_json(request, context)
        only_fields(body, {"comments_open"})
        comments_open = _flag(body, "comments_open")
        with storage_errors(doc_id):
            state = await governance.freeze(doc_id, principal, comments_open=comments_open)
        await governance_changed(context, doc_id)
        return JSONResponse(freeze_json(state))

    async def unfreeze(request: Request) -> Response:
        principal, doc_id = await checked(request, Action.FREEZE)
        with storage_errors(doc_id):
            state = await governance.unfreeze(doc_id, principal)
        await governance_changed(context, doc_id)
        return JSONResponse(freeze_json(state))

    async def adopt(request: Request) -> Response:
        principal, doc_id = await checked(request, Action.ADOPT)
        body = await _optional_json(request, context)
        only_fields(body, {"label", "stage", "comments_open"})
        label = text_field(body, "label", max_length=MAX_LABEL) or "Version adoptée"
        stage = text_field(body, "stage", max_length=MAX_LABEL) or "adopted"
        comments_open = _flag(body, "comments_open")
        with storage_errors(doc_id):
            before = await archive.get_freeze(doc_id)
            await governance.freeze(doc_id, principal, comments_open=comments_open,
                                    detail={"adopting": True})
        try:
            with archive_errors(doc_id):
                # Frozen: the text cannot change under the copy taken here.
                state = (await context.hub.room(doc_id)).doc.get_update()
                companion = await context.hub.room(doc_id + ANNOTATIONS_SUFFIX)
                annotations = companion.doc.get_update()
                text = doc_from_update(state)
                snapshot = await archive.add_snapshot(
                    doc_id=doc_id, stage=stage, label=label, created_by=principal.sub,
                    created_by_name=principal.name, state=state, markdown=render(text, "md"),
                    html=render(text, "html"), annotations_state=annotations, adopted=True,
                )
        except (Overloaded, InvalidUpdate):
            if not before.frozen:  # nothing adopted: undo the freeze this call made
                with storage_errors(doc_id):
                    await governance.unfreeze(doc_id, principal)
            await governance_changed(context, doc_id)
            raise
        detail: JsonObject = {"snapshot_id": snapshot.snapshot_id, "number": snapshot.number,
                              "stage": snapshot.stage, "label": snapshot.label,
                              "hash": snapshot.content_hash}
        await record(archive, doc_id, "document.adopted", principal, detail)
        await governance_changed(context, doc_id)
        if context.notify is not None:
            context.notify(WebhookEvent.SNAPSHOT_CREATED, doc_id, {**detail, "adopted": True})
        response = JSONResponse(snapshot_json(snapshot, principal), status_code=201)
        response.headers["Location"] = (
            f"/api/documents/{doc_id}/snapshots/{snapshot.snapshot_id}"
        )
        return response

    async def audit(request: Request) -> Response:
        _, doc_id = await checked(request, Action.READ_AUDIT)
        limit = int_param(request, "limit", 100, low=1, high=1000)
        before = request.query_params.get("before")
        cursor = None if before is None else int_param(request, "before", 0, low=1,
                                                        high=2**62)
        with storage_errors(doc_id):
            entries = await archive.list_audit(doc_id, limit=limit, before=cursor)
        return JSONResponse({
            "entries": [audit_json(entry) for entry in entries],
            "next": entries[-1].entry_id if len(entries) == limit else None,
        })

    async def diff(request: Request) -> Response:
        _, doc_id = await checked(request, Action.READ)
        params = request.query_params
        fmt = params.get("format", "json")
        if fmt not in ("json", "html"):
            raise BadRequest(f"format must be json or html, not {fmt!r}")
        source, target = params.get("from"), params.get("to", LIVE)
        if source is None:
            raise BadRequest("from is required: a snapshot id or 'live'")
        before = await version(doc_id, source)
        after = await version(doc_id, target)
        try:
            result = diff_updates(before, after)
        except InvalidUpdate as exc:
            raise Overloaded(f"a stored version does not decode: {exc}") from exc
        if fmt == "html":
            return HTMLResponse(diff_html(result))
        return JSONResponse({"from": source, "to": target, **diff_json(result)})

    async def version(doc_id: str, which: str) -> bytes:
        if which == LIVE:
            with storage_errors(doc_id):
                return (await context.hub.room(doc_id)).doc.get_update()
        if not which or len(which) > 64:
            raise Invalid("from and to are snapshot ids or 'live'")
        with archive_errors(doc_id):
            return (await archive.get_snapshot(doc_id, which)).state

    base = "/api/documents/{doc_id}"
    return [
        Route(base + "/freeze", freeze, methods=["POST"]),
        Route(base + "/unfreeze", unfreeze, methods=["POST"]),
        Route(base + "/adopt", adopt, methods=["POST"]),
        Route(base + "/audit", audit, methods=["GET"]),
        Route(base + "/diff", diff, methods=["GET"]),
    ]


async def _optional_json(request: Request, context: ApiContext) -> JsonObject:
    """The JSON body, or ``{}`` when none was sent (these bodies are all optional)."""
    if request.headers.get("content-length", "0") == "0" and not request.headers.get(
        "transfer-encoding"
    ):
        return {}
    return await read_json(request, context)


def _flag(body: JsonObject, name: str) -> bool:
    value = body.get(name, False)
    if not isinstance(value, bool):
        raise Invalid(f"{name!r} must be true or false")
    return value


def audit_json(entry: AuditEntry) -> JsonObject:
    """An audit entry as the API shows it."""
    return {"id": entry.entry_id, "action": entry.action, "actor_sub": entry.actor_sub,
            "actor_name": entry.actor_name, "at": entry.at, "detail": entry.detail}
