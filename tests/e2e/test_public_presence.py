"""Presence in public: citizens' and the public's sockets (``/ws`` and ``/hocuspocus``) see
every cursor of a text under its author's public name (the pseudonym, or the name of a
person who chose to be named), with nothing of the state but the cursor and its colour;
members see the states as sent. No real name, subject or other field reaches a reader who
may not see names, in any byte: on joining, on every change, and on query-awareness."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any
from uuid import uuid4

import anyio
import pytest
from pycrdt import Doc
from websockets.asyncio.client import ClientConnection
from websockets.asyncio.client import connect as ws_connect

import client
from crdt.awareness import decode_awareness_update
from crdt.hocuspocus import PING, HocuspocusType, prefix
from crdt.protocol import (
    AwarenessMessage,
    Reader,
    decode_message,
    encode_query_awareness,
    encode_sync_step1,
    encode_varstring,
    encode_varuint,
)
from server.access.auth import slugify
from tests.conftest import ServerFactory
from tests.e2e.api import http_as, names
from tests.e2e.test_public_view import Node, assembly, pseudonyms

WITHIN = 20


@dataclass
class Watcher:
    """A raw socket on a text: every byte received, and the awareness states they carry."""

    socket: ClientConnection
    name: str
    hocuspocus: bool
    states: dict[int, Any] = field(default_factory=dict)
    received: list[bytes] = field(default_factory=list)
    changed: anyio.Event = field(default_factory=anyio.Event)

    def take(self, frame: bytes) -> None:
        self.received.append(frame)
        update = None
        if self.hocuspocus and frame != PING:
            reader = Reader(frame)
            reader.varstring()
            if reader.varuint() == HocuspocusType.AWARENESS:
                update = reader.varbytes()
        elif not self.hocuspocus:
            decoded = decode_message(frame)
            if isinstance(decoded, AwarenessMessage):
                update = decoded.update
        for entry in decode_awareness_update(update) if update is not None else ():
            self.states[entry.client_id] = json.loads(entry.state)
        self.changed.set()

    async def wait_for(self, check: Callable[[], bool]) -> None:
        with anyio.fail_after(WITHIN):
            while not check():
                self.changed = anyio.Event()
                await self.changed.wait()

    def names(self) -> set[str]:
        return names({k: v for k, v in self.states.items() if v is not None})

    async def query(self) -> None:
        """Ask for every state again (query-awareness)."""
        if self.hocuspocus:
            await self.socket.send(prefix(self.name) + encode_varuint(
                HocuspocusType.QUERY_AWARENESS))
        else:
            await self.socket.send(encode_query_awareness())


@asynccontextmanager
async def watching(server: Node, name: str, token: str | None, *,
                   hocuspocus: bool) -> AsyncIterator[Watcher]:
    """A raw socket on the text `name` with `token` (None: the public)."""
    url = server.ws_url + ("/hocuspocus" if hocuspocus else f"/ws/{name}")
    if token and not hocuspocus:
        url += f"?token={token}"
    async with ws_connect(url, max_size=None) as socket, anyio.create_task_group() as tg:
        watcher = Watcher(socket, name, hocuspocus)
        if hocuspocus:
            await socket.send(prefix(name) + encode_varuint(HocuspocusType.AUTH)
                              + encode_varuint(0) + encode_varstring(token or ""))
            await socket.send(prefix(name) + encode_sync_step1(Doc().get_state()))

        async def receive() -> None:
            async for frame in socket:
                assert isinstance(frame, bytes)
                watcher.take(frame)

        tg.start_soon(receive)
        yield watcher
        tg.cancel_scope.cancel()


def cursor_of(name: str, colour: str) -> dict[str, Any]:
    return {"user": {"name": name, "color": colour, "email": f"{slugify(name)}@exemple.fr"},
            "cursor": {"anchor": {"tname": "prosemirror", "item": None}, "head": 7},
            "sub": slugify(name)}


@pytest.mark.parametrize("hocuspocus", [False, True], ids=["ws", "hocuspocus"])
async def test_citizens_and_the_public_see_cursors_under_public_names(
    start_server: ServerFactory, hocuspocus: bool,
) -> None:
    tag = uuid4().hex[:6]
    async with start_server() as server, http_as(server) as boss:
        people = await assembly(server, boss, tag)  # Bruno chose to be named in public
        carla = f"Carla Dupré {tag}"
        async with client.connect(server.url, people.doc_id,
                                  server.token("member", people.alice)) as alice, \
                client.connect(server.url, people.doc_id,
                               server.token("member", people.bruno)) as bruno, \
                watching(server, people.doc_id, server.token("citizen", carla),
                         hocuspocus=hocuspocus) as citizen, \
                watching(server, people.doc_id, None, hocuspocus=hocuspocus) as public:
            alice.set_awareness(cursor_of(people.alice, "#2b8a3e"))
            bruno.set_awareness(cursor_of(people.bruno, "#1c7ed6"))
            shown = await pseudonyms(boss)
            for reader in (citizen, public):
                await reader.wait_for(lambda r=reader: r.names() == {  # type: ignore[misc]
                    shown[people.alice], people.bruno})
                assert {json.dumps(state, sort_keys=True) for state in reader.states.values()} == {
                    json.dumps({"user": {"name": name, "color": colour},
                                "cursor": cursor_of(name, colour)["cursor"]}, sort_keys=True)
                    for name, colour in ((shown[people.alice], "#2b8a3e"),
                                         (people.bruno, "#1c7ed6"))}
            # Members see the states as they were sent.
            await bruno.wait_peers(lambda peers: peers.get(alice.client_id) == cursor_of(
                people.alice, "#2b8a3e"))

            # A citizen's own cursor: their pseudonym for the others who may not see names,
            # their name for members. (Their first connection: the name is looked up.)
            async with client.connect(server.url, people.doc_id,
                                      server.token("citizen", carla)) as own:
                own.set_awareness(cursor_of(carla, "#e8590c"))
                await alice.wait_peers(lambda peers: carla in names(peers))
                shown = await pseudonyms(boss)
                await public.wait_for(lambda: shown.get(carla, "?") in public.names())
                # A move follows at once, under the same name.
                own.set_awareness(cursor_of(carla, "#e8590c") | {"cursor": {"head": 9}})
                await public.wait_for(lambda: any(
                    state and state.get("cursor") == {"head": 9}
                    for state in public.states.values()))

            # Asked again, the public is shown the same; members still see everything.
            before = dict(public.states)
            public.states.clear()
            await public.query()
            await public.wait_for(lambda: public.names() == {shown[people.alice], people.bruno})
            assert {k: v for k, v in public.states.items() if v is not None} == {
                k: v for k, v in before.items() if v is not None and k in public.states}
            everything = b"".join(citizen.received + public.received)
            for secret in (people.alice, slugify(people.alice), slugify(people.bruno),
                           "exemple.fr", carla, slugify(carla)):
                assert secret.encode() not in everything, secret
