"""``GET /api/documents/{id}/provenance?version=live|N[&words=1]``: who wrote which words.

Per text block (stable id): its contributors with their share of its words; with
``words=1``, every word with who inserted it, when (the bounds of the authorship
record's range, exact within `storage._authorship.SPELL_SECONDS`) and in which session
(the one open then, by number). Whoever may read the
document may read this; names as `server.modules.names` shows them to the caller.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from crdt.provenance import BlockProvenance
from server.access.permissions import Action
from server.errors import BadRequest, Invalid, NotFound
from server.http.authorize import Authorized, requires
from server.http.body import JsonObject
from server.http.context import ApiContext
from server.modules.names import DisplayNames, Shown
from server.modules.provenance import Provenance

LIVE = "live"
MAX_VERSION = 2**31 - 1


class ProvenanceApi:
    """The provenance endpoint, bound to one app's context."""

    def __init__(self, context: ApiContext) -> None:
        self.context = context
        self._provenance = Provenance(context.store)
        self._names = DisplayNames(context.store)

    def routes(self) -> list[Route]:
        """The routes, relative to ``/api``."""
        return [Route("/documents/{doc_id}/provenance", self.provenance, methods=["GET"])]

    @requires(Action.READ)
    async def provenance(self, request: Request, auth: Authorized) -> Response:
        """``GET .../provenance?version=live|N[&words=1]``."""
        if auth.meta.kind != "text":
            raise Invalid("provenance is kept for text documents only")
        params = request.query_params
        version = params.get("version", LIVE)
        words = params.get("words", "0")
        if words not in ("0", "1"):
            raise BadRequest("words must be 0 or 1")
        state = await self._state(auth.doc_id, version)
        blocks = await self._provenance.of_state(auth.doc_id, state)
        subs = [w.insertion.author if w.insertion else None for b in blocks for w in b.words]
        shown = await self._names.show(subs, auth.principal)
        sessions = [(s.number, s.opened_at, s.closed_at)
                    for s in await self.context.store.list_sessions(auth.doc_id)]
        return JSONResponse(provenance_json(blocks, shown, version=version,
                                            with_words=words == "1", sessions=sessions))

    async def _state(self, doc_id: str, version: str) -> bytes:
        if version == LIVE:
            return (await self.context.hub.room(doc_id)).doc.get_update()
        if not version.isdigit() or not 1 <= int(version) <= MAX_VERSION:
            raise BadRequest("version must be 'live' or a snapshot number")
        number = int(version)
        for snapshot in await self.context.store.list_snapshots(doc_id):
            if snapshot.number == number:
                return snapshot.state
        raise NotFound(f"document {doc_id!r} has no version {number}")


def provenance_json(blocks: Sequence[BlockProvenance], shown: dict[str | None, Shown], *,
                    version: str, with_words: bool,
                    sessions: Sequence[tuple[int, float, float | None]] = ()) -> JsonObject:
    """The answer: contributors of the whole text and of each block (spans on request,
    each with the number of the session open when it was inserted, if any)."""
    total: Counter[str | None] = Counter()
    paragraphs: list[JsonObject] = []
    for block in blocks:
        shares = block.shares()
        total.update(dict(shares))
        entry: JsonObject = {
            "id": block.id, "type": block.type, "words": len(block.words),
            "contributors": _contributors(shares, shown),
        }
        if with_words:
            entry["text"] = block.text
            entry["spans"] = [
                {"start": w.start, "end": w.end, "text": w.text,
                 **_person(shown[w.insertion.author if w.insertion else None]),
                 "inserted_from": w.insertion.first_at if w.insertion else None,
                 "inserted_until": w.insertion.last_at if w.insertion else None,
                 "session": _session(w.insertion.first_at, sessions) if w.insertion else None}
                for w in block.words
            ]
        paragraphs.append(entry)
    ranked = sorted(total.items(), key=lambda item: (-item[1], item[0] or ""))
    return {"version": version, "words": sum(total.values()),
            "contributors": _contributors(ranked, shown), "paragraphs": paragraphs}


def _session(at: float, sessions: Sequence[tuple[int, float, float | None]]) -> int | None:
    """The number of the session open at `at` (one at a time per document), if any."""
    return next((number for number, opened, closed in sessions
                 if opened <= at and (closed is None or at <= closed)), None)


def _contributors(shares: Sequence[tuple[str | None, int]],
                  shown: dict[str | None, Shown]) -> list[JsonObject]:
    words = sum(count for _, count in shares)
    return [{**_person(shown[author]), "words": count, "share": round(count / words, 4)}
            for author, count in shares]


def _person(person: Shown) -> JsonObject:
    return {"display_name": person.display_name, "sub": person.sub}
