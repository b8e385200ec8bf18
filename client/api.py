"""The palabre HTTP API from Python: documents, their content, annotations (async, httpx).

Use ``async with PalabreApi(base_url, token) as api:``. A refusal raises an `ApiError`
subclass chosen by status, carrying the server's stable ``error`` code and its ``detail``.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import TracebackType
from typing import Any, Literal, Self, cast

import httpx

JsonObject = dict[str, Any]
ContentFormat = Literal["md", "html", "text", "json"]


class ApiError(Exception):
    """The server refused a request: `status`, and its ``{"error", "detail"}`` body."""

    def __init__(self, status: int, error: str, detail: str) -> None:
        super().__init__(f"{status} {error}: {detail}")
        self.status = status
        self.error = error
        self.detail = detail


class BadRequest(ApiError):
    """400: malformed JSON or parameter."""


class Unauthorized(ApiError):
    """401: the token is invalid or expired."""


class PermissionDenied(ApiError):
    """403: the caller may not do this."""


class NotFound(ApiError):
    """404: no such document or annotation."""


class Conflict(ApiError):
    """409: it already exists."""


class PayloadTooLarge(ApiError):
    """413: the body is over the server's limit."""


class UnsupportedMediaType(ApiError):
    """415: the body is not JSON."""


class Invalid(ApiError):
    """422: the values are not acceptable."""


class Unavailable(ApiError):
    """503: storage is down; retry later."""


class Unreachable(ApiError):
    """No answer: the server could not be reached (``status`` 0)."""


_BY_STATUS: Mapping[int, type[ApiError]] = {
    400: BadRequest, 401: Unauthorized, 403: PermissionDenied, 404: NotFound, 409: Conflict,
    413: PayloadTooLarge, 415: UnsupportedMediaType, 422: Invalid, 503: Unavailable,
}


class PalabreApi:
    """An HTTP client of one palabre server, acting with one token (``None``: public)."""

    def __init__(
        self, base_url: str, token: str | None = None, *, timeout: float = 30.0,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        self._http = httpx.AsyncClient(
            base_url=base_url.rstrip("/") + "/api", headers=headers, timeout=timeout,
            transport=transport,
        )

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the connections."""
        await self._http.aclose()

    async def _call(
        self, method: str, path: str, *, json: JsonObject | None = None,
        params: Mapping[str, str | int] | None = None,
    ) -> httpx.Response:
        """Send one request; return the response when it succeeded.

        Raises:
            ApiError: the server answered with an error status (a subclass by status).
            Unreachable: the server could not be reached.
        """
        try:
            response = await self._http.request(method, path, json=json, params=params)
        except httpx.TransportError as exc:
            raise Unreachable(0, "unreachable", f"{self._http.base_url}: {exc!r}") from exc
        if response.is_success:
            return response
        try:
            body = response.json()
            error, detail = str(body["error"]), str(body["detail"])
        except (ValueError, KeyError, TypeError):
            error, detail = "http_error", response.text[:500]
        raise _BY_STATUS.get(response.status_code, ApiError)(response.status_code, error, detail)

    async def create_document(
        self, doc_id: str, title: str, *, markdown: str | None = None, is_public: bool = False
    ) -> JsonObject:
        """Create a document (facilitators), its text imported from `markdown`; its metadata.

        Raises:
            ApiError: refused (`Conflict` when the id is taken).
        """
        body: JsonObject = {"id": doc_id, "title": title, "is_public": is_public}
        if markdown is not None:
            body["markdown"] = markdown
        return _object(await self._call("POST", "/documents", json=body))

    async def get_document(self, doc_id: str) -> JsonObject:
        """A document's metadata.

        Raises:
            ApiError: refused (`NotFound`, `PermissionDenied`).
        """
        return _object(await self._call("GET", f"/documents/{doc_id}"))

    async def update_document(
        self, doc_id: str, *, title: str | None = None, is_public: bool | None = None
    ) -> JsonObject:
        """Rename or publish a document (facilitators); its new metadata.

        Raises:
            ApiError: refused.
        """
        body = {k: v for k, v in (("title", title), ("is_public", is_public)) if v is not None}
        return _object(await self._call("PATCH", f"/documents/{doc_id}", json=body))

    async def list_documents(
        self, *, limit: int = 50, after: str | None = None
    ) -> tuple[list[JsonObject], str | None]:
        """One page of the documents the caller may read, and the cursor of the next.

        Raises:
            ApiError: refused.
        """
        params: dict[str, str | int] = {"limit": limit}
        if after is not None:
            params["after"] = after
        page = _object(await self._call("GET", "/documents", params=params))
        return cast(list[JsonObject], page["documents"]), cast(str | None, page["next"])

    async def get_content(self, doc_id: str, fmt: ContentFormat = "md") -> str:
        """The live text as Markdown, HTML, plain text or JSON (a JSON string).

        Raises:
            ApiError: refused.
        """
        response = await self._call("GET", f"/documents/{doc_id}/content", params={"format": fmt})
        return response.text

    async def export(self, doc_id: str, fmt: str, *, version: str | int | None = None) -> bytes:
        """A version as a file (``pdf``, ``docx``, ``odt``, ``html``, ``akn``, ``decidim``,
        ``md``, ``text``, ``json``): the live text, ``adopted`` or a snapshot number or id.

        Raises:
            ApiError: refused.
        """
        params: dict[str, str | int] = {"format": fmt}
        if version is not None:
            params["version"] = version
        response = await self._call("GET", f"/documents/{doc_id}/export", params=params)
        return response.content

    async def list_annotations(
        self, doc_id: str, *, paragraph_id: str | None = None, status: str | None = None
    ) -> list[JsonObject]:
        """The annotations of a document the caller may see, oldest first.

        Raises:
            ApiError: refused.
        """
        params = {k: v for k, v in (("paragraph_id", paragraph_id), ("status", status)) if v}
        page = _object(await self._call("GET", f"/documents/{doc_id}/annotations",
                                        params=params))
        return cast(list[JsonObject], page["annotations"])

    async def add_annotation(
        self, doc_id: str, paragraph_id: str, body: str, *, quote: str | None = None,
        anchor: object = None,
    ) -> JsonObject:
        """Comment a paragraph; the new annotation (with its ``id``).

        Raises:
            ApiError: refused (`Invalid` when the paragraph does not exist).
        """
        payload: JsonObject = {"paragraph_id": paragraph_id, "body": body}
        payload.update({k: v for k, v in (("quote", quote), ("anchor", anchor)) if v is not None})
        return _object(await self._call("POST", f"/documents/{doc_id}/annotations",
                                        json=payload))

    async def reply(self, doc_id: str, annotation_id: str, body: str) -> JsonObject:
        """Reply to an annotation; the annotation, with the new reply under ``reply``.

        Raises:
            ApiError: refused.
        """
        path = f"/documents/{doc_id}/annotations/{annotation_id}/replies"
        return _object(await self._call("POST", path, json={"body": body}))

    async def edit_annotation(self, doc_id: str, annotation_id: str, body: str) -> JsonObject:
        """Replace the body of one's own annotation; the annotation.

        Raises:
            ApiError: refused (`PermissionDenied` for someone else's).
        """
        path = f"/documents/{doc_id}/annotations/{annotation_id}"
        return _object(await self._call("PATCH", path, json={"body": body}))

    async def set_status(self, doc_id: str, annotation_id: str, status: str) -> JsonObject:
        """Moderate: set an annotation's status (open, resolved, hidden); the annotation.

        Raises:
            ApiError: refused (`PermissionDenied` unless a moderator).
        """
        path = f"/documents/{doc_id}/annotations/{annotation_id}"
        return _object(await self._call("PATCH", path, json={"status": status}))

    async def create_data_document(
        self, doc_id: str, title: str, schema: str, *, data: JsonObject | None = None,
        is_public: bool = False,
    ) -> JsonObject:
        """Create a structured document (facilitators) of a built-in `schema`; its metadata.

        Raises:
            ApiError: refused (`Invalid` when `data` breaks the schema).
        """
        body: JsonObject = {"id": doc_id, "title": title, "kind": "data", "schema": schema,
                            "is_public": is_public}
        if data is not None:
            body["data"] = data
        return _object(await self._call("POST", "/documents", json=body))

    async def get_data(self, doc_id: str, *, theme: str | None = None) -> JsonObject:
        """A data document's JSON (monitoring: only the entries tagged `theme`).

        Raises:
            ApiError: refused.
        """
        params = {"theme": theme} if theme is not None else None
        return _object(await self._call("GET", f"/documents/{doc_id}/data", params=params))

    async def patch_data(self, doc_id: str, patch: JsonObject) -> JsonObject:
        """Merge `patch` (RFC 7396) into a data document; its new JSON.

        Raises:
            ApiError: refused (`Invalid` when the result breaks the schema,
                `PermissionDenied` for a field the caller may not change).
        """
        return _object(await self._call("PATCH", f"/documents/{doc_id}/data", json=patch))


def _object(response: httpx.Response) -> JsonObject:
    value = response.json()
    if not isinstance(value, dict):
        raise ApiError(response.status_code, "bad_response", "expected a JSON object")
    return value
