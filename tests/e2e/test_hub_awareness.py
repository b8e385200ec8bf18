"""Awareness through a real server: states reach the other clients of the same document,
follow updates, and disappear when a client leaves cleanly or its socket just drops."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import anyio

import client
from client import JsonObject, Session
from tests.client.crowd import crowd
from tests.conftest import RunningServer, ServerFactory
from tests.e2e.api import names


def introduce(session: Session, name: str, color: str = "#2b8a3e") -> None:
    session.set_awareness({"user": {"name": name, "color": color}, "cursor": None})


@asynccontextmanager
async def sessions_on_charte(
    start_server: ServerFactory, count: int,
) -> AsyncIterator[tuple[RunningServer, list[Session]]]:
    """A server, and `count` synced sessions on ``charte`` (all with the default token)."""
    async with (
        start_server() as server,
        crowd(server.url, "charte", count, token=server.token()) as sessions,
    ):
        yield server, sessions


@asynccontextmanager
async def zoe_seen_by_elodie(start_server: ServerFactory) -> AsyncIterator[tuple[Session, Session]]:
    """Zoé and Élodie on one document, once Élodie sees Zoé's awareness state."""
    async with sessions_on_charte(start_server, 2) as (_, (zoe, elodie)):
        introduce(zoe, "Zoé")
        with anyio.fail_after(10):
            await elodie.wait_peers(lambda peers: names(peers) == {"Zoé"})
        yield zoe, elodie


async def test_awareness_of_each_client_appears_at_the_others(start_server: ServerFactory) -> None:
    async with sessions_on_charte(start_server, 3) as (_, (zoe, elodie, francois)):
        introduce(zoe, "Zoé")
        introduce(elodie, "Élodie")
        introduce(francois, "François")
        with anyio.fail_after(10):
            await zoe.wait_peers(lambda peers: names(peers) == {"Élodie", "François"})
            await elodie.wait_peers(lambda peers: names(peers) == {"Zoé", "François"})
            await francois.wait_peers(lambda peers: names(peers) == {"Zoé", "Élodie"})
        assert zoe.peers[elodie.client_id]["user"] == {"name": "Élodie", "color": "#2b8a3e"}
        assert zoe.client_id not in zoe.peers


async def test_a_new_awareness_state_replaces_the_previous_one(
    start_server: ServerFactory,
) -> None:
    async with zoe_seen_by_elodie(start_server) as (zoe, elodie):
        with anyio.fail_after(10):
            cursor: JsonObject = {"paragraph": "p-1", "anchor": 12, "head": 18}
            zoe.set_awareness({"user": {"name": "Zoé Lefèvre"}, "cursor": cursor})
            await elodie.wait_peers(lambda peers: names(peers) == {"Zoé Lefèvre"})
        assert elodie.peers[zoe.client_id]["cursor"] == cursor


async def test_late_joiner_receives_the_states_already_there(start_server: ServerFactory) -> None:
    async with sessions_on_charte(start_server, 2) as (server, (zoe, elodie)):
        introduce(zoe, "Zoé")
        introduce(elodie, "Élodie")
        with anyio.fail_after(10):
            await zoe.wait_peers(lambda peers: names(peers) == {"Élodie"})
            await elodie.wait_peers(lambda peers: names(peers) == {"Zoé"})
            async with client.connect(server.url, "charte", server.token()) as francois:
                await francois.wait_peers(lambda peers: names(peers) == {"Zoé", "Élodie"})


async def test_awareness_disappears_when_a_client_leaves_cleanly(
    start_server: ServerFactory,
) -> None:
    async with sessions_on_charte(start_server, 1) as (server, (elodie,)):
        with anyio.fail_after(10):
            async with client.connect(server.url, "charte", server.token()) as francois:
                introduce(francois, "François")
                await elodie.wait_peers(lambda peers: names(peers) == {"François"})
            await elodie.wait_peers(lambda peers: not peers)


async def test_awareness_disappears_when_a_socket_drops_without_a_removal(
    start_server: ServerFactory,
) -> None:
    async with sessions_on_charte(start_server, 3) as (_, (zoe, elodie, francois)):
        introduce(zoe, "Zoé")
        introduce(francois, "François")
        with anyio.fail_after(10):
            await elodie.wait_peers(lambda peers: names(peers) == {"Zoé", "François"})
            # A crashed browser: the TCP connection ends, no awareness removal is sent.
            await zoe.disconnect(abrupt=True)
            await elodie.wait_peers(lambda peers: names(peers) == {"François"})
            await francois.wait_peers(lambda peers: names(peers) == set())


async def test_a_client_that_comes_back_is_visible_again(start_server: ServerFactory) -> None:
    async with zoe_seen_by_elodie(start_server) as (zoe, elodie):
        with anyio.fail_after(10):
            await zoe.disconnect(abrupt=True)
            await elodie.wait_peers(lambda peers: not peers)
            zoe.resume()
            await elodie.wait_peers(lambda peers: names(peers) == {"Zoé"})
            await zoe.disconnect()
            await elodie.wait_peers(lambda peers: not peers)
            zoe.resume()
            await elodie.wait_peers(lambda peers: names(peers) == {"Zoé"})


async def test_cleared_awareness_disappears_while_the_socket_stays(
    start_server: ServerFactory,
) -> None:
    async with zoe_seen_by_elodie(start_server) as (zoe, elodie):
        with anyio.fail_after(10):
            zoe.clear_awareness()
            await elodie.wait_peers(lambda peers: not peers)
        assert zoe.is_connected


async def test_awareness_stays_within_its_document(start_server: ServerFactory) -> None:
    async with (
        start_server() as server,
        crowd(server.url, "charte", 2, token=server.token()) as (zoe, elodie),
        crowd(server.url, "charte-bis", 1, token=server.token()) as (francois,),
    ):
        introduce(francois, "François")
        introduce(zoe, "Zoé")
        with anyio.fail_after(10):
            await elodie.wait_peers(lambda peers: names(peers) == {"Zoé"})
            # Élodie joins François's document: his state is there, Zoé's is not.
            async with client.connect(server.url, "charte-bis", server.token()) as elodie_bis:
                await elodie_bis.wait_peers(lambda peers: names(peers) == {"François"})
                assert names(elodie_bis.peers) == {"François"}
        assert names(elodie.peers) == {"Zoé"}
        assert names(zoe.peers) == set()
