"""The live state of amendments, kept in a text's ``D.annotations`` companion.

A root ``Y.Map`` named ``amendments`` beside ``annotations`` and ``governance``, written
only by the server peer (the API), never by a socket: id → a nested ``Y.Map`` entry
``{id, paragraph_id, kind, text, base, justification, author: {sub, name}, created_at,
updated_at, state, reason, outdated, supports: Y.Map sub → name, tally, vote_id,
new_block_id, rebased}``. The root map ``amendment_settings`` holds ``open`` (whether
citizens may propose, and anyone on a frozen text).

States, in Decidim's words: ``submitted`` → ``withdrawn`` (by its author) | ``evaluating``
(put to a vote or under review) → ``accepted`` | ``rejected`` (with a reason); the
facilitators may also decide a submitted one directly. `TRANSITIONS` is the whole rule.
Every write runs in one transaction and returns the update it made.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Final, Literal, cast

from pycrdt import Doc, Map

from crdt.amend_text import KINDS, Kind
from crdt.errors import SchemaError
from crdt.schema import JsonValue, transact

ROOT = "amendments"
SETTINGS = "amendment_settings"
State = Literal["submitted", "withdrawn", "evaluating", "accepted", "rejected"]
STATES: tuple[State, ...] = ("submitted", "withdrawn", "evaluating", "accepted", "rejected")
TRANSITIONS: Final[dict[State, frozenset[State]]] = {
    "submitted": frozenset({"withdrawn", "evaluating", "accepted", "rejected"}),
    "evaluating": frozenset({"accepted", "rejected", "submitted"}),
    "withdrawn": frozenset(),
    "accepted": frozenset(),
    "rejected": frozenset(),
}
"""Which state may follow which (``evaluating`` → ``submitted``: a vote without quorum)."""
OPEN_STATES: Final = frozenset({"submitted", "evaluating"})


class AmendmentNotFound(SchemaError):
    """No amendment has the given id."""


class BadTransition(SchemaError):
    """The amendment's state does not allow the change asked for."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Amendment:
    """One amendment as the live map holds it."""

    id: str
    paragraph_id: str
    kind: Kind
    text: str
    base: str
    justification: str
    author_sub: str
    author_name: str
    created_at: str
    state: State
    supports: dict[str, str] = field(default_factory=dict)
    reason: str | None = None
    outdated: bool = False
    tally: JsonValue = None
    vote_id: str | None = None
    new_block_id: str | None = None
    rebased: int = 0
    updated_at: str | None = None


@dataclass(frozen=True, slots=True)
class AmendmentWrite:
    """The amendment after a write, and the update the write produced (maybe empty)."""

    amendment: Amendment
    update: bytes


def amendments_map(doc: Doc[Any]) -> Map[Any]:
    """The document's root ``amendments`` map."""
    root: Map[Any] = doc.get(ROOT, type=Map)
    return root


def is_open(doc: Doc[Any]) -> bool:
    """Whether amendments are open (to citizens, and on a frozen text)."""
    settings: Map[Any] = doc.get(SETTINGS, type=Map)
    return settings.get("open") is True


def set_open(doc: Doc[Any], value: bool) -> bytes:
    """Open or close amendments; return the update (empty if unchanged)."""
    settings: Map[Any] = doc.get(SETTINGS, type=Map)
    if settings.get("open") is value:
        return b""

    def write() -> None:
        settings["open"] = value

    return transact(doc, write)[1]


def add_amendment(
    doc: Doc[Any], *, paragraph_id: str, kind: Kind, text: str, base: str,
    justification: str, author_sub: str, author_name: str, now: datetime | None = None,
) -> AmendmentWrite:
    """Add a ``submitted`` amendment.

    Raises:
        SchemaError: an unknown kind or an empty paragraph id.
    """
    if kind not in KINDS or not paragraph_id:
        raise SchemaError("an amendment needs a paragraph id and a known kind")
    new_id = uuid.uuid4().hex
    fields: dict[str, Any] = {
        "id": new_id, "paragraph_id": paragraph_id, "kind": kind, "text": text,
        "base": base, "justification": justification,
        "author": {"sub": author_sub, "name": author_name}, "created_at": _stamp(now),
        "state": "submitted", "outdated": False, "supports": Map(), "rebased": 0,
    }
    root = amendments_map(doc)

    def write() -> None:
        root[new_id] = Map(fields)

    _, update = transact(doc, write)
    return AmendmentWrite(get_amendment(doc, new_id), update)


def get_amendment(doc: Doc[Any], amendment_id: str) -> Amendment:
    """The amendment `amendment_id`.

    Raises:
        AmendmentNotFound: no such amendment.
    """
    return _read(_entry(doc, amendment_id))


def list_amendments(doc: Doc[Any], *, paragraph_id: str | None = None) -> list[Amendment]:
    """Every amendment, oldest first, maybe only those on one paragraph."""
    found = [_read(entry) for entry in amendments_map(doc).values() if isinstance(entry, Map)]
    found.sort(key=lambda a: (a.created_at, a.id))
    return [a for a in found if paragraph_id is None or a.paragraph_id == paragraph_id]


def change(
    doc: Doc[Any], amendment_id: str, *, state: State | None = None,
    fields: dict[str, JsonValue] | None = None, now: datetime | None = None,
) -> AmendmentWrite:
    """Move the amendment to `state` (checked against `TRANSITIONS`) and/or set `fields`.

    Only keys whose value changes are written.

    Raises:
        AmendmentNotFound: no such amendment.
        BadTransition: `state` may not follow the current one.
    """
    entry = _entry(doc, amendment_id)
    current = cast(State, entry.get("state"))
    wanted: dict[str, JsonValue] = dict(fields or {})
    if state is not None and state != current:
        if state not in TRANSITIONS[current]:
            raise BadTransition(f"an amendment {current} cannot become {state}")
        wanted["state"] = state
    changed = {k: v for k, v in wanted.items() if _plain(entry.get(k)) != v}
    if not changed:
        return AmendmentWrite(_read(entry), b"")

    def write() -> None:
        for key, value in changed.items():
            entry[key] = value
        entry["updated_at"] = _stamp(now)

    _, update = transact(doc, write)
    return AmendmentWrite(_read(entry), update)


def set_support(
    doc: Doc[Any], amendment_id: str, sub: str, name: str, *, supported: bool
) -> AmendmentWrite:
    """Add (or take back) `sub`'s support; once per person, idempotent.

    Raises:
        AmendmentNotFound: no such amendment.
    """
    entry = _entry(doc, amendment_id)
    supports = entry.get("supports")
    if not isinstance(supports, Map):
        raise SchemaError(f"amendment {amendment_id!r} has no supports map")
    if (sub in supports) == supported:
        return AmendmentWrite(_read(entry), b"")

    def write() -> None:
        if supported:
            supports[sub] = name
        else:
            del supports[sub]

    _, update = transact(doc, write)
    return AmendmentWrite(_read(entry), update)


def _entry(doc: Doc[Any], amendment_id: str) -> Map[Any]:
    entry = amendments_map(doc).get(amendment_id)
    if not isinstance(entry, Map):
        raise AmendmentNotFound(f"no amendment {amendment_id!r}")
    return entry


def _read(entry: Map[Any]) -> Amendment:
    data = {key: (value if isinstance(value, Map) else _plain(value))
            for key, value in entry.items()}
    author = data.get("author")
    author = author if isinstance(author, dict) else {}
    supports = data.get("supports")
    supports_of = ({str(k): str(v) for k, v in supports.items()}
                   if isinstance(supports, Map) else {})
    rebased = data.get("rebased")
    return Amendment(
        id=str(data["id"]), paragraph_id=str(data["paragraph_id"]),
        kind=cast(Kind, data["kind"]), text=str(data.get("text") or ""),
        base=str(data.get("base") or ""),
        justification=str(data.get("justification") or ""),
        author_sub=str(author.get("sub", "")), author_name=str(author.get("name", "")),
        created_at=str(data["created_at"]), state=cast(State, data["state"]),
        supports=supports_of, reason=_text(data.get("reason")),
        outdated=data.get("outdated") is True, tally=cast(JsonValue, data.get("tally")),
        vote_id=_text(data.get("vote_id")), new_block_id=_text(data.get("new_block_id")),
        rebased=rebased if isinstance(rebased, int) else 0,
        updated_at=_text(data.get("updated_at")),
    )


def _text(value: object) -> str | None:
    return value if isinstance(value, str) else None


def _plain(value: object) -> JsonValue:
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, float) and value.is_integer() and abs(value) < 2**53:
        return int(value)
    if value is None or isinstance(value, str | int | float | bool):
        return value
    return str(value)


def _stamp(now: datetime | None) -> str:
    return (now or datetime.now(UTC)).isoformat()
