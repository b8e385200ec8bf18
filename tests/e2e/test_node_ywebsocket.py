"""The official, unmodified Node `y-websocket` client syncs with palabre.

Each Node peer is a process running tests/node/peer.mjs (a `WebsocketProvider` with `ws`
as its WebSocket), driven by JSON lines on stdin and reporting events on stdout. Python
clients are pycrdt's own `Provider` over a `websockets` connection, with awareness decoded
by pycrdt's `Awareness`. Nothing here sleeps: every wait is on a peer's event or a Doc
observer, under `fail_after`.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import AsyncIterator, Callable, Iterable, Mapping
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from pathlib import Path
from typing import Any, TypeVar

import anyio
import pytest
from anyio.abc import Process
from anyio.streams.buffered import BufferedByteReceiveStream
from pycrdt import Awareness, Doc, Provider, Text, YMessageType, read_message, write_var_uint
from websockets.asyncio.client import ClientConnection
from websockets.asyncio.client import connect as ws_connect
from websockets.exceptions import ConnectionClosedOK

from tests.conftest import RunningServer, ServerFactory, require_service

pytestmark = pytest.mark.node

NODE_DIR = Path(__file__).resolve().parents[1] / "node"
PEER_SCRIPT = NODE_DIR / "peer.mjs"
PINNED: dict[str, str] = {
    name: version
    for name, version in json.loads((NODE_DIR / "package.json").read_text())[
        "dependencies"
    ].items()
    if name in ("yjs", "y-websocket", "ws")  # what peer.mjs loads (and reports)
}
WAIT_SECONDS = 15
FIELD = "text"

ARTICLE = "Article 1 — La commune garantit l'égalité des habitant·es"

Json = dict[str, Any]


class PeerExited(AssertionError):
    """The Node peer's process ended while a test waited on it."""


class NodePeer:
    """One Node `WebsocketProvider` in its own process: commands in, events out."""

    def __init__(self, process: Process, label: str) -> None:
        self.label = label
        self.events: list[Json] = []
        self.stderr = bytearray()
        self.client_id = 0
        self._process = process
        self._replies: dict[int, Json] = {}
        self._next_id = 0
        self._changed = anyio.Event()
        self._exited = False
        self._is_killed = False

    # -- plumbing -----------------------------------------------------------------------

    def _notify(self) -> None:
        changed, self._changed = self._changed, anyio.Event()
        changed.set()

    async def read_stdout(self) -> None:
        """Sort stdout lines into replies and events until the process closes stdout."""
        assert self._process.stdout is not None
        lines = BufferedByteReceiveStream(self._process.stdout)
        try:
            while True:
                message: Json = json.loads(await lines.receive_until(b"\n", 1 << 20))
                if "event" in message:
                    self.events.append(message)
                else:
                    self._replies[message["id"]] = message
                self._notify()
        except (anyio.IncompleteRead, anyio.EndOfStream, anyio.ClosedResourceError):
            self._exited = True
            self._notify()

    async def read_stderr(self) -> None:
        """Keep the process's stderr (library warnings) for failure messages."""
        assert self._process.stderr is not None
        try:
            async for chunk in self._process.stderr:
                self.stderr.extend(chunk)
        except anyio.ClosedResourceError:
            pass  # closed by `aclose` once the process is gone

    def _describe(self) -> str:
        tail = self.stderr.decode(errors="replace")[-2000:]
        return f"node peer {self.label}: events {self.events[-10:]}; stderr: {tail}"

    async def _wait(self, found: Callable[[], Json | None], what: str) -> Json:
        try:
            with anyio.fail_after(WAIT_SECONDS):
                while (result := found()) is None:
                    if self._exited:
                        raise PeerExited(f"exited while waiting for {what}; {self._describe()}")
                    await self._changed.wait()
        except TimeoutError as exc:
            raise AssertionError(f"timed out waiting for {what}; {self._describe()}") from exc
        return result

    async def request(self, cmd: str, **args: Any) -> Json:
        """Send a command and return its result; a refused command fails the test."""
        self._next_id += 1
        request_id = self._next_id
        assert self._process.stdin is not None
        line = json.dumps({"id": request_id, "cmd": cmd, **args}) + "\n"
        await self._process.stdin.send(line.encode())
        reply = await self._wait(lambda: self._replies.pop(request_id, None), f"reply to {cmd}")
        if not reply["ok"]:
            raise AssertionError(f"{cmd} refused: {reply['error']}; {self._describe()}")
        result: Json = reply["result"]
        return result

    def mark(self) -> int:
        """Position in the event stream: wait for events after it."""
        return len(self.events)

    async def wait_event(
        self, name: str, since: int, where: Callable[[Json], bool] | None = None, **fields: Any
    ) -> Json:
        """The first event `name` after `since` with the given field values (and `where`)."""

        def found() -> Json | None:
            for event in self.events[since:]:
                if (
                    event["event"] == name
                    and all(event.get(key) == value for key, value in fields.items())
                    and (where is None or where(event))
                ):
                    return event
            return None

        return await self._wait(found, f"{name} {fields}")

    # -- what the tests say -------------------------------------------------------------

    async def ready(self) -> Json:
        """The peer's start-up event, with the versions of yjs, y-websocket and ws it loaded."""
        return await self.wait_event("ready", 0)

    async def connect(self, server: RunningServer, doc_id: str, token: str | None = None) -> None:
        """Open a `WebsocketProvider` on `doc_id` (a member's token by default); wait for sync."""
        since = self.mark()
        result = await self.request(
            "connect",
            url=server.ws_url + "/ws",
            docId=doc_id,
            params={"token": token or server.token(name="Zoé")},
            field=FIELD,
        )
        self.client_id = result["clientId"]
        assert result["url"].startswith(f"{server.ws_url}/ws/{doc_id}?token=")
        await self.wait_event("synced", since, synced=True)

    async def insert(self, text: str, index: int | None = None) -> str:
        """Insert into the shared text (at the end by default); return the text after."""
        args: Json = {"text": text} if index is None else {"text": text, "index": index}
        result = await self.request("insert", **args)
        return str(result["text"])

    async def text(self) -> str:
        """The peer's current text."""
        return str((await self.request("getText"))["text"])

    async def wait_text(self, *expected: str) -> str:
        """Wait until the peer's text is one of `expected`; return it."""
        since = self.mark()
        text = await self.text()
        if text not in expected:
            event = await self.wait_event("text-changed", since, lambda e: e["text"] in expected)
            text = event["text"]
        return text

    async def wait_names(self, expected: list[str]) -> None:
        """Wait until the other clients' awareness names are `expected` (sorted)."""
        since = self.mark()
        if (await self.request("getAwarenessNames"))["names"] != expected:
            await self.wait_event("awareness-changed", since, names=expected)

    async def disconnect(self) -> None:
        """`provider.disconnect()`: the socket closes and the provider stays offline."""
        since = self.mark()
        await self.request("disconnect")
        await self.wait_event("status", since, status="disconnected")

    async def reconnect(self) -> None:
        """`provider.connect()` again, and wait until it is synced."""
        since = self.mark()
        await self.request("reconnect")
        await self.wait_event("synced", since, synced=True)

    async def quit(self) -> None:
        """Destroy the provider and wait for the process to exit cleanly."""
        if not self._exited:
            await self.request("quit")
        with anyio.fail_after(WAIT_SECONDS):
            code = await self._process.wait()
        assert code == 0, self._describe()

    def kill(self) -> None:
        """SIGKILL: the socket drops without a close frame or an awareness goodbye."""
        self._is_killed = True
        self._process.kill()

    async def aclose(self) -> None:
        """Quit if still running (kill if it will not), then reap the process."""
        with anyio.CancelScope(shield=True):
            if not (self._exited or self._is_killed):
                with anyio.move_on_after(WAIT_SECONDS):
                    await self.quit()
            if self._process.returncode is None:
                self._process.kill()
            await self._process.aclose()


NodePeerFactory = Callable[[str], AbstractAsyncContextManager[NodePeer]]


PeerT = TypeVar("PeerT", bound=NodePeer)


def peer_launcher(
    peer_class: type[PeerT],
    script: Path,
    packages: Iterable[str],
    *,
    versions: Mapping[str, str] | None = None,
) -> Callable[[str], AbstractAsyncContextManager[PeerT]]:
    """A factory of Node peer processes running `script`, each ready when handed over.

    Fails in CI and skips elsewhere when Node.js or one of `packages` is missing; with
    `versions`, checks that the peer loaded exactly those package versions.
    """
    node = shutil.which("node")
    if node is None:
        require_service("node", "no `node` on PATH (install Node.js >= 18)")
    assert node is not None
    missing = [name for name in packages if not (NODE_DIR / "node_modules" / name).is_dir()]
    if missing:
        require_service("npm packages", f"{missing} missing: run `make node-deps` (npm ci)")

    @asynccontextmanager
    async def start(label: str) -> AsyncIterator[PeerT]:
        process = await anyio.open_process([node, str(script)], cwd=NODE_DIR)
        peer = peer_class(process, label)
        async with anyio.create_task_group() as tg:
            tg.start_soon(peer.read_stdout)
            tg.start_soon(peer.read_stderr)
            try:
                ready = await peer.ready()
                if versions is not None:
                    assert ready["versions"] == versions, "node_modules differ from package.json"
                yield peer
            finally:
                await peer.aclose()

    return start


@pytest.fixture
def node_peer() -> NodePeerFactory:
    """Factory: ``async with node_peer("label") as peer`` runs a Node y-websocket peer."""
    return peer_launcher(NodePeer, PEER_SCRIPT, PINNED, versions=PINNED)


class _Channel:
    """pycrdt's `Channel` over a websockets connection; awareness goes to an `Awareness`.

    pycrdt's `Provider` only speaks sync messages, so awareness messages are taken out of
    the stream here. The server sends nothing else to a member's socket.
    """

    def __init__(self, websocket: ClientConnection, doc_id: str, awareness: Awareness) -> None:
        self._websocket = websocket
        self._doc_id = doc_id
        self._awareness = awareness

    @property
    def path(self) -> str:
        return self._doc_id

    def __aiter__(self) -> _Channel:
        return self

    async def __anext__(self) -> bytes:
        try:
            return await self.recv()
        except ConnectionClosedOK:
            raise StopAsyncIteration from None

    async def send(self, message: bytes) -> None:
        await self._websocket.send(message)

    async def recv(self) -> bytes:
        while True:
            message = await self._websocket.recv()
            assert isinstance(message, bytes), "the server sent a text frame"
            if message[0] == YMessageType.SYNC:
                return message
            assert message[0] == YMessageType.AWARENESS, f"unexpected message {message!r}"
            self._awareness.apply_awareness_update(read_message(message[1:]), "remote")


class PythonClient:
    """A pycrdt Doc synced by pycrdt's `Provider`, with observers to wait on."""

    def __init__(self, doc: Doc[Any], websocket: ClientConnection) -> None:
        self.doc = doc
        self.text = doc.get(FIELD, type=Text)
        self.awareness = Awareness(doc)
        self.websocket = websocket
        self._changed = anyio.Event()
        self._clock = 0
        self.text.observe(lambda _event: self._notify())
        self.awareness.observe(lambda _topic, _change: self._notify())

    def _notify(self) -> None:
        changed, self._changed = self._changed, anyio.Event()
        changed.set()

    def names(self) -> list[str]:
        """Sorted names in the other clients' awareness states."""
        return sorted(
            state["user"]["name"]
            for client_id, state in self.awareness.states.items()
            if client_id != self.doc.client_id and "user" in state
        )

    def user_of(self, client_id: int) -> Json | None:
        """The `user` field of a client's awareness state, if it has one."""
        user: Json | None = self.awareness.states.get(client_id, {}).get("user")
        return user

    async def wait_until(self, condition: Callable[[], bool], what: str) -> None:
        """Wait until `condition()` holds, re-checked after every text or awareness change."""
        try:
            with anyio.fail_after(WAIT_SECONDS):
                while not condition():
                    await self._changed.wait()
        except TimeoutError as exc:
            raise AssertionError(
                f"timed out waiting for {what}: text {str(self.text)!r}, "
                f"awareness {self.awareness.states}"
            ) from exc

    async def wait_text(self, expected: str) -> None:
        """Wait until the text is `expected`."""
        await self.wait_until(lambda: str(self.text) == expected, f"text {expected!r}")

    async def set_user(self, name: str, color: str) -> None:
        """Announce `{"user": {name, color}}` as this client's awareness state.

        Encoded by hand: pycrdt's encoder writes a string's character count where
        y-protocols reads a UTF-8 byte count, which breaks names like "François".
        """
        self._clock += 1
        state = json.dumps({"user": {"name": name, "color": color}}, ensure_ascii=False).encode()
        update = (
            write_var_uint(1)
            + write_var_uint(self.doc.client_id)
            + write_var_uint(self._clock)
            + write_var_uint(len(state))
            + state
        )
        await self.websocket.send(
            write_var_uint(YMessageType.AWARENESS) + write_var_uint(len(update)) + update
        )


@asynccontextmanager
async def python_client(server: RunningServer, doc_id: str) -> AsyncIterator[PythonClient]:
    """A pycrdt `Provider` on `doc_id`, synced before it is handed over."""
    token = server.token(name="François")
    async with ws_connect(f"{server.ws_url}/ws/{doc_id}?token={token}") as websocket:
        client = PythonClient(Doc(), websocket)
        channel = _Channel(websocket, doc_id, client.awareness)
        async with Provider(client.doc, channel) as provider:
            with anyio.fail_after(WAIT_SECONDS):
                await provider.synced.wait()
            yield client


@asynccontextmanager
async def zoe_beside_python(
    start_server: ServerFactory, node_peer: NodePeerFactory, doc_id: str
) -> AsyncIterator[tuple[PythonClient, NodePeer]]:
    """A synced Python client and Zoé's Node peer, both on `doc_id` of a fresh server."""
    async with (
        start_server() as server,
        python_client(server, doc_id) as python,
        node_peer("zoé") as zoe,
    ):
        await zoe.connect(server, doc_id)
        yield python, zoe


async def test_node_and_python_clients_converge_with_awareness(
    start_server: ServerFactory, node_peer: NodePeerFactory
) -> None:
    async with zoe_beside_python(start_server, node_peer, "charte-commune") as (python, zoe):

        assert await zoe.insert(ARTICLE) == ARTICLE
        await python.wait_text(ARTICLE)

        amended = ARTICLE + " et la parité des assemblées."
        python.text += " et la parité des assemblées."
        await zoe.wait_text(amended)
        await python.wait_text(amended)

        await zoe.request("setAwareness", name="Zoé", color="#c0392b")
        await python.wait_until(lambda: python.names() == ["Zoé"], "Zoé's awareness")
        assert python.user_of(zoe.client_id) == {"name": "Zoé", "color": "#c0392b"}

        await python.set_user("François", "#2980b9")
        await zoe.wait_names(["François"])

        await zoe.disconnect()
        await python.wait_until(lambda: python.names() == [], "Zoé's awareness removed")


async def test_awareness_of_a_killed_node_client_is_removed_by_the_server(
    start_server: ServerFactory, node_peer: NodePeerFactory
) -> None:
    async with zoe_beside_python(start_server, node_peer, "charte-panne") as (python, zoe):
        await zoe.request("setAwareness", name="Zoé", color="#c0392b")
        await python.wait_until(lambda: python.names() == ["Zoé"], "Zoé's awareness")

        # No awareness goodbye is sent: only the server's removal on close can clear it.
        zoe.kill()
        await python.wait_until(lambda: python.names() == [], "Zoé's awareness removed")


async def test_node_offline_edits_merge_on_reconnect(
    start_server: ServerFactory, node_peer: NodePeerFactory
) -> None:
    doc_id = "charte-hors-ligne"
    preamble, amendment = "Préambule : ", " (amendement de François)"
    merged = preamble + ARTICLE + amendment
    async with (
        start_server() as server,
        python_client(server, doc_id) as python,
        node_peer("zoé") as zoe,
    ):
        python.text += ARTICLE
        await zoe.connect(server, doc_id)
        await zoe.wait_text(ARTICLE)

        await zoe.disconnect()
        assert await zoe.insert(preamble, index=0) == preamble + ARTICLE

        async with python_client(server, doc_id) as witness:
            python.text += amendment
            # Committed before Zoé comes back, so she can only get it by sync, not live.
            await witness.wait_text(ARTICLE + amendment)
            assert await zoe.text() == preamble + ARTICLE

            # y-websocket sends offline edits only as the step 2 answering the server's step 1.
            await zoe.reconnect()
            await zoe.wait_text(merged)
            await python.wait_text(merged)
            await witness.wait_text(merged)

        async with python_client(server, doc_id) as latecomer:
            assert str(latecomer.text) == merged


async def test_two_node_clients_converge_through_the_server(
    start_server: ServerFactory, node_peer: NodePeerFactory
) -> None:
    doc_id = "charte-deux"
    async with (
        start_server() as server,
        node_peer("zoé") as zoe,
        node_peer("françois") as francois,
    ):
        await zoe.connect(server, doc_id)
        await francois.connect(server, doc_id)

        await zoe.insert(ARTICLE)
        await francois.wait_text(ARTICLE)

        # Concurrent edits at both ends, neither peer waiting for the other.
        prefix, suffix = "Titre I — ", ", sans distinction."
        async with anyio.create_task_group() as tg:
            tg.start_soon(zoe.insert, prefix, 0)
            tg.start_soon(francois.insert, suffix)
        merged = prefix + ARTICLE + suffix
        await zoe.wait_text(merged)
        await francois.wait_text(merged)

        # Concurrent inserts at one place: Yjs orders them by client id, the same everywhere.
        async with anyio.create_task_group() as tg:
            tg.start_soon(zoe.insert, " Zoé.")
            tg.start_soon(francois.insert, " François.")
        either = (merged + " Zoé. François.", merged + " François. Zoé.")
        assert await zoe.wait_text(*either) == await francois.wait_text(*either)

        await zoe.request("setAwareness", name="Zoé", color="#c0392b")
        await francois.request("setAwareness", name="François", color="#2980b9")
        await zoe.wait_names(["François"])
        await francois.wait_names(["Zoé"])

        await zoe.quit()
        await francois.wait_names([])


async def test_node_citizen_reads_live_but_its_writes_are_refused(
    start_server: ServerFactory, node_peer: NodePeerFactory
) -> None:
    doc_id = "charte-lecture"
    async with (
        start_server() as server,
        python_client(server, doc_id) as python,
        node_peer("élodie") as elodie,
    ):
        python.text += ARTICLE
        await elodie.connect(server, doc_id, token=server.token("citizen", "Élodie"))
        await elodie.wait_text(ARTICLE)

        since = elodie.mark()
        await elodie.insert(" Amendement de la citoyenne.")
        denied = await elodie.wait_event("permission-denied", since)
        assert "read-only" in denied["reason"]

        # The socket stays open: the citizen still receives the members' edits live.
        python.text.insert(0, "Titre. ")
        await elodie.wait_event(
            "text-changed", since, where=lambda event: "Titre. " in str(event.get("text"))
        )
        async with python_client(server, doc_id) as latecomer:
            assert str(latecomer.text) == "Titre. " + ARTICLE
        assert str(python.text) == "Titre. " + ARTICLE
