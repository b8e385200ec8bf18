"""The fuzzers' harness: one real server process reused across examples, driven from
synchronous hypothesis tests through an anyio portal, with the checks every example ends on.

The server is ``palabre serve`` in a subprocess (its stderr goes to ``server.log`` in its
data folder, so a traceback anywhere in it is seen). Hypothesis runs each example in the
test's thread; everything touching sockets runs in the portal's event loop, which lives as
long as the module's server.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import ExitStack, asynccontextmanager, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import anyio
import httpx
from anyio.from_thread import BlockingPortal, start_blocking_portal
from pycrdt import Doc, Text, XmlElement, XmlFragment, XmlText
from websockets.asyncio.client import ClientConnection
from websockets.asyncio.client import connect as ws_connect
from websockets.exceptions import ConnectionClosed

import client
from client.api import PalabreApi
from client.session import Session
from crdt.protocol import CloseCode
from crdt.schema import FRAGMENT
from crdt.shape import TextBounds, subtree_refusal
from tests.e2e.serverprocess import ServerProcess, server_process

T = TypeVar("T")

WAIT = 15
BOUNDS = TextBounds(block_chars=2_000, attribute_chars=256)
MAX_MESSAGE_BYTES = 256 * 1024
SERVER_ENV = {
    # Small bounds make "past the bound" cheap to reach in a few examples.
    "PALABRE_MAX_MESSAGE_BYTES": str(MAX_MESSAGE_BYTES),
    "PALABRE_LIMIT_BLOCK_CHARS": str(BOUNDS.block_chars),
    "PALABRE_LIMIT_ATTRIBUTE_CHARS": str(BOUNDS.attribute_chars),
    # Every example opens sockets as the same attacker and probes as the same member:
    # their rates must not end the run.
    "PALABRE_SOCKET_UPDATE_RATE_PER_SECOND": "0",
    "PALABRE_LIMIT_AWARENESS_RATE_PER_SECOND": "0",
    "PALABRE_LIMIT_SOCKET_OPENS_PER_SECOND": "0",
    "PALABRE_HTTP_RATE_PER_SECOND": "0",
}
DOCUMENTED_CLOSES = frozenset(CloseCode) - {CloseCode.INTERNAL}
"""Codes a socket may end with: every one of the README's table but 1011 (a bug)."""
ATTACKER = ("member", "Mallory Fuzz")


@dataclass(slots=True)
class Honest:
    """Two honest members on one document: one writes, the other must see it."""

    writer: Session
    reader: Session
    count: int = 0

    async def round_trip(self) -> None:
        """The writer's edit reaches the reader within `WAIT` seconds."""
        self.count += 1
        marker = f"[honnête {self.count}]"
        with anyio.fail_after(WAIT):
            self.writer.doc.get("body", type=Text).insert(0, marker)
            await self.reader.wait_for(
                lambda: marker in str(self.reader.doc.get("body", type=Text))
            )


@dataclass(slots=True)
class FuzzTarget:
    """The running server, the portal that talks to it, and the checks of an example."""

    portal: BlockingPortal
    process: ServerProcess

    @property
    def log(self) -> Path:
        """The server's stderr."""
        return self.process.data_dir / "server.log"

    def run(self, function: Callable[[], Awaitable[T]]) -> T:
        """Run `function` in the portal's event loop; its result."""
        return self.portal.call(function)

    def token(self, role: str, name: str) -> str:
        """A token of this server."""
        return self.process.token(role, name)

    def attacker_url(self, path: str) -> str:
        """A socket URL on `path` carrying the attacker's token."""
        return f"{self.process.ws_url}{path}?token={self.token(*ATTACKER)}"

    @contextmanager
    def honest(self, doc_id: str) -> Iterator[Honest]:
        """Create `doc_id` (a facilitator), then keep two honest members on it."""

        @asynccontextmanager
        async def sessions() -> AsyncIterator[Honest]:
            url = self.process.url
            async with PalabreApi(url, self.token("facilitator", "Fatou Diallo")) as api:
                await api.create_document(doc_id, doc_id, markdown="# Titre\n\nPremier.\n")
            async with (
                client.connect(url, doc_id, self.token("member", "Élodie Martin")) as writer,
                client.connect(url, doc_id, self.token("member", "Zoé Lefèvre")) as reader,
            ):
                with anyio.fail_after(WAIT):
                    await writer.synced()
                    await reader.synced()
                yield Honest(writer, reader)

        with self.portal.wrap_async_context_manager(sessions()) as honest:
            yield honest

    def assert_still_serving(self, doc_id: str, honest: Honest) -> None:
        """The checks each example ends on: no 5xx, a valid stored tree, the honest edit
        round-trips, and the server logged no traceback."""

        async def check() -> None:
            await assert_no_server_error(self.process, doc_id)
            await assert_stored_tree_is_valid(self.process.url, doc_id, self.token(*ATTACKER))
            await honest.round_trip()

        self.run(check)
        assert_no_traceback(self.log)


@contextmanager
def fuzz_target(data_dir: Path) -> Iterator[FuzzTarget]:
    """Start the server (in its own process) and the portal; stop both on leaving."""
    with ExitStack() as stack:
        portal = stack.enter_context(start_blocking_portal())
        process = stack.enter_context(portal.wrap_async_context_manager(
            server_process(data_dir, env=SERVER_ENV)
        ))
        yield FuzzTarget(portal, process)
        assert_no_traceback(data_dir / "server.log")


def assert_no_traceback(log: Path) -> None:
    """The server's stderr shows no unhandled error."""
    text = log.read_text(encoding="utf-8", errors="replace")
    assert "Traceback" not in text, text[text.index("Traceback") - 2_000:][:6_000]


async def assert_no_server_error(process: ServerProcess, doc_id: str) -> None:
    """The probes and every export of `doc_id` answer without 5xx."""
    headers = {"Authorization": f"Bearer {process.token('member', 'Zoé Lefèvre')}"}
    async with httpx.AsyncClient(base_url=process.url, headers=headers, timeout=WAIT) as http:
        assert (await http.get("/healthz")).status_code == 200
        for fmt in ("json", "md", "html", "text"):
            answer = await http.get(f"/api/documents/{doc_id}/content", params={"format": fmt})
            assert answer.status_code == 200, (fmt, answer.status_code, answer.text[:500])
            if fmt == "json":
                assert isinstance(json.loads(answer.text)["blocks"], list)


async def assert_stored_tree_is_valid(url: str, doc_id: str, token: str) -> None:
    """A fresh socket sync of `doc_id` holds only nodes the shape rules accept."""
    async with client.connect(url, doc_id, token, reconnect=False) as fresh:
        with anyio.fail_after(WAIT):
            await fresh.synced()
        fragment = fresh.doc.get(FRAGMENT, type=XmlFragment)
        for node in fragment.children:
            if isinstance(node, XmlElement | XmlText):
                refusal = subtree_refusal(node, BOUNDS)
                assert refusal is None, f"the server stored an invalid tree: {refusal}"


async def close_after(url: str, frames: list[bytes | str]) -> int:
    """Send `frames` on a fresh socket at `url`, then close it: the code the server gave.

    The server reads a socket's frames in order, so our close (1000) is read after every
    frame: it answers with its own earlier close if one of them ended the socket, else
    echoes ours. A server that does not answer within websockets' close timeout gets the
    abnormal 1006 (not a documented code).
    """
    async with ws_connect(url, max_size=None, close_timeout=WAIT) as socket:
        for frame in frames:
            try:
                await socket.send(frame)
            except ConnectionClosed:
                break
        await drain_and_close(socket)
    code = socket.close_code
    assert code is not None
    return code


async def drain_and_close(socket: ClientConnection) -> None:
    """Close with 1000, reading (and dropping) what the server still sends."""
    async with anyio.create_task_group() as tg:

        async def drain() -> None:
            try:
                async for _ in socket:
                    pass
            except ConnectionClosed:
                pass  # the server's own close: its code is the socket's close_code

        tg.start_soon(drain)
        await socket.close()


def state_of(honest: Honest) -> bytes:
    """The honest writer's full state (it is synced with the server)."""
    update: bytes = honest.writer.doc.get_update()
    return update


def replica(state: bytes) -> Doc[Any]:
    """A fresh document holding `state`, with a client id of its own."""
    doc: Doc[Any] = Doc()
    doc.apply_update(state)
    return doc
