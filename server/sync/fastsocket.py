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
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol
from websockets.protocol import State

EXTENSION = "palabre.socket"


class DirectSocket(Protocol):
    """What the endpoint finds under ``scope["extensions"]["palabre.socket"]``."""

    def attach(self, sink: Callable[[bytes], None]) -> None:
        """From now on, pass each received binary message to `sink` instead of ASGI."""

    def write_frame(self, frame: bytes) -> bool:
        """Write a frame from `encode_binary_frame`; false once the socket is not open."""

    def buffered_bytes(self) -> int:
        """Bytes written but not yet accepted by the kernel (a slow reader's backlog)."""

    def pause_reading(self) -> None:
        """Stop reading from the client (inbound backpressure)."""

    def resume_reading(self) -> None:
        """Read from the client again."""


class HubWebSocketProtocol(WebSocketsSansIOProtocol):
    """uvicorn's sans-I/O WebSocket protocol plus the `DirectSocket` lane."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._sink: Callable[[bytes], None] | None = None
        self._reading_paused_by_hub = False

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
