"""Hostile awareness: oversized states, forged client ids, floods; honest presence flows on.

Each attack runs over a raw socket with a citizen's token against a real server, next to
honest `client` sessions. The attacker's socket is closed with the documented code, what
it sent is never relayed, the honest clients keep seeing each other and editing, and a
newcomer joins and syncs. Nothing sleeps: "not relayed" is checked by waiting for an
honest update sent after the refusal (relays of one room reach a socket in order).
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import replace

import anyio
import pytest
from websockets.asyncio.client import ClientConnection
from websockets.asyncio.client import connect as ws_connect
from websockets.exceptions import ConnectionClosed

import client
from client import JsonObject, Session
from crdt.awareness import NULL_STATE, AwarenessEntry, encode_awareness_update
from crdt.protocol import CloseCode, encode_awareness, encode_query_awareness, encode_sync_step1
from server.limits import Limits
from tests.conftest import RunningServer, ServerFactory
from tests.e2e.api import all_synced, body, close_of, names, text_of

DOC = "charte"
WAIT = 15


def presence(name: str, **extra: object) -> JsonObject:
    return {"user": {"name": name, "color": "#2b8a3e"}, **extra}  # type: ignore[dict-item]


def awareness_frame(client_id: int, clock: int, state: bytes) -> bytes:
    return encode_awareness(encode_awareness_update([AwarenessEntry(client_id, clock, state)]))


def json_state(name: str, padding: int = 0) -> bytes:
    return json.dumps({"user": {"name": name}, "pad": "x" * padding}).encode()


@asynccontextmanager
async def raw_socket(server: RunningServer, token: str) -> AsyncIterator[ClientConnection]:
    """A raw y-websocket socket on the test document (no client library in the way)."""
    async with ws_connect(
        f"{server.ws_url}/ws/{DOC}?token={token}", max_size=None
    ) as socket:
        yield socket


async def closed_with(socket: ClientConnection) -> tuple[int, str]:
    """Read until the server closes the socket; its close code and reason."""
    with anyio.fail_after(WAIT):
        try:
            while True:
                await socket.recv()
        except ConnectionClosed as closed:
            assert closed.rcvd is not None, "closed without a close frame"
            return closed.rcvd.code, closed.rcvd.reason


@asynccontextmanager
async def honest_pair(server: RunningServer) -> AsyncIterator[tuple[Session, Session]]:
    """A facilitator (who creates the document) and a member, both present and synced."""
    fatou = server.token("facilitator", "Fatou Diallo")
    elodie = server.token("member", "Élodie Martin")
    async with (
        client.connect(server.url, DOC, fatou) as facilitator,
        client.connect(server.url, DOC, elodie) as member,
    ):
        facilitator.set_awareness(presence("Fatou"))
        member.set_awareness(presence("Élodie"))
        await all_synced(facilitator, member, within=WAIT)
        with anyio.fail_after(WAIT):
            await member.wait_peers(lambda peers: names(peers) == {"Fatou"})
            await facilitator.wait_peers(lambda peers: names(peers) == {"Élodie"})
        yield facilitator, member


async def assert_honest_clients_work(
    server: RunningServer, facilitator: Session, member: Session, marker: str
) -> None:
    """Awareness and edits flow between the honest pair, and a newcomer joins and syncs."""
    with anyio.fail_after(WAIT):
        facilitator.set_awareness(presence("Fatou", cursor=marker))
        await member.wait_peers(
            lambda peers: any(state.get("cursor") == marker for state in peers.values())
        )
        body(facilitator).insert(0, marker)
        await member.wait_for(lambda: marker in text_of(member))
        token = server.token("member", "Noé Nouveau")  # a citizen sees pseudonyms
        async with client.connect(server.url, DOC, token, reconnect=False) as newcomer:
            await newcomer.synced()
            await newcomer.wait_for(lambda: marker in text_of(newcomer))
            await newcomer.wait_peers(lambda peers: {"Fatou", "Élodie"} <= names(peers))
            assert newcomer.is_connected


def attack_frames(case: str, facilitator_id: int) -> list[bytes]:
    """The frames of one awareness attack, aimed at the facilitator's client id."""
    if case == "one megabyte state":  # the attack, for every newcomer to receive
        return [awareness_frame(4242, 1, json_state("Mallory", 1 << 20))]
    if case == "forged facilitator state":
        forged = json_state("Fatou (facilitatrice) : la séance est levée")
        return [awareness_frame(facilitator_id, 1_000, forged)]
    if case == "removed facilitator state":
        return [awareness_frame(facilitator_id, 1_000, NULL_STATE)]
    # nine client ids: the ninth is one too many
    return [awareness_frame(n, 1, json_state(f"Bot {n}")) for n in range(1, 10)]


ATTACKS = {
    # A citizen's socket: on the direct lane the frame itself is past what a reader may
    # send (PALABRE_LIMIT_READER_MESSAGE_BYTES); through ASGI, the state is past 8192.
    "one megabyte state": (CloseCode.TOO_BIG, "exceeds"),
    "forged facilitator state": (CloseCode.FORBIDDEN, "belongs to another connection"),
    "removed facilitator state": (CloseCode.FORBIDDEN, "belongs to another connection"),
    "nine client ids": (CloseCode.FORBIDDEN, "at most 8 client ids per connection"),
}


@pytest.mark.parametrize("direct_lane", [True, False], ids=["direct", "asgi"])
@pytest.mark.parametrize("case", sorted(ATTACKS))
async def test_an_awareness_attack_closes_its_socket_and_is_never_relayed(
    start_server: ServerFactory, case: str, direct_lane: bool
) -> None:
    code, reason = ATTACKS[case]
    async with (
        start_server(direct_lane=direct_lane) as server,
        honest_pair(server) as (facilitator, member),
    ):
        url = f"{server.ws_url}/ws/{DOC}?token={server.token('citizen', 'Mallory')}"
        close = await close_of(url, *attack_frames(case, facilitator.client_id))
        assert close.code == code
        assert reason in close.reason
        await assert_honest_clients_work(server, facilitator, member, f"after {case}")
        # Nothing the attacker sent reached anyone; the facilitator's presence is intact.
        assert names(member.peers) == {"Fatou"}
        assert member.peers[facilitator.client_id]["cursor"] == f"after {case}"


@pytest.mark.parametrize(
    ("padding", "sent"),
    [(0, 500), (7000, 30)],
    ids=["500 small states", "30 states of 7 KB (charged by the KiB)"],
)
async def test_an_awareness_flood_closes_with_1013(
    start_server: ServerFactory, padding: int, sent: int
) -> None:
    async with start_server() as server, honest_pair(server) as (facilitator, member):
        async with raw_socket(server, server.token("citizen", "Mallory")) as attacker:
            for clock in range(1, sent + 1):
                try:
                    await attacker.send(awareness_frame(77, clock, json_state("M", padding)))
                except ConnectionClosed:
                    break
            code, reason = await closed_with(attacker)
        assert code == CloseCode.OVERLOADED
        assert "too many awareness updates" in reason
        await assert_honest_clients_work(server, facilitator, member, "after-flood")


async def test_query_awareness_floods_are_rate_limited_too(start_server: ServerFactory) -> None:
    async with start_server() as server, honest_pair(server) as (facilitator, member):
        async with raw_socket(server, server.token("citizen", "Mallory")) as attacker:
            for _ in range(500):
                try:
                    await attacker.send(encode_query_awareness())
                except ConnectionClosed:
                    break
            code, _ = await closed_with(attacker)
        assert code == CloseCode.OVERLOADED
        await assert_honest_clients_work(server, facilitator, member, "after-queries")


async def flood_and_stay(
    server: RunningServer,
    index: int,
    padding: int,
    ready: list[bool],
    all_ready: tuple[int, anyio.Event],
    done: anyio.Event,
) -> None:
    """One attacking principal: two large states, then it stays connected until `done`.

    It appends to `ready` once the server has handled both states (it answered a sync
    step 1 sent after them), with whether it got a permission-denied; the last of
    `all_ready`'s count sets its event.
    """
    token = server.token("citizen", f"Attaquant {index}")
    async with raw_socket(server, token) as socket:
        for slot in range(2):
            client_id = 10_000 + index * 10 + slot
            await socket.send(awareness_frame(client_id, 1, json_state(f"A{index}", padding)))
        await socket.send(encode_sync_step1(b"\x00"))
        denied = False
        while True:
            message = await socket.recv()
            assert isinstance(message, bytes)
            denied = denied or message[:1] == b"\x02"
            if message[:2] == b"\x00\x01":
                break
        ready.append(denied)
        if len(ready) == all_ready[0]:
            all_ready[1].set()
        await done.wait()


async def test_newcomers_join_a_document_whose_awareness_was_flooded(
    start_server: ServerFactory,
) -> None:
    """Thirty attackers offer 480 KB of presence, more than the slow-client limit: the
    document takes 96 KiB, the rest is denied (sockets stay), and a newcomer joins (what
    it receives on joining is bounded well under that limit), syncs and edits."""
    bound = 12 * 8 * 1024
    limits = replace(Limits(), awareness_principal_bytes=16 * 1024, awareness_document_bytes=bound)
    attackers = 30
    async with (
        start_server(limits=limits, outbound_buffer_bytes=256 * 1024) as server,
        honest_pair(server) as (facilitator, member),
    ):
        padding = 8000 - len(json_state("A10"))  # states of 8000 bytes: 12 fit, 2 KB free
        ready: list[bool] = []
        all_ready = (attackers, anyio.Event())
        done = anyio.Event()
        async with anyio.create_task_group() as tg:
            for index in range(attackers):
                tg.start_soon(flood_and_stay, server, index, padding, ready, all_ready, done)
            with anyio.fail_after(WAIT):
                await all_ready[1].wait()
            assert sum(ready) >= attackers - 6  # 12 states taken: the others were denied
            async with raw_socket(server, server.token("member", "Ines Mesure")) as probe:
                with anyio.fail_after(WAIT):
                    joined = await probe.recv()
                    while not (isinstance(joined, bytes) and joined[:1] == b"\x01"):
                        joined = await probe.recv()
                assert 12 * 8000 <= len(joined) <= bound + 1024
            await assert_honest_clients_work(server, facilitator, member, "after-fill")
            token = server.token("member", "Yasmine Tardive")
            async with client.connect(server.url, DOC, token, reconnect=False) as late:
                with anyio.fail_after(WAIT):
                    await late.synced()
                    late.set_awareness(presence("Yasmine", pad="y" * 4000))
                    await late.wait_for(lambda: any("full" in d for d in late.denials))
                assert late.is_connected
            done.set()
