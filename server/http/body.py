"""Request bodies and parameters: JSON read under a size limit, checked fields."""

from __future__ import annotations

import json
from collections.abc import Mapping

from starlette.requests import Request

from server.errors import BadRequest, Invalid, PayloadTooLarge, UnsupportedMediaType

JsonObject = dict[str, object]


async def read_limited(request: Request, limit: int, what: str = "body") -> bytes:
    """The request body, refused as soon as it is known to exceed `limit` bytes.

    Raises:
        PayloadTooLarge: the declared or the received length is over `limit`.
    """
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise PayloadTooLarge(f"{what} of {declared} bytes exceeds the limit of {limit} bytes")
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            raise PayloadTooLarge(f"{what} exceeds the limit of {limit} bytes")
    return bytes(body)


async def read_json(
    request: Request, limit: int, *, media_types: tuple[str, ...] = ("application/json",),
    max_values: int | None = None,
) -> JsonObject:
    """The request body as a JSON object, read up to `limit` bytes.

    Every value is checked in one pass whose cost follows the body's size; with
    `max_values`, a body carrying more values (objects, arrays and scalars below the root)
    is refused in that pass, before any other work is done on it.

    Raises:
        UnsupportedMediaType: the content type is not one of `media_types`.
        PayloadTooLarge: the body exceeds the limit.
        BadRequest: the body is not valid UTF-8 JSON, or not an object.
        Invalid: the body carries more than `max_values` values.
    """
    media_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media_type not in media_types:
        raise UnsupportedMediaType(
            f"send {' or '.join(media_types)}, not {media_type or 'nothing'!r}"
        )
    body = await read_limited(request, limit)
    try:
        value = json.loads(body.decode("utf-8"), parse_constant=_no_constant)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise BadRequest(f"body is not valid JSON: {exc}") from exc
    except RecursionError as exc:
        raise BadRequest(f"body nests deeper than {MAX_JSON_DEPTH} levels") from exc
    if not isinstance(value, dict):
        raise BadRequest("body must be a JSON object")
    _check_values(value, max_values)
    return value


MAX_JSON_DEPTH = 64
MAX_SAFE_INTEGER = 2**53 - 1
"""The largest integer every client (JavaScript's numbers, Yjs' encoding) keeps exactly."""


def _no_constant(name: str) -> object:
    raise BadRequest(f"body is not valid JSON: {name} is not a JSON number")


def _check_values(root: JsonObject, max_values: int | None) -> None:
    """Refuse what JSON parses but the Yjs documents cannot hold (pycrdt panics on them),
    and more than `max_values` values below `root`; one iterative pass.

    Raises:
        BadRequest: a string with a lone surrogate (``"\\ud800"``), an integer beyond
            ±(2**53 - 1), or nesting deeper than `MAX_JSON_DEPTH`.
        Invalid: more than `max_values` values.
    """
    left = max_values if max_values is not None else -1
    stack: list[tuple[object, int]] = [(root, MAX_JSON_DEPTH)]
    while stack:
        value, depth = stack.pop()
        if depth < 0:
            raise BadRequest(f"body nests deeper than {MAX_JSON_DEPTH} levels")
        if isinstance(value, str):
            _check_string(value)
        elif isinstance(value, dict):
            for key in value:
                _check_string(key)
            stack.extend((item, depth - 1) for item in value.values())
            left -= len(value)
        elif isinstance(value, list):
            stack.extend((item, depth - 1) for item in value)
            left -= len(value)
        elif isinstance(value, int) and not isinstance(value, bool):
            if abs(value) > MAX_SAFE_INTEGER:
                raise BadRequest(f"body holds an integer beyond ±{MAX_SAFE_INTEGER}")
        if max_values is not None and left < 0:
            raise Invalid(f"too large: one write carries at most {max_values} values: split it")


def _check_string(text: str) -> None:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise BadRequest("body holds a string that is not valid Unicode") from exc


def only_fields(body: Mapping[str, object], allowed: set[str]) -> None:
    """Refuse fields the endpoint does not know (a typo must not pass silently).

    Raises:
        Invalid: an unknown field.
    """
    unknown = sorted(set(body) - allowed)
    if unknown:
        raise Invalid(f"unknown field(s): {', '.join(unknown)}")


def text_field(
    body: Mapping[str, object], name: str, *, required: bool = False, max_length: int = 100_000
) -> str | None:
    """A string field: present (when `required`), a string, non-blank, not too long.

    Raises:
        Invalid: missing, not a string, blank or too long.
    """
    value = body.get(name)
    if value is None:
        if required:
            raise Invalid(f"{name!r} is required")
        return None
    if not isinstance(value, str):
        raise Invalid(f"{name!r} must be a string")
    if not value.strip():
        raise Invalid(f"{name!r} must not be blank")
    if len(value) > max_length:
        raise Invalid(f"{name!r} is longer than {max_length} characters")
    return value


def int_param(request: Request, name: str, default: int, *, low: int, high: int) -> int:
    """An integer query parameter within bounds.

    Raises:
        BadRequest: not an integer, or out of bounds.
    """
    raw = request.query_params.get(name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError as exc:
        raise BadRequest(f"{name} must be an integer") from exc
    if not low <= value <= high:
        raise BadRequest(f"{name} must be between {low} and {high}")
    return value


async def optional_json(request: Request, limit: int) -> JsonObject:
    """The JSON body, or ``{}`` when none was sent.

    Raises:
        UnsupportedMediaType, PayloadTooLarge, BadRequest: as `read_json`.
    """
    if request.headers.get("content-length", "0") == "0" and not request.headers.get(
        "transfer-encoding"
    ):
        return {}
    return await read_json(request, limit)


def flag(body: Mapping[str, object], name: str) -> bool:
    """A boolean field, false when absent.

    Raises:
        Invalid: present and not a boolean.
    """
    value = body.get(name, False)
    if not isinstance(value, bool):
        raise Invalid(f"{name!r} must be true or false")
    return value


def etag_matches(request: Request, etag: str) -> bool:
    """Whether ``If-None-Match`` names `etag` (weak comparison: ``W/`` prefixes do not matter)."""
    if_none_match = request.headers.get("if-none-match")
    if if_none_match is None:
        return False
    tags = [tag.strip().removeprefix("W/") for tag in if_none_match.split(",")]
    return "*" in tags or etag in tags
