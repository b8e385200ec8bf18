"""What every API module shares: the context, the caller, JSON bodies, errors as JSON."""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from crdt.annotations import Seal
from crdt.doc_id import ANNOTATIONS_SUFFIX
from server.access.auth import Principal
from server.access.gate import Access
from server.errors import (
    BadRequest,
    Conflict,
    Invalid,
    NotFound,
    Overloaded,
    PalabreError,
    PayloadTooLarge,
    Unauthenticated,
    UnsupportedMediaType,
    checked_doc_id,
)
from server.events import WebhookEvent
from server.modules.data_documents import DataDocuments
from server.rooms.hub import Hub
from storage.base import DocumentNotFound, StorageUnavailable
from storage.catalog import DocumentCatalog, DocumentExists, DocumentMeta

log = logging.getLogger("palabre.api")

DEFAULT_MAX_BODY_BYTES = 2 * 1024 * 1024
JsonObject = dict[str, object]
Notify = Callable[[WebhookEvent, str, JsonObject], None]
"""Queues a webhook event about a document; never blocks (`WebhookDispatcher.notify`)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class ApiContext:
    """What the endpoints reach: the hub, document metadata, token checks, limits."""

    hub: Hub
    catalog: DocumentCatalog
    access: Access
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES
    notify: Notify | None = None
    """Where webhook events go; ``None``: nowhere."""
    data: DataDocuments | None = None
    """Structured documents; ``None``: only text documents can be created."""
    governance_changed: Callable[[str], Awaitable[None]] | None = None
    """Called with a document id after a freeze, unfreeze, snapshot or adoption stands."""
    seal: Seal | None = None
    """Seals the words of hidden comments (`server.access.seal`); ``None``: hiding only
    flags them."""


async def governance_changed(context: ApiContext, doc_id: str) -> None:
    """Tell the context that `doc_id`'s governance state changed (live pages follow)."""
    if context.governance_changed is not None:
        await context.governance_changed(doc_id)


async def caller(request: Request, context: ApiContext) -> Principal:
    """The principal behind the request's ``Authorization: Bearer`` token (none: public).

    Raises:
        Unauthenticated: the header is not a bearer token, or the token is invalid.
        Overloaded: the OIDC issuer cannot be reached.
    """
    header = request.headers.get("authorization")
    if header is None:
        return await context.access.authenticate(None)
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthenticated("expected 'Authorization: Bearer <token>'")
    return await context.access.authenticate(token.strip())


def doc_id_of(request: Request) -> str:
    """The ``{id}`` path parameter, checked.

    Raises:
        BadDocId: it is not 1-128 characters of ``[A-Za-z0-9._-]``.
    """
    return checked_doc_id(str(request.path_params["doc_id"]))


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
    request: Request, context: ApiContext, *, media_types: tuple[str, ...] = ("application/json",)
) -> JsonObject:
    """The request body as a JSON object, read up to the size limit.

    Raises:
        UnsupportedMediaType: the content type is not one of `media_types`.
        PayloadTooLarge: the body exceeds the limit.
        BadRequest: the body is not valid UTF-8 JSON, or not an object.
    """
    media_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media_type not in media_types:
        raise UnsupportedMediaType(
            f"send {' or '.join(media_types)}, not {media_type or 'nothing'!r}"
        )
    body = await read_limited(request, context.max_body_bytes)
    try:
        value = json.loads(body.decode("utf-8"), parse_constant=_no_constant)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise BadRequest(f"body is not valid JSON: {exc}") from exc
    except RecursionError as exc:
        raise BadRequest(f"body nests deeper than {MAX_JSON_DEPTH} levels") from exc
    if not isinstance(value, dict):
        raise BadRequest("body must be a JSON object")
    _check_values(value, MAX_JSON_DEPTH)
    return value


MAX_JSON_DEPTH = 64
MAX_SAFE_INTEGER = 2**53 - 1
"""The largest integer every client (JavaScript's numbers, Yjs' encoding) keeps exactly."""


def _no_constant(name: str) -> object:
    raise BadRequest(f"body is not valid JSON: {name} is not a JSON number")


def _check_values(value: object, depth: int) -> None:
    """Refuse what JSON parses but the Yjs documents cannot hold (pycrdt panics on them).

    Raises:
        BadRequest: a string with a lone surrogate (``"\\ud800"``), an integer beyond
            ±(2**53 - 1), or nesting deeper than `MAX_JSON_DEPTH`.
    """
    if depth < 0:
        raise BadRequest(f"body nests deeper than {MAX_JSON_DEPTH} levels")
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError as exc:
            raise BadRequest("body holds a string that is not valid Unicode") from exc
    elif isinstance(value, int) and not isinstance(value, bool):
        if abs(value) > MAX_SAFE_INTEGER:
            raise BadRequest(f"body holds an integer beyond ±{MAX_SAFE_INTEGER}")
    elif isinstance(value, dict):
        for key, item in value.items():
            _check_values(key, depth - 1)
            _check_values(item, depth - 1)
    elif isinstance(value, list):
        for item in value:
            _check_values(item, depth - 1)


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


@contextmanager
def storage_errors(doc_id: str | None = None) -> Iterator[None]:
    """Translate storage errors into the API's: not found, exists, unavailable.

    Raises:
        NotFound: no such document.
        Conflict: the document already exists.
        Overloaded: storage is down.
    """
    try:
        yield
    except DocumentNotFound as exc:
        raise NotFound(f"no document {doc_id!r}" if doc_id else str(exc)) from exc
    except DocumentExists as exc:
        raise Conflict(f"document {doc_id!r} already exists" if doc_id else str(exc)) from exc
    except StorageUnavailable as exc:
        raise Overloaded("storage unavailable, retry later") from exc


async def live_document(context: ApiContext, doc_id: str) -> DocumentMeta:
    """The metadata of a live (not deleted) document; companions are not documents here.

    Raises:
        NotFound: no such document.
        Overloaded: storage is down.
    """
    if doc_id.endswith(ANNOTATIONS_SUFFIX):
        raise NotFound(f"{doc_id!r} holds annotations: use /api/documents/<id>/annotations")
    with storage_errors(doc_id):
        return await context.catalog.get_document(doc_id)


def meta_json(meta: DocumentMeta) -> JsonObject:
    """A document's metadata as the API shows it."""
    return {
        "id": meta.doc_id, "title": meta.title, "kind": meta.kind, "is_public": meta.is_public,
        "created_at": meta.created_at, "updated_at": meta.updated_at,
        "created_by": meta.created_by,
        **({"schema": meta.schema} if meta.kind == "data" else {}),
    }


def error_response(status: int, error: str, detail: str) -> JSONResponse:
    """The one error shape: ``{"error": code, "detail": text}``."""
    return JSONResponse({"error": error, "detail": detail}, status_code=status)


_HTTP_ERRORS = {404: "not_found", 405: "method_not_allowed", 400: "bad_request"}


async def handle_error(request: Request, exc: Exception) -> Response:
    """The API's one exception handler: a `PalabreError` (or starlette's) as JSON."""
    if isinstance(exc, PalabreError):
        level = logging.ERROR if exc.http_status >= 500 else logging.INFO
        log.log(level, "%s %s: %s %s", request.method, request.url.path, exc.error, exc.detail,
                extra={"doc_id": request.path_params.get("doc_id")})
        return error_response(exc.http_status, exc.error, exc.detail)
    if isinstance(exc, HTTPException):
        code = _HTTP_ERRORS.get(exc.status_code, "http_error")
        response = error_response(exc.status_code, code, str(exc.detail))
        if exc.headers:
            response.headers.update(exc.headers)
        return response
    log.error("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    return error_response(500, "internal", "internal server error")
