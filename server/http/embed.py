"""``/embed/{id}``: a live view of a data document for the platform's pages (iframes).

Most views are one self-contained page (``embed.html``, no bundle): a little vanilla
JavaScript follows the document's Server-Sent Events (``/api/documents/{id}/data/events``)
and redraws on every change, socket edits included. A catalogue shows progress bars by
status, a library a searchable list, a monitoring feed its entries by theme, an agenda its
events by week. An actors map is ``embed_actors.html`` around the bundled Leaflet map
(``client/web/src/actors/``), which follows the same stream and, for those who may
contribute, proposes actors through ``PATCH .../data``. Public documents embed without a
token; others take ``?token=`` (passed on to the stream and the API).
"""

from __future__ import annotations

import html
import json
from dataclasses import dataclass
from importlib import resources
from urllib.parse import urlsplit

from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import Route

from crdt.schemas import load_schema
from server.access.auth import Role
from server.access.permissions import Action, is_allowed
from server.http.authorize import Authorized, authorize
from server.http.context import ApiContext
from server.http.web import WebAssets
from server.modules.data_documents import require_data

_HEADERS = {
    "Cache-Control": "no-store",
    "Referrer-Policy": "no-referrer",  # the address may carry a token
}


@dataclass(frozen=True, slots=True, kw_only=True)
class MapTiles:
    """Where the actors map takes its raster tiles (``""``: none) and their attribution."""

    url: str
    attribution: str

    def origin(self) -> str | None:
        """The tiles' origin for the page's content security policy (a leading ``{s}``
        subdomain becomes ``*``; any other placeholder in the host allows the whole
        scheme); ``None`` when there are no tiles or they come from this server."""
        parts = urlsplit(self.url)
        if not parts.scheme or not parts.netloc:
            return None
        host = parts.netloc.replace("{s}", "*")
        if "{" in host or "*" in host.removeprefix("*."):
            return f"{parts.scheme}:"
        return f"{parts.scheme}://{host}"


def embed_routes(context: ApiContext, *, web: WebAssets, map_tiles: MapTiles) -> list[Route]:
    """The embed page route."""

    async def embed(request: Request) -> Response:
        auth = await authorize(request, context, Action.READ, token_in_query=True)
        schema = require_data(auth.meta)
        if schema == "actors":
            room = await context.hub.room(auth.doc_id)
            return _actors_page(auth, web, map_tiles, is_frozen=room.is_frozen)
        config = html.escape(json.dumps({"id": auth.doc_id, "schema": schema}), quote=True)
        page = (_template("embed.html").replace("{{CONFIG}}", config)
                .replace("{{TITLE}}", html.escape(auth.meta.title)))
        return HTMLResponse(page, headers=_HEADERS)

    return [Route("/embed/{doc_id}", embed, methods=["GET"])]


def _actors_page(auth: Authorized, web: WebAssets, tiles: MapTiles, *,
                 is_frozen: bool) -> Response:
    """The map page; it says whether the reader may propose actors now (the server
    judges each proposal again) and what the kinds are (from the schema)."""
    principal = auth.principal
    may_propose = principal.role is not Role.PUBLIC and is_allowed(
        principal, Action.CONTRIBUTE, auth.doc_id, doc_is_public=auth.meta.is_public,
        doc_is_frozen=is_frozen)
    config = html.escape(json.dumps({
        "id": auth.doc_id, "schema": "actors", "tiles": tiles.url,
        "attribution": tiles.attribution, "kinds": _actor_kinds(),
        "may_propose": may_propose,
        "reader": None if principal.role is Role.PUBLIC else principal.name,
    }, ensure_ascii=False), quote=True)
    page = (_template("embed_actors.html").replace("{{CONFIG}}", config)
            .replace("{{TITLE}}", html.escape(auth.meta.title))
            .replace("{{SCRIPT}}", web.url("actors.js"))
            .replace("{{STYLE}}", web.url("actors.css")))
    images = " ".join(filter(None, ("'self' data:", tiles.origin())))
    policy = (
        "default-src 'self'; script-src 'self'; connect-src 'self'; "
        f"style-src 'self' 'unsafe-inline'; img-src {images}; base-uri 'none'; "
        "form-action 'self'"
    )
    return HTMLResponse(page, headers={
        **_HEADERS, "Content-Security-Policy": policy, "X-Content-Type-Options": "nosniff",
    })


def _actor_kinds() -> list[str]:
    definitions = load_schema("actors")["$defs"]
    assert isinstance(definitions, dict)
    kind = definitions["kind"]
    assert isinstance(kind, dict) and isinstance(kind["enum"], list)
    return [str(value) for value in kind["enum"]]


def _template(name: str) -> str:
    return resources.files(__package__).joinpath(name).read_text(encoding="utf-8")
