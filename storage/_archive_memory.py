"""`Archive` in memory: a part of `MemoryDocumentStore`."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Sequence

from storage._archive_rules import ArchiveRules, SnapshotMaker
from storage._memory_access import MemoryAccess
from storage.archive import AuditEntry, FreezeState, Snapshot, SnapshotNotFound, detail_names


class MemoryArchive(MemoryAccess, ArchiveRules):
    """Snapshots, freeze states and the audit log in dicts, with the SQL archive's semantics.

    `tamper` replaces a stored snapshot, as someone editing the database would.
    """

    def __init__(self) -> None:
        self._snapshots: dict[str, list[Snapshot]] = {}
        self._freezes: dict[str, FreezeState] = {}
        self._audit: list[AuditEntry] = []

    def tamper(self, snapshot: Snapshot) -> None:
        """Overwrite the stored snapshot of the same document and number (tests only)."""
        stored = self._snapshots[snapshot.doc_id]
        stored[snapshot.number - 1] = snapshot

    async def _append_snapshot(self, doc_id: str, make: SnapshotMaker) -> Snapshot:
        await self._enter()
        # No await from here on: the number and the chain are read and written at once.
        stored = self._snapshots.setdefault(doc_id, [])
        snapshot = make(len(stored) + 1, stored[-1].chain_hash if stored else None)
        stored.append(snapshot)
        return snapshot

    async def list_snapshots(self, doc_id: str) -> Sequence[Snapshot]:
        await self._enter()
        return list(self._snapshots.get(doc_id, []))

    async def get_snapshot(self, doc_id: str, snapshot_id: str) -> Snapshot:
        await self._enter()
        for snapshot in self._snapshots.get(doc_id, []):
            if snapshot.snapshot_id == snapshot_id:
                return snapshot
        raise SnapshotNotFound(f"document {doc_id!r} has no snapshot {snapshot_id!r}")

    async def _find_freeze(self, doc_id: str) -> FreezeState | None:
        await self._enter()
        return self._freezes.get(doc_id)

    async def _store_freeze(self, state: FreezeState, now: float) -> FreezeState:
        await self._enter()
        self._freezes[state.doc_id] = state
        return state

    async def _append_audit(self, entry: AuditEntry, detail: str) -> AuditEntry:
        await self._enter()
        entry = dataclasses.replace(entry, entry_id=len(self._audit) + 1)
        self._audit.append(entry)
        return entry

    async def audit_about(self, sub: str, *, limit: int) -> Sequence[AuditEntry]:
        await self._enter()
        named = detail_names(sub)
        found = [entry for entry in reversed(self._audit)
                 if entry.actor_sub == sub
                 or named in json.dumps(entry.detail, ensure_ascii=False, sort_keys=True)]
        return found[:limit]

    async def _audit_page(
        self, doc_id: str, limit: int, before: int | None
    ) -> Sequence[AuditEntry]:
        await self._enter()
        found = [
            entry for entry in reversed(self._audit)
            if entry.doc_id == doc_id and (before is None or entry.entry_id < before)
        ]
        return found[:limit]
