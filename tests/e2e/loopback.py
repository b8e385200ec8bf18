"""A plain ASGI app (a webhook receiver, a feed server) served for real on a loopback port."""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import anyio
import uvicorn
from starlette.types import ASGIApp

from server.app.runner import PalabreServer


@asynccontextmanager
async def serving(app: ASGIApp, **config: Any) -> AsyncIterator[str]:
    """Run `app` under uvicorn (`config`: more ``uvicorn.Config`` options); its base URL.

    The socket is bound to 127.0.0.1 port 0 before uvicorn starts and stays ours until the
    end, so the URL is known and no other process can take the port.
    """
    server = PalabreServer(uvicorn.Config(app, lifespan="off", **config))
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        async with anyio.create_task_group() as tg:
            tg.start_soon(server.serve, [sock])
            with anyio.fail_after(15):
                await server.ready.wait()
            try:
                yield f"http://127.0.0.1:{sock.getsockname()[1]}"
            finally:
                server.should_exit = True
