"""How tests talk to a running server: HTTP clients, raw sockets, a synced document's text."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from contextlib import AsyncExitStack, asynccontextmanager
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest
from pycrdt import Doc, Text
from websockets.asyncio.client import connect as ws_connect
from websockets.exceptions import ConnectionClosed
from websockets.frames import Close

from client import JsonObject
from client.api import PalabreApi
from client.session import Session
from tests.conftest import RunningServer, ServerFactory

FACILITATOR = "Loïc Ménard"
CHARTE = (Path(__file__).parent.parent / "fixtures" / "charte.md").read_text(encoding="utf-8")


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


def api_as(server: RunningServer, role: str, name: str) -> PalabreApi:
    """The API client of `name` with `role` on `server`."""
    return PalabreApi(server.url, server.token(role, name))


@asynccontextmanager
async def apis_as(server: RunningServer, role: str, *names: str) -> AsyncIterator[list[PalabreApi]]:
    """Open API clients on `server` for each of `names`, all with `role`, in that order."""
    async with AsyncExitStack() as stack:
        yield [await stack.enter_async_context(api_as(server, role, name)) for name in names]


@asynccontextmanager
async def charter_served(
    start_server: ServerFactory, **options: Any,
) -> AsyncIterator[tuple[RunningServer, PalabreApi]]:
    """A server (started with `options`) holding the charter as ``charte``, titled "Charte",
    and the API client of the facilitator who created it."""
    async with start_server(**options) as server, \
            PalabreApi(server.url, server.token("facilitator", FACILITATOR)) as api:
        await api.create_document("charte", "Charte", markdown=CHARTE)
        yield server, api


async def all_synced(*sessions: Session, within: float = 10) -> None:
    """Wait until each of `sessions` has synced, all within `within` seconds."""
    with anyio.fail_after(within):
        for session in sessions:
            await session.synced()


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


def names(peers: Mapping[int, JsonObject]) -> set[str]:
    """The ``user.name`` of every peer that has one."""
    found = set()
    for state in peers.values():
        user = state.get("user")
        if isinstance(user, dict) and isinstance(user.get("name"), str):
            found.add(str(user["name"]))
    return found
