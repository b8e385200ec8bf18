"""The live governance state of a text, kept in its ``D.annotations`` companion.

A root ``Y.Map`` named ``governance`` beside ``annotations``, written only by the server
peer whenever a facilitator freezes, unfreezes, archives a snapshot or adopts: every open
page already has a socket on ``D.annotations`` and sees the change at once (and, with a
relay between nodes, on every node). Keys:

- ``frozen`` (bool), ``comments_open`` (bool), ``frozen_at`` (Unix seconds or null);
- ``snapshots``: the archive, oldest first, each ``{id, number, stage, label, created_at,
  created_by, created_by_name, adopted}``;
- ``stage``: the stage of the latest snapshot (null before the first one);
- ``adopted``: the id of the latest adopted snapshot, or null.

Only keys whose value changed are written, so republishing an unchanged state writes
nothing. The ``annotations`` map is not touched.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from pycrdt import Doc, Map

from crdt.schema import JsonValue, transact

ROOT = "governance"


@dataclass(frozen=True, slots=True, kw_only=True)
class ArchivedVersion:
    """One snapshot as the governance map lists it (metadata only)."""

    id: str
    number: int
    stage: str
    label: str
    created_at: float
    created_by_name: str | None
    adopted: bool
    created_by: str | None = None
    """Who archived it (a subject: the public view shows its handle, `crdt.projection`)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class GovernanceState:
    """What every open page of a document must know about its governance."""

    frozen: bool
    comments_open: bool
    frozen_at: float | None
    snapshots: Sequence[ArchivedVersion] = ()


def governance_map(doc: Doc[Any]) -> Map[Any]:
    """The document's root ``governance`` map."""
    root: Map[Any] = doc.get(ROOT, type=Map)
    return root


def governance_fields(state: GovernanceState) -> dict[str, JsonValue]:
    """The map's keys and values for `state`."""
    snapshots: list[JsonValue] = [
        {"id": s.id, "number": s.number, "stage": s.stage, "label": s.label,
         "created_at": s.created_at, "created_by": s.created_by,
         "created_by_name": s.created_by_name, "adopted": s.adopted}
        for s in state.snapshots
    ]
    adopted = [s.id for s in state.snapshots if s.adopted]
    return {
        "frozen": state.frozen,
        "comments_open": state.comments_open,
        "frozen_at": state.frozen_at,
        "snapshots": snapshots,
        "stage": state.snapshots[-1].stage if state.snapshots else None,
        "adopted": adopted[-1] if adopted else None,
    }


def write_governance(doc: Doc[Any], state: GovernanceState, *, origin: object = None) -> bytes:
    """Bring the ``governance`` map to `state` in one transaction; return the update.

    The update is empty (``b""``) when the map already held `state`.
    """
    root = governance_map(doc)
    wanted = governance_fields(state)
    changed = {key: value for key, value in wanted.items()
               if key not in root or _plain(root[key]) != value}

    def write() -> None:
        for key, value in changed.items():
            root[key] = value

    if not changed:
        return b""
    _, update = transact(doc, write, origin=origin)
    return update


def read_governance(doc: Doc[Any]) -> dict[str, JsonValue]:
    """The ``governance`` map as plain JSON values (empty before the first write)."""
    root = governance_map(doc)
    return {key: _plain(value) for key, value in root.items()}


def plain(value: object) -> JsonValue:
    """A value read from a server-authored map as JSON (`_plain`)."""
    return _plain(value)


def _plain(value: object) -> JsonValue:
    """A stored value as JSON (Yjs numbers come back as floats; whole ones become ints)."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, float) and value.is_integer() and abs(value) < 2**53:
        return int(value)
    if value is None or isinstance(value, str | int | float | bool):
        return value
    raise TypeError(f"unexpected value in the governance map: {type(value).__name__}")
