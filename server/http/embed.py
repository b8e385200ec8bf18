"""``/embed/{id}``: a live view of a data document for the platform's pages (iframes).

The page is self-contained (no bundle): a little vanilla JavaScript follows the
document's Server-Sent Events (``/api/documents/{id}/data/events``) and redraws on every
change, socket edits included. A catalogue shows progress bars by status, a library a
searchable list, a monitoring feed its entries by theme, an agenda its events by week.
Public documents embed without a token; others take ``?token=`` (passed on to the stream).
"""

from __future__ import annotations

import html
import json
from importlib import resources

from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import Route

from server.access.permissions import Action
from server.http.authorize import authorize
from server.http.context import ApiContext
from server.modules.data_documents import require_data


def embed_routes(context: ApiContext) -> list[Route]:
    """The embed page route."""

    async def embed(request: Request) -> Response:
        auth = await authorize(request, context, Action.READ, token_in_query=True)
        doc_id, meta = auth.doc_id, auth.meta
        schema = require_data(meta)
        config = html.escape(json.dumps({"id": doc_id, "schema": schema}), quote=True)
        page = _page().replace("{{CONFIG}}", config).replace("{{TITLE}}", html.escape(meta.title))
        return HTMLResponse(page, headers={
            "Cache-Control": "no-store",
            "Referrer-Policy": "no-referrer",  # the address may carry a token
        })

    return [Route("/embed/{doc_id}", embed, methods=["GET"])]


def _page() -> str:
    return resources.files(__package__).joinpath("embed.html").read_text(encoding="utf-8")
