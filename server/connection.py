"""One WebSocket client: its outbound queue, its reader loop and how it gets closed.

The connection knows the y-websocket protocol but not starlette: it talks to a
`Transport`, so tests can drive it in memory and the endpoint adapts starlette to it.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Protocol
from uuid import uuid4

import anyio

from crdt.document import update_state_vector
from crdt.errors import InvalidUpdate, ProtocolError
from crdt.protocol import (
    AuthMessage,
    AwarenessMessage,
    CloseCode,
    QueryAwarenessMessage,
    SyncMessage,
    SyncStep,
    decode_message,
)
from server.errors import (
    InvalidUpdateError,
    MalformedMessage,
    PalabreError,
    truncate_reason,
)

if TYPE_CHECKING:
    from server.room import Room

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

    async def close(self, code: int, reason: str) -> None:
        """Close the socket with a code and a reason of at most 123 UTF-8 bytes."""


class Connection:
    """A client of one room: a bounded outbound queue drained by one writer task."""

    __slots__ = (
        "_cancel_scope",
        "_receive_out",
        "_send_out",
        "close_code",
        "close_reason",
        "connection_id",
        "doc_id",
        "principal",
    )

    def __init__(self, doc_id: str, *, outbound_queue: int, principal: str | None = None) -> None:
        self.connection_id = uuid4().hex[:12]
        self.doc_id = doc_id
        self.principal = principal
        self._send_out, self._receive_out = anyio.create_memory_object_stream[bytes](
            outbound_queue
        )
        self._cancel_scope: anyio.CancelScope | None = None
        self.close_code: int | None = None
        self.close_reason = ""

    def send(self, message: bytes) -> None:
        """Queue a message without waiting; a client too slow to drain its queue is closed."""
        try:
            self._send_out.send_nowait(message)
        except anyio.WouldBlock:
            self.request_close(CloseCode.OVERLOADED, "client too slow: outbound queue full")
        except (anyio.BrokenResourceError, anyio.ClosedResourceError):
            # The writer has already stopped: the socket is closing and leaves the room now.
            pass

    def request_close(self, code: int, reason: str) -> None:
        """Ask for the socket to be closed with `code` (the first request wins)."""
        if self.close_code is None:
            self.close_code = code
            self.close_reason = truncate_reason(reason)
        if self._cancel_scope is not None:
            self._cancel_scope.cancel()

    async def serve(self, transport: Transport, room: Room) -> None:
        """Run the reader and the writer until the peer leaves or a close is requested."""
        try:
            async with anyio.create_task_group() as tg:
                self._cancel_scope = tg.cancel_scope
                if self.close_code is not None:
                    tg.cancel_scope.cancel()
                tg.start_soon(self._write_loop, transport)
                try:
                    await self._read_loop(transport, room)
                except PalabreError as exc:
                    room.metrics.errors.labels(kind=exc.error).inc()
                    log.warning(
                        "closing socket: %s",
                        exc.detail,
                        extra={"doc_id": self.doc_id, "connection_id": self.connection_id},
                    )
                    self.request_close(exc.close_code, exc.close_reason)
                tg.cancel_scope.cancel()
        finally:
            self._send_out.close()
            self._receive_out.close()

    async def _write_loop(self, transport: Transport) -> None:
        async with self._receive_out:
            async for message in self._receive_out:
                await transport.send(message)

    async def _read_loop(self, transport: Transport, room: Room) -> None:
        metrics = room.metrics
        while True:
            frame = await transport.receive()
            if frame is None:
                return
            metrics.bytes_in.inc(len(frame))
            try:
                message = decode_message(frame)
            except ProtocolError as exc:
                raise MalformedMessage(f"malformed message: {exc}") from exc
            if isinstance(message, SyncMessage):
                if message.step == SyncStep.STEP1:
                    self.send(room.sync_step2_for(message.payload))
                    continue
                try:
                    update_state_vector(message.payload)
                except InvalidUpdate as exc:
                    raise InvalidUpdateError(f"invalid Yjs update: {exc}") from exc
                metrics.updates_in.inc()
                await room.submit(message.payload, self)
            elif isinstance(message, AwarenessMessage):
                metrics.awareness_in.inc()
                room.update_awareness(self, message.update)
            elif isinstance(message, QueryAwarenessMessage):
                self.send(room.awareness_message())
            elif isinstance(message, AuthMessage):
                raise MalformedMessage("auth messages are sent by the server only")
