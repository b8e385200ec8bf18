"""Sans-IO codec of the Hocuspocus wire protocol (``@hocuspocus/provider`` 4.x).

Several documents share one WebSocket. Every message is ``varstring(document name)``, then
``varuint(type)``, then a payload:

- ``0`` sync, ``1`` awareness, ``3`` query-awareness: the payload is exactly the
  y-websocket message after its type byte (see `crdt.protocol`), so a Hocuspocus message
  is ``varstring(name)`` followed by a y-websocket message;
- ``4`` sync reply: a sync message answering the other side's step 1 (``@hocuspocus/server``
  sends its first step 1 as one, and accepts it from clients: so do we, as plain sync);
- ``2`` auth: ``0`` token (client: the token, then the provider's version string),
  ``1`` permission denied with a reason, ``2`` authenticated with a scope
  (``"read-write"`` or ``"readonly"``);
- ``5`` stateless: a string; ``7`` close: nothing (server: a reason);
- ``8`` sync status: a signed varint, ``1`` once an update is stored, ``0`` if refused.

The provider's connection-level keep-alive is a lone type byte: ``9`` ping (server),
``10`` pong (client), without a document name.

Decoding is strict (`ProtocolError` on anything truncated, unknown or trailing), and
strings carry their UTF-8 *byte* length.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum

from crdt.errors import ProtocolError
from crdt.protocol import (
    AwarenessMessage,
    QueryAwarenessMessage,
    Reader,
    SyncMessage,
    decode_message,
    encode_varstring,
    encode_varuint,
)


class HocuspocusType(IntEnum):
    """The type that follows the document name."""

    SYNC = 0
    AWARENESS = 1
    AUTH = 2
    QUERY_AWARENESS = 3
    SYNC_REPLY = 4
    STATELESS = 5
    CLOSE = 7
    SYNC_STATUS = 8
    PING = 9
    PONG = 10


class HocuspocusAuth(IntEnum):
    """The kind of an auth message (``@hocuspocus/common`` ``AuthMessageType``)."""

    TOKEN = 0
    PERMISSION_DENIED = 1
    AUTHENTICATED = 2


class AuthScope:
    """Scopes of the authenticated reply."""

    READ_WRITE = "read-write"
    READ_ONLY = "readonly"


@dataclass(frozen=True, slots=True)
class TokenMessage:
    """The client's credentials for one document (``version`` is the provider's)."""

    token: str
    version: str


@dataclass(frozen=True, slots=True)
class StatelessMessage:
    """An application message, not stored."""

    payload: str


@dataclass(frozen=True, slots=True)
class CloseMessage:
    """The client leaves the document (the socket stays open for the others)."""


@dataclass(frozen=True, slots=True)
class PongMessage:
    """The provider's answer to a ping (connection-level, no document)."""


YMessage = SyncMessage | AwarenessMessage | QueryAwarenessMessage
"""Messages shared with y-websocket: their payload is a y-websocket message."""

ClientMessage = YMessage | TokenMessage | StatelessMessage | CloseMessage


@dataclass(frozen=True, slots=True)
class Frame:
    """A decoded client frame: the document, the message and its y-websocket form.

    For sync (and sync reply), awareness and query-awareness, ``y_message`` is the message
    encoded as y-websocket would (``crdt.protocol``); it is empty otherwise.
    """

    document: str
    message: ClientMessage
    y_message: bytes = b""


PONG = bytes([HocuspocusType.PONG])
PING = bytes([HocuspocusType.PING])
SYNC_TYPE = bytes([HocuspocusType.SYNC])


def decode_frame(frame: bytes) -> Frame | PongMessage:
    """Decode one client frame.

    Raises:
        ProtocolError: truncated, unknown type, a server-only message or trailing bytes.
    """
    if frame == PONG:
        return PongMessage()
    reader = Reader(frame)
    document = reader.varstring()
    body = reader.position
    kind = reader.varuint()
    message: ClientMessage
    if kind in (HocuspocusType.SYNC, HocuspocusType.AWARENESS, HocuspocusType.QUERY_AWARENESS):
        y_message = frame[body:]
    elif kind == HocuspocusType.SYNC_REPLY:
        y_message = SYNC_TYPE + frame[reader.position :]
    else:
        y_message = b""
    if y_message:
        decoded = decode_message(y_message)
        if not isinstance(decoded, SyncMessage | AwarenessMessage | QueryAwarenessMessage):
            raise ProtocolError("unexpected message")  # pragma: no cover - by the type check
        return Frame(document, decoded, y_message)
    if kind == HocuspocusType.AUTH:
        auth = reader.varuint()
        if auth != HocuspocusAuth.TOKEN:
            raise ProtocolError(f"auth message {auth} is sent by the server only")
        token = reader.varstring()
        # The provider appends its version; an older client may not.
        version = "" if reader.is_done() else reader.varstring()
        message = TokenMessage(token, version)
    elif kind == HocuspocusType.STATELESS:
        message = StatelessMessage(reader.varstring())
    elif kind == HocuspocusType.CLOSE:
        message = CloseMessage()
    else:
        raise ProtocolError(f"unknown or server-only message type {kind}")
    reader.expect_end()
    return Frame(document, message)


def prefix(document: str) -> bytes:
    """The name prefix of every message about `document`."""
    return encode_varstring(document)


def wrap(document_prefix: bytes, y_message: bytes) -> bytes:
    """A y-websocket sync/awareness/query-awareness message as a Hocuspocus message."""
    return document_prefix + y_message


def encode_authenticated(document: str, scope: str) -> bytes:
    """Tell the client it may use `document` with `scope`."""
    return prefix(document) + bytes([HocuspocusType.AUTH, HocuspocusAuth.AUTHENTICATED]) + (
        encode_varstring(scope)
    )


def encode_permission_denied(document: str, reason: str) -> bytes:
    """Refuse `document` (the provider emits ``authenticationFailed``)."""
    return prefix(document) + bytes([HocuspocusType.AUTH, HocuspocusAuth.PERMISSION_DENIED]) + (
        encode_varstring(reason)
    )


def encode_sync_status(document_prefix: bytes, applied: bool) -> bytes:
    """Acknowledge one update: stored (``applied``) or refused."""
    return document_prefix + bytes([HocuspocusType.SYNC_STATUS, 1 if applied else 0])


def encode_stateless(document: str, payload: str) -> bytes:
    """An application message to the client."""
    return prefix(document) + encode_varuint(HocuspocusType.STATELESS) + encode_varstring(payload)


def encode_close(document: str, reason: str) -> bytes:
    """Tell the client the server closed `document` (the socket stays open)."""
    return prefix(document) + encode_varuint(HocuspocusType.CLOSE) + encode_varstring(reason)
