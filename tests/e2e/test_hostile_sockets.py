"""Hostile sockets: one principal opening sockets, one Hocuspocus socket loading documents.

A principal holds at most `sockets_per_principal` units on a node, a unit being a ``/ws``
socket or one document of a Hocuspocus socket; past it a ``/ws`` socket is closed with
1013 and a Hocuspocus document gets permission-denied (the socket stays). One Hocuspocus
socket joins at most `documents_per_socket` documents. Forging another connection's
awareness over Hocuspocus closes that whole socket (4403), as on ``/ws``. Each test
checks the refusal, that the attacker's other sockets and the honest clients keep
working, and that a freed slot is taken again.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import replace
from typing import Any

import anyio
import pytest
from websockets.asyncio.client import ClientConnection
from websockets.asyncio.client import connect as ws_connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

import client
from crdt.awareness import AwarenessEntry, encode_awareness_update
from crdt.hocuspocus import PING, HocuspocusAuth, HocuspocusType, prefix
from crdt.protocol import (
    CloseCode,
    Reader,
    encode_awareness,
    encode_sync_step1,
    encode_varstring,
)
from server.access.auth import Principal, Role
from server.errors import Overloaded
from server.limits import Limits
from server.sync.quota import SocketQuota
from tests.conftest import RunningServer, ServerFactory
from tests.e2e.api import body, close_of, text_of

DOC = "charte"
WAIT = 15


def limits(**fields: Any) -> Limits:
    return replace(Limits(), **fields)


async def assert_refused_at_the_handshake(url: str) -> None:
    """Opening `url` is answered 429 at the handshake, for opening sockets too fast."""
    with pytest.raises(InvalidStatus) as denied:
        async with ws_connect(url):
            pass
    assert denied.value.response.status_code == 429
    assert b"opening sockets too fast" in denied.value.response.body


@asynccontextmanager
async def ws_socket(server: RunningServer, token: str, doc_id: str = DOC) -> AsyncIterator[
    ClientConnection
]:
    async with ws_connect(f"{server.ws_url}/ws/{doc_id}?token={token}") as socket:
        yield socket


async def answers_sync(socket: ClientConnection) -> None:
    """The socket is served: a sync step 1 gets its step 2."""
    await socket.send(encode_sync_step1(b"\x00"))
    with anyio.fail_after(WAIT):
        while True:
            message = await socket.recv()
            if isinstance(message, bytes) and message[:2] == b"\x00\x01":
                return


async def assert_honest_member_edits(server: RunningServer, marker: str) -> None:
    """Another principal connects, edits, and a second one sees the edit."""
    async with (
        client.connect(server.url, DOC, server.token("member", "Élodie Martin")) as writer,
        client.connect(server.url, DOC, server.token("member", "Zoé Lefèvre")) as reader,
    ):
        with anyio.fail_after(WAIT):
            await writer.synced()
            body(writer).insert(0, marker)
            await reader.wait_for(lambda: marker in text_of(reader))


async def create_document(server: RunningServer, doc_id: str) -> None:
    """A facilitator opens the document once (creating it, catalogued with its creator)."""
    token = server.token("facilitator", "Fatou Diallo")
    async with client.connect(server.url, doc_id, token, reconnect=False) as session:
        with anyio.fail_after(WAIT):
            await session.synced()


# -- Hocuspocus over a raw socket ---------------------------------------------------------


def auth_frame(name: str, token: str) -> bytes:
    return (prefix(name) + bytes([HocuspocusType.AUTH, HocuspocusAuth.TOKEN])
            + encode_varstring(token) + encode_varstring("palabre-tests"))


async def next_message(socket: ClientConnection, name: str, types: bytes) -> Reader:
    """The next message about document `name` whose type is in `types` (pings skipped):
    a reader past its type."""
    with anyio.fail_after(WAIT):
        while True:
            frame = await socket.recv()
            assert isinstance(frame, bytes)
            if frame == PING:
                continue
            reader = Reader(frame)
            if reader.varstring() == name and reader.varuint() in types:
                return reader


async def auth_answer(socket: ClientConnection, name: str) -> tuple[int, str]:
    """The next auth message about `name`: (kind, scope or reason)."""
    reader = await next_message(socket, name, bytes([HocuspocusType.AUTH]))
    return reader.varuint(), reader.varstring()


async def hocuspocus_answers_sync(socket: ClientConnection, name: str) -> None:
    """The document `name` of the socket is served: a sync step 1 gets its step 2."""
    await socket.send(prefix(name) + encode_sync_step1(b"\x00"))
    while True:
        reader = await next_message(
            socket, name, bytes([HocuspocusType.SYNC, HocuspocusType.SYNC_REPLY])
        )
        if reader.varuint() == 1:  # step 2
            return


# -- tests --------------------------------------------------------------------------------


async def test_a_principal_past_its_sockets_is_refused_with_1013(
    start_server: ServerFactory,
) -> None:
    async with start_server(limits=limits(sockets_per_principal=3)) as server:
        await create_document(server, DOC)
        mallory = server.token("citizen", "Mallory")
        async with AsyncExitStack() as stack:
            held = [await stack.enter_async_context(ws_socket(server, mallory)) for _ in range(3)]
            for socket in held:
                await answers_sync(socket)
            fourth = await close_of(f"{server.ws_url}/ws/{DOC}?token={mallory}")
            assert fourth.code == CloseCode.OVERLOADED
            assert "too many open sockets" in fourth.reason and "at most 3" in fourth.reason
            for socket in held:  # its other sockets keep working
                await answers_sync(socket)
            await assert_honest_member_edits(server, "malgré Mallory")
            await held[0].close()
            # Its slot is freed once the server has seen the close: it may connect again.
            with anyio.fail_after(WAIT):
                while True:
                    async with ws_socket(server, mallory) as again:
                        try:
                            await answers_sync(again)
                            break
                        except ConnectionClosed as closed:
                            assert closed.rcvd is not None
                            assert closed.rcvd.code == CloseCode.OVERLOADED


async def test_hocuspocus_documents_count_as_sockets_of_their_principal(
    start_server: ServerFactory,
) -> None:
    async with start_server(limits=limits(sockets_per_principal=3)) as server:
        await create_document(server, DOC)
        await create_document(server, "annexe")
        mallory = server.token("member", "Mallory")
        async with (
            ws_socket(server, mallory) as first,
            ws_socket(server, mallory) as second,
            ws_connect(f"{server.ws_url}/hocuspocus") as multiplexed,
        ):
            await answers_sync(first)
            await answers_sync(second)
            await multiplexed.send(auth_frame(DOC, mallory))
            assert (await auth_answer(multiplexed, DOC))[0] == HocuspocusAuth.AUTHENTICATED
            await multiplexed.send(auth_frame("annexe", mallory))
            kind, reason = await auth_answer(multiplexed, "annexe")
            assert kind == HocuspocusAuth.PERMISSION_DENIED
            assert "too many open sockets" in reason
            # The socket stays, its first document is served, the /ws sockets too.
            await hocuspocus_answers_sync(multiplexed, DOC)
            await answers_sync(first)
            await assert_honest_member_edits(server, "toujours servi")


async def test_a_hocuspocus_socket_joins_at_most_its_bound_of_documents(
    start_server: ServerFactory,
) -> None:
    async with start_server(limits=limits(documents_per_socket=2)) as server:
        fatou = server.token("facilitator", "Fatou Diallo")
        async with ws_connect(f"{server.ws_url}/hocuspocus") as socket:
            for name in ("doc-a", "doc-b"):
                await socket.send(auth_frame(name, fatou))
                assert (await auth_answer(socket, name))[0] == HocuspocusAuth.AUTHENTICATED
            await socket.send(auth_frame("doc-c", fatou))
            kind, reason = await auth_answer(socket, "doc-c")
            assert kind == HocuspocusAuth.PERMISSION_DENIED
            assert reason == "too many documents on this socket: at most 2"
            await hocuspocus_answers_sync(socket, "doc-a")
            await hocuspocus_answers_sync(socket, "doc-b")
            # Leaving a document frees its place (frames are handled in order).
            await socket.send(prefix("doc-a") + bytes([HocuspocusType.CLOSE]))
            await socket.send(auth_frame("doc-c", fatou))
            assert (await auth_answer(socket, "doc-c"))[0] == HocuspocusAuth.AUTHENTICATED
            await hocuspocus_answers_sync(socket, "doc-c")
        await assert_honest_member_edits(server, "après le chargeur")


def test_public_clients_are_bounded_per_address_and_members_per_subject() -> None:
    quota = SocketQuota(limits(sockets_per_principal=2, public_sockets_per_address=3))
    public = Principal(sub="public", name="", role=Role.PUBLIC)
    member = Principal(sub="zoe", name="Zoé", role=Role.MEMBER)
    for _ in range(3):
        quota.acquire(public, "public@10.0.0.1")
    quota.acquire(public, "public@10.0.0.2")  # another address has its own count
    quota.acquire(member, "sub:zoe")
    quota.acquire(member, "sub:zoe")
    for principal, key in ((public, "public@10.0.0.1"), (member, "sub:zoe")):
        try:
            quota.acquire(principal, key)
        except Overloaded as exc:
            assert exc.close_code == CloseCode.OVERLOADED
        else:
            raise AssertionError(f"{key} was not refused")
    quota.release("sub:zoe")
    quota.acquire(member, "sub:zoe")
    assert quota.held("sub:zoe") == 2


async def test_forging_awareness_over_hocuspocus_closes_that_socket_with_4403(
    start_server: ServerFactory,
) -> None:
    async with start_server() as server:
        fatou = server.token("facilitator", "Fatou Diallo")
        async with (
            client.connect(server.url, DOC, fatou) as facilitator,
            client.connect(server.url, DOC, server.token("member", "Élodie Martin")) as member,
            ws_connect(f"{server.ws_url}/hocuspocus") as attacker,
        ):
            facilitator.set_awareness({"user": {"name": "Fatou"}})
            with anyio.fail_after(WAIT):
                await member.wait_peers(lambda peers: facilitator.client_id in peers)
            mallory = server.token("citizen", "Mallory")
            await attacker.send(auth_frame(DOC, mallory))
            assert (await auth_answer(attacker, DOC))[0] == HocuspocusAuth.AUTHENTICATED
            forged = AwarenessEntry(facilitator.client_id, 1_000, b'{"user":{"name":"Faux"}}')
            await attacker.send(prefix(DOC) + encode_awareness(encode_awareness_update([forged])))
            with anyio.fail_after(WAIT):
                try:
                    while True:
                        await attacker.recv()
                except ConnectionClosed as closed:
                    assert closed.rcvd is not None
                    assert closed.rcvd.code == CloseCode.FORBIDDEN
            facilitator.set_awareness({"user": {"name": "Fatou"}, "cursor": "toujours"})
            with anyio.fail_after(WAIT):
                await member.wait_peers(
                    lambda peers: peers.get(facilitator.client_id, {}).get("cursor") == "toujours"
                )
            assert member.peers[facilitator.client_id]["user"] == {"name": "Fatou"}
        await assert_honest_member_edits(server, "après la contrefaçon")
