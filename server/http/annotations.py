"""``/api/documents/{id}/annotations``: comments on paragraphs, their replies, moderation.

Every write goes into ``{id}.annotations`` through `Hub.transform`, as the server peer,
after the checks clients cannot be trusted with (authorship, moderation rights, that the
paragraph exists); socket clients of that document see each write live.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any, cast

from pycrdt import Doc
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from crdt.annotations import (
    STATUSES,
    Annotation,
    AnnotationWrite,
    Author,
    Seal,
    Status,
    add_annotation,
    add_reply,
    edit_body,
    get_annotation,
    list_annotations,
    set_status,
)
from crdt.doc_id import ANNOTATIONS_SUFFIX
from crdt.schema import JsonValue, find_block
from server.access.auth import Principal
from server.access.permissions import Action, is_allowed
from server.errors import BadRequest, Forbidden, Invalid, NotFound
from server.events import WebhookEvent
from server.http.authorize import Authorized, authorize, caller
from server.http.body import JsonObject, only_fields, read_json, text_field
from server.http.context import ApiContext
from server.modules.names import DisplayNames

MAX_BODY = 20_000
MAX_QUOTE = 5_000


class Annotations:
    """The annotation endpoints, bound to one app's context."""

    def __init__(self, context: ApiContext) -> None:
        self.context = context
        self._names = DisplayNames(context.store)

    def routes(self) -> list[Route]:
        """The routes, relative to ``/api``."""
        base = "/documents/{doc_id}/annotations"
        return [
            Route(base, self.list_annotations, methods=["GET"]),
            Route(base, self.create_annotation, methods=["POST"]),
            Route(base + "/{annotation_id}", self.get_annotation, methods=["GET"]),
            Route(base + "/{annotation_id}", self.update, methods=["PATCH"]),
            Route(base + "/{annotation_id}/replies", self.create_reply, methods=["POST"]),
            Route(base + "/{annotation_id}/replies/{reply_id}", self.update, methods=["PATCH"]),
        ]

    async def _document(self, request: Request, action: Action) -> tuple[Principal, str, bool]:
        """The caller, the document id and whether the caller moderates it, after checks.

        Commenting on a frozen document is refused unless the freeze keeps comments open.
        """
        auth: Authorized = await authorize(request, self.context, action)
        moderates = is_allowed(auth.principal, Action.MODERATE, auth.doc_id,
                               doc_is_public=auth.meta.is_public)
        return auth.principal, auth.doc_id, moderates

    def _seal_for(self, moderates: bool) -> Seal | None:
        """The seal to open hidden words with: moderators' reads only."""
        return self.context.seal if moderates else None

    async def _live(self, doc_id: str) -> Doc[Any]:
        room = await self.context.hub.room(doc_id + ANNOTATIONS_SUFFIX)
        return room.doc

    async def list_annotations(self, request: Request) -> Response:
        """``GET .../annotations?paragraph_id=&status=&stage=``; hidden ones for moderators."""
        principal, doc_id, moderates = await self._document(request, Action.READ)
        params = request.query_params
        status = params.get("status")
        if status is not None and status not in STATUSES:
            raise BadRequest(f"status must be one of {', '.join(STATUSES)}")
        found = list_annotations(
            await self._live(doc_id), paragraph_id=params.get("paragraph_id"),
            status=cast(Status | None, status), stage=params.get("stage"),
            seal=self._seal_for(moderates),
        )
        shown = [annotation_json(a, moderates) for a in found if moderates or a.status != "hidden"]
        await self._names.pseudonymize_authors(shown, principal)
        return JSONResponse({"annotations": shown})

    async def get_annotation(self, request: Request) -> Response:
        """``GET .../annotations/{aid}``."""
        principal, doc_id, moderates = await self._document(request, Action.READ)
        annotation = await self._visible(doc_id, request, moderates)
        shown = annotation_json(annotation, moderates)
        await self._names.pseudonymize_authors([shown], principal)
        return JSONResponse(shown)

    async def _visible(self, doc_id: str, request: Request, moderates: bool) -> Annotation:
        annotation_id = str(request.path_params["annotation_id"])
        annotation = get_annotation(
            await self._live(doc_id), annotation_id, seal=self._seal_for(moderates)
        )
        if annotation.status == "hidden" and not moderates:
            raise NotFound(f"no annotation {annotation_id!r}")
        return annotation

    async def create_annotation(self, request: Request) -> Response:
        """``POST .../annotations`` ``{"paragraph_id", "body", "quote"?, "anchor"?}``: 201."""
        principal, doc_id, moderates = await self._document(request, Action.COMMENT)
        body = await read_json(request, self.context.max_body_bytes)
        only_fields(body, {"paragraph_id", "body", "quote", "anchor"})
        paragraph_id = text_field(body, "paragraph_id", required=True, max_length=200) or ""
        text = text_field(body, "body", required=True, max_length=MAX_BODY) or ""
        quote = text_field(body, "quote", max_length=MAX_QUOTE)
        anchor = cast(JsonValue, body.get("anchor"))
        room = await self.context.hub.room(doc_id)
        if find_block(room.doc, paragraph_id) is None:
            raise Invalid(f"document {doc_id!r} has no paragraph {paragraph_id!r}")
        author = Author(sub=principal.sub, name=principal.name)
        written = await self._write(doc_id, principal, lambda doc: add_annotation(
            doc, paragraph_id=paragraph_id, body=text, author=author, quote=quote, anchor=anchor,
        ))
        self._emit(WebhookEvent.ANNOTATION_CREATED, doc_id, written.annotation)
        return JSONResponse(annotation_json(written.annotation, moderates), status_code=201)

    async def create_reply(self, request: Request) -> Response:
        """``POST .../annotations/{aid}/replies`` ``{"body"}``: 201 with the annotation."""
        principal, doc_id, moderates = await self._document(request, Action.COMMENT)
        body = await read_json(request, self.context.max_body_bytes)
        only_fields(body, {"body"})
        text = text_field(body, "body", required=True, max_length=MAX_BODY) or ""
        annotation = await self._visible(doc_id, request, moderates)
        author = Author(sub=principal.sub, name=principal.name)
        written = await self._write(doc_id, principal, lambda doc: add_reply(
            doc, annotation.id, body=text, author=author, seal=self._seal_for(moderates),
        ))
        reply = written.annotation.replies[-1]
        self._emit(WebhookEvent.ANNOTATION_UPDATED, doc_id, written.annotation, reply.id)
        payload = annotation_json(written.annotation, moderates)
        payload["reply"] = dataclasses.asdict(reply)
        return JSONResponse(payload, status_code=201)

    async def update(self, request: Request) -> Response:
        """``PATCH .../annotations/{aid}[/replies/{rid}]`` ``{"body"?, "status"?}``.

        A new body only from its author; a new status only from a moderator.
        """
        await caller(request, self.context)  # an invalid token is 401 before any body error
        body = await read_json(request, self.context.max_body_bytes)
        only_fields(body, {"body", "status"})
        # Moderating is not commenting: a moderator still hides a comment on a frozen text.
        principal, doc_id, moderates = await self._document(
            request, Action.COMMENT if "body" in body else Action.READ
        )
        if not body:
            raise Invalid("nothing to change: give 'body' and/or 'status'")
        text = text_field(body, "body", max_length=MAX_BODY)
        status = body.get("status")
        if status is not None:
            if status not in STATUSES:
                raise Invalid(f"'status' must be one of {', '.join(STATUSES)}")
            if not moderates:
                raise Forbidden(f"role {principal.role} may not moderate comments")
        annotation = await self._visible(doc_id, request, moderates)
        reply_id = request.path_params.get("reply_id")

        seal = self.context.seal

        def change(doc: Doc[Any]) -> AnnotationWrite:
            written = None
            if text is not None:
                written = edit_body(
                    doc, annotation.id, principal.sub, text, reply_id=reply_id, seal=seal
                )
            if status is not None:
                written = set_status(
                    doc, annotation.id, cast(Status, status), reply_id=reply_id, seal=seal
                )
            assert written is not None  # one of them is set: `body` is not empty
            return written

        written = await self._write(doc_id, principal, change)
        self._emit(WebhookEvent.ANNOTATION_UPDATED, doc_id, written.annotation, reply_id)
        if status is not None:
            await self.context.governance.record(doc_id, "annotation.moderated", principal, {
                "annotation_id": annotation.id, "reply_id": reply_id, "status": status,
            })
        return JSONResponse(annotation_json(written.annotation, moderates))

    def _emit(
        self, event: WebhookEvent, doc_id: str, annotation: Annotation, reply_id: str | None = None
    ) -> None:
        """Tell webhooks which annotation changed (never its words: they read it by API)."""
        self.context.notify(event, doc_id, {
            "annotation_id": annotation.id, "paragraph_id": annotation.paragraph_id,
            "reply_id": reply_id, "status": annotation.status,
        })

    async def _write(
        self, doc_id: str, principal: Principal, change: Callable[[Doc[Any]], AnnotationWrite]
    ) -> AnnotationWrite:
        return await self.context.hub.transform(
            doc_id + ANNOTATIONS_SUFFIX, change, principal=principal.sub
        )


def annotation_json(annotation: Annotation, moderates: bool) -> JsonObject:
    """An annotation as the API shows it; hidden replies only to moderators."""
    data = dataclasses.asdict(annotation)
    data["replies"] = [
        dataclasses.asdict(reply) for reply in annotation.replies
        if moderates or reply.status != "hidden"
    ]
    return data
