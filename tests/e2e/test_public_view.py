"""The public view of ``D.annotations``: citizens' and the public's sockets (``/ws`` and
``/hocuspocus``) receive pseudonyms and handles, never a real name or a subject, in any
byte; members see the real document; a person named in public appears by name; a change
of naming and an erasure reach a connected citizen's copy live."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any, Protocol
from uuid import uuid4

import anyio
import httpx
import pytest
from pycrdt import Doc, Map
from websockets.asyncio.client import ClientConnection
from websockets.asyncio.client import connect as ws_connect

from crdt.awareness import decode_awareness_update
from crdt.hocuspocus import PING, HocuspocusType, prefix
from crdt.protocol import (
    AuthMessage,
    AwarenessMessage,
    Reader,
    SyncMessage,
    decode_message,
    encode_query_awareness,
    encode_sync_step1,
    encode_sync_update,
    encode_varstring,
    encode_varuint,
)
from server.access.auth import slugify
from tests.conftest import RunningServer, ServerFactory
from tests.e2e.api import FACILITATOR, http_as, names
from tests.e2e.test_provenance import MARKDOWN, wait_recorded

WITHIN = 20


@dataclass
class Reader_:
    """A raw socket on a document: every byte received, the document those bytes build,
    and the awareness states they carry."""

    socket: ClientConnection
    name: str
    hocuspocus: bool
    doc: Doc[Any] = field(default_factory=Doc)
    received: list[bytes] = field(default_factory=list)
    denied: list[str] = field(default_factory=list)
    states: dict[int, Any] = field(default_factory=dict)
    changed: anyio.Event = field(default_factory=anyio.Event)

    def take(self, frame: bytes) -> None:
        self.received.append(frame)
        message = frame
        if self.hocuspocus:
            if frame == PING:
                return
            reader = Reader(frame)
            reader.varstring()
            body = reader.position
            if reader.varuint() not in (HocuspocusType.SYNC, HocuspocusType.AWARENESS):
                return  # (both as y-websocket's message types after the name)
            message = frame[body:]
        decoded = decode_message(message)
        if isinstance(decoded, SyncMessage) and decoded.step != 0:
            self.doc.apply_update(decoded.payload)
        elif isinstance(decoded, AuthMessage):
            self.denied.append(decoded.reason)
        elif isinstance(decoded, AwarenessMessage):
            for entry in decode_awareness_update(decoded.update):
                self.states[entry.client_id] = json.loads(entry.state)
        self.changed.set()

    def presence(self) -> set[str]:
        """The names in the awareness states received."""
        return names({k: v for k, v in self.states.items() if v is not None})

    async def query_awareness(self) -> None:
        """Ask for every awareness state again."""
        if self.hocuspocus:
            await self.socket.send(prefix(self.name) + encode_varuint(
                HocuspocusType.QUERY_AWARENESS))
        else:
            await self.socket.send(encode_query_awareness())

    async def wait_for(self, check: Callable[[], bool]) -> None:
        with anyio.fail_after(WITHIN):
            while not check():
                self.changed = anyio.Event()
                await self.changed.wait()

    def authors(self) -> set[str]:
        found = set()
        for entry in self.doc.get("annotations", type=Map).to_py().values():
            found.add(entry["author"]["name"])
            found |= {reply["author"]["name"] for reply in entry["replies"]}
        for entry in self.doc.get("amendments", type=Map).to_py().values():
            found.add(entry["author"]["name"])
            found |= set(entry["supports"].values())
        return found

    def subjects(self) -> set[str]:
        found = set()
        for entry in self.doc.get("annotations", type=Map).to_py().values():
            found.add(entry["author"]["sub"])
            found |= {reply["author"]["sub"] for reply in entry["replies"]}
        for entry in self.doc.get("amendments", type=Map).to_py().values():
            found.add(entry["author"]["sub"])
            found |= set(entry["supports"])
        return found


class Node(Protocol):
    """A running server (in this process, or a node process)."""

    @property
    def ws_url(self) -> str: ...


@asynccontextmanager
async def reading(server: Node, name: str, token: str | None, *,
                  hocuspocus: bool) -> AsyncIterator[Reader_]:
    """A raw socket reading `name` with `token` (None: the public)."""
    if hocuspocus:
        url = server.ws_url + "/hocuspocus"
    else:
        url = f"{server.ws_url}/ws/{name}" + (f"?token={token}" if token else "")
    async with ws_connect(url, max_size=None) as socket, anyio.create_task_group() as tg:
        reader = Reader_(socket, name, hocuspocus)
        if hocuspocus:
            await socket.send(prefix(name) + encode_varuint(HocuspocusType.AUTH)
                              + encode_varuint(0) + encode_varstring(token or ""))
            await socket.send(prefix(name) + encode_sync_step1(Doc().get_state()))
        else:
            await socket.send(encode_sync_step1(Doc().get_state()))

        async def receive() -> None:
            async for frame in socket:
                assert isinstance(frame, bytes)
                reader.take(frame)

        tg.start_soon(receive)
        yield reader
        tg.cancel_scope.cancel()


@dataclass(frozen=True)
class Assembly:
    doc_id: str
    alice: str
    bruno: str
    karim: str


async def assembly(server: RunningServer, boss: httpx.AsyncClient, tag: str) -> Assembly:
    """A public text with comments, a reply and amendments with supports by members, and
    a snapshot by the facilitator; Bruno chose to be named in public."""
    alice, bruno, karim = f"Amélie Poulain {tag}", f"Bruno Ćosić {tag}", f"Karim Témoin {tag}"
    doc_id = f"view-{tag}"
    made = await boss.post("/api/documents", json={
        "id": doc_id, "title": "Charte", "markdown": MARKDOWN, "is_public": True})
    assert made.status_code == 201, made.text
    blocks = (await boss.get(f"/api/documents/{doc_id}/content",
                             params={"format": "json"})).json()["blocks"]
    p1, p2 = blocks[1]["id"], blocks[2]["id"]
    notes = f"/api/documents/{doc_id}/annotations"
    amendments = f"/api/documents/{doc_id}/amendments"
    async with http_as(server, "member", alice) as a, http_as(server, "member", bruno) as b, \
            http_as(server, "member", karim) as k:
        first = await a.post(notes, json={"paragraph_id": p1, "body": "Qui décide ?"})
        answers = [first, await b.post(f"{notes}/{first.json()['id']}/replies",
                                       json={"body": "Le conseil."}),
                   await k.post(notes, json={"paragraph_id": p2, "body": "Et les quartiers ?"})]
        proposed = await k.post(amendments, json={"paragraph_id": p2, "kind": "replace",
                                                  "text": "Article nouveau."})
        answers += [proposed,
                    await a.post(f"{amendments}/{proposed.json()['id']}/support"),
                    await b.post(f"{amendments}/{proposed.json()['id']}/support"),
                    await b.put(f"/api/people/{slugify(bruno)}/naming",
                                json={"named_publicly": True})]
        for answer in answers:
            assert answer.status_code in (200, 201), answer.text
    snapshot = await boss.post(f"/api/documents/{doc_id}/snapshots",
                               json={"label": "Lecture 1", "stage": "lecture"})
    assert snapshot.status_code == 201, snapshot.text
    await wait_recorded(boss, {alice, bruno, karim, FACILITATOR})
    return Assembly(doc_id, alice, bruno, karim)


async def pseudonyms(boss: httpx.AsyncClient) -> dict[str, str]:
    return {p["name"]: p["pseudonym"] for p in (await boss.get("/api/people")).json()["people"]}


def secrets_of(people: Assembly, *, but: tuple[str, ...] = ()) -> list[bytes]:
    """The names and subjects that must not appear (but those of `but`'s names)."""
    found = []
    for name in (people.alice, people.bruno, people.karim, FACILITATOR):
        found.append(slugify(name).encode())
        if name not in but:
            found.append(name.encode())
    return found


@pytest.mark.parametrize("hocuspocus", [False, True], ids=["ws", "hocuspocus"])
async def test_citizens_and_the_public_sync_pseudonyms_and_members_real_names(
    start_server: ServerFactory, hocuspocus: bool,
) -> None:
    tag = uuid4().hex[:6]
    async with start_server() as server, http_as(server) as boss:
        people = await assembly(server, boss, tag)
        shown = await pseudonyms(boss)
        companion = people.doc_id + ".annotations"
        citizen_token = server.token("citizen", f"Carla Dupré {tag}")
        expected = {shown[people.alice], people.bruno, shown[people.karim]}
        async with reading(server, companion, citizen_token, hocuspocus=hocuspocus) as carla, \
                reading(server, companion, None, hocuspocus=hocuspocus) as public, \
                reading(server, companion, server.token("member", people.karim),
                        hocuspocus=hocuspocus) as karim:
            for reader in (carla, public):
                await reader.wait_for(lambda r=reader: r.authors() == expected)  # type: ignore[misc]
                assert all(sub.startswith("membre-") for sub in reader.subjects())
                snapshots = reader.doc.get("governance", type=Map).to_py()["snapshots"]
                assert snapshots[0]["created_by_name"] == shown[FACILITATOR]
                assert snapshots[0]["created_by"].startswith("membre-")
            await karim.wait_for(lambda: karim.authors() == {
                people.alice, people.bruno, people.karim})
            assert slugify(people.alice) in karim.subjects()

            # Live: a comment, a support taken back; the readers follow, names still hidden.
            async with http_as(server, "member", people.alice) as a:
                notes = f"/api/documents/{people.doc_id}/annotations"
                amendment = next(iter(carla.doc.get("amendments", type=Map).keys()))
                blocks = (await a.get(f"/api/documents/{people.doc_id}/content",
                                      params={"format": "json"})).json()["blocks"]
                posted = await a.post(notes, json={"paragraph_id": blocks[1]["id"],
                                                   "body": "Encore moi."})
                assert posted.status_code == 201, posted.text
                taken = await a.delete(
                    f"/api/documents/{people.doc_id}/amendments/{amendment}/support")
                assert taken.status_code in (200, 204), taken.text
            for reader in (carla, public):
                await reader.wait_for(lambda r=reader: "Encore moi." in str(  # type: ignore[misc]
                    r.doc.get("annotations", type=Map).to_py()))
                await reader.wait_for(lambda r=reader: len(next(iter(  # type: ignore[misc]
                    r.doc.get("amendments", type=Map).to_py().values()))["supports"]) == 1)
                everything = b"".join(reader.received)
                for secret in secrets_of(people, but=(people.bruno,)):
                    assert secret not in everything, secret
            assert people.alice.encode() in b"".join(karim.received)

            # A write from a reader's socket is refused, as on any annotations document.
            if not hocuspocus:
                vandal: Doc[Any] = Doc()
                vandal.get("annotations", type=Map)["x"] = "tag"
                await carla.socket.send(encode_sync_update(vandal.get_update()))
                await carla.wait_for(lambda: bool(carla.denied))
                assert "read-only" in carla.denied[0]

        # The public archive: the archiver's hash covers their handle, not their subject.
        async with http_as(server, "public", "Anonyme") as anyone:
            archive = (await anyone.get(f"/api/documents/{people.doc_id}/archive")).text
            verified = await anyone.get(f"/api/documents/{people.doc_id}/archive/verify")
        assert slugify(FACILITATOR) not in archive and FACILITATOR not in archive
        assert '"created_by":"membre-' in archive.replace(" ", "")
        assert verified.json() == {"ok": True, "versions": 1}


async def test_a_new_naming_and_an_erasure_reach_a_connected_citizens_copy_live(
    start_server: ServerFactory,
) -> None:
    tag = uuid4().hex[:6]
    async with start_server() as server, http_as(server) as boss:
        people = await assembly(server, boss, tag)
        shown = await pseudonyms(boss)
        alice = slugify(people.alice)
        companion = people.doc_id + ".annotations"
        token = server.token("citizen", f"Carla Dupré {tag}")
        async with reading(server, companion, token, hocuspocus=False) as carla, \
                reading(server, companion, token, hocuspocus=True) as carla_hp:
            for reader in (carla, carla_hp):
                await reader.wait_for(lambda r=reader: shown[people.alice]  # type: ignore[misc]
                                      in r.authors())
            async with http_as(server, "member", people.alice) as a:
                named = await a.put(f"/api/people/{alice}/naming", json={"named_publicly": True})
                assert named.status_code == 200, named.text
            for reader in (carla, carla_hp):
                await reader.wait_for(lambda r=reader: people.alice  # type: ignore[misc]
                                      in r.authors() and shown[people.alice] not in r.authors())
            erased = await boss.post(f"/api/people/{alice}/erase")
            assert erased.status_code == 200, erased.text
            for reader in (carla, carla_hp):
                await reader.wait_for(lambda r=reader: people.alice  # type: ignore[misc]
                                      not in r.authors() and shown[people.alice] in r.authors())
                assert alice.encode() not in b"".join(reader.received)
        # A new reader, after all this, sees the same.
        async with reading(server, companion, None, hocuspocus=False) as late:
            await late.wait_for(lambda: shown[people.alice] in late.authors())
            assert people.alice.encode() not in b"".join(late.received)
