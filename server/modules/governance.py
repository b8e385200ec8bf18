"""Governance as transactions: freeze, unfreeze, snapshot, restore, adopt, and the audit log.

The API calls these and renders what they return. Each action that stands is recorded
(who, when, what), sent to webhooks, and published into ``D.annotations`` (`announce`,
`server.modules.governance_feed`) so that open pages follow.

Freezing is stored first (`Archive.set_freeze`), then applied to the document's room on
this node (`Hub.set_freeze`): from then on every socket's writes are refused with
``permission-denied document frozen``, client updates queued and not yet committed are
dropped, and a commit already under way has ended before `Governance.freeze` returns. A
room loaded later reads the stored state once (`Hub.stored_freeze`). Writes refused on
sockets are audited by `server.modules.audit`. An audit write that fails is logged and
counted; the action it records stands.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from typing import Any

import anyio
from pycrdt import Doc

from crdt.convert import render
from crdt.doc_id import ANNOTATIONS_SUFFIX
from crdt.document import doc_from_update
from crdt.errors import InvalidUpdate, SchemaError
from crdt.restore import replace_text
from server.access.auth import Principal
from server.access.permissions import Action, require
from server.errors import Overloaded
from server.events import WebhookEvent
from server.metrics import Metrics
from server.modules.governance_feed import GovernanceFeed
from server.rooms.hub import Hub
from storage.archive import Archive, FreezeState, Snapshot
from storage.base import StorageUnavailable
from storage.people import People
from storage.port import Storage

log = logging.getLogger("palabre.governance")

Notify = Callable[[WebhookEvent, str, dict[str, object]], None]


class Governance:
    """Freeze state, archive and audit log of documents, applied through the hub."""

    def __init__(
        self, store: Storage, hub: Hub, metrics: Metrics, *,
        notify: Notify | None = None,
    ) -> None:
        self.archive: Archive = store
        self._people: People = store
        self.feed = GovernanceFeed(store, store, hub)
        """Publishes the governance map of documents (`announce`)."""
        self._hub = hub
        self._metrics = metrics
        self._notify = notify

    # -- freeze --------------------------------------------------------------------------

    async def freeze(
        self, doc_id: str, principal: Principal, *, comments_open: bool,
        detail: Mapping[str, object] | None = None,
    ) -> FreezeState:
        """Freeze `doc_id`: stored, then in force on every socket before this returns.

        Raises:
            StorageUnavailable: the freeze could not be stored; nothing changed.
        """
        state = await self.archive.set_freeze(
            doc_id, frozen=True, by=principal.sub, comments_open=comments_open
        )
        await self._hub.set_freeze(doc_id, frozen=True, comments_open=comments_open)
        data = {**freeze_json(state), **(detail or {})}
        await self.record(doc_id, "document.frozen", principal, data)
        self._emit(WebhookEvent.DOCUMENT_FROZEN, doc_id, data)
        return state

    async def unfreeze(self, doc_id: str, principal: Principal) -> FreezeState:
        """Unfreeze `doc_id`: sockets whose role may edit can write again at once.

        Raises:
            StorageUnavailable: the change could not be stored; nothing changed.
        """
        state = await self.archive.set_freeze(
            doc_id, frozen=False, by=principal.sub, comments_open=False
        )
        await self._hub.set_freeze(doc_id, frozen=False, comments_open=False)
        await self.record(doc_id, "document.unfrozen", principal, {})
        return state

    async def announce(self, doc_id: str) -> None:
        """Publish `doc_id`'s governance state to open pages once an action stands.

        `freeze` and `unfreeze` leave it to their caller (adoption publishes once, at
        its end); `snapshot`, `adopt` and the undo of a failed adoption publish themselves.
        A failure is logged, never raised: the next action publishes again.
        """
        await self.feed.announce(doc_id)

    async def record(
        self, doc_id: str | None, action: str, principal: Principal | None,
        detail: Mapping[str, object],
    ) -> None:
        """Append an audit entry; a storage failure is logged and counted, never raised."""
        try:
            await self.archive.record_audit(
                doc_id=doc_id, action=action,
                actor_sub=principal.sub if principal else None,
                actor_name=principal.name if principal else None, detail=detail,
            )
        except StorageUnavailable as exc:
            self._metrics.errors.labels(kind="audit_failed").inc()
            log.error("audit entry %s not recorded: %s", action, exc, extra={"doc_id": doc_id})

    # -- archive -------------------------------------------------------------------------

    async def snapshot(
        self, doc_id: str, principal: Principal, *, label: str, stage: str,
    ) -> Snapshot:
        """Archive the live text and its annotations as one immutable snapshot.

        Raises:
            Overloaded: a room cannot be loaded.
            StorageUnavailable: the snapshot or its audit entry could not be stored.
        """
        snapshot = await self._archive_live(doc_id, principal, label=label, stage=stage)
        await self.archive.record_audit(
            doc_id=doc_id, action="snapshot.created", actor_sub=principal.sub,
            actor_name=principal.name, detail=snapshot_detail(snapshot),
        )
        self._emit(WebhookEvent.SNAPSHOT_CREATED, doc_id, snapshot_detail(snapshot))
        await self.announce(doc_id)
        return snapshot

    async def adopt(
        self, doc_id: str, principal: Principal, *, label: str, stage: str, comments_open: bool,
        detail: Mapping[str, object] | None = None,
    ) -> Snapshot:
        """Freeze `doc_id`, then archive the frozen text as the adopted snapshot.

        `detail` is added to the adoption's audit entry (the session, members present).

        Freezing first makes the adopted snapshot exactly the text that stays frozen.
        Atomic: if anything fails after the freeze (any exception, or a cancellation), a
        freeze this call made is undone, then the failure propagates.

        Raises:
            Overloaded: a room cannot be loaded.
            StorageUnavailable: the freeze or the snapshot could not be stored.
            InvalidUpdate: the live state does not decode.
        """
        before = await self.archive.get_freeze(doc_id)
        await self.freeze(doc_id, principal, comments_open=comments_open,
                          detail={"adopting": True})
        try:
            # Frozen: the text cannot change under the copy taken here.
            snapshot = await self._archive_live(doc_id, principal, label=label, stage=stage,
                                                adopted=True)
        except BaseException:
            # Any failure, an unexpected one or a cancellation too: nothing was adopted, so
            # a freeze this call made is undone (shielded: a cancelled caller still undoes).
            with anyio.CancelScope(shield=True):
                if not before.frozen:
                    await self.unfreeze(doc_id, principal)
                await self.announce(doc_id)
            raise
        adopted = snapshot_detail(snapshot)
        await self.record(doc_id, "document.adopted", principal, {**adopted, **(detail or {})})
        await self.announce(doc_id)
        self._emit(WebhookEvent.SNAPSHOT_CREATED, doc_id, {**adopted, "adopted": True})
        return snapshot

    async def restore(
        self, doc_id: str, principal: Principal, snapshot: Snapshot, *, doc_is_public: bool,
    ) -> None:
        """Make `snapshot` the live text: a server write, every block keeping its id.

        Raises:
            Forbidden: the caller may not edit the document now (it is frozen).
            Overloaded: the snapshot does not decode, or the room cannot be loaded.
            StorageUnavailable: the write or its audit entry could not be stored.
        """
        frozen = await self.archive.get_freeze(doc_id)
        require(principal, Action.EDIT, doc_id, doc_is_public=doc_is_public,
                doc_is_frozen=frozen.frozen)
        source = stored_text(snapshot)

        def restore(doc: Doc[Any]) -> None:
            replace_text(doc, source)

        await self._hub.transform(doc_id, restore, principal=principal.sub)
        await self.archive.record_audit(
            doc_id=doc_id, action="snapshot.restored", actor_sub=principal.sub,
            actor_name=principal.name, detail=snapshot_detail(snapshot),
        )

    async def _archive_live(
        self, doc_id: str, principal: Principal, *, label: str, stage: str,
        adopted: bool = False,
    ) -> Snapshot:
        # The state is taken at once and rendered from that copy: the live text may
        # change during the awaits below, the snapshot stays one consistent version.
        state = (await self._hub.room(doc_id)).doc.get_update()
        annotations = (await self._hub.room(doc_id + ANNOTATIONS_SUFFIX)).doc.get_update()
        text = doc_from_update(state)
        # Recorded now (sightings are recorded off the request path): the link's hash
        # covers the author's handle, and the public archive shows no subject.
        await self._people.record_person(sub=principal.sub, name=principal.name,
                                         role=str(principal.role), at=time.time())
        return await self.archive.add_snapshot(
            doc_id=doc_id, stage=stage, label=label, created_by=principal.sub,
            created_by_name=principal.name, state=state, markdown=render(text, "md"),
            html=render(text, "html"), annotations_state=annotations, adopted=adopted,
        )

    def _emit(self, event: WebhookEvent, doc_id: str, detail: dict[str, object]) -> None:
        if self._notify is not None:
            self._notify(event, doc_id, detail)


def freeze_json(state: FreezeState) -> dict[str, object]:
    """A freeze state as the API shows it."""
    return {"frozen": state.frozen, "frozen_at": state.frozen_at,
            "frozen_by": state.frozen_by, "comments_open": state.comments_open}


def snapshot_detail(snapshot: Snapshot) -> dict[str, object]:
    """What the audit log and webhooks say about a snapshot."""
    return {"snapshot_id": snapshot.snapshot_id, "number": snapshot.number,
            "stage": snapshot.stage, "label": snapshot.label, "hash": snapshot.content_hash}


def stored_text(snapshot: Snapshot) -> Doc[Any]:
    """The snapshot's text as a document.

    Raises:
        Overloaded: the stored state does not decode (a damaged archive).
    """
    try:
        return doc_from_update(snapshot.state)
    except (InvalidUpdate, SchemaError) as exc:
        raise Overloaded(f"snapshot {snapshot.number} does not decode: {exc}") from exc
