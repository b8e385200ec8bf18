"""The HTTP boundary's one error translation: anything raised below becomes ``{"error", "detail"}``.

A `PalabreError` carries its own status and code; the storage and annotation errors the
services let through are mapped here (`translated`), once, and logged once.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.types import ExceptionHandler

from crdt.annotations import AnnotationNotFound, NotAuthor
from crdt.errors import SchemaError
from server.errors import (
    Conflict,
    Forbidden,
    Gone,
    Invalid,
    NotFound,
    Overloaded,
    PalabreError,
)
from storage.archive import SnapshotNotFound
from storage.base import DocumentNotFound, StorageError, StorageUnavailable
from storage.catalog import DocumentExists, WebhookNotFound
from storage.invitations import InvitationNotFound, InvitationSpent
from storage.people import PersonNotFound
from storage.sessions import SessionConflict, SessionNotFound

log = logging.getLogger("palabre.api")

_HTTP_ERRORS = {404: "not_found", 405: "method_not_allowed", 400: "bad_request"}


def translated(exc: Exception) -> Exception:
    """The `PalabreError` a storage or annotations error stands for (others unchanged)."""
    if isinstance(exc, (DocumentNotFound, SnapshotNotFound, WebhookNotFound, AnnotationNotFound,
                        PersonNotFound, InvitationNotFound, SessionNotFound)):
        return NotFound(str(exc))
    if isinstance(exc, InvitationSpent):
        return Gone(str(exc))
    if isinstance(exc, (DocumentExists, SessionConflict)):
        return Conflict(str(exc))
    if isinstance(exc, StorageUnavailable):
        return Overloaded("storage unavailable, retry later")
    if isinstance(exc, NotAuthor):
        return Forbidden(str(exc))
    if isinstance(exc, SchemaError):
        return Invalid(str(exc))
    return exc


def error_response(status: int, error: str, detail: str) -> JSONResponse:
    """The one error shape: ``{"error": code, "detail": text}``."""
    return JSONResponse({"error": error, "detail": detail}, status_code=status)


async def handle_error(request: Request, exc: Exception) -> Response:
    """The app's one exception handler: every error as JSON, logged once here."""
    error = translated(exc)
    if isinstance(error, PalabreError):
        level = logging.ERROR if error.http_status >= 500 else logging.INFO
        log.log(level, "%s %s: %s %s", request.method, request.url.path, error.error,
                error.detail, extra={"doc_id": request.path_params.get("doc_id")})
        return error_response(error.http_status, error.error, error.detail)
    if isinstance(exc, HTTPException):
        code = _HTTP_ERRORS.get(exc.status_code, "http_error")
        response = error_response(exc.status_code, code, str(exc.detail))
        if exc.headers:
            response.headers.update(exc.headers)
        return response
    log.error("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    return error_response(500, "internal", "internal server error")


EXCEPTION_HANDLERS: Mapping[type[Exception], ExceptionHandler] = {
    PalabreError: handle_error,
    StorageError: handle_error,
    SchemaError: handle_error,
    HTTPException: handle_error,
    Exception: handle_error,
}
"""Errors of every route as JSON; install them on the app."""
