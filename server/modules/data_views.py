"""What readers of a data document get, kept up to date by what each change touches.

Per loaded room, `DataViews` keeps the document's JSON (`crdt.data.JsonMirror`, fed the
update of each transaction) and, per view asked for (a kind of reader, a theme), the JSON
text of each item that view shows. A new version recomputes the pieces of the items its
transactions touched and joins the kept ones: O(changed items) encoding plus one C-level
join over the shown items' texts, instead of building and encoding the whole view again.
The same version asked again, by one reader or a thousand event streams, costs a lookup.
GeoJSON is written whole once per version (its features' texts kept by identity).
Everything goes with the room when it is evicted.
"""

from __future__ import annotations

import hashlib
import weakref
from collections import Counter, deque
from collections.abc import Callable

from pycrdt import TransactionEvent

from crdt.actors import COLLECTION as ACTORS
from crdt.actors import awaits_review_by, public_form, shown_as
from crdt.data import Json, JsonMirror, JsonObject
from crdt.document import version_digest
from crdt.json_text import IdentityMemo, JsonPieces, to_text
from crdt.schemas import COLLECTIONS
from server.access.auth import Principal
from server.modules.actors import geojson_of, reader_sub, view_for, view_key
from server.modules.data_rules import sees_all_actors
from server.rooms.room import Room

_COLLECTIONS = frozenset(name for names in COLLECTIONS.values() for name in names)
"""Top-level maps of items, in every schema: views keep their items' texts."""

_VERSIONS_KEPT = 256
"""Versions whose touched items are remembered: a view older than that is built again."""

_VIEWS_KEPT = 64
"""Most views kept per room (past it the least recently made goes): one per kind of
reader, theme and format asked for."""

PieceOf = Callable[[str, str, Json], bytes | None]
"""A view's text of one item: ``(collection, key, item)`` → ``"key":value`` in UTF-8,
or None when the view does not show it."""


class _View:
    """One view's pieces (collection → key → text) and its text in UTF-8, at `version`."""

    def __init__(self, piece_of: PieceOf | None) -> None:
        self.piece_of = piece_of
        self.version = -1
        self.pieces: dict[str, dict[str, bytes]] = {}
        self.body = b""


class _RoomJson:
    """One room's JSON, its versions' touched items, and its views."""

    def __init__(self, room: Room) -> None:
        self._updates: list[bytes] = []
        self._behind = False
        self._chain = version_digest(room.doc)
        self._subscription = room.doc.observe(self._observed)
        self.mirror = JsonMirror(room.doc.get_update())
        self.pieces = JsonPieces()
        self.public = IdentityMemo()
        self.version = 0
        self.changes: deque[tuple[int, list[tuple[str, ...]]]] = deque(maxlen=_VERSIONS_KEPT)
        self.views: dict[str, _View] = {}
        self.awaiting: Counter[str] = _awaiting(self.mirror.data)
        """Actors awaiting review, per contributor (`crdt.actors.awaits_review_by`)."""

    def _observed(self, event: TransactionEvent) -> None:
        self._chain = hashlib.sha256(self._chain + event.update).digest()
        if self._behind:
            return
        self._updates.append(event.update)
        if len(self._updates) > _VERSIONS_KEPT:  # nobody read for long: ask for the difference
            self._updates.clear()
            self._behind = True

    @property
    def digest(self) -> bytes:
        """A digest of the document's version on this node: of its state when the room's
        JSON was first asked for, chained with the update of every transaction since
        (the same digest: the same document; a transaction costs a hash of its update)."""
        return self._chain

    def catch_up(self, room: Room) -> JsonObject:
        """The room's JSON now: the updates of the transactions since last asked applied
        (or, after very many, the difference asked of the document in one call)."""
        if self._behind:
            self._behind = False
            self._apply(room.doc.get_update(self.mirror.doc.get_state()))
        while self._updates:
            self._apply(self._updates.pop(0))
        return self.mirror.data

    def _apply(self, update: bytes) -> None:
        before, touched = self.mirror.apply(update)
        after = self.mirror.data
        if after is not before:
            self.version += 1
            self.changes.append((self.version, touched))
            for path in touched:
                self._forget(before, after, path)
            self._count_awaiting(before, after, touched)

    def _count_awaiting(self, before: JsonObject, after: JsonObject,
                        touched: list[tuple[str, ...]]) -> None:
        """Keep `awaiting` up to date with the actors `touched` (all of them: counted again)."""
        if (ACTORS,) in touched:
            self.awaiting = _awaiting(after)
            return
        old, new = before.get(ACTORS), after.get(ACTORS)
        old, new = (old if isinstance(old, dict) else {}), (new if isinstance(new, dict) else {})
        for path in touched:
            if path[0] == ACTORS and len(path) > 1:
                if (sub := awaits_review_by(old.get(path[1]))) is not None:
                    self.awaiting[sub] -= 1
                if (sub := awaits_review_by(new.get(path[1]))) is not None:
                    self.awaiting[sub] += 1

    def _forget(self, before: JsonObject, after: JsonObject, path: tuple[str, ...]) -> None:
        """Forget the texts of the items `path` replaced (O(items at `path`))."""
        old, new = before.get(path[0]), after.get(path[0])
        if not isinstance(old, dict) or path[0] not in _COLLECTIONS:
            return
        new = new if isinstance(new, dict) else {}
        keys = old.keys() if len(path) == 1 else [path[1]] if path[1] in old else []
        for key in keys:
            item = old[key]
            if new.get(key) is not item:
                self.pieces.forget(item)
                public = self.public.forget(item)
                if public is not None:
                    self.pieces.forget(public)

    def view(self, variant: str, piece_of: PieceOf | None) -> _View:
        """The view `variant`, made if new (the oldest forgotten past `_VIEWS_KEPT`)."""
        view = self.views.pop(variant, None) or _View(piece_of)
        self.views[variant] = view
        if len(self.views) > _VIEWS_KEPT:
            del self.views[next(iter(self.views))]
        return view

    def touched_since(self, version: int) -> set[tuple[str, ...]] | None:
        """The item paths changed after `version`; None when not all are remembered."""
        if version == self.version:
            return set()
        if version < 0 or not self.changes or self.changes[0][0] > version + 1:
            return None
        return {path for number, paths in self.changes if number > version for path in paths}

    def advance(self, view: _View, data: JsonObject) -> None:
        """Bring `view` to the current version: the touched items' pieces again."""
        assert view.piece_of is not None
        touched = self.touched_since(view.version)
        if touched is None:
            view.pieces = {top: _pieces(value, top, view.piece_of) for top, value in data.items()
                           if top in _COLLECTIONS and isinstance(value, dict)}
        for path in sorted(touched or (), key=len):
            _retouch(view, data, path)
        view.body = _assemble(data, view.pieces)
        view.version = self.version

    def whole_piece(self, key: str, item: Json) -> bytes:
        return self.pieces.piece(key, item)

    def public_piece(self, key: str, actor: Json) -> bytes:
        return self.pieces.piece(key, self.public.get(actor, public_form))


def _awaiting(data: JsonObject) -> Counter[str]:
    actors = data.get(ACTORS)
    subs = (awaits_review_by(actor) for actor in (actors.values() if isinstance(actors, dict)
                                                   else ()))
    return Counter(sub for sub in subs if sub is not None)


def _pieces(collection: dict[str, Json], top: str, piece_of: PieceOf) -> dict[str, bytes]:
    shown = ((key, piece_of(top, key, item)) for key, item in collection.items())
    return {key: piece for key, piece in shown if piece is not None}


def _retouch(view: _View, data: JsonObject, path: tuple[str, ...]) -> None:
    """Write again in `view` what `path` (``(top,)`` or ``(top, key)``) names."""
    assert view.piece_of is not None
    top = path[0]
    value = data.get(top)
    if top not in _COLLECTIONS:
        return  # written whole by `_assemble`
    if not isinstance(value, dict):
        view.pieces.pop(top, None)
    elif len(path) == 1 or top not in view.pieces:
        view.pieces[top] = _pieces(value, top, view.piece_of)
    else:
        key = path[1]
        pieces = view.pieces[top]
        piece = view.piece_of(top, key, value[key]) if key in value else None
        if piece is None:
            pieces.pop(key, None)
        else:
            pieces[key] = piece


def _assemble(data: JsonObject, pieces: dict[str, dict[str, bytes]]) -> bytes:
    """The text of `data` in UTF-8, its collections written from `pieces` (two copies of
    the kept texts: the items' join, then the whole's)."""
    parts = [b"{"]
    for key, value in data.items():
        if len(parts) > 1:
            parts.append(b",")
        parts.append((to_text(key) + ":").encode())
        shown = pieces.get(key)
        if shown is None:
            parts.append(to_text(value).encode())
        else:
            parts += (b"{", b",".join(shown.values()), b"}")
    parts.append(b"}")
    return b"".join(parts)


class DataViews:
    """The JSON and view texts of the loaded data documents' rooms."""

    def __init__(self) -> None:
        self._rooms: weakref.WeakKeyDictionary[Room, _RoomJson] = weakref.WeakKeyDictionary()

    def data(self, room: Room) -> JsonObject:
        """The JSON of a room's document now, at the cost of what changed since last asked.

        The value is never changed in place afterwards: it may be kept and compared.
        """
        return self._json(room).catch_up(room)

    def etag(self, room: Room, variant: str = "") -> str:
        """A strong ETag of the room's document (and of a view of it, `variant`), from
        `_RoomJson.digest`: O(update) per transaction, not the 2 ms a MB of encoding the
        document. Another node, or this one after a restart, may give the same document
        another ETag (a conditional request then gets the data again), never the reverse."""
        digest = hashlib.sha256(self._json(room).digest + b"\x00" + variant.encode())
        return '"' + digest.hexdigest()[:40] + '"'

    def awaiting_review(self, room: Room, sub: str) -> int:
        """How many actors of `sub` await review in the room's document now."""
        held = self._json(room)
        held.catch_up(room)
        return held.awaiting[sub]

    def view_body(self, room: Room, schema: str, principal: Principal, doc_id: str, *,
                  theme: str | None = None, fmt: str = "json") -> bytes:
        """What `principal` reads of a data document (``GET .../data``, its event stream,
        a patch's answer), in UTF-8: their view (`server.modules.actors.view_for`), one
        `theme`'s entries, as JSON or (``fmt="geojson"``) as a GeoJSON FeatureCollection.
        The same version and view give the same object."""
        return self._view(room, schema, principal, doc_id, theme, fmt).body

    def _view(self, room: Room, schema: str, principal: Principal, doc_id: str,
              theme: str | None, fmt: str) -> _View:
        held = self._json(room)
        data = held.catch_up(room)
        variant = "|".join((theme or "", fmt, view_key(schema, principal, doc_id)))
        view = held.view(variant, None if fmt == "geojson" else _piece_of(
            held, schema, principal, doc_id, theme))
        if view.version != held.version:
            if view.piece_of is None:
                shown = view_for(schema, principal, doc_id, data)
                view.body = to_text(geojson_of(schema, shown)).encode()
                view.version = held.version
            else:
                held.advance(view, data)
        return view

    def _json(self, room: Room) -> _RoomJson:
        held = self._rooms.get(room)
        if held is None:
            held = self._rooms[room] = _RoomJson(room)
        return held


def _piece_of(held: _RoomJson, schema: str, principal: Principal, doc_id: str,
              theme: str | None) -> PieceOf:
    """How the view of `principal` (and `theme`) writes one item."""
    own_only = schema == "actors" and not sees_all_actors(principal, doc_id)
    sub = reader_sub(principal)

    def piece_of(collection: str, key: str, item: Json) -> bytes | None:
        if own_only and collection == ACTORS:
            form = shown_as(item, sub)
            if form is None:
                return None
            return held.whole_piece(key, item) if form == "whole" else held.public_piece(
                key, item)
        if theme is not None and collection == "entries" and not in_theme(item, theme):
            return None
        return held.whole_piece(key, item)

    return piece_of


def in_theme(entry: Json, theme: str) -> bool:
    """Whether a monitoring entry is tagged `theme`."""
    return isinstance(entry, dict) and isinstance(entry.get("themes"), list) \
        and theme in entry["themes"]  # type: ignore[operator]

