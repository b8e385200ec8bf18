"""How tests talk to a running server: HTTP clients, raw sockets, a synced document's text."""

from __future__ import annotations

import anyio
import httpx
import pytest
from pycrdt import Doc, Text
from websockets.asyncio.client import connect as ws_connect
from websockets.exceptions import ConnectionClosed
from websockets.frames import Close

from client.session import Session
from tests.conftest import RunningServer

FACILITATOR = "Loïc Ménard"


def http(server: RunningServer, token: str | None = None, *, prefix: str = "") -> httpx.AsyncClient:
    """An HTTP client for `server` (under `prefix`), sending `token` as a bearer when given."""
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return httpx.AsyncClient(base_url=server.url + prefix, headers=headers, timeout=30)


def http_as(
    server: RunningServer, role: str = "facilitator", name: str = FACILITATOR, *,
    prefix: str = "",
) -> httpx.AsyncClient:
    """An HTTP client for `server` acting as `name` with `role`."""
    return http(server, server.token(role, name), prefix=prefix)


async def close_of(url: str, *frames: bytes | str, within: float = 10) -> Close:
    """Open a raw socket on `url`, send `frames`, read until the server closes it: its close.

    Whatever the server sends before closing is read and dropped.
    """
    async with ws_connect(url) as socket:
        for frame in frames:
            await socket.send(frame)
        with anyio.fail_after(within), pytest.raises(ConnectionClosed) as closed:
            while True:
                await socket.recv()
    assert closed.value.rcvd is not None, "the socket ended without a close frame"
    return closed.value.rcvd


def body(source: Session | Doc[Text]) -> Text:
    """The ``body`` text of a session's document (or of a bare `Doc`)."""
    doc = source.doc if isinstance(source, Session) else source
    text: Text = doc.get("body", type=Text)
    return text


def text_of(source: Session | Doc[Text]) -> str:
    """What the ``body`` text of a session's document (or of a bare `Doc`) reads now."""
    return str(body(source))
