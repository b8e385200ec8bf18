"""What the SQL and in-memory erasures share: rewriting records and hashing them again."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping, Sequence
from typing import Any

from crdt.document import doc_from_update, merge
from crdt.erasure import Identity, erase_identity, scrubbed
from storage.archive import (
    HASH_VERSION,
    SUBJECT_HASH_VERSION,
    Snapshot,
    chain_hash,
    content_hash,
    link_scheme,
)
from storage.erasure import Reseal
from storage.sessions import SessionRecord, link, minutes_hash

ANNOTATION_ROOTS = ("annotations", "amendments", "amendment_settings", "governance")
"""The root maps of a ``D.annotations`` document that hold people."""


def mentions(identity: Identity, data: bytes | str | None) -> bool:
    """Whether `data` holds the subject or one of the names."""
    if data is None:
        return False
    raw = data.encode() if isinstance(data, str) else data
    return any(word.encode() in raw for word in (identity.sub, *identity.names))


def erased_state(state: bytes, identity: Identity) -> bytes:
    """An annotations state with `identity` rewritten, deleted content dropped."""
    doc = doc_from_update(state)
    roots = tuple(dict.fromkeys((*ANNOTATION_ROOTS, *doc.keys())))
    erase_identity(doc, identity, roots=roots)
    return scrubbed(doc.get_update())


def scrub_history(state: bytes | None, updates: Sequence[bytes], identity: Identity) -> bytes:
    """A stored annotations state and log as one state, `identity` rewritten (for a
    document no room holds) and deleted content dropped.

    Raises:
        InvalidUpdate: a stored update does not decode.
    """
    return erased_state(merge([state, *updates] if state is not None else list(updates)),
                        identity)


def erased_json(text: str, identity: Identity) -> str:
    """A JSON text with every string (and key) naming the person replaced."""
    return json.dumps(_replace(json.loads(text), identity), ensure_ascii=False,
                      sort_keys=True)


def _replace(value: Any, identity: Identity) -> Any:
    if isinstance(value, str):
        return identity.replaced(value)
    if isinstance(value, dict):
        return {identity.replaced(k): _replace(v, identity) for k, v in value.items()}
    if isinstance(value, list):
        return [_replace(v, identity) for v in value]
    return value


def erased_snapshots(
    snapshots: Sequence[Snapshot], identity: Identity, handles: Mapping[str, str],
) -> tuple[list[Snapshot], Reseal | None]:
    """The snapshots of one document (by number) that change, hashed and chained again
    from the first that names the person, each under its own scheme (`handles`: the
    recorded authors', the person's under both subjects); with the reseal (``None``:
    nothing changed)."""
    changed: list[Snapshot] = []
    previous: str | None = None
    first: int | None = None
    for snapshot in snapshots:
        names = (mentions(identity, snapshot.annotations_state)
                 or snapshot.created_by == identity.sub
                 or snapshot.created_by_name in identity.names)
        if first is None and not names:
            previous = snapshot.chain_hash
            continue
        if first is None:
            first = snapshot.number
        rewritten = snapshot
        if names:
            rewritten = dataclasses.replace(
                snapshot,
                created_by=identity.replaced(snapshot.created_by)
                if snapshot.created_by else None,
                created_by_name=identity.replaced(snapshot.created_by_name)
                if snapshot.created_by_name else None,
                annotations_state=erased_state(snapshot.annotations_state, identity))
        handle = handles.get(snapshot.created_by) if snapshot.created_by else None
        version, _ = link_scheme(snapshot, handle) or (SUBJECT_HASH_VERSION, None)
        content = content_hash(
            state=rewritten.state, markdown=rewritten.markdown, html=rewritten.html,
            annotations_state=rewritten.annotations_state, stage=rewritten.stage,
            label=rewritten.label, created_at=rewritten.created_at,
            created_by=handle if version == HASH_VERSION else rewritten.created_by,
            adopted=rewritten.adopted, version=version)
        rewritten = dataclasses.replace(rewritten, content_hash=content,
                                        previous_hash=previous,
                                        chain_hash=chain_hash(previous, content))
        previous = rewritten.chain_hash
        changed.append(rewritten)
    if first is None:
        return [], None
    return changed, Reseal(doc_id=snapshots[0].doc_id, chain="snapshots", from_number=first,
                           old_head=snapshots[-1].chain_hash, new_head=previous)


def erased_sessions(
    records: Sequence[SessionRecord], identity: Identity
) -> tuple[list[SessionRecord], Reseal | None]:
    """The sessions of one document (by number) that change; closed ones hashed and
    chained again from the first closed one that names the person."""
    changed: list[SessionRecord] = []
    previous: str | None = None
    first: int | None = None
    old_head: str | None = None
    for record in records:
        names = (record.opened_by == identity.sub or record.closed_by == identity.sub
                 or record.opened_by_name in identity.names
                 or record.closed_by_name in identity.names
                 or mentions(identity, record.minutes))
        rewritten = record
        if names:
            rewritten = dataclasses.replace(
                record,
                opened_by=_or_none(record.opened_by, identity),
                opened_by_name=_or_none(record.opened_by_name, identity),
                closed_by=_or_none(record.closed_by, identity),
                closed_by_name=_or_none(record.closed_by_name, identity),
                minutes=erased_json(record.minutes, identity) if record.minutes else None)
        if record.is_open:
            if names:
                changed.append(rewritten)
            continue
        old_head = record.chain_hash
        if first is None and not names:
            previous = record.chain_hash
            continue
        if first is None:
            first = record.number
        content = minutes_hash(rewritten)
        rewritten = dataclasses.replace(rewritten, content_hash=content,
                                        previous_hash=previous,
                                        chain_hash=link(previous, content))
        previous = rewritten.chain_hash
        changed.append(rewritten)
    if first is None:
        return changed, None
    return changed, Reseal(doc_id=records[0].doc_id, chain="sessions", from_number=first,
                           old_head=old_head, new_head=previous)


def _or_none(value: str | None, identity: Identity) -> str | None:
    return identity.replaced(value) if value is not None else None
