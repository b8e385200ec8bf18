"""Freeze, unfreeze, adopt, diff and the audit log of a document, under ``/documents/{id}``.

- ``POST .../freeze`` ``{"comments_open"?}`` and ``POST .../unfreeze`` (facilitators):
  200 with the freeze state; in force on every open socket before the answer is sent.
- ``POST .../adopt`` ``{"label"?, "stage"?, "comments_open"?, "force"?}`` (facilitators):
  freezes, then archives the frozen text as a snapshot flagged ``adopted``; 201 with it
  (`Governance.adopt`) and ``session``: the open session and the members present. With a
  quorum set, 409 ``quorum_not_met`` outside a session or below it, unless ``force``
  (`SessionsService.adoption_record`).
- ``GET .../diff?from=SID|live&to=SID|live[&format=html]``: paragraph diff (`crdt.diff`),
  each changed block naming the amendments accepted between the two versions that
  produced it (`crdt.diff_amendments`).
- ``GET .../audit?limit=&before=`` (facilitators): governance actions, newest first.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Route

from crdt.diff import diff_html, diff_json, diff_updates
from crdt.diff_amendments import accepted_between, applied_json, with_amendments
from crdt.doc_id import ANNOTATIONS_SUFFIX
from crdt.errors import InvalidUpdate
from server.access.permissions import Action
from server.errors import BadRequest, Invalid, Overloaded
from server.http.archive import snapshot_json
from server.http.authorize import Authorized, requires
from server.http.body import JsonObject, flag, int_param, only_fields, optional_json, text_field
from server.http.context import ApiContext, created
from server.modules.governance import freeze_json
from storage.archive import AuditEntry

MAX_LABEL = 500
LIVE = "live"


class GovernanceApi:
    """The governance endpoints, bound to one app's context."""

    def __init__(self, context: ApiContext) -> None:
        self.context = context
        self._governance = context.governance

    def routes(self) -> list[Route]:
        """The routes, relative to ``/api``."""
        base = "/documents/{doc_id}"
        return [
            Route(base + "/freeze", self.freeze, methods=["POST"]),
            Route(base + "/unfreeze", self.unfreeze, methods=["POST"]),
            Route(base + "/adopt", self.adopt, methods=["POST"]),
            Route(base + "/audit", self.audit, methods=["GET"]),
            Route(base + "/diff", self.diff, methods=["GET"]),
        ]

    @requires(Action.FREEZE)
    async def freeze(self, request: Request, auth: Authorized) -> Response:
        """``POST .../freeze`` ``{"comments_open"?}``: the freeze state."""
        body = await optional_json(request, self.context.max_body_bytes)
        only_fields(body, {"comments_open"})
        state = await self._governance.freeze(auth.doc_id, auth.principal,
                                              comments_open=flag(body, "comments_open"))
        await self._governance.announce(auth.doc_id)
        return JSONResponse(freeze_json(state))

    @requires(Action.FREEZE)
    async def unfreeze(self, request: Request, auth: Authorized) -> Response:
        """``POST .../unfreeze``: the freeze state."""
        state = await self._governance.unfreeze(auth.doc_id, auth.principal)
        await self._governance.announce(auth.doc_id)
        return JSONResponse(freeze_json(state))

    @requires(Action.ADOPT)
    async def adopt(self, request: Request, auth: Authorized) -> Response:
        """``POST .../adopt`` ``{"label"?, "stage"?, "comments_open"?}``: 201, the snapshot."""
        body = await optional_json(request, self.context.max_body_bytes)
        only_fields(body, {"label", "stage", "comments_open", "force"})
        if self.context.disk is not None:
            self.context.disk.ensure(0)
        record = await self.context.sessions.adoption_record(
            auth.doc_id, auth.principal, force=flag(body, "force"))
        snapshot = await self._governance.adopt(
            auth.doc_id, auth.principal,
            label=text_field(body, "label", max_length=MAX_LABEL) or "Version adoptée",
            stage=text_field(body, "stage", max_length=MAX_LABEL) or "adopted",
            comments_open=flag(body, "comments_open"), detail={"session": record},
        )
        return created({**snapshot_json(snapshot, auth.principal), "session": record},
                       f"/api/documents/{auth.doc_id}/snapshots/{snapshot.snapshot_id}")

    @requires(Action.READ_AUDIT)
    async def audit(self, request: Request, auth: Authorized) -> Response:
        """``GET .../audit?limit=&before=``: newest first, with the next page's cursor."""
        limit = int_param(request, "limit", 100, low=1, high=1000)
        before = request.query_params.get("before")
        cursor = None if before is None else int_param(request, "before", 0, low=1,
                                                        high=2**62)
        entries = await self.context.store.list_audit(auth.doc_id, limit=limit, before=cursor)
        return JSONResponse({
            "entries": [audit_json(entry) for entry in entries],
            "next": entries[-1].entry_id if len(entries) == limit else None,
        })

    @requires(Action.READ)
    async def diff(self, request: Request, auth: Authorized) -> Response:
        """``GET .../diff?from=&to=[&format=html]``: what changed between two versions."""
        params = request.query_params
        fmt = params.get("format", "json")
        if fmt not in ("json", "html"):
            raise BadRequest(f"format must be json or html, not {fmt!r}")
        source, target = params.get("from"), params.get("to", LIVE)
        if source is None:
            raise BadRequest("from is required: a snapshot id or 'live'")
        before, before_notes = await self._version(auth.doc_id, source)
        after, after_notes = await self._version(auth.doc_id, target)
        try:
            applied = accepted_between(before_notes, after_notes)
            result = with_amendments(diff_updates(before, after), applied)
        except InvalidUpdate as exc:
            raise Overloaded(f"a stored version does not decode: {exc}") from exc
        if fmt == "html":
            return HTMLResponse(diff_html(result))
        return JSONResponse({"from": source, "to": target, **diff_json(result),
                             "amendments": applied_json(applied)})

    async def _version(self, doc_id: str, which: str) -> tuple[bytes, bytes]:
        """The text's state and its annotations' state at `which`."""
        if which == LIVE:
            text = (await self.context.hub.room(doc_id)).doc.get_update()
            notes = await self.context.hub.room(doc_id + ANNOTATIONS_SUFFIX)
            return text, notes.doc.get_update()
        if not which or len(which) > 64:
            raise Invalid("from and to are snapshot ids or 'live'")
        snapshot = await self.context.store.get_snapshot(doc_id, which)
        return snapshot.state, snapshot.annotations_state


def audit_json(entry: AuditEntry) -> JsonObject:
    """An audit entry as the API shows it."""
    return {"id": entry.entry_id, "action": entry.action, "actor_sub": entry.actor_sub,
            "actor_name": entry.actor_name, "at": entry.at, "detail": entry.detail}
