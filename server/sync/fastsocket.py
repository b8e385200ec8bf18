"""A uvicorn WebSocket protocol with a direct lane for the hub's hot path.

Through plain ASGI every relayed message costs a task switch, an event dict and a frame
serialisation per recipient, and every received message a pause and resume of reading.
The hub relays every keystroke to every client, so this protocol offers, next to ASGI,
an extension in the scope (``palabre.socket``) that

- delivers received binary messages straight to a sink callback, in the protocol's own
  ``data_received`` (no queue, no task switch, reading never paused per message);
- writes a binary frame serialised once for all recipients (server frames are unmasked,
  and permessage-deflate is off, so the bytes are the same for every client).

Everything else (handshake, text frames, ping/pong, close, disconnect) stays on uvicorn's
path, so the endpoint still learns of a disconnect through ASGI ``receive``.

One change to uvicorn's path: a frame the parser refuses (past ``ws_max_size``: 1009, or
malformed: 1002) no longer closes the connection at once. uvicorn wrote the close frame
and closed the socket while the client's oversized message was still arriving; the kernel
then answered with a reset, which throws away the close frame the client had not read yet:
the client saw 1006 (no reason), and a browser retried the same message forever. Now the
server sends its close frame and its end of stream, reads and discards what still comes,
and closes once the client has closed (or after `DRAIN_SECONDS`).

And one bound: once the server has sent its close frame (the app closed the socket, e.g.
after a malformed message), uvicorn still parses every frame the client sends until the
client's close arrives or 10 s pass. A client that never reads, only sends, kept the event
loop parsing its frames for those 10 s after each refusal; past `BYTES_AFTER_CLOSE` the
connection is now dropped.

Per-socket log lines are not even made: uvicorn's ``"WebSocket /ws/…" [accepted]`` and
the websockets library's ``connection open`` (two log records formatted on the event loop
per handshake, a tenth of a socket's admission) go to `SOCKET_LOG`, which passes warnings
and errors only; palabre logs refusals itself.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any, Protocol

from uvicorn.protocols.utils import ClientDisconnected
from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol
from websockets.protocol import State

EXTENSION = "palabre.socket"
DRAIN_SECONDS = 5.0
"""How long a client refused by the frame parser may keep sending before the connection
is dropped (see the module's docstring)."""
BYTES_AFTER_CLOSE = 8 * 1024
"""What a client may still send once the server's close frame is out (the messages it had
in flight: keystrokes, a cursor) before the connection is dropped without waiting for its
close frame. Each frame costs the Python frame parser about a microsecond and a half:
64 KiB of 11-byte frames held the event loop 5-9 ms per refused socket."""
SOCKET_LOG = logging.getLogger("palabre.websocket")
"""The sockets' own protocol logger (uvicorn's and the websockets library's lines)."""
SOCKET_LOG.setLevel(logging.WARNING)


class DirectSocket(Protocol):
    """What the endpoint finds under ``scope["extensions"]["palabre.socket"]``."""

    def attach(self, sink: Callable[[bytes], None]) -> None:
        """From now on, pass each received binary message to `sink` instead of ASGI."""

    def write_frame(self, frame: bytes) -> bool:
        """Write a frame from `encode_binary_frame`; false once the socket is not open."""

    def buffered_bytes(self) -> int:
        """Bytes written but not yet accepted by the kernel (a slow reader's backlog)."""

    def limit_message_bytes(self, size: int) -> None:
        """Refuse (1009) messages over `size` bytes from the next frame on."""

    def pause_reading(self) -> None:
        """Stop reading from the client (inbound backpressure)."""

    def resume_reading(self) -> None:
        """Read from the client again."""


class HubWebSocketProtocol(WebSocketsSansIOProtocol):
    """uvicorn's sans-I/O WebSocket protocol plus the `DirectSocket` lane."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.logger = self.conn.logger = SOCKET_LOG
        self._sink: Callable[[bytes], None] | None = None
        self._reading_paused_by_hub = False
        self._is_draining = False
        self._bytes_after_close = 0

    async def send(self, message: Any) -> None:
        """As uvicorn; once the parser has refused a frame the client counts as gone (as
        it did when uvicorn closed the socket at once)."""
        if self._is_draining:
            raise ClientDisconnected()
        await super().send(message)

    def data_received(self, data: bytes) -> None:
        """As uvicorn, but discard what arrives once the parser has refused a frame, and
        drop a client that sends more than `BYTES_AFTER_CLOSE` past our close frame."""
        if self._is_draining:
            self.conn.receive_data(data)  # the parser has failed: it discards the bytes
            return
        if self.close_sent:
            self._bytes_after_close += len(data)
            if self._bytes_after_close > BYTES_AFTER_CLOSE:
                self.transport.close()  # it sends on and on, and never reads our close
                return
        super().data_received(data)

    def handle_parser_exception(self) -> None:
        """Send the close frame (1009 or 1002) and our end of stream; close the socket
        once the client closes, or after `DRAIN_SECONDS` (see the module's docstring)."""
        close = self.conn.close_sent
        assert close is not None
        self.queue.put_nowait({"type": "websocket.disconnect", "code": close.code,
                               "reason": close.reason})
        self.transport.write(b"".join(self.conn.data_to_send()))
        self.close_sent = True
        self._is_draining = True
        if not self.transport.can_write_eof():  # TLS: no half-close, close as uvicorn does
            self.transport.close()
            return
        self.transport.write_eof()
        self.close_timer = self.loop.call_later(DRAIN_SECONDS, self.transport.close)

    def handle_connect(self, event: Any) -> None:
        """Accept as uvicorn does, then offer the direct lane in the scope."""
        super().handle_connect(event)
        scope = getattr(self, "scope", None)
        if scope is not None:
            scope["extensions"][EXTENSION] = self

    def send_receive_event_to_app(self) -> None:
        """Hand a complete binary message to the sink when one is attached."""
        sink = self._sink
        if sink is None or self.curr_msg_data_type != "bytes" or self.close_sent:
            super().send_receive_event_to_app()
            return
        frames = self.frames
        data = frames[0] if len(frames) == 1 else b"".join(frames)
        self.frames = []
        sink(bytes(data))

    def attach(self, sink: Callable[[bytes], None]) -> None:
        """See `DirectSocket.attach`."""
        self._sink = sink

    def write_frame(self, frame: bytes) -> bool:
        """See `DirectSocket.write_frame`."""
        if self.close_sent or self.disconnected or self.conn.state is not State.OPEN:
            return False
        self.transport.write(frame)
        return True

    def buffered_bytes(self) -> int:
        """See `DirectSocket.buffered_bytes`."""
        if self.disconnected:
            return 0
        return int(self.transport.get_write_buffer_size())

    def limit_message_bytes(self, size: int) -> None:
        """See `DirectSocket.limit_message_bytes`. The frame parser reads the bound when a
        frame's first bytes arrive: set before the handshake's answer, it holds for the
        client's first frame."""
        self.conn.max_message_size = size

    def pause_reading(self) -> None:
        """See `DirectSocket.pause_reading`."""
        if not self._reading_paused_by_hub and not self.disconnected:
            self._reading_paused_by_hub = True
            self.transport.pause_reading()

    def resume_reading(self) -> None:
        """See `DirectSocket.resume_reading`."""
        if self._reading_paused_by_hub and not self.disconnected:
            self._reading_paused_by_hub = False
            self.transport.resume_reading()
