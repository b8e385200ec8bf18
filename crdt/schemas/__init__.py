"""The built-in JSON Schemas of data documents, their examples, and validation.

Each schema ``NAME`` is ``crdt/schemas/NAME.json``, with an example document in
``crdt/schemas/examples/NAME.json`` (what ``palabre demo`` loads).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from functools import cache
from importlib import resources
from typing import Any

from jsonschema import Draft202012Validator

from crdt.data import JsonObject
from crdt.errors import SchemaError

SCHEMA_NAMES = ("catalogue", "library", "monitoring", "agenda", "actors")
"""The names a data document may use as its ``schema``."""


def load_schema(name: str) -> JsonObject:
    """The JSON Schema called `name`.

    Raises:
        SchemaError: no built-in schema has this name.
    """
    return _read(_check_name(name) + ".json")


def load_example(name: str) -> JsonObject:
    """The example document of schema `name` (valid against it).

    Raises:
        SchemaError: no built-in schema has this name.
    """
    return _read("examples/" + _check_name(name) + ".json")


def validate(name: str, value: object) -> None:
    """Check `value` against schema `name`.

    Raises:
        SchemaError: the value breaks the schema (the message says where and why), or
            the schema is unknown.
    """
    errors = sorted(_validator(_check_name(name)).iter_errors(value), key=lambda e: e.path)
    if errors:
        first = errors[0]
        where = "/".join(str(part) for part in first.absolute_path) or "(root)"
        more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
        raise SchemaError(f"{name} schema: at {where}: {first.message}{more}")


COLLECTIONS: dict[str, tuple[str, ...]] = {
    "catalogue": ("projects",),
    "library": ("resources",),
    "monitoring": ("entries", "themes"),
    "agenda": ("events", "feeds"),
    "actors": ("actors",),
}
"""Top-level maps of items each schema checks one by one (no rule spans two items)."""


def validate_change(name: str, after: JsonObject, paths: Iterable[tuple[str, ...]]) -> None:
    """Check `after` against schema `name`, knowing that only `paths` changed.

    Items of a collection that no path reaches were valid before and are checked by no
    rule involving another item, so they are left out: the cost follows the change, not
    the document.

    Raises:
        SchemaError: as `validate`.
    """
    collections = COLLECTIONS[_check_name(name)]
    whole: set[str] = set()
    items: dict[str, set[str]] = {}
    for path in paths:
        if path and path[0] in collections:
            if len(path) == 1:
                whole.add(path[0])
            else:
                items.setdefault(path[0], set()).add(path[1])
    sparse: JsonObject = {}
    for key, value in after.items():
        if key in collections and key not in whole and isinstance(value, dict):
            sparse[key] = {item: value[item] for item in items.get(key, ()) if item in value}
        else:
            sparse[key] = value
    validate(name, sparse)


def _check_name(name: str) -> str:
    if name not in SCHEMA_NAMES:
        raise SchemaError(f"unknown schema {name!r}; one of {', '.join(SCHEMA_NAMES)}")
    return name


def _read(path: str) -> JsonObject:
    text = resources.files(__package__).joinpath(path).read_text(encoding="utf-8")
    value = json.loads(text)
    assert isinstance(value, dict)
    return value


@cache
def _validator(name: str) -> Any:
    schema = load_schema(name)
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(_inline_definitions(schema))


def _inline_definitions(schema: JsonObject) -> JsonObject:
    """`schema` with each ``{"$ref": "#/$defs/NAME"}`` replaced by the definition itself:
    the same checks, without resolving a reference per value checked (half the time of
    validating a proposal). A definition that refers to itself is left as a reference."""
    definitions = schema.get("$defs")
    if not isinstance(definitions, dict):
        return schema

    def inline(node: Any, within: frozenset[str]) -> Any:
        if isinstance(node, list):
            return [inline(item, within) for item in node]
        if not isinstance(node, dict):
            return node
        ref = node.get("$ref")
        name = ref.removeprefix("#/$defs/") if isinstance(ref, str) else None
        if name is not None and name != ref and name in definitions and name not in within:
            target = inline(definitions[name], within | {name})
            rest = {key: inline(value, within) for key, value in node.items() if key != "$ref"}
            return {**rest, "allOf": [target]} if rest else target
        return {key: inline(value, within) for key, value in node.items()}

    return {key: value if key == "$defs" else inline(value, frozenset())
            for key, value in schema.items()}
