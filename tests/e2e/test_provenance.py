"""Provenance against a real server: three members write known words in known paragraphs
and delete some of each other's; every remaining word of the live text and of a snapshot
is attributed to whoever typed it, from the server's record (log rows and, past the
compaction threshold, the authorship table)."""

from __future__ import annotations

import functools
import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any
from uuid import uuid4

import anyio
import httpx
import pytest
from pycrdt import Doc, XmlText

from client.session import Session, connect
from crdt.schema import blocks, find_element
from tests.conftest import ServerFactory
from tests.e2e.api import FACILITATOR, all_synced, http, http_as

MARKDOWN = "Préambule.\n\nArticle.\n\nFin.\n"


def paragraph_ids(doc: Doc[Any]) -> list[str]:
    return [b.id for b in blocks(doc) if b.type == "paragraph" and b.id]


def inline(session: Session, pid: str) -> XmlText:
    element = find_element(session.doc, pid)
    assert element is not None
    text = element.children[0]
    assert isinstance(text, XmlText)
    return text


def append(session: Session, pid: str, words: str) -> None:
    text = inline(session, pid)
    text.insert(len(str(text).encode()), words)


def replace(session: Session, pid: str, old: str, new: str) -> None:
    text = inline(session, pid)
    now = str(text)
    at = len(now[:now.index(old)].encode())
    del text[at:at + len(old.encode())]
    if new:
        text.insert(at, new)


def whole(doc: Doc[Any]) -> str:
    return " ".join(b.text for b in blocks(doc))


async def settle(sessions: tuple[Session, ...], check: Callable[[str], bool]) -> None:
    for session in sessions:
        await session.wait_for(functools.partial(_holds, session, check), timeout=20)


def _holds(session: Session, check: Callable[[str], bool]) -> bool:
    return check(whole(session.doc))


def authors(answer: httpx.Response) -> dict[str, list[tuple[str, str]]]:
    """``{paragraph id: [(word, display name), ...]}`` of a provenance answer."""
    assert answer.status_code == 200, answer.text
    return {p["id"]: [(s["text"], s["display_name"]) for s in p["spans"]]
            for p in answer.json()["paragraphs"]}


async def wait_recorded(boss: httpx.AsyncClient, names: set[str]) -> None:
    """People are recorded off the request path: wait until all of `names` are."""
    with anyio.fail_after(20):
        while True:
            listed = (await boss.get("/api/people")).json()["people"]
            if names <= {p["name"] for p in listed}:
                return
            await anyio.sleep(0.05)  # polling the API for a background write


async def wait_compacted(database: Path, doc_id: str) -> None:
    """Wait until compaction wrote authorship ranges of `doc_id`."""
    with anyio.fail_after(20):
        while True:
            with sqlite3.connect(database) as db:
                kept = db.execute("SELECT count(*) FROM authorship WHERE doc_id = ?",
                                  (doc_id,)).fetchone()[0]
            if kept:
                return
            await anyio.sleep(0.05)  # polling the file for a background compaction


@pytest.mark.parametrize("compact_threshold", [10_000, 3])
async def test_every_word_is_attributed_to_who_typed_it_live_and_in_a_snapshot(
    start_server: ServerFactory, compact_threshold: int,
) -> None:
    doc_id = f"prov-{uuid4().hex[:8]}"
    async with start_server(compact_threshold=compact_threshold) as server, \
            http_as(server) as boss:
        made = await boss.post("/api/documents",
                               json={"id": doc_id, "title": "Charte", "markdown": MARKDOWN})
        assert made.status_code == 201, made.text
        opened = await boss.post(f"/api/documents/{doc_id}/sessions",
                                 json={"title": "Séance 1", "kind": "work"})
        assert opened.status_code == 201, opened.text
        names = ("Zoé Lefèvre", "Yann Le Goff", "Xavier Ngô")
        async with connect(server.url, doc_id, server.token("member", names[0])) as z, \
                connect(server.url, doc_id, server.token("member", names[1])) as y, \
                connect(server.url, doc_id, server.token("member", names[2])) as x:
            sessions = (z, y, x)
            await all_synced(*sessions)
            p1, p2, p3 = paragraph_ids(z.doc)
            append(z, p1, " les habitants décident")
            append(y, p2, " Chaque voix compte")
            append(x, p3, " Vive la commune")
            await settle(sessions, lambda t: all(w in t for w in ("commune", "habitants",
                                                                  "voix")))
            replace(x, p1, "habitants", "citoyennes")
            replace(z, p2, "Chaque ", "")
            await settle(sessions, lambda t: "citoyennes" in t and "Chaque" not in t)
            snapshot = await boss.post(f"/api/documents/{doc_id}/snapshots",
                                       json={"label": "Lecture 1", "stage": "lecture"})
            assert snapshot.status_code == 201, snapshot.text
            append(y, p1, " demain")
            await settle(sessions, lambda t: "demain" in t)
        await wait_recorded(boss, {*names, FACILITATOR})
        if compact_threshold == 3:  # compacted (in the background): the table holds it
            await wait_compacted(server.settings.data_dir / "palabre.db", doc_id)
        zoe, yann, xavier, loic = (*names, FACILITATOR)
        first = [("Préambule", loic), ("les", zoe), ("citoyennes", xavier), ("décident", zoe)]
        expected = {
            p1: [*first, ("demain", yann)],
            p2: [("Article", loic), ("voix", yann), ("compte", yann)],
            p3: [("Fin", loic), ("Vive", xavier), ("la", xavier), ("commune", xavier)],
        }
        url = f"/api/documents/{doc_id}/provenance"
        live = await boss.get(url, params={"words": "1"})
        assert authors(live) == expected
        # The count of what each client typed and kept, against the whole-text shares.
        typed = {zoe: 2, yann: 3, xavier: 4, loic: 3}
        body = live.json()
        assert body["words"] == 12
        assert {c["display_name"]: c["words"] for c in body["contributors"]} == typed
        assert {c["sub"] for c in body["contributors"]} == {
            "zoe-lefevre", "yann-le-goff", "xavier-ngo", "loic-menard"}
        shares = {p["id"]: {c["display_name"]: c["share"] for c in p["contributors"]}
                  for p in body["paragraphs"]}
        assert shares[p1] == {zoe: 0.4, loic: 0.2, xavier: 0.2, yann: 0.2}
        spans = body["paragraphs"][0]["spans"]
        assert all(s["inserted_from"] <= s["inserted_until"] for s in spans)
        # Imported before the session opened; typed while it was open.
        assert [s["session"] for s in spans[:4]] == [None, 1, 1, 1]
        archived = await boss.get(url, params={"version": "1", "words": "1"})
        assert authors(archived) == {**expected, p1: first}
        summary = await boss.get(url)
        assert "spans" not in summary.json()["paragraphs"][0]
        for bad, status in (("0", 400), ("x", 400), ("2", 404)):
            assert (await boss.get(url, params={"version": bad})).status_code == status


async def test_provenance_is_read_as_the_content_is(start_server: ServerFactory) -> None:
    doc_id = f"prov-{uuid4().hex[:8]}"
    async with start_server() as server, http_as(server) as boss, http(server) as public, \
            http_as(server, "citizen", "Anaïs") as anais:
        made = await boss.post("/api/documents",
                               json={"id": doc_id, "title": "Charte", "markdown": MARKDOWN})
        assert made.status_code == 201, made.text
        url = f"/api/documents/{doc_id}/provenance"
        assert (await public.get(url)).status_code in (401, 403)
        citizen = await anais.get(url)
        assert citizen.status_code == 200, citizen.text
        assert all(c["sub"] is None for c in citizen.json()["contributors"])
        assert FACILITATOR not in citizen.text
        assert (await boss.patch(f"/api/documents/{doc_id}",
                                 json={"is_public": True})).status_code == 200
        seen = await public.get(url, params={"words": "1"})
        assert seen.status_code == 200, seen.text
        assert FACILITATOR not in seen.text and "loic-menard" not in seen.text
        assert (await public.get("/api/documents/nowhere/provenance")).status_code in (403, 404)


async def test_the_public_sees_pseudonyms_unless_a_person_chose_to_be_named(
    start_server: ServerFactory,
) -> None:
    doc_id = f"prov-{uuid4().hex[:8]}"
    async with start_server() as server, http_as(server) as boss, http(server) as public, \
            http_as(server, "citizen", "Anaïs Dupré") as anais, \
            http_as(server, "member", "Zoé Lefèvre") as zoe_http:
        made = await boss.post("/api/documents", json={
            "id": doc_id, "title": "Charte", "markdown": MARKDOWN, "is_public": True})
        assert made.status_code == 201, made.text
        async with connect(server.url, doc_id, server.token("member", "Zoé Lefèvre")) as zoe:
            await zoe.synced()
            p1 = paragraph_ids(zoe.doc)[0]
            append(zoe, p1, " Démocratie directe")
            await zoe.wait_for(lambda: "directe" in whole(zoe.doc), timeout=20)
        comment = await anais.post(f"/api/documents/{doc_id}/annotations",
                                   json={"paragraph_id": p1, "body": "D'accord."})
        assert comment.status_code == 201, comment.text
        proposed = await zoe_http.post(f"/api/documents/{doc_id}/amendments", json={
            "paragraph_id": p1, "kind": "replace", "text": "Démocratie locale."})
        assert proposed.status_code == 201, proposed.text
        snapshot = await boss.post(f"/api/documents/{doc_id}/snapshots",
                                   json={"label": "Lecture 1", "stage": "lecture"})
        assert snapshot.status_code == 201, snapshot.text
        await wait_recorded(boss, {"Zoé Lefèvre", "Anaïs Dupré", FACILITATOR})
        people = {p["name"]: p for p in (await boss.get("/api/people")).json()["people"]}
        pseudonyms = {name: p["pseudonym"] for name, p in people.items()}
        assert len(set(pseudonyms.values())) == 3
        assert all(p.startswith("Membre ") for p in pseudonyms.values())
        url = f"/api/documents/{doc_id}/provenance"
        real_names = ("Zoé Lefèvre", "Anaïs Dupré", FACILITATOR, "zoe-lefevre", "loic-menard",
                      "anais-dupre")

        async def public_outputs() -> str:
            answers = [await public.get(url, params={"words": "1"}),
                       await public.get(f"/api/documents/{doc_id}/annotations"),
                       await public.get(f"/api/documents/{doc_id}/snapshots"),
                       await public.get(f"/api/documents/{doc_id}/provenance",
                                        params={"version": "1", "words": "1"}),
                       await public.get(f"/api/documents/{doc_id}/amendments")]
            assert all(a.status_code == 200 for a in answers), [a.text for a in answers]
            # The public archive names the makers by pseudonym (their subject is among the
            # hashed fields it publishes: a known gap, docs/privacy.md).
            archive = await public.get(f"/api/documents/{doc_id}/archive")
            assert archive.status_code == 200, archive.text
            shown = {v["created_by_name"] for v in archive.json()["versions"]}
            return "".join(a.text for a in answers) + " ".join(shown)

        seen = await public_outputs()
        assert not [name for name in real_names if name in seen]
        assert pseudonyms["Zoé Lefèvre"] in seen and pseudonyms[FACILITATOR] in seen
        assert pseudonyms["Anaïs Dupré"] in seen
        spans = (await public.get(url, params={"words": "1"})).json()["paragraphs"][0]["spans"]
        assert [(s["text"], s["display_name"]) for s in spans] == [
            ("Préambule", pseudonyms[FACILITATOR]), ("Démocratie", pseudonyms["Zoé Lefèvre"]),
            ("directe", pseudonyms["Zoé Lefèvre"])]
        own = (await anais.get(f"/api/documents/{doc_id}/annotations")).json()["annotations"]
        assert own[0]["author"] == {"sub": "anais-dupre", "name": "Anaïs Dupré"}

        naming = "/api/people/zoe-lefevre/naming"
        refused = await anais.put(naming, json={"named_publicly": True})
        assert refused.status_code == 403, refused.text
        assert (await public.put(naming, json={"named_publicly": True})).status_code in (401,
                                                                                         403)
        assert (await zoe_http.put(naming, json={"named_publicly": "oui"})).status_code == 422
        chosen = await zoe_http.put(naming, json={"named_publicly": True})
        assert chosen.status_code == 200 and chosen.json()["named_publicly"] is True
        seen = await public_outputs()
        assert "Zoé Lefèvre" in seen and FACILITATOR not in seen and "Anaïs Dupré" not in seen
        insider = await boss.get(url, params={"words": "1"})
        assert FACILITATOR in insider.text and "Zoé Lefèvre" in insider.text
        back = await boss.put(naming, json={"named_publicly": False})
        assert back.status_code == 200 and back.json()["named_publicly"] is False
        assert "Zoé Lefèvre" not in await public_outputs()
