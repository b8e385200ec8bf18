"""``/api/documents/{id}/sessions``: sessions of the assembly, their minutes, the queue.

- ``POST .../sessions`` ``{"title", "kind", "planned_start"?, "planned_end"?}``
  (facilitators): 201 ``{"id", "number", "opened_at", ...}``; 409 when one is open;
- ``GET .../sessions``: ``{"sessions": [...]}`` by number; ``GET .../sessions/{sid}``
  (an id or a number), with the live ``hands``, ``floor`` and who is ``present`` while
  open;
- ``POST .../sessions/{sid}/close`` (facilitators): 200 with the minutes;
- ``GET .../sessions/{sid}/minutes?format=json|md|html``: readers who are not members
  see members by their pseudonym (unless named in public) and guests by their role, no
  subjects (``?token=`` accepted: the public archive links to it);
- ``POST|DELETE .../sessions/{sid}/hands`` (members: raise, lower one's own hand;
  facilitators lower anyone's with ``?sub=``); ``POST .../sessions/{sid}/floor``
  ``{"sub"?, "clear"?}`` (facilitators: the next speaker, or clear the queue).
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Route

from crdt.sessions import LiveSession
from server.access.permissions import Action, is_allowed
from server.errors import BadRequest, Forbidden, Invalid
from server.http.authorize import Authorized, requires
from server.http.body import JsonObject, flag, only_fields, optional_json, read_json, text_field
from server.http.context import ApiContext, created
from server.modules.minutes import (
    minutes_html,
    minutes_markdown,
    minutes_subjects,
    public_minutes,
    session_json,
)
from server.modules.names import DisplayNames
from server.modules.sessions import MEMBER_ROLES, SessionsService, minutes_path
from storage.people import SUB_LENGTH
from storage.sessions import SESSION_KINDS

MAX_TITLE = 500
MAX_SESSION_REF = 64
FORMATS = {"json": "application/json", "md": "text/markdown; charset=utf-8",
           "html": "text/html; charset=utf-8"}


class SessionsApi:
    """The session endpoints, bound to one app's context."""

    def __init__(self, context: ApiContext, sessions: SessionsService) -> None:
        self.context = context
        self._sessions = sessions
        self._names = DisplayNames(context.store)

    def routes(self) -> list[Route]:
        """The routes, relative to ``/api``."""
        base = "/documents/{doc_id}/sessions"
        one = base + "/{session}"
        return [
            Route(base, self.list_sessions, methods=["GET"]),
            Route(base, self.open_session, methods=["POST"]),
            Route(one, self.get_session, methods=["GET"]),
            Route(one + "/close", self.close_session, methods=["POST"]),
            Route(one + "/minutes", self.get_minutes, methods=["GET"]),
            Route(one + "/hands", self.raise_hand, methods=["POST"]),
            Route(one + "/hands", self.lower_hand, methods=["DELETE"]),
            Route(one + "/floor", self.give_floor, methods=["POST"]),
        ]

    @requires(Action.READ)
    async def list_sessions(self, request: Request, auth: Authorized) -> Response:
        """``GET .../sessions``: every session of the document, by number."""
        _text_only(auth)
        found = await self.context.store.list_sessions(auth.doc_id)
        return JSONResponse({"sessions": [session_json(s) for s in found]})

    @requires(Action.RUN_SESSION)
    async def open_session(self, request: Request, auth: Authorized) -> Response:
        """``POST .../sessions`` ``{"title", "kind", "planned_start"?, "planned_end"?}``."""
        _text_only(auth)
        body = await read_json(request, self.context.max_body_bytes)
        only_fields(body, {"title", "kind", "planned_start", "planned_end"})
        title = text_field(body, "title", required=True, max_length=MAX_TITLE) or ""
        if not title.strip():
            raise Invalid("'title' must not be blank")
        kind = body.get("kind", "work")
        if kind not in SESSION_KINDS:
            raise Invalid(f"'kind' must be one of {', '.join(SESSION_KINDS)}")
        start, end = _time(body, "planned_start"), _time(body, "planned_end")
        if start is not None and end is not None and end < start:
            raise Invalid("'planned_end' must not be before 'planned_start'")
        record = await self._sessions.open(auth.doc_id, auth.principal, title=title,
                                           kind=str(kind), planned_start=start,
                                           planned_end=end)
        return created(session_json(record),
                       f"/api/documents/{auth.doc_id}/sessions/{record.number}")

    @requires(Action.READ)
    async def get_session(self, request: Request, auth: Authorized) -> Response:
        """``GET .../sessions/{sid}``: the session, with the queue while it is open."""
        _text_only(auth)
        record = await self.context.store.get_session(auth.doc_id, _ref(request))
        payload: JsonObject = dict(session_json(record))
        payload["minutes_url"] = None if record.is_open else minutes_path(auth.doc_id,
                                                                          record.number)
        if record.is_open:
            payload.update(live_json(await self._sessions.live(auth.doc_id)))
            present = await self._sessions.present(record)
            if auth.principal.role not in MEMBER_ROLES:
                shown = await self._names.show([p["sub"] for p in present], auth.principal)
                present = [{**p, "sub": "", "name": shown[p["sub"]].display_name}
                           if p["role"] in MEMBER_ROLES else {**p, "sub": "", "name": p["role"]}
                           for p in present]
            payload["present"] = present
        return JSONResponse(payload)

    @requires(Action.RUN_SESSION)
    async def close_session(self, request: Request, auth: Authorized) -> Response:
        """``POST .../sessions/{sid}/close``: 200 with the minutes."""
        _text_only(auth)
        closed = await self._sessions.close(auth.doc_id, auth.principal, _ref(request))
        _, minutes = await self._sessions.minutes(auth.doc_id, str(closed.number))
        return JSONResponse(minutes)

    @requires(Action.READ, token_in_query=True)
    async def get_minutes(self, request: Request, auth: Authorized) -> Response:
        """``GET .../sessions/{sid}/minutes?format=json|md|html``."""
        _text_only(auth)
        fmt = request.query_params.get("format", "json")
        if fmt not in FORMATS:
            raise BadRequest(f"format must be one of {', '.join(FORMATS)}, not {fmt!r}")
        _, minutes = await self._sessions.minutes(auth.doc_id, _ref(request))
        if auth.principal.role not in MEMBER_ROLES:
            shown = await self._names.show(minutes_subjects(minutes), auth.principal)
            minutes = public_minutes(minutes, {str(sub): person.display_name
                                               for sub, person in shown.items()})
        if fmt == "md":
            return Response(minutes_markdown(minutes), media_type=FORMATS["md"])
        if fmt == "html":
            return HTMLResponse(minutes_html(minutes))
        return JSONResponse(minutes)

    @requires(Action.RAISE_HAND)
    async def raise_hand(self, request: Request, auth: Authorized) -> Response:
        """``POST .../sessions/{sid}/hands``: raise the caller's hand."""
        _text_only(auth)
        live = await self._sessions.raise_hand(auth.doc_id, auth.principal, _ref(request))
        return JSONResponse(live_json(live))

    @requires(Action.RAISE_HAND)
    async def lower_hand(self, request: Request, auth: Authorized) -> Response:
        """``DELETE .../sessions/{sid}/hands[?sub=]``: lower one's own hand (facilitators:
        anyone's)."""
        _text_only(auth)
        sub = request.query_params.get("sub", auth.principal.sub)
        if not 0 < len(sub) <= SUB_LENGTH:
            raise BadRequest(f"sub must be 1 to {SUB_LENGTH} characters")
        if sub != auth.principal.sub and not is_allowed(
                auth.principal, Action.RUN_SESSION, auth.doc_id,
                doc_is_public=auth.meta.is_public):
            raise Forbidden(f"role {auth.principal.role} may lower only its own hand")
        live = await self._sessions.lower_hand(auth.doc_id, auth.principal, _ref(request),
                                               sub=sub)
        return JSONResponse(live_json(live))

    @requires(Action.RUN_SESSION)
    async def give_floor(self, request: Request, auth: Authorized) -> Response:
        """``POST .../sessions/{sid}/floor`` ``{"sub"?, "clear"?}``."""
        _text_only(auth)
        body = await optional_json(request, self.context.max_body_bytes)
        only_fields(body, {"sub", "clear"})
        sub = text_field(body, "sub", max_length=SUB_LENGTH)
        live = await self._sessions.give_floor(auth.doc_id, auth.principal, _ref(request),
                                               sub=sub, clear=flag(body, "clear"))
        return JSONResponse(live_json(live))


def live_json(live: LiveSession) -> JsonObject:
    """The speaking queue as the API shows it."""
    return {
        "hands": [{"sub": h.sub, "name": h.name, "raised_at": h.at} for h in live.hands],
        "floor": None if live.floor is None else {
            "sub": live.floor.sub, "name": live.floor.name, "since": live.floor.at},
    }


def _text_only(auth: Authorized) -> None:
    if auth.meta.kind != "text":
        raise Invalid("only a text document has sessions")


def _ref(request: Request) -> str:
    ref = str(request.path_params["session"])
    if not 0 < len(ref) <= MAX_SESSION_REF:
        raise BadRequest(f"a session is named by its id or number (1 to {MAX_SESSION_REF} "
                         "characters)")
    return ref


def _time(body: JsonObject, name: str) -> float | None:
    value = body.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not (
            0 <= value < 1e11):
        raise Invalid(f"{name!r} must be a Unix time in seconds")
    return float(value)
