"""Presence in public: citizens' and the public's sockets (``/ws`` and ``/hocuspocus``) see
every cursor of a text under its author's public name (the pseudonym, or the name of a
person who chose to be named), with nothing of the state but the cursor and its colour;
members see the states as sent. No real name, subject or other field reaches a reader who
may not see names, in any byte: on joining, on every change, and on query-awareness."""

from __future__ import annotations

import json
from typing import Any
from uuid import uuid4

import pytest

import client
from server.access.auth import slugify
from tests.conftest import ServerFactory
from tests.e2e.api import http_as, names
from tests.e2e.test_provenance import wait_recorded
from tests.e2e.test_public_view import assembly, pseudonyms, reading


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
                reading(server, people.doc_id, server.token("citizen", carla),
                         hocuspocus=hocuspocus) as citizen, \
                reading(server, people.doc_id, None, hocuspocus=hocuspocus) as public:
            alice.set_awareness(cursor_of(people.alice, "#2b8a3e"))
            bruno.set_awareness(cursor_of(people.bruno, "#1c7ed6"))
            shown = await pseudonyms(boss)
            for reader in (citizen, public):
                await reader.wait_for(lambda r=reader: r.presence() == {  # type: ignore[misc]
                    shown[people.alice], people.bruno})
                assert {json.dumps(state, sort_keys=True) for state in reader.states.values()} == {
                    json.dumps({"user": {"name": name, "color": colour},
                                "cursor": cursor_of(name, colour)["cursor"]}, sort_keys=True)
                    for name, colour in ((shown[people.alice], "#2b8a3e"),
                                         (people.bruno, "#1c7ed6"))}
            # Members see the states as they were sent.
            await bruno.wait_peers(lambda peers: peers.get(alice.client_id) == cursor_of(
                people.alice, "#2b8a3e"))

            # A citizen new to palabre: their pseudonym for the others who may not see
            # names (looked up once they are recorded), their name for members.
            newcomer = f"Dominique Neuf {tag}"
            async with client.connect(server.url, people.doc_id,
                                      server.token("citizen", newcomer)) as own:
                own.set_awareness(cursor_of(newcomer, "#e8590c"))
                await alice.wait_peers(lambda peers: newcomer in names(peers))
                await wait_recorded(boss, {newcomer})
                shown = await pseudonyms(boss)
                await public.wait_for(lambda: shown[newcomer] in public.presence())
                # A move follows at once, under the same name.
                own.set_awareness(cursor_of(newcomer, "#e8590c") | {"cursor": {"head": 9}})
                await public.wait_for(lambda: any(
                    state and state.get("cursor") == {"head": 9}
                    for state in public.states.values()))

            # Asked again, the public is shown the same; members still see everything.
            before = dict(public.states)
            public.states.clear()
            await public.query_awareness()
            await public.wait_for(lambda: public.presence() == {shown[people.alice], people.bruno})
            assert {k: v for k, v in public.states.items() if v is not None} == {
                k: v for k, v in before.items() if v is not None and k in public.states}
            everything = b"".join(citizen.received + public.received)
            for secret in (people.alice, slugify(people.alice), slugify(people.bruno),
                           "exemple.fr", carla, slugify(carla), newcomer, slugify(newcomer)):
                assert secret.encode() not in everything, secret
