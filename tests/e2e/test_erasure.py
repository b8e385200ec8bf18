"""Erasing a member who wrote, commented, supported an amendment and attended a session,
against a real server on SQLite and on PostgreSQL: the name and subject are in no byte of
the database afterwards, the texts are unchanged, every snapshot reads back, the archive
and the sessions verify, a client connected meanwhile converges on the rewritten
annotations, and the words stay attributed, to the pseudonym."""

from __future__ import annotations

import sqlite3
import sys
import time
from pathlib import Path
from typing import Any
from uuid import uuid4

import anyio
import pytest
from pycrdt import Doc

from client.session import connect
from crdt.annotations import list_annotations
from server.access.auth import slugify
from storage.sessions import PresenceInterval
from storage.sql import SqlDocumentStore
from tests.conftest import RunningServer, ServerFactory, postgres_or_skip
from tests.e2e.api import FACILITATOR, http, http_as
from tests.e2e.test_provenance import MARKDOWN, append, paragraph_ids, wait_recorded, whole


def authors(doc: Doc[Any]) -> set[str]:
    return {a.author.name for a in list_annotations(doc)} | {
        r.author.name for a in list_annotations(doc) for r in a.replies}


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
async def test_an_erased_member_is_in_no_byte_and_the_archive_still_verifies(
    start_server: ServerFactory, tmp_path: Path, backend: str,
) -> None:
    tag = uuid4().hex[:6]
    name, karim = f"Zoé Effacée {tag}", f"Karim Témoin {tag}"
    sub = slugify(name)
    doc_id = f"erase-{tag}"
    url = await postgres_or_skip() if backend == "postgresql" else None
    async with start_server(database_url=url) as server, http_as(server) as boss, \
            http_as(server, "member", name) as zoe, http_as(server, "member", karim) as kim, \
            http(server) as public:
        url = url or server.settings.resolved_database_url
        made = await boss.post("/api/documents", json={
            "id": doc_id, "title": "Charte", "markdown": MARKDOWN, "is_public": True})
        assert made.status_code == 201, made.text
        async with connect(server.url, doc_id, server.token("member", name)) as typing:
            await typing.synced()
            p1, p2, _ = paragraph_ids(typing.doc)
            append(typing, p1, " Démocratie directe")
            await typing.wait_for(lambda: "directe" in whole(typing.doc), timeout=20)
        notes = f"/api/documents/{doc_id}/annotations"
        theirs = await kim.post(notes, json={"paragraph_id": p1, "body": "Avis de Karim."})
        mine = await zoe.post(notes, json={"paragraph_id": p2, "body": "Remarque."})
        reply = await zoe.post(f"{notes}/{theirs.json()['id']}/replies", json={"body": "Oui."})
        amendments = f"/api/documents/{doc_id}/amendments"
        proposed = await zoe.post(amendments, json={"paragraph_id": p2, "kind": "replace",
                                                    "text": "Article nouveau."})
        other = await kim.post(amendments, json={"paragraph_id": p1, "kind": "replace",
                                                 "text": "Texte de Karim."})
        supported = await zoe.post(f"{amendments}/{other.json()['id']}/support")
        for answer in (theirs, mine, reply, proposed, other, supported):
            assert answer.status_code in (200, 201), answer.text
        snapshot = await boss.post(f"/api/documents/{doc_id}/snapshots",
                                   json={"label": "Lecture 1", "stage": "lecture"})
        assert snapshot.status_code == 201, snapshot.text
        async with SqlDocumentStore(url) as store:
            now = time.time()
            session = await store.open_session(
                doc_id=doc_id, title="Séance 1", kind="plenary", planned_start=None,
                planned_end=None, by="loic-menard", by_name=FACILITATOR, at=now)
            await store.record_joined([PresenceInterval(
                session_id=session.session_id, connection_id=f"c-{tag}", node_id="n1",
                sub=sub, name=name, role="member", joined_at=now, left_at=None, seen_at=now)])
            await store.close_session(
                doc_id=doc_id, session_id=session.session_id, by="loic-menard",
                by_name=FACILITATOR, at=now + 1,
                minutes=f'{{"attendance": [{{"sub": "{sub}", "name": "{name}"}}]}}',
                stale_before=now + 1)
        second = await boss.post(f"/api/documents/{doc_id}/snapshots",
                                 json={"label": "Lecture 2", "stage": "lecture"})
        assert second.status_code == 201, second.text
        await wait_recorded(boss, {name, karim, FACILITATOR})
        text_before = (await boss.get(f"/api/documents/{doc_id}/content")).text
        snapshots_before = [
            (await boss.get(f"/api/documents/{doc_id}/snapshots/{s}/content")).text
            for s in (snapshot.json()["id"], second.json()["id"])]
        pseudonym = next(p["pseudonym"] for p in (await boss.get("/api/people")).json()[
            "people"] if p["sub"] == sub)

        before_erasure = zoe.headers["Authorization"]
        assert (await kim.post(f"/api/people/{sub}/erase")).status_code == 403
        assert (await boss.post("/api/people/loic-menard/erase")).status_code == 409
        companion = doc_id + ".annotations"
        async with connect(server.url, companion, server.token("member", karim)) as watcher:
            await watcher.wait_for(lambda: name in authors(watcher.doc), timeout=20)
            erased = await boss.post(f"/api/people/{sub}/erase")
            assert erased.status_code == 200, erased.text
            await watcher.wait_for(lambda: name not in authors(watcher.doc)
                                   and pseudonym in authors(watcher.doc), timeout=20)
        report = erased.json()
        assert report["pseudonym"] == pseudonym
        assert {(r["doc_id"], r["chain"]) for r in report["reseals"]} == {
            (doc_id, "snapshots"), (doc_id, "sessions")}
        assert (await boss.post(f"/api/people/{sub}/erase")).status_code == 404

        assert (await boss.get(f"/api/documents/{doc_id}/content")).text == text_before
        assert [(await boss.get(f"/api/documents/{doc_id}/snapshots/{s}/content")).text
                for s in (snapshot.json()["id"], second.json()["id"])] == snapshots_before
        verified = await public.get(f"/api/documents/{doc_id}/archive/verify")
        assert verified.json() == {"ok": True, "versions": 2}
        live = await boss.get(f"/api/documents/{doc_id}/provenance", params={"words": "1"})
        spans = live.json()["paragraphs"][0]["spans"]
        assert [(s["text"], s["display_name"]) for s in spans] == [
            ("Préambule", FACILITATOR), ("Démocratie", pseudonym), ("directe", pseudonym)]
        listed = (await boss.get(notes)).json()["annotations"]
        assert {a["author"]["name"] for a in listed} == {karim, pseudonym}
        everything = "".join([
            live.text, (await boss.get(notes)).text, (await public.get(notes)).text,
            (await boss.get(f"/api/documents/{doc_id}/audit")).text,
            (await boss.get(amendments)).text, (await boss.get("/api/people")).text,
            (await public.get(f"/api/documents/{doc_id}/archive")).text])
        assert name not in everything and sub not in everything
        async with SqlDocumentStore(url) as store:
            assert (await store.verify_sessions(doc_id)).ok
            erasures = [e for e in await store.audit_about(f"erased-{pseudonym.split()[1]}",
                                                           limit=50)
                        if e.action == "person.erased"]
            assert len(erasures) == 1
    if backend == "sqlite":
        # Restarted (the removal is read back from the database): her credential issued
        # before the erasure is still refused, and nothing records her name again.
        token = before_erasure.removeprefix("Bearer ")
        async with start_server(data_dir=server.settings.data_dir) as again, \
                http(again, token) as old, http_as(again) as boss:
            refused = await old.get(f"/api/documents/{doc_id}")
            assert refused.status_code == 401, refused.text
            assert name not in (await boss.get("/api/people")).text
        database = server.settings.data_dir / "palabre.db"
        with sqlite3.connect(database) as db:
            db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        with sqlite3.connect(database, isolation_level=None) as db:
            db.execute("VACUUM")
        raw = database.read_bytes()
    else:
        assert url is not None
        dumped = await anyio.run_process(
            ["pg_dump", "--data-only", url.replace("postgresql+asyncpg", "postgresql")],
            check=True)
        raw = dumped.stdout
    assert name.encode() not in raw and sub.encode() not in raw
    assert "Effacée".encode() not in raw
    verify = await anyio.run_process(
        [sys.executable, "-m", "server", "verify-archive", doc_id,
         *(["--database-url", url] if backend == "postgresql"
           else ["--data-dir", str(server.settings.data_dir)])], check=False)
    assert verify.returncode == 0, verify.stderr


async def test_the_operator_erases_a_person_with_the_servers_stopped(
    start_server: ServerFactory,
) -> None:
    tag = uuid4().hex[:6]
    name = f"Zoé Hors-ligne {tag}"
    sub = slugify(name)
    doc_id = f"erase-{tag}"
    async with start_server() as server, http_as(server) as boss, \
            http_as(server, "member", name) as zoe:
        made = await boss.post("/api/documents", json={
            "id": doc_id, "title": "Charte", "markdown": MARKDOWN})
        assert made.status_code == 201, made.text
        p1 = (await boss.get(f"/api/documents/{doc_id}/content?format=json")).json()[
            "blocks"][0]["id"]
        comment = await zoe.post(f"/api/documents/{doc_id}/annotations",
                                 json={"paragraph_id": p1, "body": "Hors ligne."})
        assert comment.status_code == 201, comment.text
        for label in ("Lecture 1", "Lecture 2"):
            made = await boss.post(f"/api/documents/{doc_id}/snapshots",
                                   json={"label": label, "stage": "lecture"})
            assert made.status_code == 201, made.text
        await wait_recorded(boss, {name, FACILITATOR})
    data_dir = str(server.settings.data_dir)
    erased = await anyio.run_process(
        [sys.executable, "-m", "server", "erase-person", sub, "--data-dir", data_dir,
         "--remove-words"], check=False)
    assert erased.returncode == 0, erased.stderr
    assert not holds(await database_bytes(server, None), "Hors ligne.")
    out = erased.stdout.decode()
    assert "erased: now Membre " in out and f"{doc_id} snapshots hashed again from #1" in out
    again = await anyio.run_process(
        [sys.executable, "-m", "server", "erase-person", sub, "--data-dir", data_dir],
        check=False)
    assert again.returncode == 1 and b"already erased" in again.stderr
    verify = await anyio.run_process(
        [sys.executable, "-m", "server", "verify-archive", doc_id, "--data-dir", data_dir],
        check=False)
    assert verify.returncode == 0, verify.stderr
    database = server.settings.data_dir / "palabre.db"
    with sqlite3.connect(database, isolation_level=None) as db:
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        db.execute("VACUUM")
    raw = database.read_bytes()
    assert name.encode() not in raw and sub.encode() not in raw


def holds(raw: bytes, word: str) -> bool:
    """Whether `word` is in `raw`, as bytes or hex-encoded (a ``pg_dump`` of a bytea)."""
    return word.encode() in raw or word.encode().hex().encode() in raw


async def database_bytes(server: RunningServer, url: str | None, *,
                         vacuum: bool = True) -> bytes:
    """Every byte of the server's database: the SQLite file and its log (after a
    checkpoint and a VACUUM with `vacuum`, the server stopped), or a ``pg_dump``."""
    if url is None:
        database = server.settings.data_dir / "palabre.db"
        if not vacuum:
            wal = database.with_name(database.name + "-wal")
            return database.read_bytes() + (wal.read_bytes() if wal.exists() else b"")
        with sqlite3.connect(database) as db:
            db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        with sqlite3.connect(database, isolation_level=None) as db:
            db.execute("VACUUM")
        return database.read_bytes()
    dumped = await anyio.run_process(
        ["pg_dump", "--data-only", url.replace("postgresql+asyncpg", "postgresql")],
        check=True)
    return dumped.stdout


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
async def test_an_erasure_that_removes_words_leaves_none_of_them_in_any_byte(
    start_server: ServerFactory, backend: str,
) -> None:
    tag = uuid4().hex[:6]
    name, karim = f"Zoé Mots {tag}", f"Karim Garde {tag}"
    sub = slugify(name)
    doc_id = f"words-{tag}"
    words = [f"{word}{tag}" for word in ("Comment", "Reponse", "Cachee", "Redaction",
                                         "Parceque")]
    url = await postgres_or_skip() if backend == "postgresql" else None
    async with start_server(database_url=url) as server, http_as(server) as boss, \
            http_as(server, "member", name) as zoe, http_as(server, "member", karim) as kim:
        made = await boss.post("/api/documents", json={
            "id": doc_id, "title": "Charte", "markdown": MARKDOWN, "is_public": True})
        assert made.status_code == 201, made.text
        blocks = (await boss.get(f"/api/documents/{doc_id}/content?format=json")).json()[
            "blocks"]
        notes = f"/api/documents/{doc_id}/annotations"
        kept = await kim.post(notes, json={"paragraph_id": blocks[0]["id"],
                                           "body": f"Garde{tag}"})
        comment = await zoe.post(notes, json={"paragraph_id": blocks[0]["id"],
                                              "body": f"{words[0]} premier"})
        reply = await zoe.post(f"{notes}/{kept.json()['id']}/replies",
                               json={"body": f"{words[1]} aussi"})
        hidden = await zoe.post(notes, json={"paragraph_id": blocks[1]["id"],
                                             "body": f"{words[2]} ici"})
        hide = await boss.patch(f"{notes}/{hidden.json()['id']}", json={"status": "hidden"})
        proposed = await zoe.post(f"/api/documents/{doc_id}/amendments", json={
            "paragraph_id": blocks[1]["id"], "kind": "replace",
            "text": f"{words[3]} nouvelle", "justification": f"{words[4]} voilà"})
        for answer in (kept, comment, reply, hidden, hide, proposed):
            assert answer.status_code in (200, 201), answer.text
        snapshot = await boss.post(f"/api/documents/{doc_id}/snapshots",
                                   json={"label": "Lecture 1", "stage": "lecture"})
        assert snapshot.status_code == 201, snapshot.text
        await wait_recorded(boss, {name, karim, FACILITATOR})
        url = url or server.settings.resolved_database_url
        stored = await database_bytes(server, None if backend == "sqlite" else url,
                                      vacuum=False)
        assert all(holds(stored, word) for word in words[:2])  # the search finds them

        async with connect(server.url, doc_id + ".annotations",
                           server.token("member", karim)) as watcher:
            await watcher.synced()
            refused = await boss.post(f"/api/people/{sub}/erase",
                                      json={"remove_words": "yes"})
            assert refused.status_code == 422, refused.text
            erased = await boss.post(f"/api/people/{sub}/erase", json={"remove_words": True})
            assert erased.status_code == 200, erased.text
            assert erased.json()["words_removed"] is True
            await watcher.wait_for(lambda: all(
                words[0] not in a.body for a in list_annotations(watcher.doc)), timeout=20)
        listed = (await boss.get(notes)).json()["annotations"]
        bodies = {a["body"] for a in listed} | {r["body"] for a in listed for r in a["replies"]}
        assert bodies == {f"Garde{tag}", "[effacé]"}
        amendment = (await boss.get(f"/api/documents/{doc_id}/amendments")).json()[
            "amendments"][0]
        assert (amendment["text"], amendment["justification"]) == ("[effacé]", "[effacé]")
        verified = await boss.get(f"/api/documents/{doc_id}/archive/verify")
        assert verified.json() == {"ok": True, "versions": 1}
        snapshot_notes = await boss.get(
            f"/api/documents/{doc_id}/snapshots/{snapshot.json()['id']}/content")
        assert snapshot_notes.status_code == 200, snapshot_notes.text
    raw = await database_bytes(server, None if backend == "sqlite" else url)
    for word in words:
        assert not holds(raw, word), word
    assert holds(raw, f"Garde{tag}")
