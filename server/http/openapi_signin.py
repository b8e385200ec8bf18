"""The OpenAPI description of invitations (`server.http.invitations`)."""

from __future__ import annotations

from server.http.openapi_parts import STR, TIME, Schema, obj, op, param

_ROLE: Schema = {"enum": ["member", "facilitator", "citizen"]}
_DOCS: Schema = {"type": ["array", "null"], "items": {"type": "string", "minLength": 1,
                                                      "maxLength": 128},
                 "description": "document ids or glob patterns the invited are limited to; "
                                "null: all"}

SCHEMAS: dict[str, Schema] = {
    "InvitationCreate": obj(
        ["role"], role=_ROLE,
        docs={"type": "array", "minItems": 1, "maxItems": 50,
              "items": {"type": "string", "minLength": 1, "maxLength": 128}},
        ttl_seconds={"type": "integer", "minimum": 1, "maximum": 90 * 86400,
                     "description": "default 7 days"},
        uses={"type": "integer", "minimum": 1, "maximum": 10_000, "description": "default 1"},
        note={"type": "string", "maxLength": 1000}),
    "Invitation": obj(
        ["id", "url", "role", "docs", "note", "created_by", "created_at", "expires_at", "uses",
         "used", "revoked", "revoked_at"],
        id=STR, url={**STR, "description": "the link to hand out: /invite/{id}"}, role=_ROLE,
        docs=_DOCS, note=STR, created_by=STR, created_at=TIME, expires_at=TIME,
        uses={"type": "integer", "description": "how many people it may let in"},
        used={"type": "integer", "description": "how many it let in"},
        revoked={"type": "boolean"}, revoked_at={"type": ["number", "null"]}),
    "InvitationList": obj(["invitations"], invitations={
        "type": "array", "items": {"$ref": "#/components/schemas/Invitation"}}),
}

PATHS: dict[str, Schema] = {
    "/api/invitations": {
        "post": op("Create an invitation link (facilitators)", ("201", "Invitation"),
                   "400 401 403 413 415 422 503", body="InvitationCreate"),
        "get": op("Invitations, newest first (facilitators)", ("200", "InvitationList"),
                  "400 401 403 503", params=[param("limit", schema={"type": "integer"})]),
    },
    "/api/invitations/{iid}": {
        "delete": op("Revoke an invitation: nobody else gets in with it (facilitators)",
                     ("204", None), "401 403 404 503", params=[param("iid", "path")]),
    },
}
