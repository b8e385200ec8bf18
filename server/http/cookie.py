"""The page's sign-in cookie on HTTP: read it, set it, clear it, and guard it against CSRF.

A request authenticated by the cookie alone and not safe (not GET/HEAD/OPTIONS) must
come from this server's own origin (``Origin``, else ``Referer``; or an origin of
``PALABRE_ALLOWED_ORIGINS``) and carry the session's CSRF token in ``X-CSRF-Token``.
``SameSite=Lax`` already keeps the cookie off cross-site posts in current browsers; the
two checks hold when it does not (older browsers, same-site sibling hosts).
"""

from __future__ import annotations

from collections.abc import Set
from urllib.parse import urlsplit

from starlette.requests import Request
from starlette.responses import Response

from server.access.websession import CSRF_HEADER, cookie_name, session_id_in
from server.errors import Forbidden

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def is_https(request: Request) -> bool:
    """Whether the request came over HTTPS (uvicorn honours a trusted proxy's header)."""
    return request.url.scheme in {"https", "wss"}


def session_id_of(request: Request) -> str | None:
    """The sign-in session id in the request's cookie, if any."""
    return session_id_in(request.headers.get("cookie"), is_https=is_https(request))


def set_session_cookie(
    response: Response, request: Request, session_id: str, *, max_age: float,
) -> None:
    """Give the browser the session cookie (``HttpOnly``, ``SameSite=Lax``, ``Path=/``;
    ``Secure`` and ``__Host-`` over HTTPS)."""
    secure = is_https(request)
    response.set_cookie(
        cookie_name(is_https=secure), session_id, max_age=max(1, int(max_age)), path="/",
        secure=secure, httponly=True, samesite="lax",
    )


def clear_session_cookie(response: Response, request: Request) -> None:
    """Tell the browser to forget the session cookie."""
    secure = is_https(request)
    response.delete_cookie(cookie_name(is_https=secure), path="/", secure=secure,
                           httponly=True, samesite="lax")


def own_origin(request: Request) -> str:
    """This server's origin as the browser sees it (``scheme://host[:port]``)."""
    scheme = "https" if is_https(request) else "http"
    return f"{scheme}://{request.headers.get('host', '')}"


def check_same_origin(request: Request, allowed: Set[str]) -> None:
    """Refuse a cookie-authenticated unsafe request from another origin.

    Raises:
        Forbidden: neither ``Origin`` nor ``Referer`` names this server or an allowed origin.
    """
    origin = request.headers.get("origin")
    if origin is None or origin == "null":
        referer = request.headers.get("referer")
        if referer:
            parts = urlsplit(referer)
            origin = f"{parts.scheme}://{parts.netloc}"
    if origin is None or (origin != own_origin(request) and origin not in allowed):
        raise Forbidden(
            "cross-site request refused: a request signed in by cookie must come from "
            "this server's own pages"
        )


def check_csrf(request: Request, session_id: str, is_token: bool) -> None:
    """Refuse an unsafe cookie-authenticated request without its CSRF token.

    Raises:
        Forbidden: the ``X-CSRF-Token`` header is missing or wrong.
    """
    if not is_token:
        shown = "missing" if request.headers.get(CSRF_HEADER) is None else "wrong"
        raise Forbidden(
            f"CSRF token {shown}: send the {CSRF_HEADER} header that GET /auth/session gives"
        )
