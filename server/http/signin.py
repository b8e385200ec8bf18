"""``/auth``: who is signed in, sign-in with a token, sign-out (here or everywhere).

The page signs in by exchanging its link's token for a sign-in session (``POST
/auth/session`` with the token as a bearer), invitations and the identity provider open
one too (`server.http.invitations`, `server.http.oidc`). From then on the cookie alone
authenticates the page, its API calls and its sockets (`server.access.websession`).
"""

from __future__ import annotations

from collections.abc import Mapping

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from server.access.auth import PUBLIC, Principal
from server.access.roster import ALL_SESSIONS, RightsChange
from server.access.websession import WebSessions
from server.errors import BadRequest, Unauthenticated
from server.http.authorize import caller, signed_in
from server.http.body import JsonObject
from server.http.context import ApiContext
from server.http.cookie import clear_session_cookie, session_id_of, set_session_cookie
from storage.signin import SigninSession

_NO_STORE = {"Cache-Control": "no-store"}


def local_path(target: str | None, default: str = "/") -> str:
    """`target` when it is a path on this server (``/d/charte?x``), else `default`.

    Refused: absolute and scheme-relative URLs (``https://x``, ``//x``, ``/\\x``), control
    characters, anything not starting with one ``/``: a sign-in never sends elsewhere.
    """
    if (
        not target or not target.startswith("/") or target.startswith(("//", "/\\"))
        or len(target) > 2000 or any(ord(c) < 0x20 or c == "\x7f" for c in target)
    ):
        return default
    return target


def sessions_of(context: ApiContext) -> WebSessions:
    """The server's sign-in sessions.

    Raises:
        Unauthenticated: this server keeps none.
    """
    if context.access.sessions is None:
        raise Unauthenticated("sign-in sessions are not available on this server")
    return context.access.sessions


def session_json(
    session: SigninSession, principal: Principal, csrf_token: str, idle_seconds: float,
) -> JsonObject:
    """What the page learns about its sign-in."""
    return {
        "signed_in": True, "sub": principal.sub, "name": principal.name,
        "role": str(principal.role),
        "docs": None if principal.docs is None else list(principal.docs), "via": session.via,
        "signed_in_at": session.created_at, "expires_at": session.expires_at,
        "idle_expires_at": min(session.expires_at, session.last_seen + idle_seconds),
        "csrf_token": csrf_token,
    }


async def open_session(
    request: Request, context: ApiContext, principal: Principal, *, via: str,
    not_after: float | None, detail: Mapping[str, object] | None = None,
) -> tuple[str, SigninSession]:
    """Sign `principal` in: a fresh session (the browser's previous one ended) and an
    audit entry; give the browser its cookie with `with_cookie`.

    Raises:
        StorageUnavailable: the database failed.
    """
    session_id, session = await sessions_of(context).open(
        sub=principal.sub, name=principal.name, role=principal.role, docs=principal.docs,
        via=via, not_after=not_after, replacing=session_id_of(request),
    )
    await context.governance.record(None, "signin", principal, {"via": via, **(detail or {})})
    return session_id, session


def with_cookie(
    response: Response, request: Request, session_id: str, session: SigninSession,
) -> Response:
    """`response` setting the cookie of the session just opened."""
    set_session_cookie(response, request, session_id,
                       max_age=session.expires_at - session.created_at)
    return response


def signin_routes(context: ApiContext) -> list[BaseRoute]:
    """The ``/auth`` session endpoints."""

    async def current(request: Request) -> Response:
        session_id = session_id_of(request)
        out = {"signed_in": False, "provider": context.has_signin_provider}
        if session_id is None or context.access.sessions is None:
            return JSONResponse(out, headers=_NO_STORE)
        try:
            principal = await context.access.authenticate_session(session_id)
            session = await context.access.sessions.find(session_id)
        except Unauthenticated as exc:
            response = JSONResponse({**out, "detail": exc.detail}, headers=_NO_STORE)
            clear_session_cookie(response, request)
            return response
        sessions = context.access.sessions
        body = session_json(session, principal, sessions.csrf_token(session_id),
                            sessions.idle_seconds)
        return JSONResponse(body, headers=_NO_STORE)

    async def exchange(request: Request) -> Response:
        if request.headers.get("authorization") is None:
            raise Unauthenticated("sign in with 'Authorization: Bearer <token>'")
        principal = await caller(request, context)
        if principal is PUBLIC:
            raise Unauthenticated("sign in with 'Authorization: Bearer <token>'")
        session_id, session = await open_session(
            request, context, principal, via="token", not_after=principal.expires_at)
        sessions = sessions_of(context)
        body = session_json(session, principal, sessions.csrf_token(session_id),
                            sessions.idle_seconds)
        return with_cookie(JSONResponse(body, status_code=201, headers=_NO_STORE), request,
                           session_id, session)

    async def logout(request: Request) -> Response:
        raw = request.query_params.get("everywhere", "false")
        if raw not in {"1", "true", "0", "false"}:
            raise BadRequest("everywhere must be true or false")
        everywhere = raw in {"1", "true"}
        session_id = session_id_of(request)
        ended = 0
        if session_id is not None:
            sessions = sessions_of(context)
            try:
                principal = await signed_in(request, context, session_id)
            except Unauthenticated:
                principal = None  # already ended: only the cookie is left to clear
            if principal is not None:
                ended = (await sessions.end_all(principal.sub) if everywhere
                         else int(await sessions.end(session_id)))
                # The sockets these sessions opened close too, on every node.
                context.hub.change_rights(RightsChange(principal.sub, signed_out=(
                    ALL_SESSIONS if everywhere else sessions.credential_id(session_id))))
                await context.governance.record(None, "signout", principal,
                                                {"everywhere": everywhere, "ended": ended})
        response = JSONResponse({"signed_in": False, "ended": ended}, headers=_NO_STORE)
        clear_session_cookie(response, request)
        return response

    return [
        Route("/auth/session", current, methods=["GET"]),
        Route("/auth/session", exchange, methods=["POST"]),
        Route("/auth/logout", logout, methods=["POST"]),
    ]
