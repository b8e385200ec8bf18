"""Errors raised by the palabre client, and which close codes end a session for good.

A socket closed with a code that a retry cannot fix (bad frame, bad token, forbidden
document) becomes a typed `SessionClosed` subclass; other codes (1001 going away, 1006
abnormal, 1011 internal, 1013 overloaded, 4408 timeout) lead to a reconnection instead.
"""

from __future__ import annotations

from crdt.protocol import CloseCode

# 1006 never travels on the wire: websockets reports it when the TCP stream ended
# without a close frame.
ABNORMAL_CLOSURE = 1006


class SessionError(Exception):
    """Base class of every error raised by the palabre client."""


class SessionClosed(SessionError):
    """The session's socket is closed and will not be reopened.

    Raised by waits and when leaving `connect()`; `code` and `reason` are those of the
    close frame (1006 and an explanation when there was none).
    """

    def __init__(self, code: int, reason: str) -> None:
        super().__init__(f"connection closed with {code}: {reason}" if reason else f"closed {code}")
        self.code = code
        self.reason = reason


class ConnectionLost(SessionClosed):
    """The socket closed with a code worth a retry, but the session may not retry: it was
    opened with ``reconnect=False`` or its back-off ran out of attempts.

    Waits raise it; leaving the context does not, since the caller chose to stop there.
    """


class ProtocolRejected(SessionClosed):
    """The server refused what we sent: malformed frame (1002), text frame (1003),
    invalid update (1007), bad doc_id (1008) or a message too big (1009)."""


class Unauthenticated(SessionClosed):
    """The server did not accept our token (4401, or HTTP 401 at the handshake)."""


class Forbidden(SessionClosed):
    """The token is valid but not allowed on this document (4403, or HTTP 403)."""


_FATAL: dict[int, type[SessionClosed]] = {
    CloseCode.MALFORMED: ProtocolRejected,
    CloseCode.UNSUPPORTED_DATA: ProtocolRejected,
    CloseCode.INVALID_UPDATE: ProtocolRejected,
    CloseCode.BAD_DOC_ID: ProtocolRejected,
    CloseCode.TOO_BIG: ProtocolRejected,
    CloseCode.UNAUTHENTICATED: Unauthenticated,
    CloseCode.FORBIDDEN: Forbidden,
}

_HTTP_FATAL: dict[int, type[SessionClosed]] = {
    401: Unauthenticated,
    403: Forbidden,
}

# Request timeout and rate limiting are transient.
_HTTP_RETRY = frozenset({408, 429})


def fatal_close_error(code: int, reason: str) -> SessionClosed | None:
    """Return the error a close code means, or None when reconnecting may help."""
    kind = _FATAL.get(code)
    return None if kind is None else kind(code, reason)


def handshake_error(status: int) -> SessionClosed | None:
    """Return the error an HTTP status refusing the WebSocket handshake means.

    A server that closes before accepting answers with an HTTP status instead of a close
    code: 401 and 403 map to their close codes, any other 4xx but 408 and 429 is a
    protocol rejection (reported as 1008), and the rest are worth a retry (None).
    """
    kind = _HTTP_FATAL.get(status)
    if kind is not None:
        code = CloseCode.UNAUTHENTICATED if status == 401 else CloseCode.FORBIDDEN
        return kind(code, f"HTTP {status} at handshake")
    if 400 <= status < 500 and status not in _HTTP_RETRY:
        return ProtocolRejected(CloseCode.BAD_DOC_ID, f"HTTP {status} at handshake")
    return None
