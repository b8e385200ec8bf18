"""Everything palabre keeps about one person, gathered for them (GDPR access, art. 15).

Walks every text document once: the comments and replies they wrote (hidden ones with
their words), the amendments they proposed and supported (in ``D.annotations``), their
share of the words of the live text (`Provenance`), their attendance at each session; then
the audit entries made by them or about them. Cost: one load of each document and its
companion, plus one provenance pass per document they wrote in: linear in the archive.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from crdt.amendments import list_amendments
from crdt.annotations import Seal, list_annotations
from crdt.doc_id import ANNOTATIONS_SUFFIX
from crdt.document import doc_from_update
from crdt.errors import InvalidUpdate, SchemaError
from server.modules.people import effective_role
from server.modules.provenance import Provenance
from storage.base import StorageUnavailable
from storage.people import pseudonym_of
from storage.port import Storage

Json = dict[str, Any]
PAGE = 200
MAX_VOTES = 10_000
"""Votes of one document read for an export."""
MAX_AUDIT = 10_000
"""Audit entries about one person in an export, newest first."""


class PersonalData:
    """Gathers one person's data from every part of the store."""

    def __init__(self, store: Storage, provenance: Provenance, seal: Seal) -> None:
        self._store = store
        self._provenance = provenance
        self._seal = seal

    async def export(self, sub: str) -> Json:
        """All that is kept about `sub`, as JSON.

        Raises:
            PersonNotFound: never seen.
            StorageUnavailable: the database failed, or a stored document does not decode.
        """
        person = await self._store.get_person(sub)
        documents: list[Json] = []
        votes: list[Json] = []
        after: str | None = None
        while True:
            page = await self._store.list_documents(limit=PAGE, after=after,
                                                    include_deleted=True)
            for meta in page:
                if meta.kind == "text":
                    votes += await self._ballots(meta.doc_id, sub)
                    found = await self._document(meta.doc_id, sub)
                    if any(found[key] for key in ("comments", "replies", "amendments",
                                                  "supports", "attendance")) \
                            or found["words"]:
                        documents.append({"id": meta.doc_id, "title": meta.title, **found})
            if len(page) < PAGE:
                break
            after = page[-1].doc_id
        audit = await self._store.audit_about(sub, limit=MAX_AUDIT)
        return {
            "profile": {"sub": person.sub, "name": person.name,
                        "pseudonym": pseudonym_of(person.pseudonym),
                        "named_publicly": person.named_publicly,
                        "first_seen": person.first_seen, "last_seen": person.last_seen,
                        "removed_at": person.removed_at, "erased_at": person.erased_at},
            "roles": {"role": effective_role(person), "credential_role": person.role,
                      "given_by_facilitator": person.role_override},
            "documents": documents,
            "audit": [{"id": e.entry_id, "doc_id": e.doc_id, "action": e.action,
                       "actor_sub": e.actor_sub, "actor_name": e.actor_name, "at": e.at,
                       "detail": e.detail} for e in audit],
            "votes": votes,
        }

    async def _ballots(self, doc_id: str, sub: str) -> list[Json]:
        """Their ballots in the document's votes (a secret ballot's choice is not kept)."""
        found: list[Json] = []
        for vote in await self._store.list_votes(doc_id, limit=MAX_VOTES):
            found += [{"doc_id": doc_id, "vote_id": b.vote_id, "amendment_id": b.amendment_id,
                       "ballot": vote.ballot, "choice": b.choice, "cast_at": b.cast_at}
                      for b in await self._store.list_ballots(vote.vote_id) if b.voter == sub]
        return found

    async def _document(self, doc_id: str, sub: str) -> Json:
        companion = await self._store.load(doc_id + ANNOTATIONS_SUFFIX)
        text = await self._store.load(doc_id)
        try:
            notes = doc_from_update(companion.update)
            annotations = list_annotations(notes, seal=self._seal)
            amendments = list_amendments(notes)
        except (InvalidUpdate, SchemaError) as exc:
            raise StorageUnavailable(f"stored {doc_id!r} annotations do not decode") from exc
        comments = [_plain(a, "replies") for a in annotations if a.author.sub == sub]
        replies = [_plain(r) | {"annotation_id": a.id} for a in annotations
                   for r in a.replies if r.author.sub == sub]
        blocks = await self._provenance.of_state(doc_id, text.update)
        words = sum(count for b in blocks for author, count in b.shares() if author == sub)
        total = sum(len(b.words) for b in blocks)
        return {
            "comments": comments,
            "replies": replies,
            "amendments": [_plain(a) for a in amendments if a.author_sub == sub],
            "supports": [{"amendment_id": a.id, "name": a.supports[sub], "state": a.state}
                         for a in amendments if sub in a.supports],
            "words": words,
            "share": round(words / total, 4) if total else 0.0,
            "paragraphs": [
                {"id": b.id, "words": count}
                for b in blocks for author, count in b.shares() if author == sub
            ],
            "attendance": await self._attendance(doc_id, sub),
        }

    async def _attendance(self, doc_id: str, sub: str) -> list[Json]:
        found: list[Json] = []
        for session in await self._store.list_sessions(doc_id):
            for interval in await self._store.list_presence(session.session_id):
                if interval.sub == sub:
                    found.append({"session_id": session.session_id, "number": session.number,
                                  "title": session.title, "name": interval.name,
                                  "role": interval.role, "joined_at": interval.joined_at,
                                  "left_at": interval.left_at})
        return found


def _plain(item: Any, *left_out: str) -> Json:
    """A record as JSON, without the browser's opaque anchor (and `left_out`)."""
    data: Json = dataclasses.asdict(item)
    return {key: value for key, value in data.items() if key not in ("anchor", *left_out)}
