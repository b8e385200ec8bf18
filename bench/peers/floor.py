"""The floor: the y-websocket relay palabre's lane costs with no CRDT work and no storage.

Usage: python bench/peers/floor.py PORT (run from a palabre checkout: it imports
`server.sync.fastsocket`).

It runs on the same uvicorn, with the same WebSocket protocol and direct lane
(`server.sync.fastsocket.HubWebSocketProtocol`, frames written once per relay, no
permessage-deflate) as ``palabre serve``, and speaks the wire protocol far enough for
bench/loadgen.mjs: a client's sync step 1 is answered with an empty sync step 2 (the
floor holds no document: clients that join before anyone edits, as in W1, W3 and W5,
still converge), and every other sync or awareness message is relayed as received, in
one frame made once, to the other sockets of the same room (the last path segment).
No decoding beyond the first two bytes, no validation, no document, no log, no auth.
So bench/run can state palabre's CPU per delivery as a multiple of what Python +
uvicorn's transport cost on this machine.
"""

from __future__ import annotations

import sys
from collections.abc import Awaitable, Callable
from typing import Any

import uvicorn

from server.sync.fastsocket import EXTENSION, DirectSocket, HubWebSocketProtocol
from server.wsframe import encode_binary_frame

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]

MESSAGE_SYNC = 0
SYNC_STEP1 = 0
EMPTY_STEP2_FRAME = encode_binary_frame(bytes([MESSAGE_SYNC, 1, 2, 0, 0]))
"""Sync step 2 carrying an empty Yjs update (no structs, no deletions)."""

rooms: dict[str, set[DirectSocket]] = {}


def _sink(room: set[DirectSocket], socket: DirectSocket) -> Callable[[bytes], None]:
    """What a socket's received messages go to: the step 1 answer, or a relay."""

    def receive(message: bytes) -> None:
        if len(message) >= 2 and message[0] == MESSAGE_SYNC and message[1] == SYNC_STEP1:
            socket.write_frame(EMPTY_STEP2_FRAME)
            return
        frame = encode_binary_frame(message)
        for other in room:
            if other is not socket:
                other.write_frame(frame)

    return receive


async def app(scope: Scope, receive: Receive, send: Send) -> None:
    """One room per path; every socket of it gets every other socket's messages."""
    if scope["type"] == "lifespan":
        while (await receive())["type"] != "lifespan.shutdown":
            await send({"type": "lifespan.startup.complete"})
        await send({"type": "lifespan.shutdown.complete"})
        return
    if scope["type"] != "websocket":
        await send({"type": "http.response.start", "status": 404, "headers": []})
        await send({"type": "http.response.body", "body": b""})
        return
    await receive()  # websocket.connect
    await send({"type": "websocket.accept"})
    socket: DirectSocket = scope["extensions"][EXTENSION]
    name = scope["path"].rsplit("/", 1)[-1]
    room = rooms.setdefault(name, set())
    room.add(socket)
    sink = _sink(room, socket)
    socket.attach(sink)
    try:
        while True:
            message = await receive()
            if message["type"] == "websocket.disconnect":
                break
            if message.get("bytes") is not None:  # arrived before the sink was attached
                sink(message["bytes"])
    finally:
        room.discard(socket)
        if not room:
            rooms.pop(name, None)


def main(argv: list[str]) -> None:
    """Serve on 127.0.0.1:PORT as ``palabre serve`` configures uvicorn."""
    config = uvicorn.Config(
        app, host="127.0.0.1", port=int(argv[0]), ws=HubWebSocketProtocol,
        ws_per_message_deflate=False, lifespan="on", log_config=None, access_log=False,
    )
    uvicorn.Server(config).run()


if __name__ == "__main__":
    main(sys.argv[1:])
