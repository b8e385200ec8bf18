"""The one authorization step of the API: who calls, on which document, and may they.

A route declares its `Action` with `requires`; the endpoint then receives an `Authorized`
(the principal, the checked document id and its metadata) and never repeats the check.
Every rule is `server.access.permissions`'.
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Protocol, TypeVar

from starlette.requests import Request
from starlette.responses import Response

from crdt.doc_id import DocumentId
from server.access.auth import Principal
from server.access.permissions import Action, require
from server.access.websession import CSRF_HEADER
from server.errors import Unauthenticated, checked_doc_id
from server.http.context import ApiContext, live_document
from server.http.cookie import SAFE_METHODS, check_csrf, check_same_origin, session_id_of
from storage.catalog import DocumentMeta


@dataclass(frozen=True, slots=True, kw_only=True)
class Authorized:
    """A caller allowed one action on one live document."""

    principal: Principal
    doc_id: DocumentId
    meta: DocumentMeta


async def caller(
    request: Request, context: ApiContext, *, token_in_query: bool = False
) -> Principal:
    """The principal behind the request's ``Authorization: Bearer`` token, else its sign-in
    cookie (none: public).

    With `token_in_query`, a ``?token=`` stands in for a missing header (``EventSource``,
    iframes and links cannot set one). A token wins over the cookie.

    Raises:
        Unauthenticated: the header is not a bearer token, the token is invalid, or the
            cookie's session ended.
        Forbidden: an unsafe cookie-authenticated request fails the CSRF checks.
        Overloaded: the OIDC issuer cannot be reached.
    """
    header = request.headers.get("authorization")
    if header is None:
        token = request.query_params.get("token") if token_in_query else None
        if not token:
            session_id = session_id_of(request)
            if session_id is not None:
                return await signed_in(request, context, session_id)
        return await context.access.authenticate(token or None)
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthenticated("expected 'Authorization: Bearer <token>'")
    return await context.access.authenticate(token.strip())


async def signed_in(request: Request, context: ApiContext, session_id: str) -> Principal:
    """The principal of the sign-in session `session_id`, CSRF-checked on unsafe methods.

    Raises:
        Unauthenticated: the session ended, expired, or its subject was removed.
        Forbidden: an unsafe request from another origin or without the CSRF token.
    """
    sessions = context.access.sessions
    if request.method not in SAFE_METHODS:
        check_same_origin(request, context.allowed_origins)
        check_csrf(request, session_id, sessions is not None and sessions.is_csrf_token(
            session_id, request.headers.get(CSRF_HEADER)))
    return await context.access.authenticate_session(session_id)


async def authorize(
    request: Request, context: ApiContext, action: Action, *, token_in_query: bool = False
) -> Authorized:
    """Check that the caller may do `action` on the ``{doc_id}`` of the path.

    Commenting reads the document's freeze: refused when frozen, unless comments stay open.

    Raises:
        Unauthenticated: no acceptable token.
        BadDocId: the path's id is not a document id.
        NotFound: no such live document.
        Forbidden: `server.access.permissions` refuses.
    """
    principal = await caller(request, context, token_in_query=token_in_query)
    doc_id = checked_doc_id(str(request.path_params["doc_id"]))
    meta = await live_document(context, doc_id)
    frozen, comments_open = False, False
    if action == Action.COMMENT:
        freeze = await context.store.get_freeze(doc_id)
        frozen, comments_open = freeze.frozen, freeze.comments_open
    require(principal, action, doc_id, doc_is_public=meta.is_public,
            doc_is_frozen=frozen, comments_open_when_frozen=comments_open)
    return Authorized(principal=principal, doc_id=doc_id, meta=meta)


class Endpoints(Protocol):
    """A group of endpoints bound to one app's context."""

    @property
    def context(self) -> ApiContext:
        """The app's context."""
        ...


E = TypeVar("E", bound=Endpoints)
Guarded = Callable[[E, Request, Authorized], Awaitable[Response]]
Endpoint = Callable[[E, Request], Awaitable[Response]]


def requires(
    action: Action, *, token_in_query: bool = False
) -> Callable[[Guarded[E]], Endpoint[E]]:
    """Decorate an endpoint method: it runs once `authorize` lets the caller do `action`."""

    def decorate(handler: Guarded[E]) -> Endpoint[E]:
        @functools.wraps(handler)
        async def endpoint(self: E, request: Request) -> Response:
            allowed = await authorize(request, self.context, action,
                                      token_in_query=token_in_query)
            return await handler(self, request, allowed)

        return endpoint

    return decorate
