"""``/api/documents/{id}/votes``: votes of an open session on amendments.

- ``POST .../votes`` ``{"amendment_ids": [...], "ballot": "public|secret",
  "rule": "majority|two_thirds"}`` (facilitators, during an open session): 201 ``{"id"}``;
- ``GET .../votes``: ``{"votes": [...]}``, newest first; ``GET .../votes/{vid}``: one vote
  with its counts per amendment, who voted (and, in a public vote, what);
- ``POST .../votes/{vid}/ballots`` ``{"amendment_id", "choice": "for|against|abstain"}``
  (members present in the session): the amendment's counts; again: a change (public
  votes), 409 in a secret vote;
- ``POST .../votes/{vid}/close`` (facilitators): ``{"results": [{"amendment_id", "for",
  "against", "abstain", "result", "applied"}]}``.

Every action goes through `server.modules.votes`, which checks the rights.
"""

from __future__ import annotations

import json
from typing import cast

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from crdt.schema import JsonValue
from server.access.permissions import Action
from server.errors import BadRequest, Invalid
from server.http.authorize import Authorized, requires
from server.http.body import JsonObject, int_param, only_fields, read_json, text_field
from server.http.context import ApiContext, created
from server.modules.names import INSIDERS, DisplayNames
from server.modules.votes import VotesService, outcome_json, result_json
from storage.votes import BALLOT_KINDS, CHOICES, RULES, VoteRecord

MAX_AMENDMENTS_PER_VOTE = 50
"""Amendments one vote may hold."""
MAX_ID = 64
"""Longest amendment or vote id taken."""


class VotesApi:
    """The vote endpoints, bound to one app's context."""

    def __init__(self, context: ApiContext, votes: VotesService) -> None:
        self.context = context
        self._votes = votes
        self._names = DisplayNames(context.store)

    def routes(self) -> list[Route]:
        """The routes, relative to ``/api``."""
        base = "/documents/{doc_id}/votes"
        one = base + "/{vote_id}"
        return [
            Route(base, self.list_votes, methods=["GET"]),
            Route(base, self.open_vote, methods=["POST"]),
            Route(one, self.get_vote, methods=["GET"]),
            Route(one + "/ballots", self.cast_ballot, methods=["POST"]),
            Route(one + "/close", self.close_vote, methods=["POST"]),
        ]

    @requires(Action.READ)
    async def list_votes(self, request: Request, auth: Authorized) -> Response:
        """``GET .../votes?limit=``: the document's votes, newest first."""
        limit = int_param(request, "limit", 100, low=1, high=1000)
        found = await self._votes.list_votes(auth.doc_id, limit=limit)
        return JSONResponse({"votes": [vote_json(v) for v in found]})

    @requires(Action.READ)
    async def open_vote(self, request: Request, auth: Authorized) -> Response:
        """``POST .../votes``: 201 ``{"id", ...}``."""
        _text_only(auth)
        body = await read_json(request, self.context.max_body_bytes)
        only_fields(body, {"amendment_ids", "ballot", "rule"})
        ids = body.get("amendment_ids")
        if not isinstance(ids, list) or not ids or not all(
                isinstance(i, str) and 0 < len(i) <= MAX_ID for i in ids):
            raise Invalid(f"'amendment_ids' must be a non-empty list of amendment ids "
                          f"(strings of 1 to {MAX_ID} characters)")
        if len(ids) > MAX_AMENDMENTS_PER_VOTE:
            raise Invalid(f"a vote holds at most {MAX_AMENDMENTS_PER_VOTE} amendments")
        if len(set(ids)) != len(ids):
            raise Invalid("'amendment_ids' names an amendment twice")
        ballot = body.get("ballot", "public")
        if ballot not in BALLOT_KINDS:
            raise Invalid(f"'ballot' must be one of {', '.join(BALLOT_KINDS)}")
        rule = body.get("rule", "majority")
        if rule not in RULES:
            raise Invalid(f"'rule' must be one of {', '.join(RULES)}")
        vote = await self._votes.open(
            auth.doc_id, auth.principal, amendment_ids=[str(i) for i in ids],
            ballot=ballot, rule=rule,
            is_public=auth.meta.is_public)
        return created(vote_json(vote), f"/api/documents/{auth.doc_id}/votes/{vote.vote_id}")

    @requires(Action.READ)
    async def get_vote(self, request: Request, auth: Authorized) -> Response:
        """``GET .../votes/{vid}``: the vote, its counts and who voted (what, if public)."""
        vote = await self._votes.get(auth.doc_id, _vid(request))
        shown = vote_json(vote)
        shown["counts"] = [result_json(c, "open" if vote.is_open else "")
                           for c in await self._votes.counts(vote)]
        for entry in cast(list[JsonObject], shown["counts"]):
            del entry["result"]
        ballots = await self._votes.ballots(vote)
        if auth.principal.role not in INSIDERS:
            names = await self._names.show([str(b["sub"]) for b in ballots], auth.principal)
            for b in ballots:
                sub = str(b["sub"])
                if sub != auth.principal.sub:
                    b["name"] = names[sub].display_name
                    b["sub"] = None
        if vote.ballot == "secret":
            for b in ballots:
                del b["choice"]
        shown["ballots"] = cast(list[JsonValue], ballots)
        return JSONResponse(shown)

    @requires(Action.READ)
    async def cast_ballot(self, request: Request, auth: Authorized) -> Response:
        """``POST .../votes/{vid}/ballots`` ``{"amendment_id", "choice"}``."""
        body = await read_json(request, self.context.max_body_bytes)
        only_fields(body, {"amendment_id", "choice"})
        amendment_id = text_field(body, "amendment_id", required=True, max_length=MAX_ID) or ""
        choice = body.get("choice")
        if choice not in CHOICES:
            raise Invalid(f"'choice' must be one of {', '.join(CHOICES)}")
        counts = await self._votes.cast(
            auth.doc_id, auth.principal, _vid(request), amendment_id=amendment_id,
            choice=choice, is_public=auth.meta.is_public)
        shown = result_json(counts, "open")
        del shown["result"]
        shown["choice"] = choice
        return JSONResponse(shown)

    @requires(Action.READ)
    async def close_vote(self, request: Request, auth: Authorized) -> Response:
        """``POST .../votes/{vid}/close``: ``{"results": [...]}``."""
        closed, outcomes = await self._votes.close(auth.doc_id, auth.principal,
                                                   _vid(request), is_public=auth.meta.is_public)
        shown = vote_json(closed)
        shown["results"] = [outcome_json(o) for o in outcomes]
        return JSONResponse(shown)


def vote_json(vote: VoteRecord) -> JsonObject:
    """A vote as the API shows it; ``results`` once closed."""
    return {
        "id": vote.vote_id, "session_id": vote.session_id,
        "amendment_ids": list(vote.amendment_ids), "ballot": vote.ballot, "rule": vote.rule,
        "state": "open" if vote.is_open else "closed", "opened_at": vote.opened_at,
        "opened_by_name": vote.opened_by_name, "closed_at": vote.closed_at,
        "results": None if vote.results is None else cast(JsonValue, json.loads(vote.results)),
    }


def _vid(request: Request) -> str:
    vote_id = str(request.path_params["vote_id"])
    if not 0 < len(vote_id) <= MAX_ID:
        raise BadRequest(f"a vote id has 1 to {MAX_ID} characters")
    return vote_id


def _text_only(auth: Authorized) -> None:
    if auth.meta.kind != "text":
        raise Invalid("only a text document has amendments to vote on")
