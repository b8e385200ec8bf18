"""Sans-IO codec of the y-websocket wire protocol (y-protocols sync, awareness, auth).

One WebSocket frame carries exactly one message:

- ``0`` sync, followed by a step (``0`` step 1 with a state vector, ``1`` step 2 with an
  update, ``2`` update) and a length-prefixed payload;
- ``1`` awareness, followed by a length-prefixed awareness update;
- ``2`` auth, followed by ``0`` (permission denied) and a length-prefixed UTF-8 reason;
- ``3`` query-awareness, with nothing after it.

Decoding is strict: a truncated or overlong varint, a payload shorter than its length, an
unknown type or trailing bytes raise `ProtocolError`. Strings are always encoded with their
UTF-8 *byte* length (pycrdt's ``Encoder.write_var_string`` writes the character count).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum

from crdt.errors import ProtocolError

# A Yjs varuint encodes at most 53 bits; 8 bytes of 7 bits cover it.
_MAX_VARUINT_BYTES = 8


class MessageType(IntEnum):
    """First byte of every y-websocket message."""

    SYNC = 0
    AWARENESS = 1
    AUTH = 2
    QUERY_AWARENESS = 3


class SyncStep(IntEnum):
    """Second byte of a sync message."""

    STEP1 = 0
    STEP2 = 1
    UPDATE = 2


_SYNC_STEPS = (SyncStep.STEP1, SyncStep.STEP2, SyncStep.UPDATE)


class AuthKind(IntEnum):
    """Second byte of an auth message (y-protocols ``auth.js``)."""

    PERMISSION_DENIED = 0


class CloseCode(IntEnum):
    """WebSocket close codes used by palabre, shared by the server and the client."""

    NORMAL = 1000
    GOING_AWAY = 1001
    MALFORMED = 1002
    UNSUPPORTED_DATA = 1003
    INVALID_UPDATE = 1007
    BAD_DOC_ID = 1008
    TOO_BIG = 1009
    INTERNAL = 1011
    SERVICE_RESTART = 1012
    OVERLOADED = 1013
    UNAUTHENTICATED = 4401
    FORBIDDEN = 4403
    TIMEOUT = 4408


EMPTY_UPDATE = b"\x00\x00"
"""The Yjs update that carries no change (no structs, empty delete set)."""


@dataclass(frozen=True, slots=True)
class SyncMessage:
    """A sync message: a state vector for step 1, an update for step 2 and update."""

    step: SyncStep
    payload: bytes


@dataclass(frozen=True, slots=True)
class AwarenessMessage:
    """An awareness message carrying an encoded awareness update."""

    update: bytes


@dataclass(frozen=True, slots=True)
class AuthMessage:
    """An auth message; only permission-denied exists in y-protocols."""

    kind: AuthKind
    reason: str


@dataclass(frozen=True, slots=True)
class QueryAwarenessMessage:
    """A request for the states of every awareness client."""


Message = SyncMessage | AwarenessMessage | AuthMessage | QueryAwarenessMessage


def encode_varuint(value: int) -> bytes:
    """Encode a non-negative integer as a Yjs varuint (7 bits a byte, little end first)."""
    if value < 0:
        raise ValueError("varuint cannot be negative")
    out = bytearray()
    while value > 0x7F:
        out.append(0x80 | (value & 0x7F))
        value >>= 7
    out.append(value)
    return bytes(out)


def encode_varbytes(data: bytes) -> bytes:
    """Encode bytes prefixed by their length."""
    return encode_varuint(len(data)) + data


def encode_varstring(text: str) -> bytes:
    """Encode a string as its UTF-8 bytes prefixed by their *byte* length."""
    return encode_varbytes(text.encode("utf-8"))


class Reader:
    """A cursor over a frame that raises `ProtocolError` on any overrun."""

    __slots__ = ("_data", "_pos")

    def __init__(self, data: bytes) -> None:
        self._data = data
        self._pos = 0

    def varuint(self) -> int:
        """Read one varuint.

        Raises:
            ProtocolError: truncated or longer than 8 bytes.
        """
        data, pos = self._data, self._pos
        value = 0
        shift = 0
        for _ in range(_MAX_VARUINT_BYTES):
            if pos >= len(data):
                raise ProtocolError("truncated varint")
            byte = data[pos]
            pos += 1
            value |= (byte & 0x7F) << shift
            if byte < 0x80:
                self._pos = pos
                return value
            shift += 7
        raise ProtocolError("varint too long")

    def varbytes(self) -> bytes:
        """Read a length-prefixed byte string.

        Raises:
            ProtocolError: the payload is shorter than its length.
        """
        length = self.varuint()
        end = self._pos + length
        if end > len(self._data):
            raise ProtocolError("payload shorter than its length")
        chunk = self._data[self._pos : end]
        self._pos = end
        return chunk

    def varstring(self) -> str:
        """Read a length-prefixed UTF-8 string.

        Raises:
            ProtocolError: truncated payload or invalid UTF-8.
        """
        try:
            return self.varbytes().decode("utf-8")
        except UnicodeDecodeError as exc:
            raise ProtocolError("string is not valid UTF-8") from exc

    @property
    def position(self) -> int:
        """How many bytes have been read."""
        return self._pos

    def is_done(self) -> bool:
        """Whether every byte has been read."""
        return self._pos == len(self._data)

    def expect_end(self) -> None:
        """Check that nothing follows the message.

        Raises:
            ProtocolError: trailing bytes.
        """
        if self._pos != len(self._data):
            raise ProtocolError("trailing bytes after message")


def decode_message(frame: bytes) -> Message:
    """Decode one y-websocket frame.

    Raises:
        ProtocolError: the frame is empty, truncated, of an unknown type or has trailing bytes.
    """
    # Fast path for the message that dominates traffic: a sync step 2 or update whose
    # length fits one or two varint bytes. Same checks as the general path below.
    if len(frame) >= 3 and frame[0] == 0 and frame[1] in (1, 2):
        length = frame[2]
        start = 3
        if length >= 0x80 and len(frame) >= 4 and frame[3] < 0x80:
            length = (length & 0x7F) | (frame[3] << 7)
            start = 4
        if length < 0x80 or start == 4:
            if start + length != len(frame):
                raise ProtocolError(
                    "payload shorter than its length"
                    if start + length > len(frame)
                    else "trailing bytes after message"
                )
            return SyncMessage(_SYNC_STEPS[frame[1]], frame[start:])
    reader = Reader(frame)
    kind = reader.varuint()
    message: Message
    if kind == MessageType.SYNC:
        step = reader.varuint()
        if step > SyncStep.UPDATE:
            raise ProtocolError(f"unknown sync step {step}")
        message = SyncMessage(_SYNC_STEPS[step], reader.varbytes())
    elif kind == MessageType.AWARENESS:
        message = AwarenessMessage(reader.varbytes())
    elif kind == MessageType.AUTH:
        auth = reader.varuint()
        if auth != AuthKind.PERMISSION_DENIED:
            raise ProtocolError(f"unknown auth message {auth}")
        message = AuthMessage(AuthKind.PERMISSION_DENIED, reader.varstring())
    elif kind == MessageType.QUERY_AWARENESS:
        message = QueryAwarenessMessage()
    else:
        raise ProtocolError(f"unknown message type {kind}")
    reader.expect_end()
    return message


def encode_sync_step1(state_vector: bytes) -> bytes:
    """Encode sync step 1 carrying a state vector."""
    return b"\x00\x00" + encode_varbytes(state_vector)


def encode_sync_step2(update: bytes) -> bytes:
    """Encode sync step 2 carrying the update the peer is missing."""
    return b"\x00\x01" + encode_varbytes(update)


def encode_sync_update(update: bytes) -> bytes:
    """Encode a sync update message."""
    return b"\x00\x02" + encode_varbytes(update)


def encode_awareness(update: bytes) -> bytes:
    """Encode an awareness message around an encoded awareness update."""
    return b"\x01" + encode_varbytes(update)


def encode_permission_denied(reason: str) -> bytes:
    """Encode an auth permission-denied message with a human-readable reason."""
    return b"\x02\x00" + encode_varstring(reason)


def encode_query_awareness() -> bytes:
    """Encode a query-awareness message."""
    return b"\x03"
