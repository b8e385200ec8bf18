"""Amendments against a real server: lifecycle, supports, rights, outdated and rebase, and
an accepted wording applied while three sockets type in the same paragraph."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress
from typing import Any
from uuid import uuid4

import anyio
import httpx
import pytest
from pycrdt import Doc, Map, XmlText

from client.session import Session, connect
from crdt.amend_text import block_wording
from crdt.schema import blocks, find_element
from tests.conftest import RunningServer, ServerFactory
from tests.e2e.api import all_synced, http_as

ARTICLE = "Les élus votent le budget chaque année."
MARKDOWN = f"# Charte\n\n## Article 1\n\n{ARTICLE}\n\nLa commune publie ses comptes.\n"


@asynccontextmanager
async def charter(server: RunningServer) -> AsyncIterator[tuple[str, str, httpx.AsyncClient]]:
    """A fresh text (its id, its article's paragraph id) and the facilitator's client."""
    doc_id = f"amend-{uuid4().hex[:8]}"
    async with http_as(server) as boss:
        made = await boss.post("/api/documents",
                               json={"id": doc_id, "title": "Charte", "markdown": MARKDOWN})
        assert made.status_code == 201, made.text
        content = (await boss.get(f"/api/documents/{doc_id}/content?format=json")).json()
        pid = next(b["id"] for b in content["blocks"] if b.get("text") == ARTICLE)
        yield doc_id, pid, boss


def wording(doc: Doc[Any], pid: str) -> str:
    found = block_wording(doc, pid)
    assert found is not None
    return found


def inline(session: Session, pid: str) -> XmlText:
    element = find_element(session.doc, pid)
    assert element is not None
    text = element.children[0]
    assert isinstance(text, XmlText)
    return text


async def test_lifecycle_supports_and_who_may_propose(start_server: ServerFactory) -> None:
    async with start_server() as server, charter(server) as (doc_id, pid, boss), \
            http_as(server, "member", "Karim") as karim, \
            http_as(server, "citizen", "Anaïs") as anais, \
            http_as(server, "citizen", "Bruno") as bruno:
        url = f"/api/documents/{doc_id}/amendments"
        proposal = {"paragraph_id": pid, "kind": "replace",
                    "text": "Les citoyens votent le budget chaque année.",
                    "justification": "Budget participatif."}
        refused = await anais.post(url, json=proposal)
        assert refused.status_code == 403, refused.text
        assert "not open to citizens" in refused.json()["detail"]
        made = await karim.post(url, json=proposal)
        assert made.status_code == 201, made.text
        first = made.json()
        assert (first["state"], first["base"], first["author_name"]) == (
            "submitted", ARTICLE, "Karim")

        opened = await boss.patch(f"/api/documents/{doc_id}", json={"amendments_open": True})
        assert opened.status_code == 200 and opened.json()["amendments_open"] is True
        insert = await anais.post(url, json={"paragraph_id": pid, "kind": "insert_after",
                                             "text": "Les comptes sont publiés."})
        assert insert.status_code == 201, insert.text
        bad = [
            {"paragraph_id": pid, "kind": "rewrite", "text": "x"},
            {"paragraph_id": "p-nowhere", "kind": "replace", "text": "x"},
            {"paragraph_id": pid, "kind": "replace", "text": ARTICLE},
            {"paragraph_id": pid, "kind": "replace", "text": "deux\nlignes"},
            {"paragraph_id": pid, "kind": "replace", "text": "x" * 20_001},
            {"paragraph_id": pid, "kind": "delete", "text": "pourquoi"},
        ]
        for body in bad:
            answer = await anais.post(url, json=body)
            assert answer.status_code == 422, (body, answer.text)
            assert answer.json()["error"] == "invalid"

        for client in (anais, anais, bruno):  # once per person
            supported = await client.post(f"{url}/{first['id']}/support")
            assert supported.status_code == 200, supported.text
        assert supported.json()["supports"] == 2
        taken_back = await anais.delete(f"{url}/{first['id']}/support")
        # A citizen sees other supporters by their pseudonyms (docs/privacy.md).
        (supporter,) = taken_back.json()["supporters"]
        assert re.fullmatch(r"Membre \d+", supporter), supporter

        assert (await bruno.post(f"{url}/{first['id']}/withdraw")).status_code == 403
        assert (await karim.post(f"{url}/{first['id']}/accept")).status_code == 403
        withdrawn = await karim.post(f"{url}/{first['id']}/withdraw")
        assert withdrawn.json()["state"] == "withdrawn"
        again = await boss.post(f"{url}/{first['id']}/accept")
        assert again.status_code == 409, again.text
        assert (await bruno.post(f"{url}/{first['id']}/support")).status_code == 409

        rejected = await boss.post(f"{url}/{insert.json()['id']}/reject",
                                   json={"reason": "Déjà dans l'article 4."})
        assert (rejected.json()["state"], rejected.json()["reason"]) == (
            "rejected", "Déjà dans l'article 4.")
        listed = (await bruno.get(url, params={"paragraph_id": pid})).json()["amendments"]
        assert [a["state"] for a in listed] == ["withdrawn", "rejected"]
        audit = (await boss.get(f"/api/documents/{doc_id}/audit")).json()
        actions = {entry["action"] for entry in audit["entries"]}
        assert {"amendment.submitted", "amendment.withdrawn", "amendment.rejected",
                "amendments.opened"} <= actions


async def test_frozen_text_takes_amendments_only_when_they_are_kept_open(
    start_server: ServerFactory,
) -> None:
    async with start_server() as server, charter(server) as (doc_id, pid, boss), \
            http_as(server, "member", "Karim") as karim:
        url = f"/api/documents/{doc_id}/amendments"
        proposal = {"paragraph_id": pid, "kind": "delete"}
        early = (await karim.post(url, json=proposal)).json()
        assert (await boss.post(f"/api/documents/{doc_id}/freeze", json={})).status_code == 200
        frozen = await karim.post(url, json=proposal)
        assert frozen.status_code == 403 and "closed to amendments" in frozen.json()["detail"]
        await boss.patch(f"/api/documents/{doc_id}", json={"amendments_open": True})
        assert (await karim.post(url, json=proposal)).status_code == 201
        refused = await boss.post(f"{url}/{early['id']}/accept")
        assert refused.status_code == 403 and "frozen" in refused.json()["detail"]
        await boss.post(f"/api/documents/{doc_id}/unfreeze")
        accepted = await boss.post(f"{url}/{early['id']}/accept")
        assert accepted.json()["state"] == "accepted", accepted.text
        content = (await boss.get(f"/api/documents/{doc_id}/content?format=md")).text
        assert ARTICLE not in content and "La commune publie ses comptes." in content


async def test_outdated_amendment_shows_three_ways_and_rebases(
    start_server: ServerFactory,
) -> None:
    async with start_server() as server, charter(server) as (doc_id, pid, boss), \
            http_as(server, "member", "Karim") as karim:
        url = f"/api/documents/{doc_id}/amendments"
        months = (await karim.post(url, json={
            "paragraph_id": pid, "kind": "replace",
            "text": "Les élus votent le budget chaque mois."})).json()
        weeks = (await karim.post(url, json={
            "paragraph_id": pid, "kind": "replace",
            "text": "Les élus votent le budget chaque semaine."})).json()
        members = (await karim.post(url, json={
            "paragraph_id": pid, "kind": "replace",
            "text": "Les conseillers votent le budget chaque année."})).json()
        assert (await boss.post(f"{url}/{months['id']}/accept")).status_code == 200
        view = (await karim.get(f"{url}/{weeks['id']}")).json()
        assert view["outdated"] is True
        assert (view["base"], view["now"], view["text"]) == (
            ARTICLE, "Les élus votent le budget chaque mois.",
            "Les élus votent le budget chaque semaine.")
        refused = await boss.post(f"{url}/{weeks['id']}/accept")
        assert refused.status_code == 409 and "outdated" in refused.json()["detail"]
        assert (await karim.get(f"{url}/{members['id']}")).json()["outdated"] is False
        assert (await boss.post(f"{url}/{members['id']}/accept")).status_code == 200

        rebased = await karim.post(f"{url}/{weeks['id']}/rebase", json={
            "text": "Les conseillers votent le budget chaque semaine."})
        assert rebased.status_code == 200, rebased.text
        assert (rebased.json()["outdated"], rebased.json()["rebased"]) == (False, 1)
        assert (await boss.post(f"{url}/{weeks['id']}/accept")).status_code == 200
        content = (await boss.get(f"/api/documents/{doc_id}/content?format=text")).text
        assert "Les conseillers votent le budget chaque semaine." in content


async def test_accepted_wording_lands_while_three_sockets_type_in_the_paragraph(
    start_server: ServerFactory,
) -> None:
    async with start_server() as server, charter(server) as (doc_id, pid, boss), \
            http_as(server, "member", "Karim") as karim:
        made = await karim.post(f"/api/documents/{doc_id}/amendments", json={
            "paragraph_id": pid, "kind": "replace",
            "text": "Les citoyens votent le budget chaque mois."})
        aid = made.json()["id"]
        names = ("Zoé", "Yann", "Xavier")
        async with connect(server.url, doc_id, server.token("member", names[0])) as z, \
                connect(server.url, doc_id, server.token("member", names[1])) as y, \
                connect(server.url, doc_id, server.token("member", names[2])) as x:
            await all_synced(z, y, x)
            typed = {"start": 0, "middle": 0, "end": 0}
            accepted = anyio.Event()
            warmed = {kind: anyio.Event() for kind in typed}

            def where(kind: str, text: str) -> int:
                if kind == "start":
                    return 0
                if kind == "middle":  # right after "votent", between unamended words
                    return text.index("votent") + len("votent")
                return len(text)

            async def type_in(session: Session, kind: str, letter: str) -> None:
                while not accepted.is_set() or typed[kind] < 12:
                    text = inline(session, pid)
                    now = str(wording(session.doc, pid))
                    text.insert(len(now[:where(kind, now)].encode()), letter)
                    typed[kind] += 1
                    if typed[kind] == 4:
                        warmed[kind].set()
                    # Typing cadence (a person's keystrokes), not a wait on a condition.
                    await anyio.sleep(0.01)

            async with anyio.create_task_group() as group:
                group.start_soon(type_in, z, "start", "z")
                group.start_soon(type_in, y, "middle", "y")
                group.start_soon(type_in, x, "end", "x")
                with anyio.fail_after(30):
                    for event in warmed.values():
                        await event.wait()
                answer = await boss.post(f"/api/documents/{doc_id}/amendments/{aid}/accept")
                accepted.set()
            assert answer.status_code == 200, answer.text

            # Each session waits on its own copy (a wait wakes on that session's updates).
            final = ("z" * typed["start"] + "Les citoyens votent" + "y" * typed["middle"]
                     + " le budget chaque mois." + "x" * typed["end"])
            for session in (z, y, x):
                with suppress(TimeoutError):
                    await session.wait_for(
                        lambda s=session: wording(s.doc, pid) == final,  # type: ignore[misc]
                        timeout=20)
                assert wording(session.doc, pid) == final, (session.client_id, typed)
        async with connect(server.url, doc_id, server.token("member", "Témoin")) as late:
            await late.wait_for(lambda: block_wording(late.doc, pid) == final, timeout=20)
            assert [b.text for b in blocks(late.doc) if b.type == "paragraph"][-1] == (
                "La commune publie ses comptes.")


@pytest.mark.parametrize("direct_lane", [True, False], ids=["direct-lane", "asgi"])
async def test_no_socket_writes_the_amendments_map(
    start_server: ServerFactory, direct_lane: bool
) -> None:
    async with start_server(direct_lane=direct_lane) as server, \
            charter(server) as (doc_id, pid, _), \
            http_as(server, "member", "Karim") as karim:
        made = await karim.post(f"/api/documents/{doc_id}/amendments", json={
            "paragraph_id": pid, "kind": "delete"})
        aid = made.json()["id"]
        companion = doc_id + ".annotations"
        async with connect(server.url, companion, server.token("facilitator", "Loïc")) as loic:
            await loic.synced()
            entry = loic.doc.get("amendments", type=Map)[aid]
            assert isinstance(entry, Map)
            entry["state"] = "accepted"
            loic.doc.get("amendment_settings", type=Map)["open"] = True
            await loic.wait_for(lambda: len(loic.denials) >= 1, timeout=10)
        async with connect(server.url, companion, server.token("member", "Témoin")) as reader:
            await reader.synced()
            stored = reader.doc.get("amendments", type=Map)[aid]
            assert isinstance(stored, Map) and stored["state"] == "submitted"
            assert "open" not in reader.doc.get("amendment_settings", type=Map)
        view = (await karim.get(f"/api/documents/{doc_id}/amendments/{aid}")).json()
        assert view["state"] == "submitted"


async def test_the_diff_between_two_versions_names_the_amendments_behind_its_changes(
    start_server: ServerFactory,
) -> None:
    async with start_server() as server, charter(server) as (doc_id, pid, boss):
        url = f"/api/documents/{doc_id}"
        first = await boss.post(f"{url}/snapshots", json={"label": "Jet", "stage": "draft"})
        assert first.status_code == 201, first.text
        replaced = await boss.post(f"{url}/amendments", json={
            "paragraph_id": pid, "kind": "replace",
            "text": "Les citoyens votent le budget chaque année."})
        added = await boss.post(f"{url}/amendments", json={
            "paragraph_id": pid, "kind": "insert_after", "text": "Les comptes sont publiés."})
        refused = await boss.post(f"{url}/amendments", json={
            "paragraph_id": pid, "kind": "delete"})
        for made in (replaced, added, refused):
            assert made.status_code == 201, made.text
        ids = [made.json()["id"] for made in (replaced, added, refused)]
        for amendment_id in ids[:2]:
            accepted = await boss.post(f"{url}/amendments/{amendment_id}/accept")
            assert accepted.status_code == 200, accepted.text
        new_block = accepted.json()["new_block_id"]
        rejected = await boss.post(f"{url}/amendments/{ids[2]}/reject",
                                   json={"reason": "Non."})
        assert rejected.status_code == 200, rejected.text
        second = await boss.post(f"{url}/snapshots", json={"label": "Amendé", "stage": "work"})
        assert second.status_code == 201, second.text

        for target in (second.json()["id"], "live"):
            diff = await boss.get(f"{url}/diff", params={"from": first.json()["id"],
                                                         "to": target})
            assert diff.status_code == 200, diff.text
            body = diff.json()
            sources = {b["id"]: b.get("amendments") for b in body["blocks"]
                       if b["status"] != "unchanged"}
            assert sources == {pid: [ids[0]], new_block: [ids[1]]}, body
            assert [(a["id"], a["kind"], a["block_id"]) for a in body["amendments"]] == [
                (ids[0], "replace", pid), (ids[1], "insert_after", new_block)]
        page = await boss.get(f"{url}/diff", params={"from": first.json()["id"],
                                                     "format": "html"})
        assert f'data-id="{pid}" data-amendments="{ids[0]}"' in page.text
        later = (await boss.get(f"{url}/diff", params={"from": second.json()["id"]})).json()
        assert later["amendments"] == [] and all("amendments" not in b
                                                 for b in later["blocks"])
