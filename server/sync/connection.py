"""One WebSocket client: how its messages are read, dispatched, written and how it closes.

A connection knows the y-websocket protocol but not starlette. It runs over one of two
lanes: the `DirectSocket` lane of our uvicorn protocol (messages dispatched inside the
protocol callback, frames written synchronously), or any ASGI server through a
`Transport` with one reader and one writer task and a bounded outbound queue.
"""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING, ClassVar, Protocol
from uuid import uuid4

import anyio
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream

from crdt.document import is_empty_update, update_state_vector
from crdt.errors import InvalidUpdate, ProtocolError
from crdt.protocol import (
    AuthMessage,
    AwarenessMessage,
    CloseCode,
    QueryAwarenessMessage,
    SyncMessage,
    SyncStep,
    decode_message,
    encode_permission_denied,
)
from server.access.auth import LEEWAY_SECONDS
from server.access.ratelimit import RateLimiter
from server.errors import (
    InvalidUpdateError,
    MalformedMessage,
    PalabreError,
    RateLimited,
    truncate_reason,
)
from server.sync.fastsocket import DirectSocket, encode_binary_frame

if TYPE_CHECKING:
    from server.rooms.room import Room

log = logging.getLogger("palabre.connection")


class Transport(Protocol):
    """A message-oriented socket: what a connection needs from the WebSocket."""

    async def receive(self) -> bytes | None:
        """Next binary message, or ``None`` once the peer has gone.

        Raises:
            PalabreError: a text frame or an oversized message.
        """

    async def send(self, message: bytes) -> None:
        """Send one binary message."""


class Connection:
    """A client of one room."""

    frame_kind: ClassVar[str | None] = None
    """How a room frames its broadcasts for this client: ``None`` is y-websocket's frame,
    shared by every such client; another kind gets one frame per room made by `wrap`."""

    __slots__ = (
        "_cancel_scope",
        "_direct",
        "_expires_at",
        "_outbound_limit",
        "_rate_key",
        "_rate_limiter",
        "_receive_out",
        "_send_out",
        "_token_leeway",
        "can_edit",
        "close_code",
        "close_reason",
        "connection_id",
        "doc_id",
        "may_edit",
        "principal",
        "role",
        "room",
    )

    def __init__(
        self,
        doc_id: str,
        *,
        outbound_queue: int,
        outbound_limit_bytes: int,
        principal: str | None = None,
        can_edit: bool = True,
        expires_at: float | None = None,
        token_leeway: float = LEEWAY_SECONDS,
        direct: DirectSocket | None = None,
        rate_limiter: RateLimiter | None = None,
        rate_key: str = "",
    ) -> None:
        self.connection_id = uuid4().hex[:12]
        self.doc_id = doc_id
        self.principal = principal
        self.role: str | None = None
        """The principal's role, for rooms whose writes are judged field by field (data)."""
        self.can_edit = can_edit
        self.may_edit = can_edit
        """What the principal's role allows; `can_edit` is also false while frozen."""
        self._rate_limiter = rate_limiter
        self._rate_key = rate_key
        self._expires_at = expires_at
        self._token_leeway = token_leeway
        self.room: Room | None = None
        self._direct = direct
        self._outbound_limit = outbound_limit_bytes
        # Only the ASGI lane queues outbound messages; the direct lane writes at once.
        self._send_out: MemoryObjectSendStream[bytes] | None = None
        self._receive_out: MemoryObjectReceiveStream[bytes] | None = None
        if direct is None:
            self._send_out, self._receive_out = anyio.create_memory_object_stream[bytes](
                outbound_queue
            )
        self._cancel_scope: anyio.CancelScope | None = None
        self.close_code: int | None = None
        self.close_reason = ""

    # -- outbound ------------------------------------------------------------------------

    def send(self, message: bytes) -> None:
        """Send a message to this client only, without waiting."""
        if self._direct is not None:
            self.send_frame(encode_binary_frame(message), message)
        else:
            self._enqueue(message)

    def send_frame(self, frame: bytes, message: bytes) -> None:
        """Send a broadcast: `frame` is `message` already framed once for every recipient."""
        direct = self._direct
        if direct is None:
            self._enqueue(message)
        elif direct.write_frame(frame) and direct.buffered_bytes() > self._outbound_limit:
            self.request_close(CloseCode.OVERLOADED, "client too slow: send buffer full")

    def wrap(self, message: bytes) -> bytes:
        """`message` (y-websocket) as this client's protocol sends it (used with `frame_kind`)."""
        return message

    def acknowledge(self, stored: bool) -> None:
        """One update of this client was stored, or will never be (only called when
        `frame_kind` is not None: y-websocket has no acknowledgement)."""

    def send_stateless(self, payload: str) -> None:
        """Send a stateless message about this document (y-websocket has none: dropped)."""

    def close_outbound(self) -> None:
        """Close the outbound queue (the writer stops once it is drained)."""
        if self._send_out is not None:
            self._send_out.close()
        if self._receive_out is not None:
            self._receive_out.close()

    def _enqueue(self, message: bytes) -> None:
        if self._send_out is None:
            return  # Direct lane: nothing is ever queued.
        try:
            self._send_out.send_nowait(message)
        except anyio.WouldBlock:
            self.request_close(CloseCode.OVERLOADED, "client too slow: outbound queue full")
        except (anyio.BrokenResourceError, anyio.ClosedResourceError):
            # The writer has already stopped: the socket is closing and leaves the room now.
            pass

    # -- inbound -------------------------------------------------------------------------

    def receive(self, frame: bytes) -> None:
        """Dispatch one received message to the room.

        Raises:
            MalformedMessage: the frame breaks the protocol.
            InvalidUpdateError: a sync payload is not a Yjs update.
        """
        room = self.room
        if room is None or self.close_code is not None:
            return  # Closing: what arrives after the close decision is refused with it.
        hot = room.metrics.hot
        hot.bytes_in += len(frame)
        try:
            message = decode_message(frame)
        except ProtocolError as exc:
            raise MalformedMessage(f"malformed message: {exc}") from exc
        if isinstance(message, SyncMessage):
            if message.step == SyncStep.STEP1:
                self.send(room.sync_step2_for(message.payload))
                return
            try:
                update_state_vector(message.payload)
            except InvalidUpdate as exc:
                raise InvalidUpdateError(f"invalid Yjs update: {exc}") from exc
            hot.updates_in += 1
            if self._rate_limiter is not None and self._rate_limiter.take(self._rate_key) > 0:
                raise RateLimited("too many updates: slow down, then reconnect")
            if self.can_edit:
                refusal = room.guard(room.doc, self, message.payload) if room.guard else None
                if refusal is None:
                    room.submit(message.payload, self)
                else:
                    self._deny(refusal)
            elif not is_empty_update(message.payload):
                if room.is_frozen:
                    self._deny("document frozen: your changes were not applied")
                else:
                    self._deny("read-only: your changes were not applied")
            elif self.frame_kind is not None:
                self.acknowledge(True)  # Nothing to store: a read-only client's empty sync.
        elif isinstance(message, AwarenessMessage):
            hot.awareness_in += 1
            room.update_awareness(self, message.update)
        elif isinstance(message, QueryAwarenessMessage):
            self.send(room.awareness_message())
        elif isinstance(message, AuthMessage):
            raise MalformedMessage("auth messages are sent by the server only")

    def _deny(self, reason: str) -> None:
        """Refuse a write: nothing applied or relayed; the client is told, the socket stays."""
        if self.room is not None:
            self.room.metrics.errors.labels(kind="permission_denied").inc()
        log.info(
            "write refused: %s",
            reason,
            extra={"doc_id": self.doc_id, "connection_id": self.connection_id,
                   "principal": self.principal},
        )
        self.send(encode_permission_denied(reason))
        if self.room is not None:
            self.room.denied(self, reason)

    def pause_reading(self) -> None:
        """Stop taking messages from this client until `resume_reading`."""
        if self._direct is not None:
            self._direct.pause_reading()

    def resume_reading(self) -> None:
        """Take messages from this client again."""
        if self._direct is not None:
            self._direct.resume_reading()

    # -- lifetime ------------------------------------------------------------------------

    def request_close(self, code: int, reason: str) -> None:
        """Ask for the socket to be closed with `code` (the first request wins)."""
        if self.close_code is None:
            self.close_code = code
            self.close_reason = truncate_reason(reason)
        if self._cancel_scope is not None:
            self._cancel_scope.cancel()

    def _fail(self, exc: PalabreError) -> None:
        if self.room is not None:
            self.room.metrics.errors.labels(kind=exc.error).inc()
        log.warning(
            "closing socket: %s",
            exc.detail,
            extra={"doc_id": self.doc_id, "connection_id": self.connection_id},
        )
        self.request_close(exc.close_code, exc.close_reason)

    def _receive_direct(self, frame: bytes) -> None:
        try:
            self.receive(frame)
        except PalabreError as exc:
            self._fail(exc)

    async def serve(self, transport: Transport, room: Room) -> None:
        """Serve the client until it leaves or a close is requested.

        With a direct socket, messages are dispatched from the protocol callback once
        attached; `transport` still reports the disconnect and yields the few messages
        queued before (CRDT updates and awareness clocks do not depend on that order).
        """
        self.room = room
        try:
            async with anyio.create_task_group() as tg:
                self._cancel_scope = tg.cancel_scope
                if self.close_code is not None:
                    tg.cancel_scope.cancel()
                if self._receive_out is not None:
                    tg.start_soon(self._write_loop, transport, self._receive_out)
                if self._expires_at is not None:
                    tg.start_soon(self._close_at_expiry, self._expires_at)
                if self._direct is not None:
                    self._direct.attach(self._receive_direct)
                try:
                    await self._read_loop(transport)
                except PalabreError as exc:
                    self._fail(exc)
                tg.cancel_scope.cancel()
        finally:
            self.close_outbound()

    async def _close_at_expiry(self, expires_at: float) -> None:
        # Documented rule: a socket lives no longer than its token (plus the leeway);
        # the client reconnects with a fresh one.
        await anyio.sleep(max(0.0, expires_at + self._token_leeway - time.time()))
        self.request_close(CloseCode.UNAUTHENTICATED, "token expired")

    async def _write_loop(
        self, transport: Transport, outbound: MemoryObjectReceiveStream[bytes]
    ) -> None:
        async with outbound:
            async for message in outbound:
                await transport.send(message)

    async def _read_loop(self, transport: Transport) -> None:
        while True:
            frame = await transport.receive()
            if frame is None:
                return
            self.receive(frame)
            room = self.room
            while room is not None and room.is_congested and self._direct is None:
                await room.wait_uncongested()
