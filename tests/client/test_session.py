"""The session against a scripted y-websocket server: sync both ways, close codes turned
into typed errors, reconnection with offline edits, clean close with awareness removal.

The real palabre server is exercised in tests/e2e; this stub lets every close code and
handshake refusal be produced on demand.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from http import HTTPStatus
from typing import Any

import anyio
import pytest
from pycrdt import Doc, Text
from websockets.asyncio.server import ServerConnection, serve
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response

import client
from crdt.awareness import AwarenessEntry, decode_awareness_update
from crdt.document import apply
from crdt.protocol import (
    AwarenessMessage,
    CloseCode,
    SyncMessage,
    SyncStep,
    decode_message,
    encode_permission_denied,
    encode_sync_step1,
    encode_sync_step2,
)

ARTICLE = "Article 1 — La commune garantit l'égalité"
FAST = client.Backoff(initial=0.01, maximum=0.05)
CLOSES_A_RETRY_CANNOT_FIX: dict[CloseCode, type[client.SessionClosed]] = {
    CloseCode.MALFORMED: client.ProtocolRejected,
    CloseCode.UNSUPPORTED_DATA: client.ProtocolRejected,
    CloseCode.INVALID_UPDATE: client.ProtocolRejected,
    CloseCode.BAD_DOC_ID: client.ProtocolRejected,
    CloseCode.TOO_BIG: client.ProtocolRejected,
    CloseCode.UNAUTHENTICATED: client.Unauthenticated,
}
HANDSHAKE_REFUSALS: dict[HTTPStatus, type[client.SessionClosed]] = {
    HTTPStatus.UNAUTHORIZED: client.Unauthenticated,
    HTTPStatus.FORBIDDEN: client.Forbidden,
    HTTPStatus.NOT_FOUND: client.ProtocolRejected,
}


class StubHub:
    """A one-document y-websocket server whose refusals and closes the test decides."""

    def __init__(self) -> None:
        self.doc: Doc[Any] = Doc()
        self.sockets: list[ServerConnection] = []
        self.awareness: list[AwarenessEntry] = []
        self.close_codes: list[int | None] = []
        self.paths: list[str] = []
        self.refusal: HTTPStatus | None = None
        self.connections = 0
        self._changed = anyio.Event()

    def text(self) -> str:
        return str(self.doc.get("texte", type=Text))

    def notify(self) -> None:
        self._changed.set()
        self._changed = anyio.Event()

    async def wait(self, predicate: Callable[[], bool]) -> None:
        while not predicate():
            await self._changed.wait()

    def process_request(self, connection: ServerConnection, request: Request) -> Response | None:
        self.paths.append(request.path)
        if self.refusal is None:
            return None
        return connection.respond(self.refusal, "refusé\n")

    async def handler(self, ws: ServerConnection) -> None:
        self.connections += 1
        self.sockets.append(ws)
        self.notify()
        try:
            await ws.send(encode_sync_step1(self.doc.get_state()))
            async for frame in ws:
                assert isinstance(frame, bytes)
                await self._handle(ws, frame)
        except ConnectionClosed:
            pass
        finally:
            self.sockets.remove(ws)
            self.close_codes.append(ws.close_code)
            self.notify()

    async def _handle(self, ws: ServerConnection, frame: bytes) -> None:
        message = decode_message(frame)
        if isinstance(message, SyncMessage):
            if message.step == SyncStep.STEP1:
                await ws.send(encode_sync_step2(self.doc.get_update(message.payload)))
            else:
                apply(self.doc, message.payload)
        elif isinstance(message, AwarenessMessage):
            self.awareness.extend(decode_awareness_update(message.update))
        self.notify()

    async def close_all(self, code: int, reason: str) -> None:
        for ws in list(self.sockets):
            await ws.close(code, reason)


@asynccontextmanager
async def stub_hub() -> AsyncIterator[tuple[StubHub, str]]:
    hub = StubHub()
    async with serve(hub.handler, "127.0.0.1", 0, process_request=hub.process_request) as server:
        port = next(iter(server.sockets)).getsockname()[1]
        yield hub, f"http://127.0.0.1:{port}"


async def test_sync_both_ways_with_token_in_the_url() -> None:
    async with stub_hub() as (hub, url):
        hub.doc.get("texte", type=Text).insert(0, ARTICLE)
        with anyio.fail_after(5):
            async with client.connect(url, "charte", "jeton-Zoé", backoff=FAST) as session:
                await session.synced()
                text = session.doc.get("texte", type=Text)
                assert str(text) == ARTICLE
                text += " et la fraternité"
                await hub.wait(lambda: hub.text() == f"{ARTICLE} et la fraternité")
    assert hub.paths == ["/ws/charte?token=jeton-Zo%C3%A9"]


async def test_clean_exit_sends_awareness_removal_and_closes_normally() -> None:
    async with stub_hub() as (hub, url):
        with anyio.fail_after(5):
            async with client.connect(url, "charte") as session:
                await session.synced()
                session.set_awareness({"user": {"name": "Élodie"}})
                await hub.wait(lambda: bool(hub.awareness))
            await hub.wait(lambda: hub.close_codes == [CloseCode.NORMAL])
    assert [entry.is_removal for entry in hub.awareness] == [False, True]
    assert hub.awareness[0].state == '{"user":{"name":"Élodie"}}'.encode()


async def test_forbidden_close_raises_from_waits_and_from_the_context() -> None:
    async with stub_hub() as (hub, url):
        with anyio.fail_after(5), pytest.raises(client.Forbidden) as caught:
            async with client.connect(url, "charte", backoff=FAST) as session:
                await hub.wait(lambda: bool(hub.sockets))
                await hub.close_all(CloseCode.FORBIDDEN, "document réservé aux facilitateurs")
                with pytest.raises(client.Forbidden):
                    await session.wait_for(lambda: False)
        assert caught.value.code == CloseCode.FORBIDDEN
        assert caught.value.reason == "document réservé aux facilitateurs"
        assert hub.connections == 1


@pytest.mark.parametrize(("code", "error"), CLOSES_A_RETRY_CANNOT_FIX.items())
async def test_codes_a_retry_cannot_fix_end_the_session(
    code: int, error: type[client.SessionClosed]
) -> None:
    async with stub_hub() as (hub, url):
        with anyio.fail_after(5), pytest.raises(error):
            async with client.connect(url, "charte", backoff=FAST) as session:
                await session.synced()
                await hub.close_all(code, "non")
                await session.wait_closed()
        assert hub.connections == 1


@pytest.mark.parametrize(("status", "error"), HANDSHAKE_REFUSALS.items())
async def test_handshake_refusal_raises_on_entering(
    status: HTTPStatus, error: type[client.SessionClosed]
) -> None:
    async with stub_hub() as (hub, url):
        hub.refusal = status
        with anyio.fail_after(5), pytest.raises(error):
            async with client.connect(url, "charte", backoff=FAST):
                pytest.fail("entered a refused session")


async def test_overloaded_close_reconnects_and_resends_offline_edits() -> None:
    async with stub_hub() as (hub, url):
        with anyio.fail_after(5):
            async with client.connect(url, "charte", backoff=FAST) as session:
                await session.synced()
                text = session.doc.get("texte", type=Text)
                text += "Zoé propose : "
                await hub.wait(lambda: hub.text() == "Zoé propose : ")
                hub.refusal = HTTPStatus.SERVICE_UNAVAILABLE
                await hub.close_all(CloseCode.OVERLOADED, "stockage indisponible")
                await session.wait_for(lambda: not session.is_connected)
                text += "l'égalité d'accès"
                assert session.has_unsent_updates
                hub.refusal = None
                session.resume()
                await session.synced()
                await hub.wait(lambda: hub.text() == "Zoé propose : l'égalité d'accès")
                await session.flushed()
        assert hub.close_codes[0] == CloseCode.OVERLOADED


async def test_server_edits_made_while_offline_arrive_with_the_resync() -> None:
    async with stub_hub() as (hub, url):
        with anyio.fail_after(5):
            async with client.connect(url, "charte", backoff=FAST) as session:
                await session.synced()
                await session.disconnect()
                hub.doc.get("texte", type=Text).insert(0, "Élodie amende l'article 2")
                session.resume()
                text = session.doc.get("texte", type=Text)
                await session.wait_for(lambda: str(text) == "Élodie amende l'article 2")


async def test_without_reconnect_a_lost_socket_ends_the_session_quietly() -> None:
    async with stub_hub() as (hub, url):
        with anyio.fail_after(5):
            async with client.connect(url, "charte", reconnect=False) as session:
                await session.synced()
                await hub.close_all(CloseCode.INTERNAL, "panne")
                with pytest.raises(client.ConnectionLost) as caught:
                    await session.wait_closed()
        assert caught.value.code == CloseCode.INTERNAL
        assert session.last_close == (CloseCode.INTERNAL, "panne")
        assert hub.connections == 1


async def test_unreachable_server_without_reconnect_raises_on_entering(
    refusing_port: int,
) -> None:
    with anyio.fail_after(5), pytest.raises(client.ConnectionLost):
        async with client.connect(f"http://127.0.0.1:{refusing_port}", "charte",
                                  reconnect=False):
            pytest.fail("entered a session with no server")


async def test_back_off_gives_up_after_max_attempts(refusing_port: int) -> None:
    backoff = client.Backoff(initial=0.001, maximum=0.01, max_attempts=3)
    url = f"http://127.0.0.1:{refusing_port}"
    with anyio.fail_after(5), pytest.raises(client.ConnectionLost) as caught:
        async with client.connect(url, "charte", backoff=backoff) as session:
            await session.wait_closed()
    assert "gave up after 3" in caught.value.reason


async def test_permission_denied_is_recorded_and_the_callback_called() -> None:
    reasons: list[str] = []
    async with stub_hub() as (hub, url):
        with anyio.fail_after(5):
            async with client.connect(url, "charte", on_denied=reasons.append) as session:
                await session.synced()
                await hub.sockets[0].send(encode_permission_denied("document gelé pour l'adoption"))
                await session.wait_for(lambda: bool(session.denials))
    assert session.denials == ["document gelé pour l'adoption"]
    assert reasons == session.denials


async def test_garbage_from_the_server_closes_with_1002_and_ends_the_session() -> None:
    async with stub_hub() as (hub, url):
        with anyio.fail_after(5), pytest.raises(client.SessionClosed) as caught:
            async with client.connect(url, "charte") as session:
                await session.synced()
                await hub.sockets[0].send(b"\x09\x09")
                await session.wait_closed()
        assert caught.value.code == CloseCode.MALFORMED
        await hub.wait(lambda: bool(hub.close_codes))
        assert hub.close_codes == [CloseCode.MALFORMED]


async def test_an_exception_in_the_body_propagates_unchanged() -> None:
    async with stub_hub() as (_, url):
        with anyio.fail_after(5), pytest.raises(KeyError):
            async with client.connect(url, "charte"):
                raise KeyError("Zoé")


async def test_flushed_returns_once_local_edits_were_handed_to_the_socket() -> None:
    async with stub_hub() as (_, url):
        with anyio.fail_after(5):
            async with client.connect(url, "charte") as session:
                await session.synced()
                session.doc.get("texte", type=Text).insert(0, ARTICLE)
                assert session.has_unsent_updates
                await session.flushed()
                assert not session.has_unsent_updates


async def test_disconnecting_twice_then_resuming_reconnects() -> None:
    async with stub_hub() as (hub, url):
        with anyio.fail_after(5):
            no_delay = client.Backoff(initial=0.0, maximum=0.0)
            async with client.connect(url, "charte", backoff=no_delay) as session:
                await session.synced()
                await session.disconnect()
                # Let the connection loop reach its wait for `resume`.
                await anyio.wait_all_tasks_blocked()
                await session.disconnect(abrupt=True)
                session.doc.get("texte", type=Text).insert(0, "Anaïs, hors ligne")
                session.resume()
                await session.synced()
                await hub.wait(lambda: hub.text() == "Anaïs, hors ligne")
        assert hub.connections == 2
