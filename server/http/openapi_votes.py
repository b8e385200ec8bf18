"""The OpenAPI description of votes on amendments (`server.http.votes`)."""

from __future__ import annotations

from server.http.openapi_parts import DOC_ID, NSTR, STR, TIME, Schema, obj, op, param, ref

_ID = param("doc_id", "path", DOC_ID)
_VOTE_ID = param("vote_id", "path", {"type": "string", "minLength": 1, "maxLength": 64})
_COUNT: Schema = {"type": "integer", "minimum": 0}
_AID: Schema = {"type": "string", "minLength": 1, "maxLength": 64}
_RESULT: Schema = obj(
    ["amendment_id", "for", "against", "abstain", "result"], amendment_id=STR, **{
        "for": _COUNT, "against": _COUNT, "abstain": _COUNT,
        "result": {"enum": ["accepted", "rejected", "no_quorum"]},
        "applied": {"type": "boolean", "description": "close only: whether the result was "
                                                      "carried out on the amendment"},
        "note": {**STR, "description": "why it was not (outdated, decided meanwhile)"}})
_COUNTS: Schema = obj(["amendment_id", "for", "against", "abstain"], amendment_id=STR,
                      **{"for": _COUNT, "against": _COUNT, "abstain": _COUNT})
_BALLOT: Schema = obj(
    ["amendment_id", "sub", "name"], amendment_id=STR,
    sub={**NSTR, "description": "null when shown by pseudonym"}, name=STR,
    choice={"enum": ["for", "against", "abstain"],
            "description": "public votes only: a secret vote keeps no choice"})
_VOTE_FIELDS: dict[str, Schema] = {
    "id": STR, "session_id": STR, "amendment_ids": {"type": "array", "items": STR},
    "ballot": {"enum": ["public", "secret"]}, "rule": {"enum": ["majority", "two_thirds"]},
    "state": {"enum": ["open", "closed"]}, "opened_at": TIME, "opened_by_name": STR,
    "closed_at": {"type": ["number", "null"]},
    "results": {"type": ["array", "null"], "items": _RESULT},
}
_VOTE_REQUIRED = ["id", "session_id", "amendment_ids", "ballot", "rule", "state",
                  "opened_at", "opened_by_name", "closed_at", "results"]

SCHEMAS: dict[str, Schema] = {
    "Vote": obj(_VOTE_REQUIRED, **_VOTE_FIELDS),
    "VoteDetail": obj([*_VOTE_REQUIRED, "counts", "ballots"], **_VOTE_FIELDS,
                      counts={"type": "array", "items": _COUNTS},
                      ballots={"type": "array", "items": _BALLOT}),
    "VoteList": obj(["votes"], votes={"type": "array", "items": ref("Vote")}),
    "VoteCreate": obj(
        ["amendment_ids"],
        amendment_ids={"type": "array", "items": _AID, "minItems": 1, "maxItems": 50,
                       "uniqueItems": True},
        ballot={"enum": ["public", "secret"], "default": "public"},
        rule={"enum": ["majority", "two_thirds"], "default": "majority"}),
    "BallotCreate": obj(["amendment_id", "choice"], amendment_id=_AID,
                        choice={"enum": ["for", "against", "abstain"]}),
    "BallotCounted": obj(["amendment_id", "for", "against", "abstain", "choice"],
                         amendment_id=STR, choice={"enum": ["for", "against", "abstain"]},
                         **{"for": _COUNT, "against": _COUNT, "abstain": _COUNT}),
}
_VOTES = "/api/documents/{doc_id}/votes"
PATHS: dict[str, Schema] = {
    _VOTES: {
        "get": op("The document's votes, newest first", ("200", "VoteList"),
                  "400 401 403 404 503",
                  params=[_ID, param("limit", schema={"type": "integer", "minimum": 1,
                                                      "maximum": 1000})]),
        "post": op("Open a vote on submitted amendments during the open session "
                   "(facilitators); they go evaluating", ("201", "Vote"),
                   "400 401 403 404 409 413 415 422 503", body="VoteCreate", params=[_ID]),
    },
    _VOTES + "/{vote_id}": {"get": op(
        "One vote: counts per amendment, who voted (and what, if public)",
        ("200", "VoteDetail"), "400 401 403 404 503", params=[_ID, _VOTE_ID])},
    _VOTES + "/{vote_id}/ballots": {"post": op(
        "Vote on one amendment (members present in the session); again: a change, "
        "409 in a secret vote or once closed", ("200", "BallotCounted"),
        "400 401 403 404 409 413 415 422 503", body="BallotCreate", params=[_ID, _VOTE_ID])},
    _VOTES + "/{vote_id}/close": {"post": op(
        "Close, tally and decide each amendment (facilitators)", ("200", "Vote"),
        "400 401 403 404 409 503", params=[_ID, _VOTE_ID])},
}
