"""`Archive` in memory, mixed into `MemoryDocumentStore`."""

from __future__ import annotations

import json
import time
import uuid
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence

import anyio.lowlevel

from storage.archive import (
    AuditEntry,
    ChainReport,
    FreezeState,
    Snapshot,
    SnapshotNotFound,
    chain_hash,
    check_chain,
    content_hash,
)
from storage.catalog import check_page


class MemoryArchive(ABC):
    """Snapshots, freeze states and the audit log in dicts, with the SQL archive's semantics.

    `tamper` replaces a stored snapshot, as someone editing the database would.
    """

    def __init__(self) -> None:
        self._snapshots: dict[str, list[Snapshot]] = {}
        self._freezes: dict[str, FreezeState] = {}
        self._audit: list[AuditEntry] = []

    @abstractmethod
    def _check_usable(self) -> None:
        """Raise StorageUnavailable when the store is closed or marked unavailable."""

    async def _enter_archive(self) -> None:
        # Every call is a checkpoint, as a database round trip would be.
        await anyio.lowlevel.checkpoint()
        self._check_usable()

    def tamper(self, snapshot: Snapshot) -> None:
        """Overwrite the stored snapshot of the same document and number (tests only)."""
        stored = self._snapshots[snapshot.doc_id]
        stored[snapshot.number - 1] = snapshot

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
        """See `Archive.add_snapshot`.

        Raises:
            StorageUnavailable: the store is closed or marked unavailable.
        """
        await self._enter_archive()
        # No await from here on: the number and the chain are read and written at once.
        stored = self._snapshots.setdefault(doc_id, [])
        previous = stored[-1].chain_hash if stored else None
        created_at = time.time()
        content = content_hash(
            state=state, markdown=markdown, html=html, annotations_state=annotations_state,
            stage=stage, label=label, created_at=created_at, created_by=created_by,
            adopted=adopted,
        )
        snapshot = Snapshot(
            snapshot_id=uuid.uuid4().hex, doc_id=doc_id, number=len(stored) + 1, stage=stage,
            label=label, created_at=created_at, created_by=created_by,
            created_by_name=created_by_name, state=state, markdown=markdown, html=html,
            annotations_state=annotations_state, content_hash=content,
            previous_hash=previous, chain_hash=chain_hash(previous, content), adopted=adopted,
        )
        stored.append(snapshot)
        return snapshot

    async def list_snapshots(self, doc_id: str) -> Sequence[Snapshot]:
        """See `Archive.list_snapshots`.

        Raises:
            StorageUnavailable: the store is closed or marked unavailable.
        """
        await self._enter_archive()
        return list(self._snapshots.get(doc_id, []))

    async def get_snapshot(self, doc_id: str, snapshot_id: str) -> Snapshot:
        """See `Archive.get_snapshot`.

        Raises:
            SnapshotNotFound: the document has no snapshot with this id.
            StorageUnavailable: the store is closed or marked unavailable.
        """
        await self._enter_archive()
        for snapshot in self._snapshots.get(doc_id, []):
            if snapshot.snapshot_id == snapshot_id:
                return snapshot
        raise SnapshotNotFound(f"document {doc_id!r} has no snapshot {snapshot_id!r}")

    async def verify_chain(self, doc_id: str) -> ChainReport:
        """See `Archive.verify_chain`.

        Raises:
            StorageUnavailable: the store is closed or marked unavailable.
        """
        return check_chain(doc_id, await self.list_snapshots(doc_id))

    async def get_freeze(self, doc_id: str) -> FreezeState:
        """See `Archive.get_freeze`.

        Raises:
            StorageUnavailable: the store is closed or marked unavailable.
        """
        await self._enter_archive()
        return self._freezes.get(doc_id) or FreezeState(
            doc_id=doc_id, frozen=False, frozen_at=None, frozen_by=None, comments_open=False
        )

    async def set_freeze(
        self, doc_id: str, *, frozen: bool, by: str | None, comments_open: bool
    ) -> FreezeState:
        """See `Archive.set_freeze`.

        Raises:
            StorageUnavailable: the store is closed or marked unavailable.
        """
        await self._enter_archive()
        state = FreezeState(
            doc_id=doc_id, frozen=frozen, frozen_at=time.time() if frozen else None,
            frozen_by=by if frozen else None, comments_open=comments_open,
        )
        self._freezes[doc_id] = state
        return state

    async def record_audit(
        self,
        *,
        doc_id: str | None,
        action: str,
        actor_sub: str | None,
        actor_name: str | None,
        detail: Mapping[str, object],
    ) -> AuditEntry:
        """See `Archive.record_audit`.

        Raises:
            StorageUnavailable: the store is closed or marked unavailable.
            TypeError: `detail` is not JSON-serialisable.
        """
        encoded = json.dumps(dict(detail), ensure_ascii=False, sort_keys=True)
        await self._enter_archive()
        entry = AuditEntry(
            entry_id=len(self._audit) + 1, doc_id=doc_id, action=action, actor_sub=actor_sub,
            actor_name=actor_name, at=time.time(), detail=json.loads(encoded),
        )
        self._audit.append(entry)
        return entry

    async def list_audit(
        self, doc_id: str, *, limit: int = 100, before: int | None = None
    ) -> Sequence[AuditEntry]:
        """See `Archive.list_audit`.

        Raises:
            StorageUnavailable: the store is closed or marked unavailable.
            ValueError: `limit` is below 1.
        """
        check_page(limit)
        await self._enter_archive()
        found = [
            entry for entry in reversed(self._audit)
            if entry.doc_id == doc_id and (before is None or entry.entry_id < before)
        ]
        return found[:limit]
