"""Invitations over HTTP: ``/api/invitations`` for facilitators, ``/invite/{id}`` for guests.

A facilitator (`Action.INVITE`, a credential not limited to some documents) creates,
lists and revokes invitations. The link ``/invite/{id}`` shows a small form (no script)
where the invited person chooses a display name; posting it (``POST /auth/invitations/{id}``,
a form or JSON ``{"name"}``) uses one of the invitation's uses and signs them in with a
sign-in session (`server.http.signin`). Opening the link changes nothing: previews of a
link in a chat cannot spend its uses.
"""

from __future__ import annotations

import html
from urllib.parse import parse_qs, quote

from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from server.access.auth import Principal, Role
from server.access.permissions import Action, require
from server.errors import Forbidden, Invalid, NotFound
from server.http.authorize import caller
from server.http.body import JsonObject, int_param, only_fields, read_json, read_limited
from server.http.context import ApiContext
from server.http.cookie import own_origin
from server.http.signin import local_path, open_session, session_json, sessions_of, with_cookie
from server.http.web import PAGE_HEADERS
from server.modules.invitations import (
    DEFAULT_TTL_SECONDS,
    MAX_DOC_PATTERNS,
    MAX_ID_CHARS,
    MAX_NAME_CHARS,
    MAX_NOTE_CHARS,
    MAX_TTL_SECONDS,
    MAX_USES,
    InvitationRequest,
    InvitationService,
)
from server.modules.people import ASSIGNABLE_ROLES
from storage.invitations import Invitation, InvitationNotFound, InvitationSpent

_FORM = "application/x-www-form-urlencoded"
_GLOB = frozenset("*?[")


def invitation_routes(context: ApiContext, service: InvitationService) -> list[BaseRoute]:
    """``/api/invitations`` (relative to ``/api``) and the guest's ``/invite``, ``/auth``."""

    async def create(request: Request) -> Response:
        principal = await caller(request, context)
        require(principal, Action.INVITE, None)
        body = await read_json(request, context.max_body_bytes)
        invitation = await service.create(_invitation_request(body), principal)
        return JSONResponse(invitation_json(request, invitation), status_code=201,
                            headers={"Location": f"/api/invitations/{invitation.id}"})

    async def list_invitations(request: Request) -> Response:
        principal = await caller(request, context)
        require(principal, Action.INVITE, None)
        limit = int_param(request, "limit", 200, low=1, high=1000)
        invitations = await service.list(limit=limit)
        return JSONResponse({"invitations": [invitation_json(request, i) for i in invitations]})

    async def revoke(request: Request) -> Response:
        principal = await caller(request, context)
        require(principal, Action.INVITE, None)
        await service.revoke(_id(request), principal)
        return Response(status_code=204)

    return [
        Route("/invitations", create, methods=["POST"]),
        Route("/invitations", list_invitations, methods=["GET"]),
        Route("/invitations/{iid}", revoke, methods=["DELETE"]),
    ]


def guest_routes(context: ApiContext, service: InvitationService) -> list[BaseRoute]:
    """The invited person's page and the sign-in it posts to."""

    async def page(request: Request) -> Response:
        try:
            invitation = await service.usable(_id(request))
        except (InvitationNotFound, NotFound):
            return _page("Invitation inconnue", "<p>Ce lien d'invitation n'existe pas.</p>",
                         404)
        except InvitationSpent as exc:
            return _page("Invitation close", f"<p>{html.escape(str(exc))}.</p>", 410)
        return _page("Invitation", _form(invitation, context.has_signin_provider), 200)

    async def accept(request: Request) -> Response:
        origin = request.headers.get("origin")
        if origin is not None and origin != own_origin(request) \
                and origin not in context.allowed_origins:
            raise Forbidden("cross-site sign-in refused")
        is_form = request.headers.get("content-type", "").startswith(_FORM)
        name, next_path = await _name_and_next(request, context, is_form=is_form)
        principal = await service.redeem(_id(request), name)
        context.access.roster.admit(principal)
        session_id, session = await open_session(
            request, context, principal, via="invitation", not_after=None,
            detail={"invitation": _id(request)[:8]})
        if is_form:
            target = local_path(next_path, _landing(principal))
            return with_cookie(RedirectResponse(target, status_code=303), request,
                               session_id, session)
        sessions = sessions_of(context)
        body = session_json(session, principal, sessions.csrf_token(session_id),
                            sessions.idle_seconds)
        body["next"] = _landing(principal)
        return with_cookie(JSONResponse(body, status_code=201, headers={
            "Cache-Control": "no-store"}), request, session_id, session)

    return [
        Route("/invite/{iid}", page, methods=["GET"]),
        Route("/auth/invitations/{iid}", accept, methods=["POST"]),
    ]


def invitation_json(request: Request, invitation: Invitation) -> JsonObject:
    """An invitation as the API shows it to facilitators (with its link)."""
    return {
        "id": invitation.id, "url": f"{own_origin(request)}/invite/{invitation.id}",
        "role": invitation.role,
        "docs": None if invitation.docs is None else list(invitation.docs),
        "note": invitation.note, "created_by": invitation.created_by,
        "created_at": invitation.created_at, "expires_at": invitation.expires_at,
        "uses": invitation.max_uses, "used": invitation.uses,
        "revoked": invitation.revoked_at is not None, "revoked_at": invitation.revoked_at,
    }


def _id(request: Request) -> str:
    iid = str(request.path_params["iid"])
    if len(iid) > MAX_ID_CHARS:
        raise NotFound(f"no invitation {iid[:MAX_ID_CHARS]!r}")
    return iid


def _invitation_request(body: JsonObject) -> InvitationRequest:
    only_fields(body, {"role", "docs", "ttl_seconds", "uses", "note"})
    allowed = ", ".join(str(r) for r in ASSIGNABLE_ROLES)
    raw_role = body.get("role")
    if not isinstance(raw_role, str) or raw_role not in {str(r) for r in ASSIGNABLE_ROLES}:
        raise Invalid(f"role must be one of {allowed}")
    docs = body.get("docs")
    if docs is not None and (
        not isinstance(docs, list) or not docs or len(docs) > MAX_DOC_PATTERNS
        or not all(isinstance(d, str) and 0 < len(d) <= 128 for d in docs)
    ):
        raise Invalid(f"docs must be a list of 1 to {MAX_DOC_PATTERNS} document ids or "
                      "patterns (each 1-128 characters)")
    ttl = _bounded_int(body, "ttl_seconds", DEFAULT_TTL_SECONDS, 1, MAX_TTL_SECONDS)
    uses = _bounded_int(body, "uses", 1, 1, MAX_USES)
    note = body.get("note", "")
    if not isinstance(note, str) or len(note) > MAX_NOTE_CHARS:
        raise Invalid(f"note must be a string of at most {MAX_NOTE_CHARS} characters")
    return InvitationRequest(role=Role(raw_role), docs=None if docs is None else tuple(docs),
                             ttl_seconds=ttl, uses=uses, note=note)


def _bounded_int(body: JsonObject, name: str, default: int, low: int, high: int) -> int:
    value = body.get(name, default)
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise Invalid(f"{name} must be an integer from {low} to {high}")
    return value


async def _name_and_next(
    request: Request, context: ApiContext, *, is_form: bool,
) -> tuple[str, str | None]:
    if is_form:
        raw = await read_limited(request, 16 * 1024)
        fields = parse_qs(raw.decode("utf-8", "replace"))
        name = fields.get("name", [""])[0]
        next_path = fields.get("next", [None])[0]
    else:
        body = await read_json(request, context.max_body_bytes)
        only_fields(body, {"name"})
        raw_name = body.get("name")
        name = raw_name if isinstance(raw_name, str) else ""
        next_path = None
    name = " ".join(name.split())
    if not name or len(name) > MAX_NAME_CHARS or not any(c.isalnum() for c in name):
        raise Invalid(f"name must hold 1 to {MAX_NAME_CHARS} characters, a letter at least")
    return name, next_path


def _landing(principal: Principal) -> str:
    """Where an invited person lands: their one document, else the home page."""
    return landing_for(principal.docs)


def landing_for(docs: tuple[str, ...] | None) -> str:
    """The page for an invitation to `docs`: the one document it names, else home."""
    docs = docs or ()
    if len(docs) == 1 and not _GLOB & set(docs[0]):
        return f"/d/{docs[0]}"
    return "/"


def _form(invitation: Invitation, has_provider: bool) -> str:
    note = f"<p class=note>{html.escape(invitation.note)}</p>" if invitation.note else ""
    action = html.escape(f"/auth/invitations/{invitation.id}")
    link = html.escape(f"/auth/login?invitation={quote(invitation.id)}"
                       f"&next={quote(landing_for(invitation.docs))}")
    provider = (f"<p>Ou <a class=provider-sign-in href=\"{link}\">se connecter avec son "
                "compte de la plateforme</a>.</p>") if has_provider else ""
    return (
        f"<p>Vous êtes invité·e à rejoindre l'assemblée comme "
        f"<strong>{html.escape(invitation.role)}</strong>.</p>{note}"
        f"<form method=post action=\"{action}\">"
        f"<label>Votre nom <input name=name required maxlength={MAX_NAME_CHARS} "
        f"autocomplete=name></label> <button type=submit>Entrer</button></form>{provider}"
    )


def _page(title: str, content: str, status: int) -> Response:
    body = (
        "<!doctype html><html lang=fr><meta charset=utf-8>"
        "<meta name=viewport content=\"width=device-width\">"
        f"<title>{html.escape(title)} · palabre</title>"
        "<style>body{font:16px/1.5 system-ui,sans-serif;max-width:32em;margin:3em auto;"
        "padding:0 1em}input{font:inherit;padding:.3em}button{font:inherit}</style>"
        f"<h1>{html.escape(title)}</h1>{content}</html>"
    )
    # The form's POST must carry its Origin (the sign-in's cross-site check): under
    # ``no-referrer`` browsers send ``Origin: null``. The link's id goes to this server only.
    return HTMLResponse(body, status_code=status,
                        headers={**PAGE_HEADERS, "Referrer-Policy": "same-origin"})
