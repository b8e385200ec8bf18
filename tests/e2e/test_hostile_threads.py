"""Hidden threads: a hidden comment's replies leave the bytes every reader receives too.

Each test reads what a client of ``charte.annotations`` receives over a raw socket and
searches those bytes for the replies' words; moderators still read them through the API,
and reopening the thread restores them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import anyio
import pytest
from pycrdt import Doc, Map
from websockets.asyncio.client import ClientConnection
from websockets.asyncio.client import connect as ws_connect

from client.api import NotFound, PalabreApi
from client.session import connect
from crdt.annotations import SEALED, annotations_map, unsealed_threads
from crdt.protocol import SyncMessage, SyncStep, decode_message, encode_sync_step1
from server.access.seal import SecretSeal
from server.access.secret import load_or_create_secret
from server.rooms.hub import Hub
from storage.sql import SqlDocumentStore
from tests.conftest import RunningServer, ServerFactory
from tests.e2e.api import http_as
from tests.e2e.test_api_annotations import charter, entries

DOC = "charte.annotations"
COMMENT = "Ce paragraphe vise nommément Monsieur Garnier"
REPLIES = ("Garnier habite au 12 rue des Lilas", "Et son numéro est le 06 12 34 56 78")


async def _synced_bytes(socket: ClientConnection) -> bytes:
    """Ask for the whole document; every byte received until the sync-step-2 answer."""
    await socket.send(encode_sync_step1(b"\x00"))
    received = b""
    with anyio.fail_after(10):
        while True:
            frame = await socket.recv()
            assert isinstance(frame, bytes)
            received += frame
            message = decode_message(frame)
            if isinstance(message, SyncMessage) and message.step == SyncStep.STEP2:
                return received


async def bytes_of_a_fresh_sync(server: RunningServer, token: str) -> bytes:
    """What a reader joining ``charte.annotations`` now receives, raw."""
    async with ws_connect(f"{server.ws_url}/ws/{DOC}?token={token}") as socket:
        return await _synced_bytes(socket)


def leaked(received: bytes) -> list[str]:
    """The comment's and replies' words found in `received`."""
    return [words for words in (COMMENT, *REPLIES) if words.encode() in received]


async def thread(server: RunningServer) -> tuple[str, list[str]]:
    """A citizen's comment on the charter with two replies: its id and the replies' ids."""
    paragraph = await charter(server)
    async with (
        PalabreApi(server.url, server.token("citizen", "Élodie")) as elodie,
        PalabreApi(server.url, server.token("citizen", "Anaïs")) as anais,
    ):
        made = await elodie.add_annotation("charte", paragraph, COMMENT)
        reply_ids = [str((await anais.reply("charte", made["id"], words))["reply"]["id"])
                     for words in REPLIES]
    return str(made["id"]), reply_ids


def reply_bodies(annotation: dict[str, Any]) -> list[str]:
    return [str(reply["body"]) for reply in annotation["replies"]]


async def test_hiding_a_comment_seals_its_replies_for_every_reader(
    start_server: ServerFactory, tmp_path: Path,
) -> None:
    data_dir = tmp_path / "fil"
    async with start_server(data_dir=data_dir) as server:
        annotation_id, _ = await thread(server)
        citizen = server.token("citizen", "Carla")
        async with (
            ws_connect(f"{server.ws_url}/ws/{DOC}?token={citizen}") as watcher,
            PalabreApi(server.url, server.token("facilitator", "Loïc")) as loic,
            PalabreApi(server.url, citizen) as carla,
        ):
            assert leaked(await _synced_bytes(watcher)) == [COMMENT, *REPLIES]  # open: read
            hidden = await loic.set_status("charte", annotation_id, "hidden")
            assert reply_bodies(hidden) == list(REPLIES)  # the moderator still reads them
            # A reader joining now receives neither the comment's nor the replies' words ...
            assert leaked(await bytes_of_a_fresh_sync(server, citizen)) == []
            # ... and the reader who was there got the hiding without them either.
            live = b""
            with anyio.move_on_after(0.5):  # drain what was relayed; no assertion on timing
                while True:
                    frame = await watcher.recv()
                    assert isinstance(frame, bytes)
                    live += frame
            assert live and leaked(live) == []
            # A moderator's reply to the hidden thread is written sealed.
            moderated = await loic.reply("charte", annotation_id, "Note de modération privée")
            assert moderated["reply"]["body"] == "Note de modération privée"
            assert b"Note de mod" not in await bytes_of_a_fresh_sync(server, citizen)
            # The citizen can neither read nor answer the hidden thread.
            assert await carla.list_annotations("charte") == []
            with pytest.raises(NotFound):
                await carla.reply("charte", annotation_id, "Encore")

    # Restarted from storage, whose log still holds every reply as first written.
    async with start_server(data_dir=data_dir) as server:
        citizen = server.token("citizen", "Carla")
        assert leaked(await bytes_of_a_fresh_sync(server, citizen)) == []
        async with PalabreApi(server.url, server.token("facilitator", "Loïc")) as loic:
            (shown,) = await loic.list_annotations("charte", status="hidden")
            assert reply_bodies(shown)[:2] == list(REPLIES)
            reopened = await loic.set_status("charte", annotation_id, "open")
            assert reply_bodies(reopened) == [*REPLIES, "Note de modération privée"]
        assert leaked(await bytes_of_a_fresh_sync(server, citizen)) == [COMMENT, *REPLIES]
        async with connect(server.url, DOC, citizen) as session:  # an honest client works
            await session.synced()
            entry = entries(session)[annotation_id]
            assert isinstance(entry, Map) and entry["body"] == COMMENT


async def test_a_reply_hidden_on_its_own_stays_sealed_when_its_thread_reopens(
    start_server: ServerFactory,
) -> None:
    async with start_server() as server:
        annotation_id, reply_ids = await thread(server)
        citizen = server.token("citizen", "Carla")
        replies = f"/documents/charte/annotations/{annotation_id}/replies"
        async with (
            PalabreApi(server.url, server.token("facilitator", "Loïc")) as loic,
            http_as(server, prefix="/api") as raw,
        ):
            hid = await raw.patch(f"{replies}/{reply_ids[0]}", json={"status": "hidden"})
            assert hid.status_code == 200
            await loic.set_status("charte", annotation_id, "hidden")
            # Reopening a reply inside a hidden thread leaves it sealed with its thread.
            kept = await raw.patch(f"{replies}/{reply_ids[1]}", json={"status": "open"})
            assert kept.status_code == 200
            assert leaked(await bytes_of_a_fresh_sync(server, citizen)) == []
            reopened = await loic.set_status("charte", annotation_id, "open")
            assert reply_bodies(reopened) == list(REPLIES)
        assert leaked(await bytes_of_a_fresh_sync(server, citizen)) == [COMMENT, REPLIES[1]]
        async with PalabreApi(server.url, citizen) as carla:
            (shown,) = await carla.list_annotations("charte")
            assert reply_bodies(shown) == [REPLIES[1]]


def _hide_the_old_way(seal: SecretSeal, annotation_id: str) -> Any:
    """What hiding did before threads were sealed whole: the comment's body only."""

    def hide(doc: Doc[Any]) -> None:
        entry = annotations_map(doc)[annotation_id]
        with doc.transaction():
            entry["status"] = "hidden"
            entry[SEALED] = seal.close(str(entry["body"]))
            entry["body"] = ""

    return hide


async def test_threads_hidden_before_are_sealed_once_when_their_room_loads(
    start_server: ServerFactory, tmp_path: Path,
) -> None:
    data_dir = tmp_path / "ancien"
    seal = SecretSeal(load_or_create_secret(data_dir))
    async with start_server(data_dir=data_dir) as server:
        annotation_id, _ = await thread(server)
        hub: Hub = server.app.state.hub
        await hub.transform(DOC, _hide_the_old_way(seal, annotation_id), principal=None)
        # The state a server of the previous version left: the replies' words in the clear.
        assert leaked(await bytes_of_a_fresh_sync(server, server.token("citizen", "C"))) == [
            *REPLIES]
        url = server.settings.resolved_database_url

    async def log_rows() -> int:
        async with SqlDocumentStore(url) as store:
            return (await store.load(DOC)).log_rows

    before = await log_rows()
    async with start_server(data_dir=data_dir) as server:
        citizen = server.token("citizen", "Carla")
        assert leaked(await bytes_of_a_fresh_sync(server, citizen)) == []
        room = server.app.state.hub.loaded_room(DOC)
        assert room is not None and unsealed_threads(room.doc) == []
        async with PalabreApi(server.url, server.token("facilitator", "Loïc")) as loic:
            (shown,) = await loic.list_annotations("charte", status="hidden")
            assert shown["body"] == COMMENT and reply_bodies(shown) == list(REPLIES)
    migrated = await log_rows()
    assert migrated == before + 1  # one server-peer write sealed the thread

    # Idempotent: the next load finds nothing to seal and writes nothing.
    async with start_server(data_dir=data_dir) as server:
        citizen = server.token("citizen", "Carla")
        assert leaked(await bytes_of_a_fresh_sync(server, citizen)) == []
        async with PalabreApi(server.url, server.token("facilitator", "Loïc")) as loic:
            reopened = await loic.set_status("charte", annotation_id, "open")
            assert reopened["body"] == COMMENT and reply_bodies(reopened) == list(REPLIES)
        assert leaked(await bytes_of_a_fresh_sync(server, citizen)) == [COMMENT, *REPLIES]
    assert await log_rows() == migrated + 1  # only the reopening was written
