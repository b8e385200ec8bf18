"""Every bad input closes only its own socket with the documented code; nothing else changes."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import anyio
import pytest
from websockets.asyncio.client import connect as ws_connect
from websockets.exceptions import ConnectionClosed
from websockets.protocol import State

from client.session import Session, connect
from crdt.protocol import (
    CloseCode,
    encode_awareness,
    encode_sync_step1,
    encode_sync_update,
    encode_varuint,
)
from tests.conftest import RunningServer, ServerFactory
from tests.e2e.api import body, close_of, text_of

TEXT = "Article 1 — La commune garantit l'égalité des habitantes et des habitants."

BAD_FRAMES = {
    "payload shorter than its length": (b"\x00\x02\x05abc", CloseCode.MALFORMED),
    "truncated varint": (b"\x00\x02\xff", CloseCode.MALFORMED),
    "overlong varint": (b"\x00\x02" + b"\xff" * 9, CloseCode.MALFORMED),
    "unknown message type": (b"\x07", CloseCode.MALFORMED),
    "unknown sync step": (b"\x00\x05\x00", CloseCode.MALFORMED),
    "trailing bytes": (encode_sync_update(b"\x00\x00") + b"\x00", CloseCode.MALFORMED),
    "auth from a client": (b"\x02\x00\x03abc", CloseCode.MALFORMED),
    "garbage awareness": (encode_awareness(b"\x05\x01"), CloseCode.MALFORMED),
    "invalid Yjs update": (encode_sync_update(b"not a yjs update"), CloseCode.INVALID_UPDATE),
    # yrs reserves room for the clients an update or a state vector declares before
    # reading them: 16 bytes would hold the event loop 77 ms and take 128 MB.
    "update declaring 100 million clients": (
        encode_sync_update(encode_varuint(10**8) + bytes(8)), CloseCode.INVALID_UPDATE,
    ),
    "state vector declaring 100 million clients": (
        encode_sync_step1(encode_varuint(10**8) + bytes(8)), CloseCode.MALFORMED,
    ),
    "truncated Yjs update": (
        encode_sync_update(b"\x01\x01\xa9\xa5\x94\x86\xdf\x9f\xc3\x02\x00\x04\x01"),
        CloseCode.INVALID_UPDATE,
    ),
}


async def assert_document_intact(server: RunningServer, doc_id: str, watcher: Session) -> None:
    """The watcher still gets edits, and a newcomer reads the stored text whole."""
    async with connect(server.url, doc_id, server.token()) as writer:
        await writer.wait_for(lambda: text_of(writer) == TEXT, timeout=10)
        body(writer).insert(0, "Préambule. ")
        await watcher.wait_for(lambda: text_of(watcher) == "Préambule. " + TEXT, timeout=10)
    async with connect(server.url, doc_id, server.token()) as newcomer:
        await newcomer.wait_for(lambda: text_of(newcomer) == "Préambule. " + TEXT, timeout=10)


@asynccontextmanager
async def watcher_of(server: RunningServer) -> AsyncIterator[Session]:
    """A client of ``charte`` that wrote `TEXT` and saw it stored."""
    async with connect(server.url, "charte", server.token()) as watcher:
        with anyio.fail_after(10):
            await watcher.synced()
        body(watcher).insert(0, TEXT)
        with anyio.fail_after(10):
            await watcher.flushed()
        yield watcher


async def close_code_of_frame(server: RunningServer, frame: bytes | str) -> tuple[int | None, str]:
    """Open another socket on ``charte``, send `frame`; the close code and reason it ends with."""
    closed = await close_of(f"{server.ws_url}/ws/charte?token={server.token()}", frame)
    return closed.code, closed.reason


@pytest.mark.parametrize("case", sorted(BAD_FRAMES))
async def test_bad_frame_closes_only_its_socket(start_server: ServerFactory, case: str) -> None:
    frame, expected = BAD_FRAMES[case]
    async with start_server() as server, watcher_of(server) as watcher:
        code, reason = await close_code_of_frame(server, frame)
        assert code == expected, reason
        assert reason
        assert watcher.is_connected
        await assert_document_intact(server, "charte", watcher)


async def test_text_frame_closes_with_1003(start_server: ServerFactory) -> None:
    async with start_server() as server, watcher_of(server) as watcher:
        code, _ = await close_code_of_frame(server, "bonjour")
        assert code == CloseCode.UNSUPPORTED_DATA
        await assert_document_intact(server, "charte", watcher)


async def test_oversized_message_closes_with_1009(start_server: ServerFactory) -> None:
    async with start_server(max_message_bytes=4096) as server, watcher_of(server) as watcher:
        code, _ = await close_code_of_frame(server, encode_sync_update(b"\x00" * 10_000))
        assert code == CloseCode.TOO_BIG
        await assert_document_intact(server, "charte", watcher)


async def test_a_client_still_sending_its_oversized_message_reads_the_1009(
    start_server: ServerFactory,
) -> None:
    # Found by the fuzzer (tests/e2e/test_hostile_fuzz.py): the server closed its socket
    # while megabytes were still arriving, the kernel reset the connection, and the client
    # lost the close frame (1006, no reason) instead of reading 1009.
    async with start_server(max_message_bytes=4096) as server:
        socket = await ws_connect(f"{server.ws_url}/ws/charte", max_size=None)
        try:
            await socket.send(encode_sync_update(b"\x00" * 8_000_000))
        except ConnectionClosed:
            pass  # the server's close came while we were still sending
        with anyio.fail_after(10), pytest.raises(ConnectionClosed) as closed:
            while True:
                await socket.recv()
        # The close handshake is over (the server closed its side first, as RFC 6455
        # wants): websockets' close() would then abort a transport it already released.
        assert socket.state is State.CLOSED
        assert closed.value.rcvd is not None, "the close frame was lost"
        assert closed.value.rcvd.code == CloseCode.TOO_BIG


@pytest.mark.parametrize("doc_id", ["bad$id", "x" * 129, "ét%C3%A9", "a/b"])
async def test_bad_doc_id_closes_with_1008(start_server: ServerFactory, doc_id: str) -> None:
    async with start_server() as server:
        async with ws_connect(f"{server.ws_url}/ws/{doc_id}") as socket:
            with anyio.fail_after(10), pytest.raises(ConnectionClosed) as closed:
                await socket.recv()
        assert closed.value.rcvd is not None
        assert closed.value.rcvd.code == CloseCode.BAD_DOC_ID
