"""The JSON HTTP API under ``/api``: one module per resource, errors as ``{"error", "detail"}``.

`create_app` mounts `routes(context)` at ``/api`` and installs `EXCEPTION_HANDLERS`, the one
place where a `PalabreError` raised anywhere below becomes its status and JSON body.
"""

from __future__ import annotations

from collections.abc import Mapping

from starlette.exceptions import HTTPException
from starlette.routing import BaseRoute
from starlette.types import ExceptionHandler

from server.errors import PalabreError
from server.http.annotations import Annotations
from server.http.archive import Archives
from server.http.context import DEFAULT_MAX_BODY_BYTES as DEFAULT_MAX_BODY_BYTES
from server.http.context import ApiContext as ApiContext
from server.http.context import handle_error
from server.http.documents import Documents
from server.http.openapi import OpenApi

EXCEPTION_HANDLERS: Mapping[type[Exception], ExceptionHandler] = {
    PalabreError: handle_error,
    HTTPException: handle_error,
    Exception: handle_error,
}
"""Errors of every route as JSON; install them on the app."""


def routes(context: ApiContext) -> list[BaseRoute]:
    """Every API route, relative to ``/api``."""
    return [
        *Documents(context).routes(),
        *Annotations(context).routes(),
        *OpenApi().routes(),
        *Archives(context).routes(),
    ]
