"""The live state of a document's session, kept in its ``D.annotations`` companion.

A root ``Y.Map`` named ``session`` beside ``annotations`` and ``governance``, written only
by the server peer (clients never write ``D.annotations``: `server.access.permissions`
rule 4), so every open page sees the session bar and the speaking queue change at once.
Keys:

- ``open``: the open session ``{id, number, title, kind, opened_at}``, or null;
- ``hands``: the raised hands in the order raised, each ``{sub, name, raised_at}``;
- ``floor``: who has the floor ``{sub, name, since}``, or null.

Only keys whose value changed are written.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pycrdt import Doc, Map

from crdt.governance import plain
from crdt.schema import JsonValue, transact

ROOT = "session"


@dataclass(frozen=True, slots=True, kw_only=True)
class Hand:
    """A raised hand (or who has the floor, ``at`` being since when)."""

    sub: str
    name: str
    at: float


@dataclass(frozen=True, slots=True, kw_only=True)
class LiveSession:
    """What every open page must know of the document's session."""

    open: dict[str, JsonValue] | None
    hands: tuple[Hand, ...] = ()
    floor: Hand | None = None


def session_map(doc: Doc[Any]) -> Map[Any]:
    """The document's root ``session`` map."""
    root: Map[Any] = doc.get(ROOT, type=Map)
    return root


def read_session(doc: Doc[Any]) -> LiveSession:
    """The ``session`` map as a `LiveSession` (nothing open before the first write)."""
    root = session_map(doc)
    fields = {key: plain(value) for key, value in root.items()}
    opened = fields.get("open")
    hands = fields.get("hands")
    floor = fields.get("floor")
    return LiveSession(
        open=opened if isinstance(opened, dict) else None,
        hands=tuple(_hand(h, "raised_at") for h in hands if isinstance(h, dict))
        if isinstance(hands, list) else (),
        floor=_hand(floor, "since") if isinstance(floor, dict) else None,
    )


def write_session(doc: Doc[Any], state: LiveSession) -> bytes:
    """Bring the ``session`` map to `state` in one transaction; return the update (``b""``
    when it already held `state`)."""
    root = session_map(doc)
    wanted: dict[str, JsonValue] = {
        "open": state.open,
        "hands": [{"sub": h.sub, "name": h.name, "raised_at": h.at} for h in state.hands],
        "floor": None if state.floor is None else {
            "sub": state.floor.sub, "name": state.floor.name, "since": state.floor.at},
    }
    changed = {key: value for key, value in wanted.items()
               if key not in root or plain(root[key]) != value}

    def write() -> None:
        for key, value in changed.items():
            root[key] = value

    if not changed:
        return b""
    _, update = transact(doc, write)
    return update


def _hand(value: dict[str, JsonValue], at_key: str) -> Hand:
    at = value.get(at_key)
    return Hand(sub=str(value.get("sub", "")), name=str(value.get("name", "")),
                at=float(at) if isinstance(at, int | float) else 0.0)
