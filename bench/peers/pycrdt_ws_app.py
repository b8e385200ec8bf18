"""pycrdt-websocket's default in-memory server as an ASGI app for uvicorn.

``ASGIServer`` answers the lifespan protocol but does not start the
``WebsocketServer`` it wraps, so this module enters it on startup and leaves
it on shutdown. Everything else is the library's default set-up: one
in-memory ``YRoom`` per path, rooms dropped when their last client leaves.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from contextlib import AsyncExitStack
from typing import Any

from pycrdt.websocket import ASGIServer, WebsocketServer

websocket_server = WebsocketServer()
_asgi = ASGIServer(websocket_server)

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]


async def app(scope: Scope, receive: Receive, send: Send) -> None:
    """Start the websocket server with the lifespan, delegate the rest."""
    if scope["type"] != "lifespan":
        await _asgi(scope, receive, send)
        return
    async with AsyncExitStack() as stack:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await stack.enter_async_context(websocket_server)
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await stack.aclose()
                await send({"type": "lifespan.shutdown.complete"})
                return
