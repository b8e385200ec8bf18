"""The OpenAPI description of invitations and sign-in (`server.http.invitations`,
`server.http.signin`, `server.http.oidc`)."""

from __future__ import annotations

from server.http.openapi_parts import STR, TIME, Schema, obj, op, param

_ROLE: Schema = {"enum": ["member", "facilitator", "citizen"]}
_DOCS: Schema = {"type": ["array", "null"], "items": {"type": "string", "minLength": 1,
                                                      "maxLength": 128},
                 "description": "document ids or glob patterns the invited are limited to; "
                                "null: all"}

_SIGNED_OUT: Schema = obj(
    ["signed_in"], signed_in={"const": False},
    provider={"type": "boolean", "description": "whether /auth/login signs in through an "
                                                 "identity provider"},
    detail={**STR, "description": "why the cookie's session is over"},
    ended={"type": "integer", "minimum": 0, "description": "sessions ended (sign-out)"})
_SIGNED_IN: Schema = obj(
    ["signed_in", "sub", "name", "role", "docs", "via", "signed_in_at", "expires_at",
     "idle_expires_at", "csrf_token"],
    signed_in={"const": True}, sub=STR, name=STR, role=_ROLE, docs=_DOCS,
    via={"enum": ["token", "invitation", "oidc"]}, signed_in_at=TIME,
    expires_at={**TIME, "description": "the absolute end"},
    idle_expires_at={**TIME, "description": "the end if unused until then"},
    csrf_token={**STR, "description": "send it as X-CSRF-Token on unsafe requests made "
                                      "with the cookie"},
    next={**STR, "description": "where an invited person lands"})
_REDIRECT: Schema = {"description": "redirect (Location)", "headers": {
    "Location": {"schema": {"type": "string"}}}}

SCHEMAS: dict[str, Schema] = {
    "SigninState": {"oneOf": [_SIGNED_IN, _SIGNED_OUT]},
    "SignedIn": _SIGNED_IN,
    "SignedOut": _SIGNED_OUT,
    "InvitationAccept": obj(["name"], name={"type": "string", "minLength": 1,
                                            "maxLength": 100}),
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

def _redirecting(summary: str, ok: str, errors: str, params: list[Schema]) -> Schema:
    found = op(summary, (ok, None), errors, params=params)
    found["responses"][ok] = _REDIRECT
    return found


PATHS: dict[str, Schema] = {
    "/auth/session": {
        "get": op("Who the sign-in cookie stands for (signed_in false without one)",
                  ("200", "SigninState"), "503"),
        "post": op("Exchange the bearer token for a sign-in session (sets the cookie)",
                   ("201", "SignedIn"), "401 503"),
    },
    "/auth/logout": {"post": {**op(
        "Sign out: end this cookie's session, or every session of its person",
        ("200", "SignedOut"), "400 403 503",
        params=[param("everywhere", schema={"enum": ["true", "false", "1", "0"]})]),
        "description": "With the cookie: same origin and X-CSRF-Token required (403)."}},
    "/auth/invitations/{iid}": {"post": {**op(
        "Use an invitation: a new person with the name given, signed in (sets the cookie)",
        ("201", "SignedIn"), "400 403 404 410 413 415 422 503", body="InvitationAccept",
        params=[param("iid", "path")]),
        "description": "The invitation page posts a form instead (303 to the document)."}},
    "/auth/login": {"get": _redirecting(
        "Sign in through the identity provider, then go to next (a local path)", "302",
        "503 404", [param("next")])},
    "/auth/callback": {"get": _redirecting(
        "Where the identity provider sends the browser back (code, state)", "303",
        "401 404 503", [param("code"), param("state")])},

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
