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

from collections.abc import Mapping
from typing import Any, TypeAlias

from pycrdt import Array, Doc, Map

ROOT = "data"
"""Name of the root ``Y.Map`` of a data document."""

Json: TypeAlias = bool | int | float | str | list["Json"] | dict[str, "Json"] | None
JsonObject: TypeAlias = dict[str, Json]


def root(doc: Doc[Any]) -> Map[Any]:
    """The document's root map (created empty on first use)."""
    data: Map[Any] = doc.get(ROOT, type=Map)
    return data


def read_data(doc: Doc[Any]) -> JsonObject:
    """The document's data as JSON (numbers that are whole come back as integers)."""
    value = normalize(root(doc).to_py() or {})
    return value if isinstance(value, dict) else {}


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
    or changes type.
    """
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


def _reread(data_root: Map[Any], before: JsonObject, touched: set[tuple[str, ...]]) -> JsonObject:
    after = dict(before)
    copied: set[str] = set()
    for path in sorted(touched, key=len):
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
    return value.to_py() if isinstance(value, Map | Array) else value
