"""WebSocket frame bytes: made once per broadcast by a room, written as is by the direct lane.

Server frames are unmasked and permessage-deflate is off, so one frame's bytes are the
same for every recipient (see `server.sync.fastsocket`).
"""

from __future__ import annotations

from websockets.frames import Frame, Opcode


def encode_binary_frame(message: bytes) -> bytes:
    """The wire bytes of one unmasked, unfragmented binary frame carrying `message`."""
    return Frame(Opcode.BINARY, message).serialize(mask=False)
