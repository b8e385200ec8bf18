"""``/api/documents/{id}/amendments``: proposed wordings per paragraph and their lifecycle.

- ``GET .../amendments[?paragraph_id=]``: ``{"amendments": [...]}``, each with its
  state, supports, author, and the three-way view (``base``, ``now``, ``text``) with
  ``outdated`` computed against the live text;
- ``POST .../amendments`` ``{"paragraph_id", "kind", "text"?, "justification"?}``: 201;
- ``GET .../amendments/{aid}``;
- ``POST|DELETE .../amendments/{aid}/support``;
- ``POST .../amendments/{aid}/withdraw`` (its author), ``/accept`` (facilitators: the
  wording goes into the live text; 409 when outdated), ``/reject`` ``{"reason"}``
  (facilitators), ``/rebase`` ``{"text"?}`` (its author or a facilitator).

Every write goes through `server.modules.amendments`, which checks the rights.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import cast

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from crdt.amend_text import KINDS, Kind
from crdt.schema import JsonValue
from server.access.permissions import Action
from server.errors import Invalid
from server.http.authorize import Authorized, requires
from server.http.body import JsonObject, only_fields, optional_json, read_json, text_field
from server.http.context import ApiContext
from server.modules.amendments import Standing
from server.modules.names import INSIDERS, DisplayNames

MAX_PARAGRAPH_ID = 200


class AmendmentsApi:
    """The amendment endpoints, bound to one app's context."""

    def __init__(self, context: ApiContext) -> None:
        self.context = context
        self._amendments = context.amendments
        self._names = DisplayNames(context.store)

    def routes(self) -> list[Route]:
        """The routes, relative to ``/api``."""
        base = "/documents/{doc_id}/amendments"
        one = base + "/{amendment_id}"
        return [
            Route(base, self.list_amendments, methods=["GET"]),
            Route(base, self.propose, methods=["POST"]),
            Route(one, self.get_amendment, methods=["GET"]),
            Route(one + "/support", self.support, methods=["POST", "DELETE"]),
            Route(one + "/withdraw", self.withdraw, methods=["POST"]),
            Route(one + "/accept", self.accept, methods=["POST"]),
            Route(one + "/reject", self.reject, methods=["POST"]),
            Route(one + "/rebase", self.rebase, methods=["POST"]),
        ]

    @requires(Action.READ)
    async def list_amendments(self, request: Request, auth: Authorized) -> Response:
        """``GET .../amendments[?paragraph_id=]``."""
        found = await self._amendments.list(
            auth.doc_id, paragraph_id=request.query_params.get("paragraph_id"))
        return JSONResponse({"amendments": await self._shown(found, auth)})

    @requires(Action.READ)
    async def get_amendment(self, request: Request, auth: Authorized) -> Response:
        """``GET .../amendments/{aid}``."""
        standing = await self._amendments.get(auth.doc_id, _aid(request))
        return JSONResponse((await self._shown([standing], auth))[0])

    @requires(Action.READ)
    async def propose(self, request: Request, auth: Authorized) -> Response:
        """``POST .../amendments``: 201 with the submitted amendment."""
        body = await read_json(request, self.context.max_body_bytes)
        only_fields(body, {"paragraph_id", "kind", "text", "justification"})
        limit = self.context.limits.amendment_chars
        paragraph_id = text_field(body, "paragraph_id", required=True,
                                  max_length=MAX_PARAGRAPH_ID) or ""
        if body.get("kind") not in KINDS:
            raise Invalid(f"'kind' must be one of {', '.join(KINDS)}")
        kind = cast(Kind, body["kind"])
        text = _wording(body, kind, limit)
        justification = text_field(body, "justification", max_length=limit) or ""
        amendment = await self._amendments.propose(
            auth.doc_id, auth.principal, paragraph_id=paragraph_id, kind=kind, text=text,
            justification=justification, is_public=auth.meta.is_public,
        )
        standing = await self._amendments.get(auth.doc_id, amendment.id)
        return JSONResponse((await self._shown([standing], auth))[0], status_code=201)

    @requires(Action.READ)
    async def support(self, request: Request, auth: Authorized) -> Response:
        """``POST`` (support) or ``DELETE`` (take it back) ``.../support``."""
        await self._amendments.support(
            auth.doc_id, auth.principal, _aid(request), supported=request.method == "POST",
            is_public=auth.meta.is_public)
        return await self._answer(auth, request)

    @requires(Action.READ)
    async def withdraw(self, request: Request, auth: Authorized) -> Response:
        """``POST .../withdraw`` (its author)."""
        await self._amendments.withdraw(auth.doc_id, auth.principal, _aid(request))
        return await self._answer(auth, request)

    @requires(Action.READ)
    async def accept(self, request: Request, auth: Authorized) -> Response:
        """``POST .../accept`` (facilitators): applied to the live text, then accepted."""
        await self._amendments.accept(auth.doc_id, auth.principal, _aid(request),
                                      is_public=auth.meta.is_public)
        return await self._answer(auth, request)

    @requires(Action.READ)
    async def reject(self, request: Request, auth: Authorized) -> Response:
        """``POST .../reject`` ``{"reason"}`` (facilitators)."""
        body = await read_json(request, self.context.max_body_bytes)
        only_fields(body, {"reason"})
        reason = text_field(body, "reason", required=True,
                            max_length=self.context.limits.amendment_chars) or ""
        await self._amendments.reject(auth.doc_id, auth.principal, _aid(request),
                                      reason=reason, is_public=auth.meta.is_public)
        return await self._answer(auth, request)

    @requires(Action.READ)
    async def rebase(self, request: Request, auth: Authorized) -> Response:
        """``POST .../rebase`` ``{"text"?}``: a new base (the current wording)."""
        body = await optional_json(request, self.context.max_body_bytes)
        only_fields(body, {"text"})
        text = None
        if "text" in body:
            text = _wording(body, "replace", self.context.limits.amendment_chars)
        await self._amendments.rebase(auth.doc_id, auth.principal, _aid(request), text=text,
                                      is_public=auth.meta.is_public)
        return await self._answer(auth, request)

    async def _answer(self, auth: Authorized, request: Request) -> Response:
        standing = await self._amendments.get(auth.doc_id, _aid(request))
        return JSONResponse((await self._shown([standing], auth))[0])

    async def _shown(self, found: Sequence[Standing], auth: Authorized) -> list[JsonObject]:
        """Amendments as the caller may see them: citizens and the public see the authors
        and supporters by their public names (`server.modules.names`), their own excepted."""
        shown = [amendment_json(s) for s in found]
        viewer = auth.principal
        if viewer.role in INSIDERS:
            return shown
        subs = [s.amendment.author_sub for s in found] + [
            sub for s in found for sub in s.amendment.supports] + [
            sub for s in found for sub, _ in _ballots(s.amendment.tally)]
        names = await self._names.show(subs, viewer)
        for entry, standing in zip(shown, found, strict=True):
            a = standing.amendment
            if a.author_sub != viewer.sub:
                entry["author_name"] = names[a.author_sub].display_name
            entry["supporters"] = sorted(
                name if sub == viewer.sub else names[sub].display_name
                for sub, name in a.supports.items())
            if isinstance(a.tally, dict) and "ballots" in a.tally:
                entry["tally"] = {**a.tally, "ballots": [
                    {"sub": sub if sub == viewer.sub else None,
                     "name": str(b.get("name")) if sub == viewer.sub
                     else names[sub].display_name, "choice": b.get("choice")}
                    for sub, b in _ballots(a.tally)]}
        return shown


def _ballots(tally: JsonValue) -> list[tuple[str, dict[str, JsonValue]]]:
    """A public vote's ballots in an amendment's tally, with each voter's subject."""
    found = tally.get("ballots") if isinstance(tally, dict) else None
    if not isinstance(found, list):
        return []
    return [(str(b.get("sub")), b) for b in found if isinstance(b, dict)]


def _aid(request: Request) -> str:
    return str(request.path_params["amendment_id"])


def _wording(body: JsonObject, kind: Kind, limit: int) -> str:
    """The proposed wording: required (one line) for ``replace`` and ``insert_after``.

    Raises:
        Invalid: missing, blank, too long, multi-line, or given to a ``delete``.
    """
    if kind == "delete":
        if body.get("text") not in (None, ""):
            raise Invalid("a 'delete' amendment takes no 'text'")
        return ""
    text = text_field(body, "text", required=True, max_length=limit) or ""
    if "\n" in text or "\r" in text:
        raise Invalid("'text' is the wording of one paragraph: no line breaks")
    return text


def amendment_json(standing: Standing) -> JsonObject:
    """An amendment as the API shows it, with the three-way view."""
    a = standing.amendment
    return {
        "id": a.id, "paragraph_id": a.paragraph_id, "kind": a.kind, "text": a.text,
        "base": a.base, "now": standing.now, "outdated": standing.is_outdated,
        "justification": a.justification, "state": a.state, "reason": a.reason,
        "supports": len(a.supports), "supporters": sorted(a.supports.values()),
        "author_name": a.author_name, "created_at": a.created_at, "updated_at": a.updated_at,
        "tally": a.tally, "vote_id": a.vote_id, "new_block_id": a.new_block_id,
        "rebased": a.rebased,
    }
