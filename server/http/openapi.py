"""``/api/openapi.json`` (OpenAPI 3.1, written by hand as data) and ``/api/docs`` (its page)."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Route

from server.events import WebhookEvent
from server.http import openapi_privacy as privacy
from server.http import openapi_publish as publish
from server.http import openapi_signin as signin
from server.http import openapi_votes as votes
from server.http.openapi_page import docs_page
from server.http.openapi_parts import DOC_ID as _DOC_ID
from server.http.openapi_parts import ERRORS as _ERRORS
from server.http.openapi_parts import NSTR as _NSTR
from server.http.openapi_parts import STR as _STR
from server.http.openapi_parts import TIME as _TIME
from server.http.openapi_parts import Schema
from server.http.openapi_parts import obj as _obj
from server.http.openapi_parts import op as _op
from server.http.openapi_parts import param as _param
from server.http.openapi_parts import ref as _ref

_STATUS: Schema = {"type": "string", "enum": ["open", "resolved", "hidden"]}
_AUTHOR = _obj(["sub", "name"], sub=_STR, name=_STR)
_REPLY = _obj(["id", "body", "author", "created_at", "status"], id=_STR, body=_STR,
              author=_AUTHOR, created_at=_STR, status=_STATUS, updated_at=_NSTR)

SCHEMAS: dict[str, Schema] = {
    "Error": _obj(["error", "detail"], error=_STR, detail=_STR),
    "Text": {"type": "string", "description": "Markdown, HTML or plain text"},
    "Document": _obj(
        ["id", "title", "kind", "is_public", "created_at", "updated_at"],
        id=_DOC_ID, title=_STR, kind={"type": "string", "enum": ["text", "data"]},
        is_public={"type": "boolean"}, created_at=_TIME, updated_at=_TIME, created_by=_NSTR,
        amendments_open={"type": "boolean", "description": "PATCH answers only"},
        quorum={"type": ["number", "integer", "null"], "description": "PATCH answers only"},
        schema={"type": "string", "description": "data documents: their JSON schema"},
        annotations_sub={**_NSTR, "description": "GET of one document: who the caller is in "
                         "the D.annotations they sync (their subject, or for citizens and the "
                         "public their handle such as membre-7; null: nobody)"},
    ),
    "DocumentList": _obj(["documents", "next"],
                         documents={"type": "array", "items": _ref("Document")},
                         next={**_NSTR, "description": "pass as ?after= for the next page"}),
    "DocumentCreate": _obj(
        ["id", "title"], id=_DOC_ID, title=_STR, markdown=_STR, is_public={"type": "boolean"},
        kind={"enum": ["text", "data"]},
        schema={"enum": ["catalogue", "library", "monitoring", "agenda", "actors"],
                "description": "required with kind data"},
        data={"type": "object", "description": "kind data: the first content (validated "
                                                "against the schema; default: empty)"},
    ),
    "DocumentPatch": _obj([], title=_STR, is_public={"type": "boolean"},
                          amendments_open={"type": "boolean", "description": "text: citizens "
                                           "may propose amendments, also when frozen"},
                          quorum={"description": "text: null (none), a fraction of the "
                                  "members in (0, 1] such as 0.5, or a whole number of "
                                  "members; adoption then needs it in an open session",
                                  "anyOf": [{"type": "null"},
                                            {"type": "number", "exclusiveMinimum": 0,
                                             "maximum": 1},
                                            {"type": "integer", "minimum": 1,
                                             "maximum": 100000}]}),
    "Blocks": _obj(["blocks"], blocks={"type": "array", "items": {
        "type": "object", "required": ["id", "type", "text"],
        "properties": {"id": _STR, "type": _STR, "text": _STR, "article_id": _NSTR,
                       "level": {"type": "integer"}, "parent_id": _STR,
                       "attrs": {"type": "object"}, "marks": {"type": "array"}},
    }}),
    "Reply": _REPLY,
    "Annotation": _obj(
        ["id", "paragraph_id", "body", "author", "created_at", "status", "replies"],
        id=_STR, paragraph_id=_STR, body=_STR, author=_AUTHOR, created_at=_STR,
        status=_STATUS, stage=_NSTR, quote=_NSTR, anchor={"description": "opaque to the server"},
        updated_at=_NSTR, replies={"type": "array", "items": _ref("Reply")},
        reply={**_REPLY, "description": "the new reply (POST .../replies only)"},
    ),
    "AnnotationList": _obj(["annotations"],
                           annotations={"type": "array", "items": _ref("Annotation")}),
    "AnnotationCreate": _obj(["paragraph_id", "body"], paragraph_id=_STR, body=_STR,
                             quote=_STR, anchor={"description": "Yjs relative positions"}),
    "ReplyCreate": _obj(["body"], body=_STR),
    "AnnotationPatch": _obj([], body=_STR, status=_STATUS),
    "Webhook": _obj(["id", "url", "events", "doc_id", "created_at"], id=_STR, url=_STR,
                    events={"type": "array", "items": _ref("WebhookEvent")},
                    doc_id={**_NSTR, "description": "null: every document"},
                    created_at=_TIME, created_by=_NSTR,
                    secret={**_STR, "description": "only in the answer to its creation"}),
    "WebhookEvent": {"type": "string", "enum": [event.value for event in WebhookEvent]},
    "WebhookCreate": _obj(["url", "events"], url=_STR, doc_id=_DOC_ID,
                          events={"type": "array", "items": _ref("WebhookEvent"),
                                  "minItems": 1},
                          secret={"type": "string", "minLength": 16, "maxLength": 256}),
    "WebhookList": _obj(["webhooks"], webhooks={"type": "array", "items": _ref("Webhook")}),
    "DeliveryList": _obj(["deliveries"], deliveries={"type": "array", "items": _obj(
        ["event_id", "event", "attempt", "at", "status"], event_id=_STR, event=_STR,
        attempt={"type": "integer"}, at=_TIME, status={"type": ["integer", "null"]},
        error=_NSTR)}),
}

def _content() -> Schema:
    """``GET .../content``: one media type per format, and the 304 of a matching ETag."""
    op = _op("The live text; md, html and text come as text/*, json as Blocks",
             ("200", "Blocks"), "400 401 403 404 503",
             params=[_ID, _param("format", schema={"enum": ["md", "html", "text", "json"]}),
                     _param("If-None-Match", "header")])
    op["responses"]["200"]["content"].update({
        media: {"schema": _ref("Text")}
        for media in ("text/markdown", "text/html", "text/plain")
    })
    op["responses"]["304"] = {"description": "If-None-Match matched the ETag"}
    op["description"] = "Strong ETag; If-None-Match answers 304."
    return op


_ID = _param("doc_id", "path", _DOC_ID)
_AID = _param("annotation_id", "path")
_RID = _param("reply_id", "path")
_W = "400 401 403 404 413 415 422 503"

PATHS: dict[str, Schema] = {
    "/api/documents": {
        "get": _op("List the documents the caller may read, by id", ("200", "DocumentList"),
                   "400 401 503", params=[_param("limit", schema={"type": "integer",
                   "minimum": 1, "maximum": 200}), _param("after")]),
        "post": _op("Create a document (facilitators), optionally from Markdown",
                    ("201", "Document"), "400 401 403 409 413 415 422 503",
                    body="DocumentCreate"),
    },
    "/api/documents/{doc_id}": {
        "get": _op("A document's metadata", ("200", "Document"), "400 401 403 404 503",
                   params=[_ID]),
        "patch": _op("Rename or publish (facilitators)", ("200", "Document"), _W,
                     body="DocumentPatch", params=[_ID]),
        "delete": _op("Soft-delete (facilitators)", ("204", None), "400 401 403 404 503",
                      params=[_ID]),
    },
    "/api/documents/{doc_id}/content": {"get": _content()},
    "/api/documents/{doc_id}/annotations": {
        "get": _op("Annotations, filtered; hidden ones only for moderators",
                   ("200", "AnnotationList"), "400 401 403 404 503",
                   params=[_ID, _param("paragraph_id"), _param("status", schema=_STATUS),
                           _param("stage")]),
        "post": _op("Comment a paragraph", ("201", "Annotation"), _W,
                    body="AnnotationCreate", params=[_ID]),
    },
    "/api/documents/{doc_id}/annotations/{annotation_id}": {
        "get": _op("One annotation", ("200", "Annotation"), "400 401 403 404 503",
                   params=[_ID, _AID]),
        "patch": _op("Edit own body, or set the status (moderators)", ("200", "Annotation"),
                     _W, body="AnnotationPatch", params=[_ID, _AID]),
    },
    "/api/documents/{doc_id}/annotations/{annotation_id}/replies": {
        "post": _op("Reply to an annotation", ("201", "Annotation"), _W,
                    body="ReplyCreate", params=[_ID, _AID]),
    },
    "/api/documents/{doc_id}/annotations/{annotation_id}/replies/{reply_id}": {
        "patch": _op("Edit own reply, or set its status (moderators)", ("200", "Annotation"),
                     _W, body="AnnotationPatch", params=[_ID, _AID, _RID]),
    },
    "/api/webhooks": {
        "get": _op("Registered webhooks (facilitators)", ("200", "WebhookList"),
                   "401 403 422 503", params=[_param("doc_id")]),
        "post": _op("Register a webhook; its secret is shown once", ("201", "Webhook"),
                    "400 401 403 413 415 422 503", body="WebhookCreate"),
    },
    "/api/webhooks/{webhook_id}": {
        "delete": _op("Unregister", ("204", None), "401 403 404 503",
                      params=[_param("webhook_id", "path")]),
    },
    "/api/webhooks/{webhook_id}/deliveries": {
        "get": _op("Latest delivery attempts, newest first", ("200", "DeliveryList"),
                   "400 401 403 404 503", params=[_param("webhook_id", "path"),
                                                  _param("limit", schema={"type": "integer"})]),
    },
    "/api/openapi.json": {"get": {"summary": "This document",
                                  "responses": {"200": {"description": "OpenAPI 3.1"}}}},
    "/api/docs": {"get": {"summary": "This document as a page",
                          "responses": {"200": {"description": "HTML"}}}},
}

# Stages and the archive (server/api/archive.py).
_SID = _param("snapshot_id", "path")
SCHEMAS.update({
    "Snapshot": _obj(
        ["id", "number", "stage", "label", "created_at", "hash", "chain_hash", "adopted"],
        id=_STR, number={"type": "integer", "minimum": 1}, stage=_STR, label=_STR,
        created_at=_TIME, created_by={**_NSTR, "description": "null for the public"},
        created_by_name=_NSTR, hash={**_STR, "description": "SHA-256 of the content"},
        previous_hash={**_NSTR, "description": "the previous snapshot's chain_hash"},
        chain_hash={**_STR, "description": "SHA-256 of previous_hash (or '') + hash"},
        adopted={"type": "boolean"},
        session={"type": "object", "description": "adopt answers only: the open session, "
                 "the members present, the quorum and whether the adoption was forced"},
    ),
    "SnapshotCreate": _obj(["label", "stage"], label=_STR, stage=_STR),
    "SnapshotList": _obj(["snapshots"], snapshots={"type": "array", "items": _ref("Snapshot")}),
    "Stage": _obj(
        ["stage", "snapshots", "adopted"], stage={"type": "string"},
        snapshots={"type": "array", "items": _ref("Snapshot")}, adopted={"type": "boolean"},
    ),
    "StageList": _obj(["stages"], stages={"type": "array", "items": _ref("Stage")}),
    "SnapshotRestored": _obj(["restored"], restored=_ref("Snapshot")),
})
def _snapshot_content() -> Schema:
    op = _op("A snapshot's text: md, html, text as text/*, json as Blocks (a data "
             "document's JSON), geojson (actors maps), yjs as the raw Yjs update "
             "(application/octet-stream)", ("200", None), "400 401 403 404 503",
             params=[_ID, _SID, _SNAPSHOT_FORMAT])
    op["responses"]["200"]["content"] = {
        "application/json": {"schema": _ref("SnapshotContent")},
        "application/geo+json": {"schema": _ref("FeatureCollection")},
    }
    op["description"] = ("Immutable: cacheable forever. An actors map reads as the reader's "
                         "view of it; its Yjs state only for who may edit it.")
    return op


_SNAPSHOT_FORMAT = _param("format", schema={"enum": ["md", "html", "text", "json", "yjs",
                                                      "geojson"]})
PATHS.update({
    "/api/documents/{doc_id}/snapshots": {
        "get": _op("The archive: every snapshot by number, without content",
                   ("200", "SnapshotList"), "400 401 403 404 503", params=[_ID]),
        "post": _op("Archive the live text and its annotations as a stage (facilitators)",
                    ("201", "Snapshot"), _W + " 507", body="SnapshotCreate", params=[_ID]),
    },
    "/api/documents/{doc_id}/stages": {
        "get": _op("The stages in the order first archived, with their snapshots",
                   ("200", "StageList"), "400 401 403 404 503", params=[_ID]),
    },
    "/api/documents/{doc_id}/snapshots/{snapshot_id}": {
        "get": _op("One snapshot's metadata", ("200", "Snapshot"), "400 401 403 404 503",
                   params=[_ID, _SID]),
    },
    "/api/documents/{doc_id}/snapshots/{snapshot_id}/content": {
        "get": _snapshot_content(),
    },
    "/api/documents/{doc_id}/snapshots/{snapshot_id}/restore": {
        "post": _op("Start the next stage from a snapshot: the live text becomes it, every "
                    "paragraph keeping its id (facilitators; refused while frozen)",
                    ("200", "SnapshotRestored"), "400 401 403 404 503", params=[_ID, _SID]),
    },
})

# Governance (server/api/governance.py): freeze, adopt, diff, audit.
_ERRORS["429"] = "rate limited: wait for Retry-After"
_FREEZE_STATE = _obj(["frozen", "frozen_at", "frozen_by", "comments_open"],
                     frozen={"type": "boolean"}, frozen_at={"type": ["number", "null"]},
                     frozen_by=_NSTR, comments_open={"type": "boolean"})
_WORD = _obj(["op", "text"], op={"enum": ["equal", "insert", "delete"]}, text=_STR)
_COUNT: Schema = {"type": "integer", "minimum": 0}
SCHEMAS.update({
    "FreezeState": _FREEZE_STATE,
    "FreezeRequest": _obj([], comments_open={
        "type": "boolean", "description": "comments still taken while frozen (default false)"}),
    "AdoptRequest": _obj([], label=_STR, stage=_STR, comments_open={"type": "boolean"},
                         force={"type": "boolean", "description": "adopt without the quorum "
                                "(audited as adoption.forced)"}),
    "Diff": _obj(["from", "to", "summary", "blocks", "amendments"], to=_STR, summary=_obj(
        ["added", "removed", "changed", "moved", "unchanged"], added=_COUNT, removed=_COUNT,
        changed=_COUNT, moved=_COUNT, unchanged=_COUNT,
    ), blocks={"type": "array", "items": _obj(
        ["id", "type", "status", "moved", "before", "after"], id=_STR, type=_STR,
        status={"enum": ["unchanged", "added", "removed", "changed", "moved"]},
        moved={"type": "boolean"}, before=_NSTR, after=_NSTR, level={"type": "integer"},
        words={"type": "array", "items": _WORD}, amendments={
            "type": "array", "items": _STR,
            "description": "the accepted amendments that produced this change"},
    )}, amendments={"type": "array", "items": _obj(
        ["id", "kind", "paragraph_id", "block_id"], id=_STR, kind=_STR, paragraph_id=_STR,
        block_id=_STR)}, **{"from": _STR}),
    "AuditList": _obj(["entries", "next"], entries={"type": "array", "items": _obj(
        ["id", "action", "actor_sub", "actor_name", "at", "detail"], id={"type": "integer"},
        action=_STR, actor_sub=_NSTR, actor_name=_NSTR, at=_TIME, detail={"type": "object"},
    )}, next={"type": ["integer", "null"], "description": "pass as ?before= for older ones"}),
})
_VERSION: Schema = {"type": "string", "description": "a snapshot id, or 'live'"}


def _optional_body_op(
    summary: str, ok: tuple[str, str | None], body: str, errors: str = _W
) -> Schema:
    """A write on one document whose JSON body may be left out."""
    return {**_op(summary, ok, errors, body=body, params=[_ID]),
            "description": "The body is optional."}


PATHS.update({
    "/api/documents/{doc_id}/freeze": {
        "post": _optional_body_op("Freeze: read-only for everyone, on every open socket "
                                  "before the answer (facilitators)", ("200", "FreezeState"),
                                  "FreezeRequest"),
    },
    "/api/documents/{doc_id}/unfreeze": {
        "post": _op("Unfreeze (facilitators)", ("200", "FreezeState"), "400 401 403 404 503",
                    params=[_ID]),
    },
    "/api/documents/{doc_id}/adopt": {
        "post": _optional_body_op(
            "Freeze, then archive the frozen text as the adopted snapshot (facilitators); "
            "409 quorum_not_met without the quorum", ("201", "Snapshot"), "AdoptRequest",
            _W + " 409 507"),
    },
    "/api/documents/{doc_id}/diff": {
        "get": {**_op("Paragraph diff of two versions by block id, word changes inside",
                      ("200", "Diff"), "400 401 403 404 422 503",
                      params=[_ID, {**_param("from", schema=_VERSION), "required": True},
                              _param("to", schema=_VERSION),
                              _param("format", schema={"enum": ["json", "html"]})]),
                "description": "format=html answers an HTML fragment with ins/del marks."},
    },
    "/api/documents/{doc_id}/audit": {
        "get": _op("Governance actions on the document, newest first (facilitators)",
                   ("200", "AuditList"), "400 401 403 404 503",
                   params=[_ID, _param("limit", schema={"type": "integer", "minimum": 1,
                                                        "maximum": 1000}),
                           _param("before", schema={"type": "integer", "minimum": 1})]),
    },
})

# Data documents (server/api/data.py): JSON, merge patch, events, files, agenda.
SCHEMAS.update({
    "Data": {"type": "object", "description": "the document's JSON (see its schema)"},
    "MergePatch": {"type": "object", "description": "RFC 7396 JSON Merge Patch"},
    "FileInfo": _obj(["id", "name", "content_type", "size"], id=_STR, name=_STR,
                     content_type=_STR, size={"type": "integer", "minimum": 0}),
    "EventStream": {"type": "string", "description": "text/event-stream"},
    "Binary": {"type": "string", "format": "binary"},
    "ICalendar": {"type": "string", "description": "RFC 5545 iCalendar"},
    "FeatureCollection": _obj(
        ["type", "features"], type={"const": "FeatureCollection"},
        features={"type": "array", "items": _obj(
            ["type", "geometry"], type={"const": "Feature"}, id=_STR,
            geometry={"type": ["object", "null"]}, properties={"type": ["object", "null"]})}),
    "SnapshotContent": {"anyOf": [_ref("Blocks"), _ref("Data")],
                        "description": "a text's blocks, or a data document's JSON"},
    "GeoJsonImport": _obj(["imported", "ids"], imported={"type": "integer", "minimum": 0},
                          ids={"type": "array", "items": _STR}),
    "ImportReport": _obj(["feeds"], feeds={"type": "object", "additionalProperties": _obj(
        [], changed={"type": "integer"}, error=_NSTR)}),
})
_DATA = "Data documents only (404 for text documents)."


def _with(op: Schema, **changes: Any) -> Schema:
    return {**op, **changes}


def _data_patch() -> Schema:
    op = _op("Merge a JSON Merge Patch into a data document; the result is validated "
             "against its schema, then applied as the smallest change", ("200", "Data"), _W,
             params=[_ID])
    op["requestBody"] = {"required": True, "content": {
        media: {"schema": _ref("MergePatch")}
        for media in ("application/merge-patch+json", "application/json")}}
    op["description"] = ("Who may change which fields is per schema (history, files, "
                         "authors kept by the server): 403 names the field; 422 the schema "
                         "violation, and nothing changes.")
    return op


def _get_data() -> Schema:
    op = _op("A data document's JSON (strong ETag, 304), or an actors map as GeoJSON",
             ("200", "Data"), "400 401 403 404 503",
             params=[_ID, _param("theme"), _param("format", schema={"enum": ["json",
                                                                           "geojson"]}),
                     _param("If-None-Match", "header")])
    op["responses"]["200"]["content"]["application/geo+json"] = {
        "schema": _ref("FeatureCollection")}
    op["responses"]["304"] = {"description": "If-None-Match matched the ETag"}
    op["description"] = (_DATA + " `theme` keeps the monitoring entries tagged so. An "
                         "actors map shows each reader its view: editors see every actor, "
                         "others the published ones and their own proposals. "
                         "`format=geojson` (actors maps) answers a FeatureCollection.")
    return op


def _import_data() -> Schema:
    op = _op("Import a GeoJSON FeatureCollection into an actors map (`format=geojson`)",
             ("200", "GeoJsonImport"), _W,
             params=[_ID, {**_param("format", schema={"const": "geojson"}),
                           "required": True}])
    op["requestBody"] = {"required": True, "content": {
        media: {"schema": _ref("FeatureCollection")}
        for media in ("application/geo+json", "application/json")}}
    op["description"] = ("Judged as the merge patch it amounts to: each feature's id names "
                         "the actor, its geometry is the position. 403 names the field; 422 "
                         "the feature or field breaking the schema, and nothing changes.")
    return op


def _events() -> Schema:
    op = _op("Server-Sent Events: one `data` event with the whole JSON on every change",
             ("200", None), "400 401 403 404 503",
             params=[_ID, _param("token"), _param("theme")])
    op["responses"]["200"]["content"] = {"text/event-stream": {"schema": _ref("EventStream")}}
    return op


def _upload() -> Schema:
    op = _op("Attach a file to a library resource (editors); size-limited",
             ("201", "FileInfo"), "400 401 403 404 413 415 422 503 507",
             params=[_ID, _param("resource_id", "path"),
                     {**_param("name", schema={"type": "string", "minLength": 1,
                                               "maxLength": 255}), "required": True}])
    op["requestBody"] = {"required": True, "content": {
        "*/*": {"schema": _ref("Binary")}}}
    return op


def _download() -> Schema:
    op = _op("A library file, with the type it was uploaded with", ("200", None),
             "400 401 403 404 503",
             params=[_ID, _param("file_id", "path"), _param("token")])
    op["responses"]["200"]["content"] = {"*/*": {"schema": _ref("Binary")}}
    return op


def _ics() -> Schema:
    op = _op("The merged agenda as iCalendar", ("200", None), "400 401 403 404 503",
             params=[_ID, _param("token")])
    op["responses"]["200"]["content"] = {"text/calendar": {"schema": _ref("ICalendar")}}
    return op


PATHS.update({
    "/api/documents/{doc_id}/data": {
        "get": _get_data(),
        "patch": _data_patch(),
        "post": _import_data(),
    },
    "/api/documents/{doc_id}/data/events": {"get": _events()},
    "/api/documents/{doc_id}/resources/{resource_id}/file": {"put": _upload()},
    "/api/documents/{doc_id}/files/{file_id}": {"get": _download()},
    "/api/documents/{doc_id}/agenda/import": {
        "post": _op("Import the agenda's iCalendar feeds now (moderators)",
                    ("200", "ImportReport"), "400 401 403 404 503", params=[_ID]),
    },
    "/api/documents/{doc_id}/agenda.ics": {"get": _ics()},
})
# Amendments (server/http/amendments.py).
_AMEND_ID = _param("amendment_id", "path")
SCHEMAS.update({
    "Amendment": {"type": "object", "required": [
        "id", "paragraph_id", "kind", "text", "base", "now", "outdated", "state", "supports",
        "author_name"], "properties": {
        "kind": {"enum": ["replace", "insert_after", "delete"]}, "base": _STR, "now": _NSTR,
        "state": {"enum": ["submitted", "withdrawn", "evaluating", "accepted", "rejected"]},
        "supports": {"type": "integer"}, "outdated": {"type": "boolean"}}},
    "AmendmentList": _obj(["amendments"],
                          amendments={"type": "array", "items": _ref("Amendment")}),
    "AmendmentCreate": _obj(["paragraph_id", "kind"], paragraph_id=_STR,
                            kind={"enum": ["replace", "insert_after", "delete"]},
                            text=_STR, justification=_STR),
    "AmendmentReject": _obj(["reason"], reason=_STR),
    "AmendmentRebase": _obj([], text=_STR),
})
_AMEND = "/api/documents/{doc_id}/amendments"
PATHS.update({
    _AMEND: {
        "get": _op("Amendments, with base/now/proposed and whether outdated",
                   ("200", "AmendmentList"), "400 401 403 404 503",
                   params=[_ID, _param("paragraph_id")]),
        "post": _op("Propose an amendment to a paragraph", ("201", "Amendment"), _W,
                    body="AmendmentCreate", params=[_ID]),
    },
    _AMEND + "/{amendment_id}": {"get": _op("One amendment", ("200", "Amendment"),
                                            "400 401 403 404 503", params=[_ID, _AMEND_ID])},
    _AMEND + "/{amendment_id}/support": {
        method: _op(summary, ("200", "Amendment"), "400 401 403 404 409 503",
                    params=[_ID, _AMEND_ID])
        for method, summary in (("post", "Support (once per person)"),
                                ("delete", "Take one's support back"))},
    **{_AMEND + "/{amendment_id}/" + verb: {"post": _op(
        summary, ("200", "Amendment"), "400 401 403 404 409 503", params=[_ID, _AMEND_ID])}
       for verb, summary in (("withdraw", "Withdraw (its author)"),
                             ("accept", "Accept: applied to the live text (facilitators); "
                                        "409 when outdated"))},
    _AMEND + "/{amendment_id}/reject": {"post": _op(
        "Reject with a reason (facilitators)", ("200", "Amendment"), _W + " 409",
        body="AmendmentReject", params=[_ID, _AMEND_ID])},
    _AMEND + "/{amendment_id}/rebase": {"post": {**_op(
        "Rebase onto the current wording (its author or facilitators)", ("200", "Amendment"),
        _W + " 409", body="AmendmentRebase", params=[_ID, _AMEND_ID]),
        "description": "The body is optional."}},
})

_SUB = _param("sub", "path")
SCHEMAS.update({
    "Person": _obj(
        ["sub", "name", "role", "credential_role", "first_seen", "last_seen", "removed",
         "removed_at"], sub=_STR, name=_STR, credential_role=_STR, first_seen=_TIME,
        last_seen=_TIME, removed={"type": "boolean"}, removed_at={"type": ["number", "null"]},
        role={**_STR, "description": "given by a facilitator, else the credential's"},
        pseudonym={**_STR, "description": "how public outputs name them unless named_publicly"},
        named_publicly={"type": "boolean"}, erased={"type": "boolean"}),
    "PersonList": _obj(["people"], people={"type": "array", "items": _ref("Person")}),
    "PersonPatch": _obj(["role"], role={"enum": ["member", "facilitator", "citizen"]}),
})
PATHS.update({
    "/api/people": {"get": _op("Everyone the server has seen, latest first (facilitators)",
                               ("200", "PersonList"), "400 401 403 503",
                               params=[_param("limit", schema={"type": "integer"})])},
    "/api/people/{sub}": {
        "patch": _op("Give a person another role, live on their sockets (facilitators)",
                     ("200", "Person"), "400 401 403 404 409 413 415 422 503",
                     body="PersonPatch", params=[_SUB]),
        "delete": _op("Revoke every credential of a person; their sockets close (4403)",
                      ("204", None), "401 403 404 409 422 503", params=[_SUB]),
    },
})

SCHEMAS.update(privacy.SCHEMAS)
PATHS.update(privacy.PATHS)
SCHEMAS.update(publish.SCHEMAS)
PATHS.update(publish.PATHS)
SCHEMAS.update(signin.SCHEMAS)
PATHS.update(signin.PATHS)
SCHEMAS.update(votes.SCHEMAS)
PATHS.update(votes.PATHS)
# Sessions (server/http/sessions.py).
_SESSION = "/api/documents/{doc_id}/sessions"
_SESSION_REF = _param("session", "path", {"type": "string", "minLength": 1, "maxLength": 64,
                                          "description": "the session's id or number"})
_HAND = _obj(["sub", "name", "raised_at"], sub=_STR, name=_STR, raised_at=_TIME)
_QUEUE: dict[str, Schema] = {"hands": {"type": "array", "items": _HAND},
          "floor": {"anyOf": [{"type": "null"}, _obj(["sub", "name", "since"], sub=_STR,
                                                     name=_STR, since=_TIME)]}}
_NTIME: Schema = {"type": ["number", "null"]}
_SESSION_FIELDS: dict[str, Schema] = {
    "id": _STR, "number": {"type": "integer", "minimum": 1}, "title": _STR,
    "kind": {"enum": ["training", "hearing", "work", "adoption"]},
    "planned_start": _NTIME, "planned_end": _NTIME, "opened_at": _TIME, "opened_by": _NSTR,
    "opened_by_name": _NSTR, "closed_at": _NTIME, "closed_by": _NSTR, "closed_by_name": _NSTR,
    "hash": {**_NSTR, "description": "SHA-256 of the closed session's record"},
    "chain_hash": {**_NSTR, "description": "links it to the previous closed session's"},
}
SCHEMAS.update({
    "Session": _obj(["id", "number", "title", "kind", "opened_at", "closed_at"],
                    **_SESSION_FIELDS),
    "SessionState": _obj(["id", "number", "title", "kind", "opened_at", "closed_at"],
                         **_SESSION_FIELDS, minutes_url=_NSTR, **_QUEUE,
                         present={"type": "array", "items": _obj(
                             ["sub", "name", "role"], sub=_STR, name=_STR, role=_STR)}),
    "SessionList": _obj(["sessions"], sessions={"type": "array", "items": _ref("Session")}),
    "SessionCreate": _obj(["title"], title={"type": "string", "minLength": 1},
                          kind={"enum": ["training", "hearing", "work", "adoption"]},
                          planned_start=_TIME, planned_end=_TIME),
    "Queue": _obj(["hands", "floor"], **_QUEUE),
    "FloorRequest": _obj([], sub={**_STR, "description": "default: the first raised hand"},
                         clear={"type": "boolean", "description": "clear hands and floor"}),
    "Minutes": {"type": "object", "required": ["session", "attendance", "activity",
                                               "snapshots", "decisions"], "properties": {
        "session": _ref("Session"), "opened_at": _TIME, "closed_at": _TIME,
        "attendance": {"type": "array", "items": {"type": "object", "required": [
            "sub", "name", "role", "present_seconds", "present"]}},
        "activity": {"type": "array", "items": {"type": "object", "required": [
            "sub", "updates", "chars_inserted", "chars_deleted", "comments"]}},
        "snapshots": {"type": "array"}, "decisions": {"type": "array"}}},
})
PATHS.update({
    _SESSION: {
        "get": _op("The document's sessions, by number", ("200", "SessionList"),
                   "400 401 403 404 422 503", params=[_ID]),
        "post": _op("Open a session (facilitators); 409 when one is open",
                    ("201", "Session"), _W + " 409", body="SessionCreate", params=[_ID]),
    },
    _SESSION + "/{session}": {
        "get": _op("One session; while open, its speaking queue and who is present",
                   ("200", "SessionState"), "400 401 403 404 422 503",
                   params=[_ID, _SESSION_REF]),
    },
    _SESSION + "/{session}/close": {
        "post": _op("Close the session: its minutes, stored once and chained (facilitators)",
                    ("200", "Minutes"), "400 401 403 404 409 422 503",
                    params=[_ID, _SESSION_REF]),
    },
    _SESSION + "/{session}/minutes": {
        "get": {**_op("The minutes of a closed session (guests by role for non-members)",
                      ("200", "Minutes"), "400 401 403 404 409 422 503",
                      params=[_ID, _SESSION_REF,
                              _param("format", schema={"enum": ["json", "md", "html"]})]),
                "description": "format=md answers text/markdown, html a page."},
    },
    _SESSION + "/{session}/hands": {
        "post": _op("Raise one's hand (members)", ("200", "Queue"),
                    "400 401 403 404 409 422 503", params=[_ID, _SESSION_REF]),
        "delete": _op("Lower one's hand (facilitators: anyone's, ?sub=)", ("200", "Queue"),
                      "400 401 403 404 409 422 503",
                      params=[_ID, _SESSION_REF, _param("sub")]),
    },
    _SESSION + "/{session}/floor": {
        "post": {**_op("Give the floor to the first raised hand, or to sub; or clear "
                       "(facilitators)", ("200", "Queue"), _W + " 409", body="FloorRequest",
                       params=[_ID, _SESSION_REF]),
                 "description": "The body is optional."},
    },
})

SPEC: Schema = {
    "openapi": "3.1.0",
    "info": {"title": "palabre", "version": "0.1.0",
             "description": "Realtime collaborative editing for citizens' assemblies. "
                            "Send `Authorization: Bearer <token>`; without one you are public."},
    "paths": PATHS,
    "components": {
        "schemas": SCHEMAS,
        "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer",
                                       "bearerFormat": "JWT"}},
    },
    "security": [{}, {"bearer": []}],
}
"""The API's description; `tests/e2e/test_api_documents.py` checks it against the routes."""


class OpenApi:
    """Serves the description and its page."""

    def routes(self) -> list[Route]:
        """The routes, relative to ``/api``."""
        return [Route("/openapi.json", self.spec, methods=["GET"]),
                Route("/docs", self.page, methods=["GET"])]

    async def spec(self, request: Request) -> Response:
        """``GET /openapi.json``."""
        return JSONResponse(SPEC)

    async def page(self, request: Request) -> Response:
        """``GET /docs``."""
        return HTMLResponse(docs_page(SPEC))
