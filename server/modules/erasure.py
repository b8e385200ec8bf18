"""Erasing a person (GDPR art. 17): their name and subject become their pseudonym.

The person is first removed (every credential refused, sockets closed on every node).
Then each live text's ``D.annotations`` is rewritten as the server peer (comments,
replies, amendments and supports name the pseudonym; connected clients converge on it),
and the store replaces the identity in every table, re-encodes the annotations' history
without deleted content, and hashes again the archive chains the person appeared in
(`storage.erasure`). The audit keeps that an erasure happened, by whom, and the chains'
old and new heads, never the erased name or subject. The text itself is unchanged: its
words stay, attributed to the pseudonym.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from crdt.doc_id import ANNOTATIONS_SUFFIX
from crdt.document import doc_from_update
from crdt.erasure import Identity, erase_identity, names_of
from crdt.errors import InvalidUpdate
from server.access.auth import Principal
from server.errors import Conflict
from server.modules.people import NAMED_ROOTS, PeopleService
from server.rooms.hub import Hub
from storage.base import StorageUnavailable
from storage.catalog import DocumentMeta
from storage.erasure import ErasureReport
from storage.people import pseudonym_of
from storage.port import Storage

Record = Callable[[str | None, str, Principal | None, Mapping[str, object]], Awaitable[None]]
ROOTS = NAMED_ROOTS
PAGE = 200
ERASED_WORDS = "[effacé]"
"""What the words of an erased person's comments, replies and amendments become, when
the erasure removes them."""


class ErasureService:
    """Erases people, audited."""

    def __init__(self, store: Storage, hub: Hub, people: PeopleService, record: Record,
                 *, clock: Callable[[], float] = time.time) -> None:
        self._store = store
        self._hub = hub
        self._people = people
        self._record = record
        self._clock = clock

    async def erase(self, sub: str, by: Principal, *, remove_words: bool = False
                    ) -> dict[str, Any]:
        """Erase `sub`; what changed (its pseudonym, rows, chains hashed again). With
        `remove_words`, the words of their comments, replies and amendments go too.

        Raises:
            PersonNotFound: never seen (or already erased: the subject is gone).
            Conflict: `by` is `sub`.
            StorageUnavailable: the database failed.
        """
        if sub == by.sub:
            raise Conflict("you may not erase yourself")
        person = await self._store.get_person(sub)
        identity, texts = await identity_for(self._store, sub, remove_words=remove_words)
        if person.removed_at is None:
            await self._people.remove(sub, by)
        for meta in texts:
            if meta.deleted_at is None:
                await self._hub.transform(
                    meta.doc_id + ANNOTATIONS_SUFFIX,
                    lambda doc: erase_identity(doc, identity, roots=ROOTS), principal=None)
        report = await self._store.erase_person(
            identity, at=self._clock(),
            annotation_docs=[meta.doc_id + ANNOTATIONS_SUFFIX for meta in texts],
            subject_digest=self._people.subject_digest(sub))
        summary = erasure_summary(identity, report)
        await self._record(None, "person.erased", by, summary)
        return {**summary, "rows": dict(report.rows)}


async def identity_for(
    store: Storage, sub: str, *, remove_words: bool = False,
) -> tuple[Identity, list[DocumentMeta]]:
    """What erasing `sub` replaces (their names, collected from the people row and every
    text's annotations; with `remove_words`, their words too), and the text documents to
    rewrite.

    Raises:
        PersonNotFound: never seen.
        StorageUnavailable: the database failed, or stored annotations do not decode.
    """
    person = await store.get_person(sub)
    texts: list[DocumentMeta] = []
    after: str | None = None
    while True:
        page = await store.list_documents(limit=PAGE, after=after, include_deleted=True)
        texts += [meta for meta in page if meta.kind == "text"]
        if len(page) < PAGE:
            break
        after = page[-1].doc_id
    names = {person.name}
    for meta in texts:
        stored = await store.load(meta.doc_id + ANNOTATIONS_SUFFIX)
        try:
            names |= names_of(doc_from_update(stored.update), sub, roots=ROOTS)
        except InvalidUpdate as exc:
            raise StorageUnavailable(f"{meta.doc_id!r} annotations do not decode") from exc
    identity = Identity(sub=sub, names=frozenset(names - {""}),
                        new_sub=f"erased-{person.pseudonym}",
                        pseudonym=pseudonym_of(person.pseudonym),
                        words=ERASED_WORDS if remove_words else None)
    return identity, texts


def erasure_summary(identity: Identity, report: ErasureReport) -> dict[str, Any]:
    """What the audit keeps of an erasure: the pseudonym and the chains hashed again."""
    return {"sub": identity.new_sub, "pseudonym": identity.pseudonym,
            "words_removed": identity.words is not None, "reseals": [
        {"doc_id": r.doc_id, "chain": r.chain, "from_number": r.from_number,
         "old_head": r.old_head, "new_head": r.new_head} for r in report.reseals]}
