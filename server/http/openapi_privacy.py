"""The OpenAPI description of provenance and personal data (`server.http.provenance`)."""

from __future__ import annotations

from server.http.openapi_parts import DOC_ID, NSTR, STR, Schema, obj, op, param, ref

_COUNT: Schema = {"type": "integer", "minimum": 0}
_NTIME: Schema = {"type": ["number", "null"], "description": "Unix time in seconds"}
_SHOWN = {"display_name": {**STR, "description": "a real name (members, facilitators) or a "
                                                  "pseudonym (others), unless the person "
                                                  "chose to be named"},
          "sub": {**NSTR, "description": "members and facilitators only"}}
_CONTRIBUTOR = obj(["display_name", "sub", "words", "share"], **_SHOWN, words=_COUNT,
                   share={"type": "number", "minimum": 0, "maximum": 1})
_SPAN = obj(["start", "end", "text", "display_name", "sub", "inserted_from", "inserted_until",
             "session"],
            start=_COUNT, end=_COUNT, text=STR, **_SHOWN, inserted_from=_NTIME,
            inserted_until=_NTIME, session={"type": ["integer", "null"], "description":
                                            "number of the session open when inserted"})

_ANY_LIST: Schema = {"type": "array", "items": {"type": "object"}}
SCHEMAS: dict[str, Schema] = {
    "PersonalData": obj(
        ["profile", "roles", "documents", "audit", "votes"],
        profile={"type": "object"}, roles={"type": "object"}, votes=_ANY_LIST,
        documents={"type": "array", "items": {
            "type": "object", "description": "per text document: comments, replies, "
            "amendments, supports, words and share of the live text, paragraphs, attendance"}},
        audit={**_ANY_LIST, "description": "entries made by the person or naming them"},
    ),
    "Naming": obj(["named_publicly"], named_publicly={
        "type": "boolean", "description": "true: public outputs show the person's name; "
                                          "false (default): their pseudonym"}),
    "Contributor": _CONTRIBUTOR,
    "Provenance": obj(
        ["version", "words", "contributors", "paragraphs"], version=STR, words=_COUNT,
        contributors={"type": "array", "items": ref("Contributor")},
        paragraphs={"type": "array", "items": obj(
            ["id", "type", "words", "contributors"], id=NSTR, type=STR, words=_COUNT,
            contributors={"type": "array", "items": ref("Contributor")},
            text={**STR, "description": "with words=1"},
            spans={"type": "array", "items": _SPAN, "description": "with words=1: each word, "
                   "with who inserted most of its characters and when"},
        )},
    ),
}

_SUB = param("sub", "path")
_DATA = op("Everything palabre keeps about a person, as JSON (the person themselves, or "
           "facilitators); audited as person.data_exported", ("200", "PersonalData"),
           "400 401 403 404 422 503", params=[param("sub", "path")])
_RESEAL = obj(["doc_id", "chain", "from_number", "old_head", "new_head"], doc_id=STR,
              chain={"enum": ["snapshots", "sessions"]}, from_number=_COUNT,
              old_head=NSTR, new_head=NSTR)
SCHEMAS["Erasure"] = obj(
    ["sub", "pseudonym", "reseals", "rows"], sub={**STR, "description": "erased-N"},
    pseudonym=STR, reseals={"type": "array", "items": _RESEAL},
    words_removed={"type": "boolean"},
    rows={"type": "object", "description": "rows rewritten, per table"})
SCHEMAS["EraseOptions"] = obj(
    [], remove_words={"type": "boolean", "description": "also replace the words of their "
                      "comments, replies and amendments by a marker"})
PATHS: dict[str, Schema] = {
    "/api/people/{sub}/erase": {"post": {**op(
        "Erase a person: their name and subject become their pseudonym everywhere "
        "(facilitators)", ("200", "Erasure"), "400 401 403 404 409 413 415 422 503",
        params=[param("sub", "path")]),
        "requestBody": {"required": False, "content": {"application/json": {
            "schema": ref("EraseOptions")}}},
        "description": "Removes the person, rewrites comments, amendments and supports, "
                       "the update log's principals, audit, sessions and snapshots; the "
                       "archive chains they appeared in are hashed again (old and new heads "
                       "in the answer and in the audit log)."}},
    "/api/people/{sub}/data": {"get": _DATA},
    "/api/people/{sub}/export": {"get": {**_DATA, "description": "The same as .../data."}},
    "/api/people/{sub}/naming": {"put": op(
        "Choose whether public outputs name a person or show their pseudonym (the person "
        "themselves, or facilitators)", ("200", "Person"),
        "400 401 403 404 413 415 422 503", body="Naming", params=[_SUB])},
    "/api/documents/{doc_id}/provenance": {"get": {**op(
        "Who wrote which words of the live text or of a snapshot, from the server's "
        "authorship record", ("200", "Provenance"), "400 401 403 404 422 503",
        params=[param("doc_id", "path", DOC_ID),
                param("version", schema={"type": "string", "pattern": "^(live|[0-9]{1,10})$",
                                         "description": "'live' (default) or a snapshot "
                                                        "number"}),
                param("words", schema={"enum": ["0", "1"]})]),
        "description": "Per paragraph (stable block id) its contributors with their share "
                       "of its words; with words=1 every word with its author and the "
                       "bounds of when it was inserted. Text documents only (422 otherwise)."}},
}
