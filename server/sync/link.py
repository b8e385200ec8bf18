"""One WebSocket's outbound side and lifetime, shared by every document it carries.

A ``/ws`` socket carries one document, a ``/hocuspocus`` socket several: both write through
a `SocketLink`, which owns the outbound path (the direct lane's synchronous writes, or a
bounded queue and one writer task on plain ASGI), closing (the first requested code wins),
inbound backpressure, and the rule that a socket lives no longer than its tokens.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, Protocol, TypeVarTuple, Unpack

import anyio
import anyio.abc
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream

from crdt.protocol import CloseCode
from server.errors import PalabreError, truncate_reason
from server.sync.fastsocket import DirectSocket
from server.wsframe import encode_binary_frame

log = logging.getLogger("palabre.connection")

Ts = TypeVarTuple("Ts")


class Transport(Protocol):
    """A message-oriented socket: what a link needs from the WebSocket."""

    async def receive(self) -> bytes | None:
        """Next binary message, or ``None`` once the peer has gone.

        Raises:
            PalabreError: a text frame or an oversized message.
        """

    async def send(self, message: bytes) -> None:
        """Send one binary message."""


def bound_messages(
    direct: DirectSocket | None, message_bytes: tuple[int, int], *, may_edit: bool,
) -> None:
    """Bound the messages of `direct` (none: the ASGI lane, which keeps the server's bound)
    to the first of `message_bytes` (an editor's) or the second (a reader's); 0: no bound
    of its own."""
    size = message_bytes[0] if may_edit else message_bytes[1]
    if direct is not None and size > 0:
        direct.limit_message_bytes(size)


class SocketLink:
    """The outbound queue, close and token expiry of one WebSocket."""

    __slots__ = (
        "_direct",
        "_editor_bytes",
        "_expiries",
        "_outbound_limit",
        "_paused_by",
        "_reader_bytes",
        "_receive_out",
        "_send_out",
        "_task_group",
        "_token_leeway",
        "close_code",
        "close_reason",
        "failure",
    )

    def __init__(
        self,
        *,
        direct: DirectSocket | None,
        outbound_queue: int,
        outbound_limit_bytes: int,
        token_leeway: float,
        message_bytes: tuple[int, int] = (0, 0),
    ) -> None:
        """`message_bytes`: the largest message of a client that may edit, and of one that
        may not (`bound_messages`; 0: no bound of the link's own)."""
        self._direct = direct
        self._editor_bytes, self._reader_bytes = message_bytes
        self._outbound_limit = outbound_limit_bytes
        self._token_leeway = token_leeway
        # Only the ASGI lane queues outbound messages; the direct lane writes at once.
        self._send_out: MemoryObjectSendStream[bytes] | None = None
        self._receive_out: MemoryObjectReceiveStream[bytes] | None = None
        if direct is None:
            self._send_out, self._receive_out = anyio.create_memory_object_stream[bytes](
                outbound_queue
            )
        self._task_group: anyio.abc.TaskGroup | None = None
        self._expiries: list[float] = []
        self._paused_by: set[object] = set()
        self.close_code: int | None = None
        self.close_reason = ""
        self.failure: PalabreError | None = None
        """What the client sent that made the server close the socket (`fail`), if so."""

    def bound_messages(self, *, may_edit: bool) -> None:
        """Bound the client's messages to what an editor, or a reader, may send (1009 past
        it; the direct lane only: the ASGI lane keeps the server's bound)."""
        bound_messages(self._direct, (self._editor_bytes, self._reader_bytes),
                       may_edit=may_edit)

    @property
    def is_direct(self) -> bool:
        """Whether frames arrive through the direct lane's callback (no backpressure wait)."""
        return self._direct is not None

    # -- outbound ------------------------------------------------------------------------

    def send(self, message: bytes) -> None:
        """Send one message without waiting."""
        if self._direct is not None:
            self.send_frame(encode_binary_frame(message), message)
        else:
            self._enqueue(message)

    def send_frame(self, frame: bytes, message: bytes) -> None:
        """Send `message`, whose WebSocket frame `frame` a room made once for many sockets."""
        direct = self._direct
        if direct is None:
            self._enqueue(message)
        elif direct.write_frame(frame) and direct.buffered_bytes() > self._outbound_limit:
            self.request_close(CloseCode.OVERLOADED, "client too slow: send buffer full")

    def _enqueue(self, message: bytes) -> None:
        if self._send_out is None:
            return  # Direct lane: nothing is ever queued.
        try:
            self._send_out.send_nowait(message)
        except anyio.WouldBlock:
            self.request_close(CloseCode.OVERLOADED, "client too slow: outbound queue full")
        except (anyio.BrokenResourceError, anyio.ClosedResourceError):
            # The writer has already stopped: the socket is closing and leaves its rooms now.
            pass

    # -- inbound backpressure ------------------------------------------------------------

    def pause_reading(self, by: object) -> None:
        """Stop reading while `by` (a congested document of this socket) asks so."""
        if self._direct is not None:
            self._paused_by.add(by)
            self._direct.pause_reading()

    def resume_reading(self, by: object) -> None:
        """Read again once no document of this socket is congested."""
        self._paused_by.discard(by)
        if self._direct is not None and not self._paused_by:
            self._direct.resume_reading()

    # -- lifetime ------------------------------------------------------------------------

    def request_close(self, code: int, reason: str) -> None:
        """Ask for the socket to be closed with `code` (the first request wins)."""
        if self.close_code is None:
            self.close_code = code
            self.close_reason = truncate_reason(reason)
        if self._task_group is not None:
            self._task_group.cancel_scope.cancel()

    def fail(self, exc: PalabreError, **context: str) -> None:
        """Close with the code of `exc`, logged once with `context` (doc_id, connection_id)."""
        log.warning("closing socket: %s", exc.detail, extra=context)
        if self.close_code is None:
            self.failure = exc
        self.request_close(exc.close_code, exc.close_reason)

    def expire_at(self, expires_at: float | None) -> None:
        """Close (4401) once a token this socket was given expires, plus the leeway."""
        if expires_at is None:
            return
        if self._task_group is None:
            self._expiries.append(expires_at)
        else:
            self._task_group.start_soon(self._close_at_expiry, expires_at)

    def start_soon(
        self, func: Callable[[Unpack[Ts]], Coroutine[Any, Any, object]], *args: *Ts
    ) -> None:
        """Run `func` in the socket's task group (ended with the socket); only while serving."""
        if self._task_group is not None:
            self._task_group.start_soon(func, *args)

    async def serve(
        self, read_loop: Callable[[], Awaitable[None]], sink: Callable[[bytes], None],
        transport: Transport,
    ) -> None:
        """Serve until `read_loop` returns (the client left) or a close is requested.

        With a direct socket, received messages go to `sink` from the protocol callback
        once attached; `read_loop` still reports the disconnect (and the few messages
        queued before).
        """
        try:
            async with anyio.create_task_group() as tg:
                self._task_group = tg
                if self.close_code is not None:
                    tg.cancel_scope.cancel()
                if self._receive_out is not None:
                    tg.start_soon(self._write_loop, transport, self._receive_out)
                for expires_at in self._expiries:
                    tg.start_soon(self._close_at_expiry, expires_at)
                if self._direct is not None:
                    self._direct.attach(sink)
                try:
                    await read_loop()
                except PalabreError as exc:
                    self.fail(exc)
                tg.cancel_scope.cancel()
        finally:
            self._task_group = None
            if self._send_out is not None:
                self._send_out.close()
            if self._receive_out is not None:
                self._receive_out.close()

    async def _close_at_expiry(self, expires_at: float) -> None:
        # Documented rule: a socket lives no longer than its token (plus the leeway);
        # the client reconnects with a fresh one.
        await anyio.sleep(max(0.0, expires_at + self._token_leeway - time.time()))
        self.request_close(CloseCode.UNAUTHENTICATED, "token expired")

    @staticmethod
    async def _write_loop(
        transport: Transport, outbound: MemoryObjectReceiveStream[bytes]
    ) -> None:
        async with outbound:
            async for message in outbound:
                await transport.send(message)
