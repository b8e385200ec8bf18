"""The building blocks of the hand-written OpenAPI description (`server.http.openapi`)."""

from __future__ import annotations

from typing import Any

Schema = dict[str, Any]


def ref(name: str) -> Schema:
    """A reference to a named schema."""
    return {"$ref": f"#/components/schemas/{name}"}


def obj(required: list[str], **properties: Schema) -> Schema:
    """A closed object schema."""
    return {"type": "object", "required": required, "properties": properties,
            "additionalProperties": False}


STR: Schema = {"type": "string"}
NSTR: Schema = {"type": ["string", "null"]}
TIME: Schema = {"type": "number", "description": "Unix time in seconds"}
DOC_ID: Schema = {"type": "string", "pattern": "^[A-Za-z0-9._-]{1,128}$"}

ERRORS = {
    "400": "malformed JSON or parameter", "401": "invalid token", "403": "forbidden",
    "404": "unknown id", "409": "already exists", "410": "expired, used up or revoked",
    "413": "body too large",
    "415": "not application/json", "422": "invalid values", "503": "storage unavailable",
    "429": "rate limited: wait for Retry-After",
    "507": "too little free disk space left (PALABRE_MIN_FREE_DISK_BYTES); nothing written",
}


def op(summary: str, ok: tuple[str, str | None], errors: str, *, body: str | None = None,
       params: list[Schema] | None = None, media: str = "application/json") -> Schema:
    """An operation: its success answer and the error answers named in `errors`."""
    status, schema = ok
    content = {media: {"schema": ref(schema)}} if schema else None
    responses: Schema = {status: {"description": "success",
                                  **({"content": content} if content else {})}}
    for code in [*errors.split(), "429"]:  # the rate limit answers on every /api route
        responses[code] = {"description": ERRORS[code],
                           "content": {"application/json": {"schema": ref("Error")}}}
    found: Schema = {"summary": summary, "responses": responses}
    if body:
        found["requestBody"] = {"required": True,
                             "content": {"application/json": {"schema": ref(body)}}}
    if params:
        found["parameters"] = params
    return found


def param(name: str, where: str = "query", schema: Schema | None = None) -> Schema:
    """A parameter (path ones are required)."""
    return {"name": name, "in": where, "required": where == "path", "schema": schema or STR}
