"""``palabre backup`` while clients write, ``palabre restore``, then the restored copy checked.

The server runs as a real process on SQLite; the backup is taken by another process while
a client commits an edit after another, so the copy must be one consistent commit: a
prefix of the writer's pieces, at least every one acknowledged before the backup began.
"""

from __future__ import annotations

import re
import sys
from functools import partial
from pathlib import Path

import anyio
import httpx
import pytest
from pycrdt import Doc, Text

from client.api import PalabreApi
from client.examples import create_example
from client.session import Session, connect
from storage.engine import database_url_for
from storage.sql import SqlDocumentStore
from tests.conftest import postgres_or_skip, token_for
from tests.e2e.api import all_synced, body, text_of
from tests.e2e.serverprocess import CLEAN_EXIT, server_process

PIECE = re.compile(r"\[(\d+) délibération\]")
PDF = b"%PDF-1.4\n" + "Compte rendu de l'assemblée — séance 3\n".encode() * 40


async def palabre(*args: str) -> tuple[int, str, str]:
    done = await anyio.run_process([sys.executable, "-m", "server", *args], check=False)
    return done.returncode, done.stdout.decode(), done.stderr.decode()


async def stored_text(data_dir: Path, doc_id: str) -> str:
    async with SqlDocumentStore(database_url_for(data_dir)) as store:
        stored = await store.load(doc_id)
    doc: Doc[Text] = Doc()
    doc.apply_update(stored.update)
    return text_of(doc)


def has(session: Session, marker: str) -> bool:
    return marker in text_of(session)


def pieces_in(text: str) -> list[int]:
    return [int(number) for number in PIECE.findall(text)]


async def test_backup_while_clients_write_restores_a_consistent_verified_copy(
    tmp_path: Path,
) -> None:
    data_dir = tmp_path / "data"
    during, quiet = tmp_path / "during.tar.gz", tmp_path / "quiet.tar.gz"
    unlimited = {"PALABRE_SOCKET_UPDATE_RATE_PER_SECOND": "0", "PALABRE_HTTP_RATE_PER_SECOND": "0"}
    acked = 0
    async with server_process(data_dir, env=unlimited) as server:
        facilitator = server.token("facilitator", "Loïc Ménard")
        async with PalabreApi(server.url, facilitator) as loic, \
                httpx.AsyncClient(base_url=server.url, timeout=30,
                                  headers={"Authorization": f"Bearer {facilitator}"}) as http:
            await create_example(loic, "library", "biblio", is_public=False)
            await loic.patch_data("biblio", {"resources": {"cr": {
                "title": "Compte rendu", "kind": "guide", "tags": []}}})
            upload = await http.put("/api/documents/biblio/resources/cr/file",
                                    params={"name": "cr.pdf"}, content=PDF,
                                    headers={"Content-Type": "application/pdf"})
            assert upload.status_code == 201, upload.text
            file_id = upload.json()["id"]
            async with connect(server.url, "charte", server.token()) as writer, \
                    connect(server.url, "charte", server.token()) as observer:
                await all_synced(writer, observer)
                backup_done = anyio.Event()

                async def write() -> None:
                    # A piece is acknowledged once another client has it: the server
                    # relays only what it committed.
                    nonlocal acked
                    text = body(writer)
                    while not backup_done.is_set():
                        marker = f"[{acked} délibération]"
                        text += marker
                        await observer.wait_for(partial(has, observer, marker), timeout=10)
                        acked += 1

                async with anyio.create_task_group() as tg:
                    tg.start_soon(write)
                    for stage in ("premier jet", "auditions"):
                        answer = await http.post("/api/documents/charte/snapshots",
                                                 json={"label": stage, "stage": stage})
                        assert answer.status_code == 201, answer.text
                    acked_before = acked
                    code, out, err = await palabre("backup", "--to", str(during),
                                                   "--data-dir", str(data_dir))
                    acked_after = acked
                    backup_done.set()
                assert code == 0, err
                assert "2 snapshots" in out and "1 library files" in out, out
                assert acked_after > acked_before, "no edit was committed during the backup"
                final = text_of(writer)
            code, out, err = await palabre(
                "backup", "--to", str(quiet), "--data-dir", str(data_dir)
            )
            assert code == 0, err
            code, _, err = await palabre("backup", "--to", str(quiet), "--data-dir", str(data_dir))
            assert code != 0 and "exists" in err

        # A restore never writes into a folder in use.
        code, _, err = await palabre("restore", "--from", str(quiet), "--data-dir", str(data_dir))
        assert code != 0 and "is not empty" in err and "nothing was changed" in err
        assert await server.stop() in CLEAN_EXIT

    restored = tmp_path / "restored-during"
    code, out, err = await palabre("restore", "--from", str(during), "--data-dir", str(restored))
    assert code == 0, err
    code, out, err = await palabre("verify-archive", "charte", "--data-dir", str(restored))
    assert code == 0, err
    assert "2 snapshot(s), chain intact" in out
    numbers = pieces_in(await stored_text(restored, "charte"))
    assert numbers == list(range(len(numbers))), "the copy is not one consistent commit"
    assert acked_before <= len(numbers) <= acked_after + 1
    assert (restored / "secret.key").read_bytes() == (data_dir / "secret.key").read_bytes()
    assert (restored / "files" / "biblio" / file_id).read_bytes() == PDF
    assert restored.stat().st_mode & 0o077 == 0

    again = tmp_path / "restored-quiet"
    code, _, err = await palabre("restore", "--from", str(quiet), "--data-dir", str(again))
    assert code == 0, err
    async with server_process(again) as server:
        async with connect(server.url, "charte", server.token(), reconnect=False) as reader:
            with anyio.fail_after(10):
                await reader.synced()
            assert text_of(reader) == final
        async with httpx.AsyncClient(base_url=server.url, timeout=30) as http:
            download = await http.get(
                f"/api/documents/biblio/files/{file_id}",
                headers={"Authorization": f"Bearer {server.token('facilitator', 'Loïc')}"},
            )
            assert download.status_code == 200 and download.content == PDF


async def test_restore_refuses_an_altered_archive_and_leaves_nothing(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    async with server_process(data_dir) as server:
        async with connect(server.url, "charte", server.token(), reconnect=False) as writer:
            with anyio.fail_after(10):
                await writer.synced()
            body(writer).insert(0, "Préambule")
            with anyio.fail_after(10):
                await writer.flushed()
        archive = tmp_path / "sauvegarde.tar.gz"
        code, _, err = await palabre("backup", "--to", str(archive), "--data-dir", str(data_dir))
        assert code == 0, err
    raw = bytearray(archive.read_bytes())
    raw[len(raw) // 2] ^= 0xFF
    altered = tmp_path / "altered.tar.gz"
    altered.write_bytes(bytes(raw))
    target = tmp_path / "restored"
    code, _, err = await palabre("restore", "--from", str(altered), "--data-dir", str(target))
    assert code != 0 and any(
        reason in err for reason in ("not a readable archive", "does not match", "truncated")
    ), err
    assert not target.exists()
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []  # noqa: ASYNC240
    code, _, err = await palabre("backup", "--to", str(tmp_path / "x.tar.gz"),
                                 "--data-dir", str(tmp_path / "absent"))
    assert code != 0 and "no data folder" in err


@pytest.mark.postgres
async def test_backup_of_a_postgresql_node_holds_its_secret_and_says_to_use_pg_dump(
    tmp_path: Path,
) -> None:
    url = await postgres_or_skip()
    data_dir = tmp_path / "data"
    data_dir.mkdir(mode=0o700)
    secret = token_for(data_dir)  # makes secret.key, as the node's first start does
    assert secret
    archive = tmp_path / "noeud.tar.gz"
    code, out, err = await palabre("backup", "--to", str(archive), "--data-dir", str(data_dir),
                                   "--database-url", url)
    assert code == 0, err
    assert "pg_dump" in err and "secret.key" in out
    target = tmp_path / "restored"
    code, out, err = await palabre("restore", "--from", str(archive), "--data-dir", str(target))
    assert code == 0, err
    assert "pg_restore" in err
    assert (target / "secret.key").read_bytes() == (data_dir / "secret.key").read_bytes()
    assert not (target / "palabre.db").exists()
