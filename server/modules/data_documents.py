"""Data documents on the server: create, read, merge-patch, judge socket writes, follow changes.

Every write is checked twice against the live document, without an await in between:
the field rules of `server.modules.data_rules` (who may change what) and the document's JSON
Schema. HTTP writes go through `Hub.transform` as the server peer (committed before they
are applied and relayed, with the caller as author); socket writes are judged by the
room's guard before they are queued, and a refused one gets ``permission-denied``.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any

import anyio
from pycrdt import Doc

from crdt.actors import PROPOSED, awaits_review_by
from crdt.actors import history_entries as actor_history
from crdt.catalogue import append_history, history_entries
from crdt.data import (
    ROOT,
    DataBounds,
    Json,
    JsonMirror,
    JsonObject,
    apply_merge_patch,
    changed_paths,
    check_changed_bounds,
    check_patch_bounds,
    merge_patch,
    read_data,
    read_touched,
)
from crdt.document import version_digest
from crdt.errors import SchemaError
from crdt.schemas import COLLECTIONS, validate, validate_change
from server.access.auth import Principal
from server.errors import Conflict, Forbidden, Invalid, InvalidUpdateError, NotFound
from server.limits import Limits
from server.modules.data_rules import check_change, sees_all_actors
from server.modules.data_views import DataViews
from server.rooms.hooks import Guard, GuardLoader
from server.rooms.hub import Hub
from server.rooms.known_documents import KnownDocuments
from storage.base import DocumentNotFound
from storage.catalog import DocumentCatalog, DocumentMeta

log = logging.getLogger("palabre.data")


def now_iso() -> str:
    """The current time as the data documents write it (UTC, seconds)."""
    return datetime.now(UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")


def person(principal: Principal) -> JsonObject:
    """How a data document names who did something."""
    return {"sub": principal.sub, "name": principal.name}


def etag_of(doc: Doc[Any], variant: str = "") -> str:
    """A strong ETag of the document's state (and of a view of it, `variant`)."""
    digest = hashlib.sha256(version_digest(doc) + b"\x00" + variant.encode()).hexdigest()
    return '"' + digest[:40] + '"'


def require_data(meta: DocumentMeta) -> str:
    """The schema name of a data document.

    Raises:
        NotFound: the document is not a data document.
    """
    if meta.kind != "data" or not meta.schema:
        raise NotFound(f"{meta.doc_id!r} is a {meta.kind} document, not a data document")
    return meta.schema


_SERVER_SET: dict[str, tuple[str, tuple[str, str]]] = {
    "monitoring": ("entries", ("author", "created_at")),
    "library": ("resources", ("contributor", "added_at")),
    "actors": ("actors", ("contributed_by", "proposed_at")),
}
"""Per schema: the collection whose new items the server stamps, with who and when."""


def prepare(schema: str, principal: Principal, before: JsonObject, patch: JsonObject,
            *, at: str) -> JsonObject:
    """`patch` with what the server sets on new items (authors, dates).

    Raises:
        Forbidden: the patch sets such a field itself.
    """
    collection, fields = _SERVER_SET.get(schema, ("", ("", "")))
    items = patch.get(collection) if collection else None
    if not isinstance(items, dict):
        return patch
    existing = before.get(collection)
    existing = existing if isinstance(existing, dict) else {}
    filled: JsonObject = {}
    for key, value in items.items():
        if isinstance(value, dict) and not isinstance(existing.get(key), dict):
            for field in fields:
                if field in value:
                    raise Forbidden(f"{collection}/{key}/{field} is set by the server")
            value = {**value, fields[0]: person(principal), fields[1]: at}
            if schema == "actors" and "state" not in value:
                value["state"] = PROPOSED
        filled[key] = value
    return {**patch, collection: filled}


def data_bounds(limits: Limits) -> DataBounds:
    """The bounds of data documents that `limits` sets."""
    return DataBounds(entries=limits.data_entries_per_collection, depth=limits.data_depth,
                      string_chars=limits.data_string_chars,
                      values_per_write=limits.data_values_per_write)


def patch_document(
    doc: Doc[Any], schema: str, principal: Principal, doc_id: str, patch: JsonObject,
    *, is_frozen: bool, bounds: DataBounds, awaiting: Callable[[], int] | None = None,
    awaiting_limit: int = 0,
) -> None:
    """Apply a client's merge patch to `doc` if it is allowed, valid and within `bounds`.

    Reads only what the patch names (`crdt.data.read_touched`): the cost follows the
    patch, not the document.

    Raises:
        Forbidden: a field the caller may not change.
        Invalid: the result breaks the schema or the bounds (nothing is changed).
    """
    at = now_iso()
    _check_bounds(doc, patch, bounds)  # first as sent: a flood stops at the bound's cost
    before = read_touched(doc, patch, COLLECTIONS[schema])
    patch = prepare(schema, principal, before, patch, at=at)
    _check_bounds(doc, patch, bounds)  # then with what the server stamps on new items
    after = merge_patch(before, patch)
    assert isinstance(after, dict)
    paths = changed_paths(before, after)
    check_change(schema, principal, doc_id, before, after, paths, is_frozen=is_frozen)
    if schema == "actors" and awaiting is not None and not sees_all_actors(principal, doc_id):
        _check_awaiting(principal, before, after, awaiting, awaiting_limit)
    history: dict[str, JsonObject] = {}
    collection = "projects"
    if schema == "catalogue":
        history = history_entries(before, after, at=at, by=person(principal))
    elif schema == "actors":
        history = actor_history(before, after, at=at, by=person(principal))
        collection = "actors"
    try:
        validate_change(schema, after, paths)
    except SchemaError as exc:
        raise Invalid(str(exc)) from exc
    apply_merge_patch(doc, patch)
    append_history(doc, history, collection)


def _check_awaiting(principal: Principal, before: JsonObject, after: JsonObject,
                    awaiting: Callable[[], int], limit: int) -> None:
    """Raises `Invalid` when the change leaves more than `limit` of the principal's
    proposals awaiting review (`awaiting()`: how many do before it); O(patch)."""
    def own(data: JsonObject) -> int:
        actors = data.get("actors")
        return sum(awaits_review_by(actor) == principal.sub
                   for actor in (actors.values() if isinstance(actors, dict) else ()))

    added = own(after) - own(before)
    if added > 0 and limit > 0 and (already := awaiting()) + added > limit:
        raise Invalid(f"at most {limit} of your proposals may await review at once; "
                      f"{already} do: wait until a facilitator reviews them")


def _check_bounds(doc: Doc[Any], patch: JsonObject, bounds: DataBounds) -> None:
    """Raises `Invalid` when `patch` would take the document past `bounds`."""
    try:
        check_patch_bounds(doc, patch, bounds)
    except SchemaError as exc:
        raise Invalid(f"too large: {exc}") from exc


class DataDocuments:
    """The data documents of one app: its hub and catalog, and the guards of their rooms."""

    def __init__(self, hub: Hub, catalog: DocumentCatalog) -> None:
        self.hub = hub
        self.catalog = catalog
        self.bounds = data_bounds(hub.limits)
        self._awaiting_limit = hub.limits.proposals_awaiting_per_person
        self.views = DataViews()
        """Per loaded room: its document's JSON and its readers' views."""

    def initial(self, schema: str, title: str, data: JsonObject | None) -> JsonObject:
        """The first data of a new document: `data`, or the schema's empty skeleton.

        Raises:
            Invalid: the data breaks the schema.
        """
        initial = data if data is not None else skeleton(schema, title)
        try:
            validate(schema, initial)
        except SchemaError as exc:
            raise Invalid(str(exc)) from exc
        return initial

    async def fill(
        self, doc_id: str, schema: str, principal: Principal, initial: JsonObject
    ) -> None:
        """Write the first data of a document just created (as `principal`).

        A room loaded before the document was created (a socket opened on its id) gets
        its guard now, before anything is written.

        Raises:
            Conflict: it already holds data (written over a socket before it was listed).
            Overloaded, StorageUnavailable: from the hub.
        """
        await self.hub.room(doc_id)
        self.hub.guard_data(doc_id, SocketGuard(doc_id, schema, self.bounds))
        await self.hub.transform(doc_id, lambda doc: _fill_empty(doc, initial),
                                 principal=principal.sub)

    async def patch(self, meta: DocumentMeta, principal: Principal, patch: JsonObject) -> None:
        """Merge `patch` into the document as `principal` (readers get the new data from
        `views`).

        Raises:
            Forbidden, Invalid: see `patch_document` (nothing is written).
            Overloaded, StorageUnavailable: from the hub.
        """
        schema = require_data(meta)
        room = await self.hub.room(meta.doc_id)
        await self.hub.transform(
            meta.doc_id,
            lambda doc: patch_document(
                doc, schema, principal, meta.doc_id, patch, is_frozen=room.is_frozen,
                bounds=self.bounds, awaiting_limit=self._awaiting_limit,
                awaiting=lambda: self.views.awaiting_review(room, principal.sub)),
            principal=principal.sub,
        )

    @asynccontextmanager
    async def follow(self, doc_id: str) -> AsyncIterator[Callable[[], Any]]:
        """Keep the document loaded and yield a coroutine function that waits for a change.

        Changes are seen on the room's document itself, so socket edits, API patches and
        (later) updates relayed from other nodes all wake the waiter.
        """
        room = await self.hub.room(doc_id)
        changed = anyio.Event()

        def on_change(_event: object) -> None:
            changed.set()

        subscription = room.doc.observe(on_change)
        room.watch()

        async def wait() -> None:
            nonlocal changed
            await changed.wait()
            changed = anyio.Event()

        try:
            yield wait
        finally:
            room.unwatch()
            room.doc.unobserve(subscription)


class SocketGuard:
    """Judges the client updates of one data document's room (a `server.rooms.hooks.Guard`).

    Updates accepted but not yet committed are kept in a shadow copy of the document, so
    an update building on one still queued is judged on top of it.
    """

    def __init__(self, doc_id: str, schema: str, bounds: DataBounds) -> None:
        self._doc_id = doc_id
        self._schema = schema
        self._bounds = bounds
        self._shadow: JsonMirror | None = None

    def __call__(self, live: Doc[Any], principal: Principal, update: bytes) -> str | None:
        """``None`` when `principal` may make `update` over a socket, else why not.

        Raises:
            InvalidUpdateError: the update does not apply.
        """
        shadow = self._shadow
        if shadow is None:
            shadow = self._shadow = JsonMirror(live.get_update())
        else:
            shadow.apply(live.get_update(shadow.doc.get_state()))
        try:
            before, touched = shadow.apply(update)
        except ValueError as exc:
            self._shadow = None
            raise InvalidUpdateError(f"invalid Yjs update: {exc}") from exc
        refusal = self._judge(principal, shadow, before, touched)
        if refusal is not None:
            self._shadow = None  # it holds the refused update: rebuilt from the live one
        return refusal

    def _judge(self, principal: Principal, shadow: JsonMirror, before: JsonObject,
               touched: list[tuple[str, ...]]) -> str | None:
        if set(shadow.doc.keys()) - {ROOT}:
            # Only the ``data`` map is validated and served: nothing may hide beside it.
            return f"a data document holds only the {ROOT!r} map"
        after = shadow.data
        paths = [path for item in touched
                 for path in changed_paths(_at(before, item), _at(after, item), item)]
        if not paths:
            return None
        try:
            check_changed_bounds(after, paths, self._bounds)  # first: it stops at the bound
            check_change(self._schema, principal, self._doc_id, before, after, paths,
                         over_socket=True)
            validate_change(self._schema, after, paths)
        except Forbidden as exc:
            return exc.detail
        except SchemaError as exc:
            return f"invalid: {exc}"
        return None


def _at(data: JsonObject, path: tuple[str, ...]) -> Json:
    """The value at `path` (``None`` where it is missing)."""
    value: Json = data
    for key in path:
        if not isinstance(value, dict) or key not in value:
            return None
        value = value[key]
    return value


def skeleton(schema: str, title: str) -> JsonObject:
    """The smallest valid document of `schema`."""
    collection = {"catalogue": "projects", "library": "resources",
                  "monitoring": "entries", "agenda": "events", "actors": "actors"}[schema]
    return {"title": title, collection: {}}


def _fill_empty(doc: Doc[Any], data: JsonObject) -> None:
    """Write the first data of a new document.

    Raises:
        Conflict: the document already holds data (written over a socket before it was listed).
    """
    if read_data(doc):
        raise Conflict("this document already has content")
    apply_merge_patch(doc, data)


def guard_loader(catalog: DocumentCatalog | KnownDocuments, limits: Limits) -> GuardLoader:
    """The hub's `load_guard` hook: a data document's room judges every socket write,
    within `limits` (`catalog`: the hub's `KnownDocuments`, which the socket that opens
    the room has just read)."""

    async def load_guard(doc_id: str) -> Guard | None:
        try:
            meta = await catalog.get_document(doc_id)
        except DocumentNotFound:
            return None
        if meta.kind != "data" or not meta.schema:
            return None
        return SocketGuard(doc_id, meta.schema, data_bounds(limits))

    return load_guard
