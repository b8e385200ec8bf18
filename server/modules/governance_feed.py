"""Publish a document's governance state into ``D.annotations`` so open pages see it live.

After a freeze, an unfreeze, a snapshot or an adoption (and when the editor page is
served, to fill the map of documents archived before it existed), the stored freeze
state and snapshot list are written into the companion's ``governance`` map
(`crdt.governance`) as one server write through `Hub.transform`: committed, then relayed
to every socket of ``D.annotations`` like any comment. Nothing is written when the map
already holds that state.
"""

from __future__ import annotations

import logging
from typing import Any

from pycrdt import Doc

from crdt.doc_id import ANNOTATIONS_SUFFIX
from crdt.governance import ArchivedVersion, GovernanceState, write_governance
from server.errors import Overloaded
from server.rooms.hub import Hub
from storage.archive import Archive
from storage.base import DocumentNotFound, StorageUnavailable
from storage.catalog import DocumentCatalog

log = logging.getLogger("palabre.governance")


class GovernanceFeed:
    """Writes the governance map of documents from what the archive stores."""

    def __init__(self, archive: Archive, catalog: DocumentCatalog, hub: Hub) -> None:
        self._archive = archive
        self._catalog = catalog
        self._hub = hub

    async def publish(self, doc_id: str) -> None:
        """Bring ``doc_id``'s governance map up to date with the archive.

        Raises:
            StorageUnavailable: the archive cannot be read, or the write not committed.
            Overloaded: the annotations document cannot be loaded.
        """
        freeze = await self._archive.get_freeze(doc_id)
        snapshots = await self._archive.list_snapshots(doc_id)
        state = GovernanceState(
            frozen=freeze.frozen, comments_open=freeze.comments_open,
            frozen_at=freeze.frozen_at,
            snapshots=[
                ArchivedVersion(
                    id=s.snapshot_id, number=s.number, stage=s.stage, label=s.label,
                    created_at=s.created_at, created_by=s.created_by,
                    created_by_name=s.created_by_name,
                    adopted=s.adopted,
                )
                for s in snapshots
            ],
        )

        def write(doc: Doc[Any]) -> None:
            write_governance(doc, state)

        await self._hub.transform(doc_id + ANNOTATIONS_SUFFIX, write, principal=None)

    async def announce(self, doc_id: str) -> None:
        """`publish` after an action that already stands: a failure is logged, not raised.

        The next action (or the next page served) publishes again.
        """
        try:
            await self.publish(doc_id)
        except (StorageUnavailable, Overloaded) as exc:
            log.error("governance state not published: %s", exc, extra={"doc_id": doc_id})

    async def announce_if_exists(self, doc_id: str) -> None:
        """`announce` for a text document that exists (the editor page is being served)."""
        if doc_id.endswith(ANNOTATIONS_SUFFIX):
            return
        try:
            await self._catalog.get_document(doc_id)
        except DocumentNotFound:
            return
        except StorageUnavailable as exc:
            log.error("governance state not published: %s", exc, extra={"doc_id": doc_id})
            return
        await self.announce(doc_id)
