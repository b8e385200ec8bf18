"""A uvicorn server around the app whose readiness can be awaited (tests) or printed (CLI)."""

from __future__ import annotations

import asyncio
import logging
import math
import os
import socket
import threading
from collections.abc import Callable
from types import FrameType

import anyio
import uvicorn
from starlette.applications import Starlette

from server.access.pacing import RefusalPacer
from server.app.factory import PalabreApp, create_app
from server.settings import Settings
from server.sync.fastsocket import HubWebSocketProtocol
from server.sync.handshake import gated_http_protocol

log = logging.getLogger("palabre.app")

FORCED_EXIT_STATUS = 70
"""Exit status of a node that overran its shutdown deadline (EX_SOFTWARE)."""


class PalabreServer(uvicorn.Server):
    """uvicorn's server plus a `ready` event set once it accepts connections.

    On SIGTERM (or SIGINT) uvicorn stops listening and closes every socket with 1012
    (service restart: clients reconnect at once, to another node behind the proxy); the
    rooms then commit what they hold and the store closes. With `exit_deadline`, a
    process still alive that many seconds after the signal exits with
    `FORCED_EXIT_STATUS` (a stuck database must not keep a deploy waiting for ever;
    what was not committed is then lost as on SIGKILL, and the clients resend it).
    """

    def __init__(
        self, config: uvicorn.Config, *, announce: bool = False,
        welcome: Callable[[str], str] | None = None, exit_deadline: float | None = None,
        pacer: RefusalPacer | None = None,
    ) -> None:
        super().__init__(config)
        self._pacer = pacer
        self._announce = announce
        self._welcome = welcome
        self._ready: anyio.Event | None = None
        self._exit_deadline = exit_deadline
        self._watchdog: threading.Timer | None = None
        self.url = ""

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        """Begin the graceful shutdown; arm the exit deadline at the first signal."""
        if self._exit_deadline is not None and self._watchdog is None:
            self._watchdog = threading.Timer(self._exit_deadline, _force_exit,
                                             (self._exit_deadline,))
            self._watchdog.daemon = True
            self._watchdog.start()
        super().handle_exit(sig, frame)

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        """Answer the refusals held for their delay (`server.access.pacing`), then shut
        down as uvicorn does."""
        if self._pacer is not None:
            self._pacer.answer_all()
        await super().shutdown(sockets=sockets)

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
    force_exit: bool = False,
) -> PalabreServer:
    """A server for `settings` (and `app`, built from them by default), not yet started.

    Without `direct_lane`, sockets run on uvicorn's stock protocols through plain ASGI
    (what any other ASGI server gives the app: no handshake refused before the
    upgrade). When announcing, `welcome(url)` is a line printed after the URL (the
    facilitator link). With `force_exit` (a process of its own: ``palabre serve``), the
    process exits at twice
    ``settings.shutdown_timeout_seconds`` after SIGTERM even if its shutdown is stuck.
    """
    if app is None:
        app = create_app(settings)
    gate = app.handshake_gate if direct_lane and isinstance(app, PalabreApp) else None
    config = uvicorn.Config(
        app,
        host=settings.host,
        port=settings.port,
        ws_max_size=settings.max_message_bytes,
        ws=HubWebSocketProtocol if direct_lane else "websockets-sansio",
        # Handshakes refused before the upgrade (with the direct lane: our protocols).
        http=gated_http_protocol(gate) if gate is not None else "auto",
        ws_per_message_deflate=False,
        lifespan="on",
        log_config=None,
        access_log=False,
        # uvicorn waits this long for sockets (told 1012) to close, then cancels them.
        timeout_graceful_shutdown=math.ceil(settings.shutdown_timeout_seconds),
    )
    exit_deadline = 2 * settings.shutdown_timeout_seconds if force_exit else None
    pacer = app.state.access.pacer if isinstance(app, PalabreApp) else None
    return PalabreServer(config, announce=announce, welcome=welcome,
                         exit_deadline=exit_deadline, pacer=pacer)


def serve_until_stopped(server: PalabreServer, event_loop: str = "asyncio") -> None:
    """Run `server` until it stops, on the event loop `event_loop` names
    (`Settings.event_loop`: ``asyncio`` or ``uvloop``).

    Raises:
        RuntimeError: ``uvloop`` was asked for and is not installed.
    """
    if event_loop == "uvloop":
        try:
            import uvloop
        except ImportError as exc:
            raise RuntimeError("PALABRE_EVENT_LOOP=uvloop: uvloop is not installed") from exc
        uvloop.run(server.serve())
        return
    asyncio.run(server.serve())


def _force_exit(deadline: float) -> None:
    """Leave now: the graceful shutdown overran its deadline (runs in the watchdog thread)."""
    log.error("shutdown still running after %.0f s: exiting without finishing it", deadline)
    logging.shutdown()
    os._exit(FORCED_EXIT_STATUS)
