"""The OpenAPI description of publishing (`server.http.publish`): versions as files."""

from __future__ import annotations

from server.http.openapi_parts import DOC_ID, Schema, op, param, ref

FORMATS = ["pdf", "docx", "odt", "html", "akn", "decidim", "md", "text", "json"]
_VERSION: Schema = {"type": "string", "description":
                    "'live' (default), 'adopted', or a snapshot number or id"}
_ID = param("doc_id", "path", DOC_ID)
_SID = param("snapshot_id", "path")
_FILE_TYPES = ("application/pdf", "application/vnd.oasis.opendocument.text",
               "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
               "application/akn+xml", "text/html", "text/markdown", "text/plain",
               "application/json")


def _export(summary: str, params: list[Schema]) -> Schema:
    operation = op(summary, ("200", None), "400 401 403 404 422 503",
                   params=[*params, param("format", schema={"enum": FORMATS})])
    operation["responses"]["200"]["content"] = {
        media: {"schema": ref("Binary")} for media in _FILE_TYPES}
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
                       param("format", schema={"enum": ["html", "docx", "pdf"]})])
    operation["responses"]["200"]["content"] = {media: {"schema": ref("Binary")} for media in (
        "text/html", "application/pdf",
        "application/vnd.openxmlformats-officedocument.wordprocessingml.document")}
    operation["description"] = ("html (default) and pdf mark words with ins/del; docx holds "
                                "Word tracked changes (w:ins, w:del). 'to' defaults to live.")
    return operation


SCHEMAS: dict[str, Schema] = {}
PATHS: dict[str, Schema] = {
    "/api/documents/{doc_id}/export": {"get": _export(
        "A version of the text as a file: the live text, the adopted version or a snapshot",
        [_ID, param("version", schema=_VERSION)])},
    "/api/documents/{doc_id}/snapshots/{snapshot_id}/export": {"get": _export(
        "A snapshot as a file (by id or number)", [_ID, _SID])},
    "/api/documents/{doc_id}/redline": {"get": _redline()},
}
