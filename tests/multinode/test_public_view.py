"""The public view of ``D.annotations`` on two nodes (real PostgreSQL and Redis): each
node projects its own room, the same items the same way, so citizens reading on either
node get pseudonyms only, the same document, and a new naming live."""

from __future__ import annotations

from pathlib import Path
from uuid import uuid4

import httpx
from pycrdt import Map

import client
from crdt.protocol import EMPTY_UPDATE
from server.access.auth import slugify
from tests.conftest import postgres_or_skip
from tests.e2e.api import names
from tests.e2e.test_provenance import wait_recorded
from tests.e2e.test_public_presence import cursor_of
from tests.e2e.test_public_view import reading
from tests.multinode.nodes import redis_or_skip, start_cluster

MARKDOWN = "# Charte\n\nLa présente charte.\n\nLes habitants décident.\n"


async def test_citizens_on_two_nodes_read_the_same_pseudonymous_annotations(
    tmp_path: Path,
) -> None:
    redis_url, database_url = await redis_or_skip(), await postgres_or_skip()
    tag = uuid4().hex[:6]
    doc_id, alice, karim = f"vue-{tag}", f"Amélie Poulain {tag}", f"Karim Témoin {tag}"
    companion = doc_id + ".annotations"
    async with start_cluster(tmp_path, 2, redis_url=redis_url,
                             database_url=database_url) as (first, second):
        boss = httpx.AsyncClient(base_url=first.url, timeout=30, headers={
            "Authorization": f"Bearer {first.token('facilitator', 'Loïc Ménard')}"})
        a = httpx.AsyncClient(base_url=first.url, timeout=30, headers={
            "Authorization": f"Bearer {first.token('member', alice)}"})
        k = httpx.AsyncClient(base_url=second.url, timeout=30, headers={
            "Authorization": f"Bearer {second.token('member', karim)}"})
        async with boss, a, k:
            made = await boss.post("/api/documents", json={
                "id": doc_id, "title": "Charte", "markdown": MARKDOWN, "is_public": True})
            assert made.status_code == 201, made.text
            blocks = (await boss.get(f"/api/documents/{doc_id}/content",
                                     params={"format": "json"})).json()["blocks"]
            notes = f"/api/documents/{doc_id}/annotations"
            token = first.token("citizen", f"Carla Dupré {tag}")
            async with reading(first, companion, token, hocuspocus=False) as here, \
                    reading(second, companion, None, hocuspocus=True) as there:
                posted = [await a.post(notes, json={"paragraph_id": blocks[1]["id"],
                                                    "body": "Qui décide ?"}),
                          await k.post(notes, json={"paragraph_id": blocks[2]["id"],
                                                    "body": "Les quartiers."})]
                proposed = await k.post(f"/api/documents/{doc_id}/amendments", json={
                    "paragraph_id": blocks[2]["id"], "kind": "replace", "text": "Autre."})
                supported = await a.post(
                    f"/api/documents/{doc_id}/amendments/{proposed.json()['id']}/support")
                for answer in (*posted, proposed, supported):
                    assert answer.status_code in (200, 201), answer.text
                people = {p["name"]: p["pseudonym"] for p in
                          (await boss.get("/api/people")).json()["people"]}
                hidden = {people[alice], people[karim]}
                for reader in (here, there):
                    await reader.wait_for(lambda r=reader: r.authors() == hidden)  # type: ignore[misc]
                assert here.doc.get("annotations", type=Map).to_py() == \
                    there.doc.get("annotations", type=Map).to_py()
                # Same items on both nodes: neither has anything the other lacks.
                assert here.doc.get_update(there.doc.get_state()) == EMPTY_UPDATE
                assert there.doc.get_update(here.doc.get_state()) == EMPTY_UPDATE

                named = await a.put(f"/api/people/{slugify(alice)}/naming",
                                    json={"named_publicly": True})
                assert named.status_code == 200, named.text
                for reader in (here, there):
                    await reader.wait_for(lambda r=reader: r.authors() == {  # type: ignore[misc]
                        alice, people[karim]})
                for reader in (here, there):
                    everything = b"".join(reader.received)
                    for secret in (karim, slugify(karim), slugify(alice), "Loïc Ménard"):
                        assert secret.encode() not in everything, secret


async def test_cursors_reach_citizens_on_another_node_under_pseudonyms(tmp_path: Path) -> None:
    """The node a member is connected to makes the public form of their cursor; a citizen
    and the public on the other node see it under the pseudonym, never the name (also a
    node that joins later, asking the others for their clients' states)."""
    redis_url, database_url = await redis_or_skip(), await postgres_or_skip()
    tag = uuid4().hex[:6]
    doc_id, alice = f"curseurs-{tag}", f"Amélie Poulain {tag}"
    async with start_cluster(tmp_path, 2, redis_url=redis_url,
                             database_url=database_url) as (first, second):
        boss = httpx.AsyncClient(base_url=first.url, timeout=30, headers={
            "Authorization": f"Bearer {first.token('facilitator', 'Loïc Ménard')}"})
        async with boss:
            made = await boss.post("/api/documents", json={
                "id": doc_id, "title": "Charte", "markdown": MARKDOWN, "is_public": True})
            assert made.status_code == 201, made.text
            async with client.connect(first.url, doc_id, first.token("member", alice)) as a:
                a.set_awareness(cursor_of(alice, "#2b8a3e"))
                await wait_recorded(boss, {alice})
                shown = {p["name"]: p["pseudonym"] for p in
                         (await boss.get("/api/people")).json()["people"]}
                token = second.token("citizen", f"Carla Dupré {tag}")
                async with reading(second, doc_id, token, hocuspocus=False) as carla, \
                        reading(second, doc_id, None, hocuspocus=True) as public:
                    for reader in (carla, public):
                        await reader.wait_for(
                            lambda r=reader: r.presence() == {shown[alice]})  # type: ignore[misc]
                    # A move on the first node follows on the second, still pseudonymous.
                    a.set_awareness(cursor_of(alice, "#2b8a3e") | {"cursor": {"head": 3}})
                    for reader in (carla, public):
                        await reader.wait_for(lambda r=reader: any(  # type: ignore[misc]
                            state and state.get("cursor") == {"head": 3}
                            for state in r.states.values()))
                    async with client.connect(second.url, doc_id,
                                              second.token("member", f"Karim {tag}")) as k:
                        await k.wait_peers(lambda peers: alice in names(peers))
                    # Someone on the first node leaves: their cursor goes from the second's
                    # pages, the citizens' too.
                    bruno = f"Bruno Ganz {tag}"
                    async with client.connect(first.url, doc_id,
                                              first.token("member", bruno)) as b:
                        b.set_awareness(cursor_of(bruno, "#1c7ed6"))
                        await wait_recorded(boss, {bruno})
                        for reader in (carla, public):
                            await reader.wait_for(
                                lambda r=reader: len(r.presence()) == 2)  # type: ignore[misc]
                    for reader in (carla, public):
                        await reader.wait_for(
                            lambda r=reader: r.presence() == {shown[alice]})  # type: ignore[misc]
                    everything = b"".join(carla.received + public.received)
                    for secret in (alice, slugify(alice), bruno, slugify(bruno), "exemple.fr"):
                        assert secret.encode() not in everything, secret
