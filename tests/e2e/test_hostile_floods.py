"""Hostile floods: what one participant repeats at will costs it, not everyone else.

Found by `bench/hostile.py` (one citizen next to W1's fifty honest clients):

- sockets opened in a loop (on unknown ids, or reconnecting as soon as closed) cost a
  handshake and a catalogue read each: openings are rate-limited per principal, and past
  the rate the handshake itself is refused with 429 (no socket, no close frames);
- a client that never reads kept the server parsing what it sent for 10 s after the
  server's close frame: past `BYTES_AFTER_CLOSE` the connection is dropped;
- sync step 1 answers the whole document and was free: it costs like an update;
- large JSON bodies cost their parse and check: they weigh on the HTTP rate by their size
  (facilitators excepted), and a body past the values one write may carry is refused in
  the pass that checks it.

Each test checks the refusal and that another principal is served meanwhile.
"""

from __future__ import annotations

import json
import logging
import os
import socket as sockets
import struct
from collections.abc import AsyncIterator

import anyio
import httpx
import pytest
from websockets.asyncio.client import connect as ws_connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from client.examples import create_example
from crdt.protocol import CloseCode, encode_sync_step1
from server.logs import LogThrottle, NoHandshakeLines
from tests.conftest import RunningServer, ServerFactory
from tests.e2e.api import api_as, close_of, http
from tests.e2e.test_hostile_refusals import open_handshake
from tests.e2e.test_hostile_sockets import (
    answers_sync,
    assert_honest_member_edits,
    assert_refused_at_the_handshake,
    create_document,
    limits,
)

DOC = "charte"
WAIT = 15


async def test_opening_sockets_too_fast_is_refused_at_the_handshake(
    start_server: ServerFactory,
) -> None:
    # The rate alone here: refused sockets cost more openings in the next test.
    async with start_server(limits=limits(socket_opens_per_second=0.01, socket_opens_burst=3,
                                          refused_socket_cost=0)) as server:
        await create_document(server, DOC)
        mallory = server.token("citizen", "Mallory")
        for doc_id in ("inconnu-1", "inconnu-2"):  # refused ones count too
            refused = await close_of(f"{server.ws_url}/ws/{doc_id}?token={mallory}")
            assert refused.code == CloseCode.FORBIDDEN
        async with ws_connect(f"{server.ws_url}/ws/{DOC}?token={mallory}") as third:
            await answers_sync(third)
            await assert_refused_at_the_handshake(f"{server.ws_url}/ws/{DOC}?token={mallory}")
            await answers_sync(third)  # what it holds keeps working
            # Another principal opens as usual.
            other = server.token("member", "Élodie Martin")
            async with ws_connect(f"{server.ws_url}/ws/{DOC}?token={other}") as honest:
                await answers_sync(honest)


async def test_sync_requests_cost_like_updates(start_server: ServerFactory) -> None:
    async with start_server(socket_update_rate_per_second=0.01, socket_update_burst=5) as server:
        await create_document(server, DOC)
        mallory = server.token("citizen", "Mallory")
        closed = await close_of(f"{server.ws_url}/ws/{DOC}?token={mallory}",
                                *[encode_sync_step1(b"\x00")] * 50)
        assert closed.code == CloseCode.OVERLOADED and "too many updates" in closed.reason


def raw_upgrade(server: RunningServer, path: str) -> sockets.socket:
    """A blocking TCP socket past the WebSocket handshake on `path` (a client that will
    never read what the server sends)."""
    conn = open_handshake(server, path)
    answer = b""
    while b"\r\n\r\n" not in answer:
        answer += conn.recv(4096)
    assert answer.startswith(b"HTTP/1.1 101"), answer[:200]
    return conn


def masked_frame(payload: bytes) -> bytes:
    """One client binary frame (FIN, opcode 2, masked)."""
    mask = os.urandom(4)
    size = len(payload)
    head = (b"\x82" + bytes([0x80 | size]) if size < 126
            else b"\x82\xfe" + struct.pack("!H", size))
    return head + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload))


async def test_a_client_sending_on_past_the_close_is_dropped(
    start_server: ServerFactory,
) -> None:
    async with start_server() as server:
        await create_document(server, DOC)
        mallory = server.token("citizen", "Mallory")
        conn = await anyio.to_thread.run_sync(
            lambda: raw_upgrade(server, f"/ws/{DOC}?token={mallory}"))
        junk = masked_frame(b"\x00\x02" + b"\xff" * 9)  # malformed: the server closes
        frame = masked_frame(b"\x01" + b"\x00" * 8000)
        most = 64 * 1024 * 1024  # far past what the kernel's buffers can hold

        def flood() -> int:
            sent = 0
            conn.sendall(junk)
            try:
                while sent < most:
                    conn.sendall(frame)
                    sent += len(frame)
            except OSError:
                return sent
            return -1

        with anyio.fail_after(WAIT * 2):
            sent = await anyio.to_thread.run_sync(flood)
        conn.close()
        # Dropped after BYTES_AFTER_CLOSE (plus what the kernel buffered meanwhile): before
        # the fix the server read all of it during the 10 s uvicorn waits for a close frame.
        assert sent != -1, "the server read everything sent after its close frame"
        async with ws_connect(f"{server.ws_url}/ws/{DOC}?token="
                              f"{server.token('member', 'Élodie Martin')}") as honest:
            await answers_sync(honest)


async def test_large_json_bodies_weigh_on_the_rate_by_their_size(
    start_server: ServerFactory,
) -> None:
    async with start_server(http_rate_per_second=0.01, http_burst=6,
                            http_json_bytes_per_request=1024) as server:
        async with api_as(server, "facilitator", "Fatou Diallo") as fatou:
            await create_example(fatou, "actors", "carte")
        patch = json.dumps({"actors": {"grain": {"description": "x" * 12_000}}}).encode()
        headers = {"Content-Type": "application/merge-patch+json"}
        async with http(server, server.token("citizen", "Mallory")) as mallory:
            # Let through (one token was left), then its weight is a debt: refused.
            first = await mallory.patch("/api/documents/carte/data", content=patch,
                                        headers=headers)
            assert first.status_code != 429
            after = await mallory.get("/api/documents/carte")
            assert after.status_code == 429 and after.headers["retry-after"]
        # A facilitator's body weighs one request, whatever its size.
        async with http(server, server.token("facilitator", "Fatou Diallo")) as fatou_http:
            for _ in range(3):
                big = await fatou_http.patch("/api/documents/carte/data", content=patch,
                                             headers=headers)
                assert big.status_code != 429
        # Another citizen is not affected.
        async with http(server, server.token("citizen", "Inès")) as ines:
            assert (await ines.get("/api/documents/carte")).status_code == 200


FLOOD = {"actors": {f"a{i}": {"name": "x", "tags": ["a", "b"]} for i in range(40)}}
"""40 proposed actors: more than 100 values."""


async def assert_a_citizens_flood_is_refused(server: RunningServer) -> None:
    """On a new actors map, a citizen's `FLOOD` is refused (at most 100 values) and
    nothing is stored."""
    async with api_as(server, "facilitator", "Fatou Diallo") as fatou:
        await create_example(fatou, "actors", "carte")
    async with http(server, server.token("citizen", "Mallory")) as mallory:
        before = (await mallory.get("/api/documents/carte/data")).json()
        refused = await mallory.patch("/api/documents/carte/data", json=FLOOD)
        assert refused.status_code == 422
        assert "at most 100 values" in refused.json()["detail"]
        assert (await mallory.get("/api/documents/carte/data")).json() == before


async def test_a_patch_past_the_values_per_write_is_refused_before_it_is_judged(
    start_server: ServerFactory,
) -> None:
    async with start_server(http_rate_per_second=0.0,
                            limits=limits(data_values_per_write=100)) as server:
        await assert_a_citizens_flood_is_refused(server)


def test_the_log_throttle_says_how_many_lines_it_skipped() -> None:
    throttle = LogThrottle(interval=3600)
    assert throttle.allow("a") == 0
    assert [throttle.allow("a") for _ in range(5)] == [None] * 5
    assert throttle.allow("b") == 0
    throttle = LogThrottle(interval=0)
    assert throttle.allow("a") == 0 and throttle.allow("a") == 0


async def test_many_refused_sockets_log_few_lines(
    start_server: ServerFactory, caplog: pytest.LogCaptureFixture,
) -> None:
    async with start_server() as server:
        mallory = server.token("citizen", "Mallory")
        for i in range(20):  # 4403, then 429 once its refusals have spent its openings
            with pytest.raises((ConnectionClosed, InvalidStatus)):
                async with ws_connect(f"{server.ws_url}/ws/inconnu-{i}?token={mallory}") as s:
                    await s.recv()
        lines = [r for r in caplog.records if "refused socket" in r.getMessage()]
        assert 1 <= len(lines) <= 2


def test_uvicorn_handshake_lines_are_dropped() -> None:
    line = logging.LogRecord("uvicorn.error", logging.INFO, __file__, 1,
                             '%s - "WebSocket %s" [accepted]', ("127.0.0.1:5", "/ws/x"), None)
    other = logging.LogRecord("uvicorn.error", logging.INFO, __file__, 1,
                              "Started server process [%d]", (1,), None)
    assert not NoHandshakeLines().filter(line) and NoHandshakeLines().filter(other)


async def test_an_honest_citizen_is_served_during_the_floods(start_server: ServerFactory) -> None:
    """The bounds above, together, leave the service to the others: a member edits while
    a citizen opens sockets and sends bodies in a loop."""
    async with start_server() as server:
        await create_document(server, DOC)
        mallory = server.token("citizen", "Mallory")
        stop = anyio.Event()

        async def open_in_a_loop() -> None:
            while not stop.is_set():
                try:
                    async with ws_connect(f"{server.ws_url}/ws/inconnu?token={mallory}") as s:
                        await s.recv()
                except (ConnectionClosed, InvalidStatus, OSError):
                    pass

        async def post_in_a_loop() -> None:
            async with httpx.AsyncClient(base_url=server.url, timeout=WAIT) as client:
                while not stop.is_set():
                    try:
                        await client.post("/api/documents", content=b"{" * 100_000,
                                          headers={"Authorization": f"Bearer {mallory}",
                                                   "Content-Type": "application/json"})
                    except httpx.HTTPError:
                        pass  # refused unread: its connection ended while it still sent

        async with anyio.create_task_group() as tg:
            tg.start_soon(open_in_a_loop)
            tg.start_soon(post_in_a_loop)
            try:
                await assert_honest_member_edits(server, "malgré Mallory")
            finally:
                stop.set()


async def test_a_citizens_write_carries_fewer_values_than_a_members(
    start_server: ServerFactory,
) -> None:
    async with start_server(http_rate_per_second=0.0,
                            limits=limits(citizen_values_per_write=100)) as server:
        await assert_a_citizens_flood_is_refused(server)
        async with http(server, server.token("member", "Élodie Martin")) as elodie:
            assert "at most" not in (await elodie.patch("/api/documents/carte/data",
                                                        json=FLOOD)).text


async def test_a_citizens_large_json_body_is_refused_unread(
    start_server: ServerFactory,
) -> None:
    """Parsing a body holds the event loop as long as it is large: a citizen's is bounded
    by `Limits.citizen_json_bytes` before it is read (and must declare its length)."""
    async with start_server(http_rate_per_second=0.0,
                            limits=limits(citizen_json_bytes=4096)) as server:
        async with api_as(server, "facilitator", "Fatou Diallo") as fatou:
            await create_example(fatou, "actors", "carte")
        patch = json.dumps({"actors": {"grain": {"description": "x" * 5000}}}).encode()
        headers = {"Content-Type": "application/merge-patch+json"}
        async with http(server, server.token("citizen", "Mallory")) as mallory:
            before = (await mallory.get("/api/documents/carte/data")).json()
            refused = await mallory.patch("/api/documents/carte/data", content=patch,
                                          headers=headers)
            assert refused.status_code == 413
            assert "for this role" in refused.json()["detail"]

            async def chunked() -> AsyncIterator[bytes]:
                yield b'{"actors": {}}'

            unsized = await mallory.patch("/api/documents/carte/data", content=chunked(),
                                          headers=headers)
            assert unsized.status_code == 411
            assert (await mallory.get("/api/documents/carte/data")).json() == before
        # A member's body of that size is read and judged as before.
        async with http(server, server.token("member", "Élodie Martin")) as elodie:
            judged = await elodie.patch("/api/documents/carte/data", content=patch,
                                        headers=headers)
            assert judged.status_code not in (411, 413)


async def test_a_reader_is_bounded_to_small_messages_from_its_first_frame(
    start_server: ServerFactory,
) -> None:
    """A citizen may not edit a text: what it sends is small. Its first frame is already
    bounded by `Limits.reader_message_bytes` (reading a large one held the loop); a member
    keeps the server's bound."""
    async with start_server(limits=limits(reader_message_bytes=16 * 1024,
                                          refused_socket_cost=0)) as server:
        await create_document(server, DOC)
        mallory = server.token("citizen", "Mallory")
        closed = await close_of(f"{server.ws_url}/ws/{DOC}?token={mallory}",
                                b"\x00\x00" + os.urandom(64 * 1024))
        assert closed.code == CloseCode.TOO_BIG
        # A member's large paste goes through (and so the document is intact).
        await assert_honest_member_edits(server, "x" * 40_000)
