"""What the SQL and in-memory archives share: hashing, the records they make, checks."""

from __future__ import annotations

import json
import time
import uuid
from abc import ABC, abstractmethod
from collections.abc import Callable, Collection, Mapping, Sequence
from typing import cast

from storage.archive import (
    HASH_VERSION,
    SUBJECT_HASH_VERSION,
    Archive,
    AuditEntry,
    ChainReport,
    FreezeState,
    Snapshot,
    chain_hash,
    check_chain,
    content_hash,
)
from storage.catalog import check_page
from storage.people import People, PersonNotFound, handle_of

SnapshotMaker = Callable[[int, str | None], Snapshot]
"""Makes the snapshot once its number and the previous ``chain_hash`` are known."""


class ArchiveRules(Archive, ABC):
    """`Archive` up to the storing, which a backend does.

    The public methods here hash, time-stamp and check; the abstract methods below store
    and read, raising StorageUnavailable when the backend fails. `list_snapshots` and
    `get_snapshot` are the backend's own.
    """

    async def add_snapshot(
        self,
        *,
        doc_id: str,
        stage: str,
        label: str,
        created_by: str | None,
        created_by_name: str | None,
        state: bytes,
        markdown: str,
        html: str,
        annotations_state: bytes,
        adopted: bool = False,
    ) -> Snapshot:
        created_at = time.time()
        # Covered by the author's handle when they are recorded, so that the public
        # archive shows no subject; else (never recorded) by the subject.
        handle = (await self.handles([created_by])).get(created_by) if created_by else None
        content = content_hash(
            state=state, markdown=markdown, html=html, annotations_state=annotations_state,
            stage=stage, label=label, created_at=created_at,
            created_by=handle if handle is not None else created_by, adopted=adopted,
            version=HASH_VERSION if handle is not None else SUBJECT_HASH_VERSION,
        )

        def make(number: int, previous: str | None) -> Snapshot:
            return Snapshot(
                snapshot_id=uuid.uuid4().hex, doc_id=doc_id, number=number, stage=stage,
                label=label, created_at=created_at, created_by=created_by,
                created_by_name=created_by_name, state=state, markdown=markdown, html=html,
                annotations_state=annotations_state, content_hash=content,
                previous_hash=previous, chain_hash=chain_hash(previous, content),
                adopted=adopted,
            )

        return await self._append_snapshot(doc_id, make)

    async def verify_chain(self, doc_id: str) -> ChainReport:
        snapshots = await self.list_snapshots(doc_id)
        creators = {s.created_by for s in snapshots if s.created_by}
        return check_chain(doc_id, snapshots, await self.handles(creators))

    async def handles(self, subs: Collection[str | None]) -> dict[str, str]:
        """The handles (`storage.people.handle_of`) of those of `subs` who are recorded.

        Raises:
            StorageUnavailable: the database failed.
        """
        people = cast(People, self)  # the store this rule set is part of holds them too
        found: dict[str, str] = {}
        for sub in {s for s in subs if s}:
            try:
                found[sub] = handle_of((await people.get_person(sub)).pseudonym)
            except PersonNotFound:
                continue
        return found

    async def get_freeze(self, doc_id: str) -> FreezeState:
        return await self._find_freeze(doc_id) or FreezeState(
            doc_id=doc_id, frozen=False, frozen_at=None, frozen_by=None, comments_open=False
        )

    async def set_freeze(
        self, doc_id: str, *, frozen: bool, by: str | None, comments_open: bool
    ) -> FreezeState:
        now = time.time()
        state = FreezeState(
            doc_id=doc_id, frozen=frozen, frozen_at=now if frozen else None,
            frozen_by=by if frozen else None, comments_open=comments_open,
        )
        return await self._store_freeze(state, now)

    async def record_audit(
        self,
        *,
        doc_id: str | None,
        action: str,
        actor_sub: str | None,
        actor_name: str | None,
        detail: Mapping[str, object],
    ) -> AuditEntry:
        encoded = json.dumps(dict(detail), ensure_ascii=False, sort_keys=True)
        entry = AuditEntry(
            entry_id=0, doc_id=doc_id, action=action, actor_sub=actor_sub,
            actor_name=actor_name, at=time.time(), detail=json.loads(encoded),
        )
        return await self._append_audit(entry, encoded)

    async def list_audit(
        self, doc_id: str, *, limit: int = 100, before: int | None = None
    ) -> Sequence[AuditEntry]:
        check_page(limit)
        return await self._audit_page(doc_id, limit, before)

    @abstractmethod
    async def _append_snapshot(self, doc_id: str, make: SnapshotMaker) -> Snapshot:
        """Store ``make(number, previous chain_hash)`` as the document's next snapshot.

        The number and the previous link are read and the snapshot written at once (one
        transaction under the document's lock), so concurrent snapshots chain correctly.
        """

    @abstractmethod
    async def _find_freeze(self, doc_id: str) -> FreezeState | None:
        """The stored freeze state; ``None`` when it was never set."""

    @abstractmethod
    async def _store_freeze(self, state: FreezeState, now: float) -> FreezeState:
        """Store the freeze state (`now` is the change's time); return it as stored."""

    @abstractmethod
    async def _append_audit(self, entry: AuditEntry, detail: str) -> AuditEntry:
        """Store the entry (`detail` JSON-encoded) and return it with its ``entry_id``.

        The ``entry_id`` given is a placeholder: the backend numbers entries.
        """

    @abstractmethod
    async def _audit_page(
        self, doc_id: str, limit: int, before: int | None
    ) -> Sequence[AuditEntry]:
        """One page of `list_audit`, its arguments checked."""
