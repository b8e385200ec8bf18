"""The OpenAPI description of publishing (`server.http.publish`): versions as files."""

from __future__ import annotations

from server.http.openapi_parts import DOC_ID, NSTR, STR, TIME, Schema, obj, op, param, ref

FORMATS = ["pdf", "docx", "odt", "html", "akn", "decidim", "md", "text", "json"]
_VERSION: Schema = {"type": "string", "description":
                    "'live' (default), 'adopted', or a snapshot number or id"}
_ID = param("doc_id", "path", DOC_ID)
_SID = param("snapshot_id", "path")
_FILE_TYPES = ("application/pdf", "application/vnd.oasis.opendocument.text",
               "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
               "application/akn+xml", "text/html", "text/markdown", "text/plain")


def _export(summary: str, params: list[Schema]) -> Schema:
    operation = op(summary, ("200", None), "400 401 403 404 422 503",
                   params=[*params, param("format", schema={"enum": FORMATS}), param("token")])
    operation["responses"]["200"]["content"] = {
        **{media: {"schema": ref("Binary")} for media in _FILE_TYPES},
        "application/json": {"schema": ref("ExportJson")},
    }
    operation["description"] = (
        "An attachment (Content-Disposition names the file). pdf: A4, cover with title, "
        "stage, version, date and hash; docx/odt: headings as heading styles; akn: Akoma "
        "Ntoso 3.0 act, eIds from block ids; decidim: participatory-text Markdown. "
        "Default format pdf.")
    return operation


def _redline() -> Schema:
    operation = op("The changes between two versions, paragraph by paragraph with word marks",
                   ("200", None), "400 401 403 404 422 503", params=[
                       _ID, {**param("from", schema=_VERSION), "required": True},
                       param("to", schema=_VERSION),
                       param("format", schema={"enum": ["html", "docx", "pdf"]}),
                       param("token")])
    operation["responses"]["200"]["content"] = {media: {"schema": ref("Binary")} for media in (
        "text/html", "application/pdf",
        "application/vnd.openxmlformats-officedocument.wordprocessingml.document")}
    operation["description"] = ("html (default) and pdf mark words with ins/del; docx holds "
                                "Word tracked changes (w:ins, w:del). 'to' defaults to live.")
    return operation


_HEX: Schema = {"type": "string", "pattern": "^[0-9a-f]{64}$"}
_COUNT: Schema = {"type": "integer", "minimum": 0}
_HASHED = obj(
    ["v", "state", "annotations_state", "stage", "label", "created_at", "created_by",
     "adopted"], v={"type": "integer"}, state=_HEX, annotations_state=_HEX, stage=STR,
    label=STR, created_at={**STR, "description": "the time as Python's repr of the float"},
    created_by=NSTR, adopted={"type": "boolean"})
_HASHED["description"] = ("What the hash covers besides the two texts: add 'markdown' and "
                          "'html' (GET .../snapshots/{sid}/content?format=md|html) and the "
                          "SHA-256 of the canonical JSON (sorted keys, no spaces, UTF-8) is "
                          "'hash'; 'state' is the SHA-256 of ...?format=yjs.")
SCHEMAS: dict[str, Schema] = {
    "ExportJson": obj(
        ["id", "title", "version", "hash", "blocks"], id=STR, title=STR,
        version={"type": ["integer", "null"]}, hash=NSTR,
        blocks={"type": "array", "items": {"type": "object"}}),
    "ArchiveVersion": obj(
        ["number", "id", "stage", "label", "created_at", "created_by_name", "adopted", "hash",
         "previous_hash", "chain_hash", "hashed"], number={"type": "integer", "minimum": 1},
        id=STR, stage=STR, label=STR, created_at=TIME, created_by_name=NSTR,
        adopted={"type": "boolean"}, hash=_HEX, previous_hash={"type": ["string", "null"]},
        chain_hash=_HEX, hashed=_HASHED),
    "ArchiveRecord": obj(
        ["id", "title", "is_public", "formats", "redline_formats", "stages", "adoption",
         "versions"], id=STR, title=STR, is_public={"type": "boolean"},
        formats={"type": "array", "items": STR}, redline_formats={"type": "array", "items": STR},
        stages={"type": "array", "items": obj(["stage", "numbers"], stage=STR, numbers={
            "type": "array", "items": {"type": "integer"}})},
        adoption={"oneOf": [{"type": "null"}, obj(
            ["number", "created_at", "created_by_name", "hash", "chain_hash"],
            number={"type": "integer"}, created_at=TIME, created_by_name=NSTR, hash=_HEX,
            chain_hash=_HEX)]},
        versions={"type": "array", "items": ref("ArchiveVersion")}),
    "ArchiveCheck": obj(["ok", "versions"], ok={"type": "boolean"}, versions=_COUNT,
                        broken_at={"type": "integer", "description": "when not ok: the "
                                   "number of the first snapshot that fails"},
                        detail={**STR, "description": "when not ok: why"}),
}
PATHS: dict[str, Schema] = {
    "/api/documents/{doc_id}/export": {"get": _export(
        "A version of the text as a file: the live text, the adopted version or a snapshot",
        [_ID, param("version", schema=_VERSION)])},
    "/api/documents/{doc_id}/snapshots/{snapshot_id}/export": {"get": _export(
        "A snapshot as a file (by id or number)", [_ID, _SID])},
    "/api/documents/{doc_id}/redline": {"get": _redline()},
    "/api/documents/{doc_id}/archive": {"get": op(
        "The archive record the public archive page verifies: every version, its stage, "
        "hashes and what its hash covers", ("200", "ArchiveRecord"), "400 401 403 404 422 503",
        params=[_ID])},
    "/api/documents/{doc_id}/archive/verify": {"get": op(
        "The hash chain checked by the server over the stored content",
        ("200", "ArchiveCheck"), "400 401 403 404 503", params=[_ID])},
}
