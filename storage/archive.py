"""The archive port: immutable, hash-chained snapshots, freeze state and the audit log.

A snapshot's ``content_hash`` covers what it shows (state, renderings, annotations) and
how it was made (stage, label, time, author, adoption); its ``chain_hash`` also covers
the previous snapshot's ``chain_hash``, so altering or removing any stored snapshot
breaks every later link, and `Archive.verify_chain` names the first broken one.

Two schemes: a link hashed since version 2 covers its author by their handle
(``membre-7``, `storage.people.handle_of`: stable, and the public may see it), so the
public archive publishes no subject; a link hashed before (version 1), or made by someone
the server never recorded, covers the author's subject. Each link is verified under its
own scheme (`link_scheme`).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

from storage.base import StorageError

HASH_VERSION = 2
"""Version of the canonical encoding hashed by `content_hash`; part of what is hashed."""
SUBJECT_HASH_VERSION = 1
"""The scheme whose ``created_by`` is the author's subject (links hashed before version 2,
and authors never recorded)."""


class SnapshotNotFound(StorageError):
    """No snapshot of this document has this id."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Snapshot:
    """One immutable archived version of a text document.

    ``number`` counts 1, 2, ... per document; ``state`` is the text's full Yjs state,
    ``annotations_state`` its ``D.annotations`` companion's; ``previous_hash`` is the
    previous snapshot's ``chain_hash`` (``None`` for number 1).
    """

    snapshot_id: str
    doc_id: str
    number: int
    stage: str
    label: str
    created_at: float
    created_by: str | None
    created_by_name: str | None
    state: bytes
    markdown: str
    html: str
    annotations_state: bytes
    content_hash: str
    previous_hash: str | None
    chain_hash: str
    adopted: bool


@dataclass(frozen=True, slots=True, kw_only=True)
class ChainReport:
    """What `Archive.verify_chain` found: ``first_broken`` is a snapshot number."""

    doc_id: str
    ok: bool
    checked: int
    first_broken: int | None
    reason: str | None


@dataclass(frozen=True, slots=True, kw_only=True)
class AuditEntry:
    """One recorded governance action; ``doc_id`` ``None`` for server-wide ones."""

    entry_id: int
    doc_id: str | None
    action: str
    actor_sub: str | None
    actor_name: str | None
    at: float
    detail: dict[str, object]


@dataclass(frozen=True, slots=True, kw_only=True)
class FreezeState:
    """Whether a document is frozen, since when, by whom, and whether comments stay open."""

    doc_id: str
    frozen: bool
    frozen_at: float | None
    frozen_by: str | None
    comments_open: bool


class Archive(Protocol):
    """Snapshots, freeze state and audit log of documents."""

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
        """Archive a snapshot: its number and chain are computed in one transaction.

        The transaction holds the document's lock (a PostgreSQL advisory lock; SQLite has
        one writer), so concurrent snapshots get consecutive numbers and chain correctly.

        Raises:
            StorageUnavailable: the database failed; nothing is stored.
        """

    async def list_snapshots(self, doc_id: str) -> Sequence[Snapshot]:
        """Every snapshot of the document, by number.

        Raises:
            StorageUnavailable: the database failed.
        """

    async def get_snapshot(self, doc_id: str, snapshot_id: str) -> Snapshot:
        """One snapshot.

        Raises:
            SnapshotNotFound: the document has no snapshot with this id.
            StorageUnavailable: the database failed.
        """

    async def verify_chain(self, doc_id: str) -> ChainReport:
        """Recompute every content hash and chain link, naming the first broken one.

        Raises:
            StorageUnavailable: the database failed.
        """

    async def handles(self, subs: Collection[str | None]) -> dict[str, str]:
        """The handles of those of `subs` who are recorded people (what a link's hash
        covers of its author since version 2: `hashed_fields`, `link_scheme`).

        Raises:
            StorageUnavailable: the database failed.
        """

    async def get_freeze(self, doc_id: str) -> FreezeState:
        """The document's freeze state (unfrozen, comments closed, when never set).

        Raises:
            StorageUnavailable: the database failed.
        """

    async def set_freeze(
        self, doc_id: str, *, frozen: bool, by: str | None, comments_open: bool
    ) -> FreezeState:
        """Freeze or unfreeze; ``frozen_at``/``frozen_by`` are set only while frozen.

        Raises:
            StorageUnavailable: the database failed.
        """

    async def record_audit(
        self,
        *,
        doc_id: str | None,
        action: str,
        actor_sub: str | None,
        actor_name: str | None,
        detail: Mapping[str, object],
    ) -> AuditEntry:
        """Append one entry to the audit log; `detail` must be JSON-serialisable.

        Raises:
            StorageUnavailable: the database failed.
            TypeError: `detail` is not JSON-serialisable.
        """

    async def list_audit(
        self, doc_id: str, *, limit: int = 100, before: int | None = None
    ) -> Sequence[AuditEntry]:
        """The document's entries, newest first, ``entry_id`` below `before` (paging).

        Raises:
            StorageUnavailable: the database failed.
            ValueError: `limit` is below 1.
        """

    async def audit_about(self, sub: str, *, limit: int) -> Sequence[AuditEntry]:
        """At most `limit` entries, of any document or none, newest first, made by `sub` or
        naming it as the ``sub`` of their detail.

        Raises:
            StorageUnavailable: the database failed.
        """


def detail_names(sub: str) -> str:
    """How an audit detail (JSON, keys sorted) names `sub` as its ``sub``."""
    return '"sub": ' + json.dumps(sub, ensure_ascii=False)


def content_hash(
    *,
    state: bytes,
    markdown: str,
    html: str,
    annotations_state: bytes,
    stage: str,
    label: str,
    created_at: float,
    created_by: str | None,
    adopted: bool,
    version: int = HASH_VERSION,
) -> str:
    """SHA-256 hex of the snapshot's canonical encoding.

    Canonical: a JSON object with sorted keys, no spaces, UTF-8; blobs enter as their
    SHA-256 hex, texts as themselves, the time as its shortest round-tripping decimal.
    `created_by` is what the scheme `version` covers: the author's handle (version 2) or
    subject (version 1).
    """
    canonical = {
        "v": version,
        "state": hashlib.sha256(state).hexdigest(),
        "markdown": markdown,
        "html": html,
        "annotations_state": hashlib.sha256(annotations_state).hexdigest(),
        "stage": stage,
        "label": label,
        "created_at": repr(float(created_at)),
        "created_by": created_by,
        "adopted": bool(adopted),
    }
    encoded = json.dumps(canonical, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(encoded.encode("utf-8")).hexdigest()


def hashed_fields(snapshot: Snapshot, handle: str | None) -> dict[str, object]:
    """What `content_hash` covers of `snapshot` besides its two texts, as it is encoded,
    under the link's own scheme (`link_scheme`; `handle`: its author's, if recorded).

    Blobs as their SHA-256 hex, the time as its repr: add ``markdown`` and ``html`` and
    the SHA-256 of the canonical encoding is the content hash. Published so that anyone
    holding the texts and the state can recompute the hash (`canonical_hash`). A link
    that matches neither scheme (altered) is shown under the handle's, when there is one.
    """
    fields = _fields(snapshot)
    version, created_by = link_scheme(snapshot, handle, fields) or (
        (HASH_VERSION, handle) if handle is not None
        else (SUBJECT_HASH_VERSION, snapshot.created_by))
    return {**fields, "v": version, "created_by": created_by}


def link_scheme(
    snapshot: Snapshot, handle: str | None, fields: Mapping[str, object] | None = None,
) -> tuple[int, str | None] | None:
    """``(version, what its created_by covers)`` of the scheme the stored content hash
    follows: the author's `handle` (version 2) or subject (version 1); ``None``: neither
    (the link was altered)."""
    fields = fields if fields is not None else _fields(snapshot)
    texts = {"markdown": snapshot.markdown, "html": snapshot.html}
    schemes = [(SUBJECT_HASH_VERSION, snapshot.created_by)]
    if handle is not None:
        schemes.insert(0, (HASH_VERSION, handle))
    for version, created_by in schemes:
        if canonical_hash({**fields, **texts, "v": version,
                           "created_by": created_by}) == snapshot.content_hash:
            return version, created_by
    return None


def _fields(snapshot: Snapshot) -> dict[str, object]:
    return {
        "state": hashlib.sha256(snapshot.state).hexdigest(),
        "annotations_state": hashlib.sha256(snapshot.annotations_state).hexdigest(),
        "stage": snapshot.stage,
        "label": snapshot.label,
        "created_at": repr(float(snapshot.created_at)),
        "adopted": bool(snapshot.adopted),
    }


def canonical_hash(fields: Mapping[str, object]) -> str:
    """SHA-256 hex of `fields`' canonical encoding (sorted keys, no spaces, UTF-8)."""
    encoded = json.dumps(fields, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(encoded.encode("utf-8")).hexdigest()


def chain_hash(previous_hash: str | None, content: str) -> str:
    """SHA-256 hex of the previous ``chain_hash`` (``""`` for the first) + `content`."""
    return hashlib.sha256(((previous_hash or "") + content).encode("ascii")).hexdigest()


def check_chain(
    doc_id: str, snapshots: Sequence[Snapshot], handles: Mapping[str, str],
) -> ChainReport:
    """Verify snapshots read in number order: numbers, content hashes (each under its own
    scheme; `handles`: the recorded authors' handles) and chain links."""
    previous: str | None = None
    for expected, snapshot in enumerate(snapshots, start=1):
        reason = _broken(snapshot, expected, previous, handles)
        if reason is not None:
            return ChainReport(doc_id=doc_id, ok=False, checked=expected,
                               first_broken=snapshot.number, reason=reason)
        previous = snapshot.chain_hash
    return ChainReport(doc_id=doc_id, ok=True, checked=len(snapshots), first_broken=None,
                       reason=None)


def _broken(snapshot: Snapshot, expected: int, previous: str | None,
            handles: Mapping[str, str]) -> str | None:
    if snapshot.number != expected:
        return f"expected snapshot number {expected}, found {snapshot.number} (one is missing)"
    handle = handles.get(snapshot.created_by) if snapshot.created_by else None
    if link_scheme(snapshot, handle) is None:
        return "its content does not match its content hash (altered after archiving)"
    if snapshot.previous_hash != previous:
        return "its previous hash is not the chain hash of the snapshot before it"
    if chain_hash(previous, snapshot.content_hash) != snapshot.chain_hash:
        return "its chain hash does not match the previous link and its content hash"
    return None
