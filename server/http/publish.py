"""Publishing: a version of a text as a file, under ``/documents/{id}``.

- ``GET .../export?format=F[&version=live|adopted|N]``: the live text (default), the
  adopted version or snapshot number N;
- ``GET .../snapshots/{sid}/export?format=F``: one snapshot, by id or number;
- ``GET .../redline?from=V&to=V&format=html|docx|pdf``: the changes between two versions
  (V as ``version`` above; ``to`` defaults to ``live``), DOCX as Word tracked changes;
- ``GET .../archive``: the archive record the public archive page (``/archive/{id}``)
  verifies in the browser: every version with what its hash covers;
- ``GET .../archive/verify``: the same check done by the server, over the stored content.

F is one of `crdt.publish.FORMATS` (pdf, docx, odt, html, akn, decidim, md, text, json).
Whoever may read the document reads its exports (the public too, when it is public), as
with ``GET .../content``; a ``?token=`` stands in for the header on the file endpoints
(export, redline), so that a link downloads them, as for library files. Rendering runs
off the event loop (`Publisher`).
"""

from __future__ import annotations

import base64
import functools
import hashlib
import re
from pathlib import Path

from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Route

from crdt.publish import FORMATS, MEDIA_TYPES, REDLINE_FORMATS, Edition, file_name
from server.access.permissions import Action
from server.errors import BadRequest, Invalid, NotFound, checked_doc_id
from server.http.authorize import Authorized, requires
from server.http.body import JsonObject
from server.http.context import ApiContext
from server.modules.names import INSIDERS, DisplayNames
from storage.archive import Snapshot, hashed_fields

LIVE = "live"
ADOPTED = "adopted"
_NUMBER = re.compile(r"[0-9]{1,9}")
_SNAPSHOT_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")


class PublishApi:
    """The export endpoints, bound to one app's context."""

    def __init__(self, context: ApiContext) -> None:
        self.context = context

    def routes(self) -> list[Route]:
        """The routes, relative to ``/api``."""
        base = "/documents/{doc_id}"
        return [
            Route(base + "/export", self.export, methods=["GET"]),
            Route(base + "/snapshots/{snapshot_id}/export", self.export_snapshot,
                  methods=["GET"]),
            Route(base + "/redline", self.redline, methods=["GET"]),
            Route(base + "/archive", self.archive, methods=["GET"]),
            Route(base + "/archive/verify", self.verify, methods=["GET"]),
        ]

    def page_routes(self) -> list[Route]:
        """The public archive page, outside ``/api``."""
        return [Route("/archive/{doc_id}", self.page, methods=["GET"])]

    async def page(self, request: Request) -> Response:
        """``GET /archive/{id}``: the page; it reads ``GET .../archive`` with the visitor's
        rights (none: the public) and checks the chain in the browser."""
        checked_doc_id(str(request.path_params["doc_id"]))
        page, script_hash = _page()
        return HTMLResponse(page, headers={
            "Cache-Control": "no-cache", "Referrer-Policy": "no-referrer",
            "X-Content-Type-Options": "nosniff",
            "Content-Security-Policy": (
                f"default-src 'none'; script-src 'sha256-{script_hash}'; connect-src 'self'; "
                "style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'; "
                "frame-ancestors 'none'"),
        })

    @requires(Action.READ)
    async def archive(self, request: Request, auth: Authorized) -> Response:
        """``GET .../archive``: every version, its stage, hashes and what they cover."""
        if auth.meta.kind != "text":
            raise Invalid(f"{auth.doc_id!r} is a {auth.meta.kind} document: only texts "
                          "have a public archive")
        snapshots = await self.context.store.list_snapshots(auth.doc_id)
        stages: dict[str, list[int]] = {}
        for snapshot in snapshots:
            stages.setdefault(snapshot.stage, []).append(snapshot.number)
        adopted = next((s for s in reversed(snapshots) if s.adopted), None)
        handles = await self.context.store.handles([s.created_by for s in snapshots])
        # Citizens and the public read the makers by their public names (pseudonyms).
        maker = {s.created_by: s.created_by_name for s in snapshots}
        if auth.principal.role not in INSIDERS:
            shown = await DisplayNames(self.context.store).show(list(maker), auth.principal)
            maker = {sub: shown[sub].display_name if sub else None for sub in maker}
        return JSONResponse({
            "id": auth.doc_id, "title": auth.meta.title, "is_public": auth.meta.is_public,
            "formats": list(FORMATS), "redline_formats": list(REDLINE_FORMATS),
            "stages": [{"stage": stage, "numbers": numbers}
                       for stage, numbers in stages.items()],
            "adoption": None if adopted is None else {
                "number": adopted.number, "created_at": adopted.created_at,
                "created_by_name": maker[adopted.created_by], "hash": adopted.content_hash,
                "chain_hash": adopted.chain_hash},
            "versions": [_version_json(s, handles.get(s.created_by) if s.created_by else None)
                         | {"created_by_name": maker[s.created_by]} for s in snapshots],
        })

    @requires(Action.READ)
    async def verify(self, request: Request, auth: Authorized) -> Response:
        """``GET .../archive/verify``: ``{"ok": true, "versions": n}`` or the first break."""
        report = await self.context.store.verify_chain(auth.doc_id)
        if report.ok:
            return JSONResponse({"ok": True, "versions": report.checked})
        return JSONResponse({"ok": False, "versions": report.checked,
                             "broken_at": report.first_broken, "detail": report.reason})

    @requires(Action.READ, token_in_query=True)
    async def export(self, request: Request, auth: Authorized) -> Response:
        """``GET .../export?format=&version=``: a version as a file."""
        fmt = export_format(request)
        edition = await edition_of(self.context, auth, request.query_params.get("version", LIVE))
        return await self._file(edition, fmt)

    @requires(Action.READ, token_in_query=True)
    async def export_snapshot(self, request: Request, auth: Authorized) -> Response:
        """``GET .../snapshots/{sid}/export?format=``: a snapshot as a file."""
        fmt = export_format(request)
        edition = await edition_of(self.context, auth, str(request.path_params["snapshot_id"]),
                                   live=False)
        return await self._file(edition, fmt)

    @requires(Action.READ, token_in_query=True)
    async def redline(self, request: Request, auth: Authorized) -> Response:
        """``GET .../redline?from=&to=&format=``: the changes between two versions."""
        fmt = export_format(request, REDLINE_FORMATS, default="html")
        source = request.query_params.get("from")
        if source is None:
            raise BadRequest("from is required: 'live', 'adopted', a snapshot number or id")
        before = await edition_of(self.context, auth, source)
        after = await edition_of(self.context, auth, request.query_params.get("to", LIVE))
        body = await self.context.publisher.redline(before, after, fmt)
        name = file_name(after, fmt).replace(
            f"-{_tag(after)}.", f"-{_tag(before)}-{_tag(after)}-redline.")
        live = before.number is None or after.number is None
        headers = {"Content-Disposition": f'attachment; filename="{name}"',
                   "Vary": "Authorization",
                   "Cache-Control": "private, no-cache" if live
                   else "private, max-age=31536000, immutable"}
        return Response(body, media_type=MEDIA_TYPES[fmt], headers=headers)

    async def _file(self, edition: Edition, fmt: str) -> Response:
        body = await self.context.publisher.export(edition, fmt)
        headers = {"Content-Disposition": f'attachment; filename="{file_name(edition, fmt)}"',
                   "ETag": f'"{edition.key[:40]}-{fmt}"', "Vary": "Authorization"}
        headers["Cache-Control"] = ("private, max-age=31536000, immutable"
                                    if edition.number is not None else "private, no-cache")
        return Response(body, media_type=MEDIA_TYPES[fmt], headers=headers)


def export_format(request: Request, formats: tuple[str, ...] = FORMATS, *,
                  default: str = "pdf") -> str:
    """The ``?format=`` of an export (`default` when absent).

    Raises:
        BadRequest: a format not in `formats`, named in the message.
    """
    fmt = request.query_params.get("format", default)
    if fmt not in formats:
        raise BadRequest(f"format must be one of {', '.join(formats)}, not {fmt!r}")
    return fmt


async def edition_of(context: ApiContext, auth: Authorized, which: str, *,
                     live: bool = True) -> Edition:
    """The version `which` names: ``live``, ``adopted``, a snapshot number or id.

    Raises:
        BadRequest: `which` names no version.
        NotFound: no such snapshot, or no adopted version.
        Invalid: the document is a data document (exports are for texts).
    """
    if auth.meta.kind != "text":
        raise Invalid(f"{auth.doc_id!r} is a {auth.meta.kind} document: only texts export")
    if which == LIVE and live:
        state = (await context.hub.room(auth.doc_id)).doc.get_update()
        return Edition(doc_id=auth.doc_id, title=auth.meta.title, state=state)
    snapshot: Snapshot | None
    if which == ADOPTED:
        snapshots = await context.store.list_snapshots(auth.doc_id)
        snapshot = next((s for s in reversed(snapshots) if s.adopted), None)
        if snapshot is None:
            raise NotFound(f"document {auth.doc_id!r} has no adopted version")
    elif _NUMBER.fullmatch(which):
        snapshots = await context.store.list_snapshots(auth.doc_id)
        snapshot = next((s for s in snapshots if s.number == int(which)), None)
        if snapshot is None:
            raise NotFound(f"document {auth.doc_id!r} has no version {which}")
    elif _SNAPSHOT_ID.fullmatch(which):
        snapshot = await context.store.get_snapshot(auth.doc_id, which)
    else:
        names = "'live', 'adopted', " if live else ""
        raise BadRequest(f"version must be {names}a snapshot number or id, not {which[:80]!r}")
    return edition_of_snapshot(auth.meta.title, snapshot)


def _version_json(snapshot: Snapshot, handle: str | None) -> JsonObject:
    return {
        "number": snapshot.number, "id": snapshot.snapshot_id, "stage": snapshot.stage,
        "label": snapshot.label, "created_at": snapshot.created_at,
        "created_by_name": snapshot.created_by_name, "adopted": snapshot.adopted,
        "hash": snapshot.content_hash, "previous_hash": snapshot.previous_hash,
        "chain_hash": snapshot.chain_hash, "hashed": hashed_fields(snapshot, handle),
    }


@functools.cache
def _page() -> tuple[str, str]:
    """The archive page and the base64 SHA-256 of its one inline script (for the CSP)."""
    page = (Path(__file__).parent / "archive.html").read_text(encoding="utf-8")
    script = page.split("<script>", 1)[1].split("</script>", 1)[0]
    return page, base64.b64encode(hashlib.sha256(script.encode()).digest()).decode()


def _tag(edition: Edition) -> str:
    return f"v{edition.number}" if edition.number is not None else "live"


def edition_of_snapshot(title: str, snapshot: Snapshot) -> Edition:
    """A snapshot as an export renders it."""
    return Edition(
        doc_id=snapshot.doc_id, title=title, state=snapshot.state, number=snapshot.number,
        stage=snapshot.stage, label=snapshot.label, created_at=snapshot.created_at,
        adopted=snapshot.adopted, content_hash=snapshot.content_hash,
        chain_hash=snapshot.chain_hash,
    )
