"""Structured (``data``) documents: a JSON tree kept as nested ``Y.Map``/``Y.Array``.

The tree hangs off one root ``Y.Map`` named ``data``: JSON objects are ``Y.Map``, arrays
``Y.Array``, everything else a plain value. A JSON Merge Patch (RFC 7396) is applied as
the smallest CRDT change: only the keys the patch names are touched, and an object
patched into an object is patched in place, so concurrent patches of different fields
(of one project, say) both survive. Arrays are replaced as RFC 7396 says, except that an
array which only grows keeps its elements and appends the new ones (a growing list
merges with a concurrent append instead of one of them winning).
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Any, TypeAlias

from pycrdt import Array, Doc, Map

from crdt.errors import SchemaError

ROOT = "data"
"""Name of the root ``Y.Map`` of a data document."""

Json: TypeAlias = bool | int | float | str | list["Json"] | dict[str, "Json"] | None
JsonObject: TypeAlias = dict[str, Json]


def root(doc: Doc[Any]) -> Map[Any]:
    """The document's root map (created empty on first use)."""
    data: Map[Any] = doc.get(ROOT, type=Map)
    return data


def read_data(doc: Doc[Any]) -> JsonObject:
    """The document's data as JSON (numbers that are whole come back as integers).

    Read through pycrdt's JSON encoding (one call into Rust): ``to_py`` opens a
    transaction per key and costs several times more on a large document.
    """
    value = normalize(_read_json(root(doc)))
    return value if isinstance(value, dict) else {}


def _read_json(value: Map[Any] | Array[Any]) -> object:
    try:
        return json.loads(str(value))
    except ValueError:  # not JSON (a value JSON cannot spell): the slow, exact way
        return value.to_py()


def normalize(value: object) -> Json:
    """Plain JSON from what pycrdt reads (Yjs keeps numbers as doubles: ``1.0`` is ``1``)."""
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return value
    if isinstance(value, float):
        return int(value) if value.is_integer() and abs(value) <= 2**53 else value
    if isinstance(value, int):
        return value
    if isinstance(value, Mapping):
        # Sorted: a Y.Map has no order, and readers diff or hash what we render.
        return {str(key): normalize(value[key]) for key in sorted(value, key=str)}
    if isinstance(value, list | tuple):
        return [normalize(item) for item in value]
    raise TypeError(f"not a JSON value: {type(value).__name__}")


def merge_patch(target: Json, patch: Json) -> Json:
    """RFC 7396: `target` with `patch` merged in (a new value; neither argument changes)."""
    if not isinstance(patch, dict):
        return patch
    result: JsonObject = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


def apply_merge_patch(doc: Doc[Any], patch: JsonObject) -> None:
    """Apply `patch` to the document as the smallest change, in one transaction."""
    with doc.transaction():
        _patch_map(root(doc), patch)


def _patch_map(target: Map[Any], patch: Mapping[str, Json]) -> None:
    for key, value in patch.items():
        if value is None:
            if key in target:
                del target[key]
            continue
        existing = target.get(key) if key in target else None
        if isinstance(value, dict):
            if isinstance(existing, Map):
                _patch_map(existing, value)
            else:
                fresh = merge_patch(None, value)
                target[key] = _to_y(fresh)
        elif isinstance(value, list):
            if isinstance(existing, Array):
                _patch_array(existing, value)
            else:
                target[key] = _to_y(value)
        elif existing is None or isinstance(existing, Map | Array) or normalize(existing) != value:
            target[key] = value


def _patch_array(target: Array[Any], value: list[Json]) -> None:
    current = normalize(target.to_py() or [])
    assert isinstance(current, list)
    if current == value:
        return
    if current == value[: len(current)]:
        target.extend([_to_y(item) for item in value[len(current) :]])
        return
    del target[:]
    target.extend([_to_y(item) for item in value])


def _to_y(value: Json) -> Any:
    """A JSON value as pycrdt prelim types (objects and arrays become shared types)."""
    if isinstance(value, dict):
        return Map({key: _to_y(item) for key, item in value.items()})
    if isinstance(value, list):
        return Array([_to_y(item) for item in value])
    return value


def changed_paths(before: Json, after: Json, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    """The paths (keys from the root) where two JSON trees differ, as deep as objects go.

    An array that differs is reported as one path; so is a value that appears, disappears
    or changes type. Subtrees shared by both (``is``) are skipped: after `merge_patch`,
    everything the patch does not name is shared, so the cost follows the patch.
    """
    if before is after:
        return []
    if isinstance(before, dict) and isinstance(after, dict):
        paths: list[tuple[str, ...]] = []
        for key in sorted(set(before) | set(after)):
            if key not in before or key not in after:
                paths.append((*prefix, key))
            else:
                paths.extend(changed_paths(before[key], after[key], (*prefix, key)))
        return paths
    return [] if before == after else [prefix]


class JsonMirror:
    """A document kept with its JSON, updated by the parts each update touches.

    Reading a whole large document as JSON costs far more than applying an update; the
    mirror re-reads only the items (``data/<key>/<item>``) an update's events name, so
    judging an update costs about the size of what it changes.
    """

    def __init__(self, update: bytes) -> None:
        self.doc: Doc[Any] = Doc()
        self.doc.apply_update(update)
        self.data = read_data(self.doc)

    def apply(self, update: bytes) -> tuple[JsonObject, list[tuple[str, ...]]]:
        """Apply `update`; the JSON before it, and the item paths it may have changed.

        Raises:
            ValueError: the update does not apply.
        """
        touched: set[tuple[str, ...]] = set()

        def collect(events: list[Any]) -> None:
            for event in events:
                path = [str(part) for part in event.path]
                keys = [str(key) for key in getattr(event, "keys", None) or ()]
                if len(path) >= 2:
                    touched.add((path[0], path[1]))
                elif path and keys:
                    touched.update((path[0], key) for key in keys)
                elif path:
                    touched.add((path[0],))  # an array (or a text) right under the root
                else:
                    touched.update((key,) for key in keys)

        data_root = root(self.doc)
        subscription = data_root.observe_deep(collect)
        try:
            self.doc.apply_update(update)
        finally:
            data_root.unobserve(subscription)
        before = self.data
        self.data = _reread(data_root, before, touched)
        return before, sorted(touched)


_WHOLE_READ_ITEMS = 64
"""From this many items touched in one collection, it is read again whole: one call into
pycrdt's JSON encoding costs less than reading each item through its Python API."""


def _reread(data_root: Map[Any], before: JsonObject, touched: set[tuple[str, ...]]) -> JsonObject:
    if not touched:
        return before  # the same object: nothing to compare, nothing to write again
    after = dict(before)
    copied: set[str] = set()
    counts = Counter(path[0] for path in touched if len(path) >= 2)
    paths = {(path[0],) if counts[path[0]] >= _WHOLE_READ_ITEMS else path for path in touched}
    for path in sorted(paths, key=len):
        top = path[0]
        value = data_root.get(top) if top in data_root else None
        if len(path) == 1 or not isinstance(value, Map):
            if top in data_root:
                after[top] = normalize(_plain(value))
            else:
                after.pop(top, None)
            copied.add(top)
            continue
        container = after.get(top)
        if not isinstance(container, dict):
            after[top] = normalize(_plain(value))
            copied.add(top)
            continue
        if top not in copied:
            container = after[top] = dict(container)
            copied.add(top)
        if path[1] in value:
            container[path[1]] = normalize(_plain(value.get(path[1])))
        else:
            container.pop(path[1], None)
    return after


def _plain(value: object) -> object:
    return _read_json(value) if isinstance(value, Map | Array) else value


def read_touched(doc: Doc[Any], patch: Mapping[str, Json],
                 collections: Collection[str]) -> JsonObject:
    """The document's JSON as far as `patch` can see it: enough to judge the patch.

    A top-level `collections` map that the patch patches as an object holds only the
    items the patch names (the others are left out, and no rule reads them); every other
    top-level value is read whole. The cost follows the patch, not the document.
    """
    data_root = root(doc)
    seen: JsonObject = {}
    for key in data_root.keys():
        value = data_root.get(key)
        named = patch.get(key)
        if key in collections and isinstance(value, Map) and isinstance(named, dict):
            seen[key] = {item: normalize(_plain(value.get(item)))
                         for item in named if item in value}
        elif key in collections and isinstance(value, Map) and key not in patch:
            seen[key] = {}
        else:
            seen[key] = normalize(_plain(value))
    return seen


@dataclass(frozen=True, slots=True, kw_only=True)
class DataBounds:
    """How big a data document may grow (see ``server.limits``)."""

    entries: int
    """Most entries of one object or array (a collection's items included)."""
    depth: int
    """Deepest nesting: the root object is at depth 1, its objects at 2, and so on."""
    string_chars: int
    """Longest string (values and keys)."""
    values_per_write: int
    """Most JSON values (objects, arrays and scalars, at every level) one write carries:
    the work one write makes on the event loop follows it."""


def check_patch_bounds(doc: Doc[Any], patch: Mapping[str, Json], bounds: DataBounds) -> None:
    """Return if applying `patch` keeps the document within `bounds`; reads only what it names.

    Raises:
        SchemaError: the patch carries too many values, or would make an object or array
            too long, nest too deep, or hold a too long string (the message names the place).
    """
    _check_merge(root(doc), patch, (), bounds, _Budget(bounds.values_per_write))


def check_changed_bounds(after: JsonObject, paths: list[tuple[str, ...]],
                         bounds: DataBounds) -> None:
    """Return if the values at `paths` of `after`, and the objects holding them, are in bounds.

    Raises:
        SchemaError: as `check_patch_bounds`.
    """
    budget = _Budget(bounds.values_per_write)
    for path in paths:
        value: Json = after
        for depth, key in enumerate(path):
            if not isinstance(value, dict):
                break
            _check_size(len(value), path[:depth], bounds)
            _check_string(key, path[: depth + 1], bounds)
            value = value.get(key)
        else:
            _check_value(value, path, bounds, budget)


class _Budget:
    """The values a write may still carry."""

    __slots__ = ("left", "total")

    def __init__(self, total: int) -> None:
        self.total = total
        self.left = total

    def spend(self) -> None:
        self.left -= 1
        if self.left < 0:
            raise SchemaError(f"one write carries at most {self.total} values: split it")


def _check_merge(target: object, patch: Mapping[str, Json], path: tuple[str, ...],
                 bounds: DataBounds, budget: _Budget) -> None:
    existing_map = target if isinstance(target, Map) else None
    size = len(existing_map) if existing_map is not None else 0
    for key, value in patch.items():
        _check_string(key, (*path, key), bounds)
        present = existing_map is not None and key in existing_map
        if value is None:
            size -= present
            continue
        size += not present
        existing = existing_map.get(key) if existing_map is not None and present else None
        if isinstance(value, dict) and isinstance(existing, Map):
            budget.spend()
            _check_depth((*path, key), bounds)
            _check_merge(existing, value, (*path, key), bounds, budget)
        else:
            _check_value(value, (*path, key), bounds, budget)
    _check_size(size, path, bounds)


def _check_value(value: Json, path: tuple[str, ...], bounds: DataBounds,
                 budget: _Budget) -> None:
    """A JSON value placed at `path`, walked whole (it is what changes)."""
    budget.spend()
    if isinstance(value, str):
        _check_string(value, path, bounds)
    elif isinstance(value, dict | list):
        _check_depth(path, bounds)
        _check_size(len(value), path, bounds)
        items = value.items() if isinstance(value, dict) else enumerate(value)
        for key, item in items:
            if isinstance(key, str):
                _check_string(key, (*path, key), bounds)
            _check_value(item, (*path, str(key)), bounds, budget)


def _check_depth(path: tuple[str, ...], bounds: DataBounds) -> None:
    if len(path) + 1 > bounds.depth:
        raise SchemaError(f"at {_where(path)}: nested deeper than {bounds.depth} levels")


def _check_size(size: int, path: tuple[str, ...], bounds: DataBounds) -> None:
    if size > bounds.entries:
        raise SchemaError(f"at {_where(path)}: more than {bounds.entries} entries")


def _check_string(text: str, path: tuple[str, ...], bounds: DataBounds) -> None:
    if len(text) > bounds.string_chars:
        raise SchemaError(f"at {_where(path)}: a string longer than {bounds.string_chars} "
                          "characters")


def _where(path: tuple[str, ...]) -> str:
    shown = "/".join(path) or "(root)"
    return shown if len(shown) <= 80 else shown[:77] + "..."
