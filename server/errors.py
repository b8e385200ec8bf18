"""The server's error tree: each error knows its close code, HTTP status and stable code."""

from __future__ import annotations

from crdt.doc_id import DOC_ID_RULE, DocumentId, parse_doc_id
from crdt.protocol import CloseCode


class PalabreError(Exception):
    """Base of errors that reach a client; subclasses fix how they are reported."""

    close_code: CloseCode = CloseCode.INTERNAL
    http_status: int = 500
    error: str = "internal"

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail

    @property
    def close_reason(self) -> str:
        """The detail cut to fit a WebSocket close reason (123 UTF-8 bytes at most)."""
        return truncate_reason(self.detail)


class BadDocId(PalabreError):
    """The document id does not match ``[A-Za-z0-9._-]{1,128}``."""

    close_code = CloseCode.BAD_DOC_ID
    http_status = 400
    error = "bad_doc_id"


class Overloaded(PalabreError):
    """The server or its storage cannot take more right now; retry later."""

    close_code = CloseCode.OVERLOADED
    http_status = 503
    error = "unavailable"


class MessageTooBig(PalabreError):
    """A message exceeds the configured maximum size."""

    close_code = CloseCode.TOO_BIG
    http_status = 413
    error = "too_big"


class MalformedMessage(PalabreError):
    """A frame does not follow the y-websocket protocol."""

    close_code = CloseCode.MALFORMED
    http_status = 400
    error = "malformed"


class UnsupportedData(PalabreError):
    """A text frame arrived where binary is expected."""

    close_code = CloseCode.UNSUPPORTED_DATA
    http_status = 400
    error = "unsupported_data"


class InvalidUpdateError(PalabreError):
    """Bytes sent as a Yjs update do not decode as one."""

    close_code = CloseCode.INVALID_UPDATE
    http_status = 422
    error = "invalid_update"


def truncate_reason(text: str, limit: int = 123) -> str:
    """Cut `text` so that its UTF-8 encoding fits `limit` bytes, on a character boundary."""
    encoded = text.encode("utf-8")
    if len(encoded) <= limit:
        return text
    return encoded[:limit].decode("utf-8", errors="ignore")


class Unauthenticated(PalabreError):
    """The token is malformed, forged, expired or from an unknown issuer: no acceptable identity."""

    close_code = CloseCode.UNAUTHENTICATED
    http_status = 401
    error = "unauthenticated"


class Forbidden(PalabreError):
    """The caller is known, but its role, ``docs`` claim or the document's state forbid this."""

    close_code = CloseCode.FORBIDDEN
    http_status = 403
    error = "forbidden"


class RateLimited(PalabreError):
    """The client sends faster than it is allowed to; slow down and retry."""

    close_code = CloseCode.OVERLOADED
    http_status = 429
    error = "rate_limited"


class BadRequest(PalabreError):
    """A request is malformed: undecodable JSON, a body that is not an object, a bad parameter."""

    close_code = CloseCode.MALFORMED
    http_status = 400
    error = "bad_request"


class NotFound(PalabreError):
    """No document, annotation or route has this id."""

    http_status = 404
    error = "not_found"


class Conflict(PalabreError):
    """The resource already exists, or its state forbids the change."""

    http_status = 409
    error = "conflict"


class Gone(PalabreError):
    """The resource existed but may no longer be used (an expired, spent or revoked link)."""

    close_code = CloseCode.FORBIDDEN
    http_status = 410
    error = "gone"


class InsufficientStorage(PalabreError):
    """The data folder's disk has too little free space left for this write."""

    close_code = CloseCode.OVERLOADED
    http_status = 507
    error = "insufficient_storage"


class PayloadTooLarge(PalabreError):
    """A request body exceeds the configured maximum size."""

    close_code = CloseCode.TOO_BIG
    http_status = 413
    error = "payload_too_large"


class UnsupportedMediaType(PalabreError):
    """A request body is not of the content type the endpoint takes (JSON)."""

    close_code = CloseCode.UNSUPPORTED_DATA
    http_status = 415
    error = "unsupported_media_type"


class Invalid(PalabreError):
    """A well-formed request carries values that are not acceptable (a bad id, an empty body)."""

    http_status = 422
    error = "invalid"


def checked_doc_id(value: str, what: str = "document id") -> DocumentId:
    """`value` as a `DocumentId`: the one check of sockets, the API and the pages.

    Raises:
        BadDocId: it is not 1-128 characters of ``[A-Za-z0-9._-]``.
    """
    try:
        return parse_doc_id(value)
    except ValueError:
        raise BadDocId(f"{what} must be {DOC_ID_RULE}") from None
