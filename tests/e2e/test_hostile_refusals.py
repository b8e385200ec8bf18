"""Refused in a loop, refused sooner: what a principal's refusals cost it.

Found by `bench/hostile.py` (one citizen next to W1's fifty honest clients, issue 21):

- a socket refused for what its client asked (a document it may not open: 4403) or sent
  (a malformed, oversized or forbidden message: 1002, 1009, 4403; updates or awareness
  past their rate: 1013) costs its principal
  `Limits.refused_socket_cost` more openings: looping on it, the principal is soon
  refused at the handshake (429), on every document, until it has waited its debt out;
- once this node has verified a token, a handshake of that token past its openings is
  answered 429 from the HTTP protocol, before uvicorn upgrades the connection
  (`server.sync.handshake`);
- the catalogue checks of one principal take turns (`Limits.admissions_per_principal`);
- a 429 is held `Limits.refusal_delay` before it is answered, within bounds
  (`server.access.pacing`): a client looping on refusals loops at that pace.

Each test checks the refusal, that nothing was stored, and that another principal is
served meanwhile.
"""

from __future__ import annotations

import base64
import os
import socket as sockets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import anyio
import pytest
from websockets.asyncio.client import connect as ws_connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from client.api import NotFound
from crdt.protocol import CloseCode, encode_sync_step1
from server.access.websession import COOKIE
from server.app.factory import PalabreApp
from tests.conftest import RunningServer, ServerFactory
from tests.e2e.api import api_as, close_of, http
from tests.e2e.test_hostile_sockets import (
    answers_sync,
    assert_honest_member_edits,
    assert_refused_at_the_handshake,
    create_document,
    limits,
)
from tests.e2e.test_signin import signed_in

DOC = "charte"
WAIT = 15


async def until_refused_early(server: RunningServer, target: str) -> None:
    """Wait until the handshake gate refuses `target`."""
    app = server.app
    assert isinstance(app, PalabreApp)
    with anyio.fail_after(WAIT):
        while app.handshake_gate.refusal(target.encode(), [], "127.0.0.1",  # noqa: ASYNC110
                                         is_https=False) is None:
            await anyio.sleep(0.01)  # the endpoint hears of the close: nothing to wait on


async def test_a_principal_opening_unknown_documents_is_soon_refused_at_the_handshake(
    start_server: ServerFactory,
) -> None:
    # 20 openings at once, none refilled: each unknown id costs 1 + 10.
    async with start_server(limits=limits(socket_opens_per_second=0.01, socket_opens_burst=20,
                                          refused_socket_cost=10)) as server:
        await create_document(server, DOC)
        mallory = server.token("citizen", "Mallory")
        for doc_id in ("inconnu-1", "inconnu-2"):
            refused = await close_of(f"{server.ws_url}/ws/{doc_id}?token={mallory}")
            assert refused.code == CloseCode.FORBIDDEN and "no document" in refused.reason
        # 20 - 2 * 11 < 0: refused before its catalogue is read, on every document.
        await assert_refused_at_the_handshake(f"{server.ws_url}/ws/inconnu-3?token={mallory}")
        await assert_refused_at_the_handshake(f"{server.ws_url}/ws/{DOC}?token={mallory}")
        async with api_as(server, "facilitator", "Fatou Diallo") as fatou:
            for doc_id in ("inconnu-1", "inconnu-2", "inconnu-3"):
                with pytest.raises(NotFound):
                    await fatou.get_document(doc_id)
        await assert_honest_member_edits(server, "malgré Mallory")


@pytest.mark.parametrize(("frame", "code"), [
    (b"\x00\x02" + b"\xff" * 9, CloseCode.MALFORMED),  # a length past the frame
    (b"\x00" * (64 * 1024 + 1), CloseCode.TOO_BIG),  # refused by the frame parser
])
async def test_a_socket_closed_for_what_it_sent_costs_its_principal_openings(
    start_server: ServerFactory, frame: bytes, code: CloseCode,
) -> None:
    async with start_server(max_message_bytes=64 * 1024, limits=limits(
        socket_opens_per_second=0.01, socket_opens_burst=10, refused_socket_cost=10,
    )) as server:
        await create_document(server, DOC)
        async with api_as(server, "facilitator", "Fatou Diallo") as fatou:
            before = await fatou.get_content(DOC, "md")
        mallory = server.token("citizen", "Mallory")
        url = f"{server.ws_url}/ws/{DOC}?token={mallory}"
        closed = await close_of(url, frame)
        assert closed.code == code
        # The frame parser's close frame (1009) is out before the endpoint hears of it.
        await until_refused_early(server, f"/ws/{DOC}?token={mallory}")
        await assert_refused_at_the_handshake(url)  # 10 - 1 - 10 < 0
        async with api_as(server, "facilitator", "Fatou Diallo") as fatou:
            assert await fatou.get_content(DOC, "md") == before
        await assert_honest_member_edits(server, "malgré Mallory")


async def test_sending_past_a_rate_costs_its_principal_openings(
    start_server: ServerFactory,
) -> None:
    async with start_server(socket_update_rate_per_second=0.01, socket_update_burst=2,
                            limits=limits(socket_opens_per_second=0.01, socket_opens_burst=10,
                                          refused_socket_cost=10)) as server:
        await create_document(server, DOC)
        mallory = server.token("citizen", "Mallory")
        url = f"{server.ws_url}/ws/{DOC}?token={mallory}"
        closed = await close_of(url, *[encode_sync_step1(b"\x00")] * 5)
        assert closed.code == CloseCode.OVERLOADED and "too many updates" in closed.reason
        await assert_refused_at_the_handshake(url)  # 10 - 1 - 10 < 0
        # Another principal is served (its own rate: one sync request).
        zoe = server.token("member", "Zoé Lefèvre")
        async with ws_connect(f"{server.ws_url}/ws/{DOC}?token={zoe}") as honest:
            await answers_sync(honest)


async def test_a_socket_closed_by_a_revocation_costs_nothing_more(
    start_server: ServerFactory,
) -> None:
    """A document deleted under an open socket is not its client's doing."""
    async with start_server(limits=limits(socket_opens_per_second=0.01, socket_opens_burst=2,
                                          refused_socket_cost=10)) as server:
        await create_document(server, DOC)
        await create_document(server, "autre")
        zoe = server.token("member", "Zoé Lefèvre")
        async with ws_connect(f"{server.ws_url}/ws/{DOC}?token={zoe}") as socket:
            await answers_sync(socket)
            async with http(server, server.token("facilitator", "Fatou Diallo")) as fatou:
                assert (await fatou.delete(f"/api/documents/{DOC}")).status_code == 204
            with anyio.fail_after(WAIT), pytest.raises(ConnectionClosed) as closed:
                while True:
                    await socket.recv()
        assert closed.value.rcvd is not None and closed.value.rcvd.code == CloseCode.FORBIDDEN
        async with ws_connect(f"{server.ws_url}/ws/autre?token={zoe}") as again:  # 2 - 1 left
            await answers_sync(again)


@asynccontextmanager
async def spent_openings(
    start_server: ServerFactory, burst: int,
) -> AsyncIterator[tuple[RunningServer, PalabreApp]]:
    """A server whose principals may open `burst` sockets, then one every 100 s (a refusal
    costs nothing more and is answered at once: a sign-in session stays cached through a
    few), and its document."""
    async with start_server(limits=limits(socket_opens_per_second=0.01, socket_opens_burst=burst,
                                          refused_socket_cost=0, refusal_delay=0)) as server:
        await create_document(server, DOC)
        app = server.app
        assert isinstance(app, PalabreApp)
        yield server, app


def open_handshake(server: RunningServer, path: str) -> sockets.socket:
    """A connection that has sent a WebSocket handshake on `path` (its answer unread)."""
    host, port = server.url.removeprefix("http://").split(":")
    conn = sockets.create_connection((host, int(port)), timeout=WAIT)
    key = base64.b64encode(os.urandom(16)).decode()
    conn.sendall((f"GET {path} HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\n"
                  f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
                  "Sec-WebSocket-Version: 13\r\n\r\n").encode())
    return conn


def answer_of(conn: sockets.socket) -> bytes:
    """Everything the server writes on `conn` until it closes it (blocking)."""
    answer = b""
    with conn:
        while chunk := conn.recv(4096):
            answer += chunk
    return answer


def raw_handshake(server: RunningServer, path: str) -> bytes:
    """Everything the server answers to a WebSocket handshake on `path` before it closes
    the connection (blocking; a refused handshake ends with the connection)."""
    return answer_of(open_handshake(server, path))


async def test_a_known_token_past_its_openings_is_refused_before_the_upgrade(
    start_server: ServerFactory,
) -> None:
    async with spent_openings(start_server, 2) as (server, app):
        gate = app.handshake_gate
        mallory = server.token("citizen", "Mallory")
        target = f"/ws/{DOC}?token={mallory}".encode()
        # A token this node never saw: verified now, its openings are not spent.
        assert gate.refusal(target, [], "127.0.0.1", is_https=False) is None
        for _ in range(2):
            async with ws_connect(f"{server.ws_url}/ws/{DOC}?token={mallory}") as socket:
                await answers_sync(socket)
        refused = gate.refusal(target, [], "127.0.0.1", is_https=False)
        assert refused is not None and refused[1].startswith(b"HTTP/1.1 429 ")
        # Over the wire: the 429 and the end of the connection, no upgrade.
        path = f"/ws/{DOC}?token={mallory}"
        wire = await anyio.to_thread.run_sync(lambda: raw_handshake(server, path))
        assert wire.startswith(b"HTTP/1.1 429 ") and b"opening sockets too fast" in wire
        # Not the gate's business: another path, another principal.
        assert gate.refusal(b"/api/documents", [], "127.0.0.1", is_https=False) is None
        elodie = server.token("member", "Élodie Martin")
        assert gate.refusal(f"/ws/{DOC}?token={elodie}".encode(), [], "127.0.0.1",
                            is_https=False) is None
        await assert_honest_member_edits(server, "malgré Mallory")


async def test_sockets_without_a_token_are_refused_before_the_upgrade_per_address(
    start_server: ServerFactory,
) -> None:
    async with spent_openings(start_server, 1) as (server, app):
        gate = app.handshake_gate
        target = f"/ws/{DOC}".encode()
        assert gate.refusal(target, [], "127.0.0.1", is_https=False) is None
        refused = await close_of(f"{server.ws_url}/ws/{DOC}")  # the public: not readable
        assert refused.code == CloseCode.FORBIDDEN
        answer = gate.refusal(target, [], "127.0.0.1", is_https=False)
        assert answer is not None and b"opening sockets too fast" in answer[1]
        assert gate.refusal(target, [], "192.0.2.7", is_https=False) is None  # another address
        # Keyed by the endpoint: an address a proxy forwarded.
        forwarded = [(b"x-forwarded-for", b"192.0.2.8")]
        assert gate.refusal(target, forwarded, "127.0.0.1", is_https=False) is None
        # A sign-in cookie whose session is not cached here is its address's until read.
        cookie = [(b"cookie", f"{COOKIE}={'a' * 43}".encode())]
        answer = gate.refusal(target, cookie, "127.0.0.1", is_https=False)
        assert answer is not None and b"opening sockets too fast" in answer[1]


async def test_made_up_tokens_are_refused_before_the_upgrade_as_their_address(
    start_server: ServerFactory,
) -> None:
    async with spent_openings(start_server, 1) as (server, app):
        gate = app.handshake_gate
        refused = await close_of(f"{server.ws_url}/ws/{DOC}?token=made.up.token")
        assert refused.code == CloseCode.UNAUTHENTICATED
        # Keyed as the public of its address, whose opening is spent: a fresh made-up
        # token each time changes nothing.
        answer = gate.refusal(f"/ws/{DOC}?token=another.made.up".encode(), [], "127.0.0.1",
                              is_https=False)
        assert answer is not None and b"opening sockets too fast" in answer[1]
        wire = await anyio.to_thread.run_sync(
            lambda: raw_handshake(server, f"/ws/{DOC}?token=yet.another.one"))
        assert wire.startswith(b"HTTP/1.1 429 ")
        # A valid token is its subject's, whatever its address did.
        zoe = server.token("member", "Zoé Lefèvre")
        assert gate.refusal(f"/ws/{DOC}?token={zoe}".encode(), [], "127.0.0.1",
                            is_https=False) is None
        await assert_honest_member_edits(server, "malgré les faux jetons")


async def test_made_up_sign_in_cookies_cost_one_database_read_per_opening_of_their_address(
    start_server: ServerFactory,
) -> None:
    async with spent_openings(start_server, 1) as (server, app):
        sessions = app.sync_endpoint.services.access.sessions
        assert sessions is not None
        async with signed_in(server, server.token("member", "Élodie Martin")) as browser:
            real = browser.cookies.get(COOKIE)
        assert real
        url = f"{server.ws_url}/ws/{DOC}"

        def opening(cookie: str) -> dict[str, str]:
            return {"Cookie": f"{COOKIE}={cookie}", "Origin": server.url}

        before = sessions.reads
        async with ws_connect(url, additional_headers=opening("a" * 43)) as socket:
            with anyio.fail_after(WAIT), pytest.raises(ConnectionClosed) as closed:
                while True:
                    await socket.recv()
        assert closed.value.rcvd is not None
        assert closed.value.rcvd.code == CloseCode.UNAUTHENTICATED
        assert sessions.reads == before + 1
        # The address's opening is spent: more made-up cookies are refused with 429 before
        # their session is looked for.
        for made_up in ("b" * 43, "c" * 43):
            with pytest.raises(InvalidStatus) as status:
                async with ws_connect(url, additional_headers=opening(made_up)):
                    pass
            assert status.value.response.status_code == 429
        assert sessions.reads == before + 1
        # A session signed in on this node is known without a read: its page's socket opens
        # under its subject's own openings.
        async with ws_connect(url, additional_headers=opening(real)) as socket:
            await socket.send(encode_sync_step1(b"\x00"))
            with anyio.fail_after(WAIT):
                assert await socket.recv()
        assert sessions.reads == before + 1



async def until_held(app: PalabreApp, count: int) -> None:
    """Wait until `count` refusals are held on the node."""
    with anyio.fail_after(WAIT):
        while app.state.access.pacer.held != count:  # noqa: ASYNC110
            await anyio.sleep(0.01)  # the refusals arrive over sockets of their own


async def test_refusals_are_held_for_their_delay_within_their_bounds(
    start_server: ServerFactory,
) -> None:
    """Two handshakes refused are held (the delay outlasts the test), a third is answered
    at once (two held per principal at most), the honest members are served meanwhile,
    and a held refusal is answered when its delay is over."""
    async with start_server(limits=limits(
        socket_opens_per_second=0.01, socket_opens_burst=1, refused_socket_cost=0,
        refusal_delay=60, refusals_held_per_key=2,
    )) as server:
        await create_document(server, DOC)
        app = server.app
        assert isinstance(app, PalabreApp)
        mallory = server.token("citizen", "Mallory")
        path = f"/ws/{DOC}?token={mallory}"
        async with ws_connect(f"{server.ws_url}{path}") as socket:  # its one opening
            await answers_sync(socket)
        held = [await anyio.to_thread.run_sync(lambda: open_handshake(server, path))
                for _ in range(2)]
        await until_held(app, 2)
        third = await anyio.to_thread.run_sync(lambda: answer_of(open_handshake(server, path)))
        assert third.startswith(b"HTTP/1.1 429 ") and b"opening sockets too fast" in third
        assert app.state.access.pacer.held == 2
        await assert_honest_member_edits(server, "malgré Mallory")
        for conn in held:
            conn.close()
    # A short delay: the refusal arrives, and the pacer forgets it.
    async with start_server(limits=limits(
        socket_opens_per_second=0.01, socket_opens_burst=1, refused_socket_cost=0,
        refusal_delay=0.2,
    )) as server:
        await create_document(server, DOC)
        app = server.app
        assert isinstance(app, PalabreApp)
        path = f"/ws/{DOC}?token={server.token('citizen', 'Mallory')}"
        async with ws_connect(f"{server.ws_url}{path}") as socket:
            await answers_sync(socket)
        wire = await anyio.to_thread.run_sync(lambda: answer_of(open_handshake(server, path)))
        assert wire.startswith(b"HTTP/1.1 429 ")
        await until_held(app, 0)


async def test_a_request_past_its_rate_waits_for_its_refusal(
    start_server: ServerFactory,
) -> None:
    async with start_server(http_rate_per_second=0.01, http_burst=1,
                            limits=limits(refusal_delay=60)) as server:
        await create_document(server, DOC)
        app = server.app
        assert isinstance(app, PalabreApp)
        async with http(server, server.token("citizen", "Mallory")) as mallory:
            assert (await mallory.get(f"/api/documents/{DOC}")).status_code == 200
            async with anyio.create_task_group() as tasks:
                tasks.start_soon(mallory.get, f"/api/documents/{DOC}")
                await until_held(app, 1)
                await assert_honest_member_edits(server, "malgré Mallory")
                tasks.cancel_scope.cancel()  # the client gives up
        # The server answers the refusals it holds when it shuts down, without waiting.
