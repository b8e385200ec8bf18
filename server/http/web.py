"""The browser editor's pages and assets: ``/``, ``/d/{doc_id}`` and ``/static/{name}``.

Both pages are the same shell (``client/web/dist/index.html``); the bundled script reads
the address, the token and the API. Assets are the committed esbuild bundle (the editor's
``app.*`` and the actors map's ``actors.*``), read once when the app is built. The shell
names them with ``?v=<content hash>``: such a request is cached for a year
(``immutable``), any other is revalidated by its ``ETag``. Pages carry a strict content
security policy and no referrer (a link may hold a token until the script removes it
from the address bar).
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import BaseRoute, Route

from server.errors import NotFound, checked_doc_id

log = logging.getLogger("palabre.web")

WEB_DIST = Path(__file__).resolve().parents[2] / "client" / "web" / "dist"
"""The committed bundle (shipped in the package beside ``server/``)."""

SHELL = "index.html"
ASSETS = {
    "app.js": "text/javascript; charset=utf-8", "app.css": "text/css; charset=utf-8",
    "actors.js": "text/javascript; charset=utf-8", "actors.css": "text/css; charset=utf-8",
}
YEAR = "public, max-age=31536000, immutable"
PAGE_HEADERS = {
    "Cache-Control": "no-cache",
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; connect-src 'self' ws: wss:; "
        "style-src 'self' 'unsafe-inline'; img-src 'self' data:; base-uri 'none'; "
        "form-action 'self'; frame-ancestors 'none'"
    ),
}

PageHook = Callable[[str], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class _Asset:
    body: bytes
    media_type: str
    version: str


class WebAssetsMissing(RuntimeError):
    """The bundle is not where the package should hold it (run ``npm run build``)."""


@dataclass(frozen=True, slots=True)
class WebAssets:
    """The bundle's assets, read once, and the folder they came from."""

    dist: Path
    assets: dict[str, _Asset]

    def url(self, name: str) -> str:
        """The versioned address of asset `name` (cached for a year by browsers).

        Raises:
            KeyError: no such asset.
        """
        return f"/static/{name}?v={self.assets[name].version}"


def load_web_assets(dist: Path = WEB_DIST) -> WebAssets:
    """Read the bundle's assets from `dist`.

    Raises:
        WebAssetsMissing: an asset is missing from `dist`.
    """
    return WebAssets(dist, _load_assets(dist))


def web_routes(*, on_document_page: PageHook | None = None,
               web: WebAssets | None = None) -> list[BaseRoute]:
    """The editor's routes; `on_document_page` runs (awaited) before ``/d/{id}`` is served.

    A bad document id answers 400 and an unknown asset 404, as JSON errors (the app's
    error handler).

    Raises:
        WebAssetsMissing: the bundle or its shell is missing (`web` defaults to the
            committed bundle).
    """
    web = web or load_web_assets()
    assets, dist = web.assets, web.dist
    try:
        template = (dist / SHELL).read_text(encoding="utf-8")
    except OSError as exc:
        raise WebAssetsMissing(f"{dist / SHELL} is missing: {exc}") from exc
    shell = template
    for name, asset in assets.items():
        shell = shell.replace(f"/static/{name}", f"/static/{name}?v={asset.version}")

    async def page(request: Request) -> Response:
        return HTMLResponse(shell, headers=PAGE_HEADERS)

    async def document_page(request: Request) -> Response:
        doc_id = checked_doc_id(str(request.path_params["doc_id"]))
        if on_document_page is not None:
            await on_document_page(doc_id)
        return HTMLResponse(shell, headers=PAGE_HEADERS)

    async def static(request: Request) -> Response:
        asset = assets.get(str(request.path_params["name"]))
        if asset is None:
            raise NotFound(f"no asset {str(request.path_params['name'])[:100]!r}")
        etag = f'"{asset.version}"'
        cache = YEAR if request.query_params.get("v") == asset.version else "no-cache"
        headers = {"ETag": etag, "Cache-Control": cache, "X-Content-Type-Options": "nosniff"}
        if etag in request.headers.get("if-none-match", ""):
            return Response(status_code=304, headers=headers)
        return Response(asset.body, media_type=asset.media_type, headers=headers)

    return [
        Route("/", page, methods=["GET"]),
        Route("/d/{doc_id}", document_page, methods=["GET"]),
        Route("/static/{name}", static, methods=["GET"]),
    ]


def _load_assets(dist: Path) -> dict[str, _Asset]:
    assets = {}
    for name, media_type in ASSETS.items():
        try:
            body = (dist / name).read_bytes()
        except OSError as exc:
            raise WebAssetsMissing(f"{dist / name} is missing: {exc}") from exc
        version = hashlib.sha256(body).hexdigest()[:16]
        assets[name] = _Asset(body, media_type, version)
    return assets
