"""A uvicorn server around the app whose readiness can be awaited (tests) or printed (CLI)."""

from __future__ import annotations

import socket
from collections.abc import Callable

import anyio
import uvicorn
from starlette.applications import Starlette

from server.app.factory import create_app
from server.settings import Settings
from server.sync.fastsocket import HubWebSocketProtocol


class PalabreServer(uvicorn.Server):
    """uvicorn's server plus a `ready` event set once it accepts connections."""

    def __init__(
        self, config: uvicorn.Config, *, announce: bool = False,
        welcome: Callable[[str], str] | None = None,
    ) -> None:
        super().__init__(config)
        self._announce = announce
        self._welcome = welcome
        self._ready: anyio.Event | None = None
        self.url = ""

    @property
    def ready(self) -> anyio.Event:
        """Set once the server listens (or has given up starting: check `should_exit`)."""
        if self._ready is None:
            self._ready = anyio.Event()
        return self._ready

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        """Start uvicorn, then record the bound URL, print it if asked and set `ready`."""
        await super().startup(sockets=sockets)
        if not self.should_exit:
            host, port = self.servers[0].sockets[0].getsockname()[:2]
            self.url = f"http://{host}:{port}"
            if self._announce:
                print(f"palabre serving on {self.url}", flush=True)
                if self._welcome is not None:
                    print(self._welcome(self.url), flush=True)
        self.ready.set()


def build_server(
    settings: Settings,
    *,
    app: Starlette | None = None,
    announce: bool = False,
    direct_lane: bool = True,
    welcome: Callable[[str], str] | None = None,
) -> PalabreServer:
    """A server for `settings` (and `app`, built from them by default), not yet started.

    Without `direct_lane`, sockets run on uvicorn's stock protocol through plain ASGI
    (what any other ASGI server gives the app). When announcing, `welcome(url)` is a
    line printed after the URL (the facilitator link).
    """
    config = uvicorn.Config(
        app if app is not None else create_app(settings),
        host=settings.host,
        port=settings.port,
        ws_max_size=settings.max_message_bytes,
        ws=HubWebSocketProtocol if direct_lane else "websockets-sansio",
        ws_per_message_deflate=False,
        lifespan="on",
        log_config=None,
        access_log=False,
        timeout_graceful_shutdown=10,
    )
    return PalabreServer(config, announce=announce, welcome=welcome)
