"""A person's data against a real server: everything the test made for that person, and
nothing of anyone else; only the person and facilitators may download it."""

from __future__ import annotations

import json
import time
from uuid import uuid4

from client.session import connect
from storage.sessions import PresenceInterval
from storage.sql import SqlDocumentStore
from storage.votes import Choice, VoteRecord
from tests.conftest import ServerFactory
from tests.e2e.api import FACILITATOR, http, http_as
from tests.e2e.test_provenance import (
    MARKDOWN,
    append,
    paragraph_ids,
    wait_recorded,
    whole,
)

ZOE, ANAIS, KARIM = "Zoé Lefèvre", "Anaïs Dupré", "Karim Benali"


async def test_a_person_downloads_all_their_data_and_nothing_of_anyone_else(
    start_server: ServerFactory,
) -> None:
    doc_id = f"data-{uuid4().hex[:8]}"
    async with start_server() as server, http_as(server) as boss, http(server) as public, \
            http_as(server, "member", ZOE) as zoe, http_as(server, "citizen", ANAIS) as anais, \
            http_as(server, "member", KARIM) as karim:
        made = await boss.post("/api/documents",
                               json={"id": doc_id, "title": "Charte", "markdown": MARKDOWN})
        assert made.status_code == 201, made.text
        async with connect(server.url, doc_id, server.token("member", ZOE)) as typing:
            await typing.synced()
            p1, p2, _ = paragraph_ids(typing.doc)
            append(typing, p1, " Démocratie directe et locale")
            await typing.wait_for(lambda: "locale" in whole(typing.doc), timeout=20)
        notes = f"/api/documents/{doc_id}/annotations"
        theirs = await anais.post(notes, json={"paragraph_id": p1, "body": "Avis d'Anaïs."})
        assert theirs.status_code == 201, theirs.text
        mine = await zoe.post(notes, json={"paragraph_id": p2, "body": "Remarque de Zoé."})
        assert mine.status_code == 201, mine.text
        reply = await zoe.post(f"{notes}/{theirs.json()['id']}/replies",
                               json={"body": "Réponse de Zoé."})
        assert reply.status_code == 201, reply.text
        amendments = f"/api/documents/{doc_id}/amendments"
        proposed = await zoe.post(amendments, json={"paragraph_id": p2, "kind": "replace",
                                                    "text": "Article proposé par Zoé."})
        assert proposed.status_code == 201, proposed.text
        other = await karim.post(amendments, json={"paragraph_id": p1, "kind": "replace",
                                                   "text": "Texte de Karim."})
        assert other.status_code == 201, other.text
        supported = await zoe.post(f"{amendments}/{other.json()['id']}/support")
        assert supported.status_code == 200, supported.text

        database = server.settings.data_dir / "palabre.db"
        async with SqlDocumentStore(f"sqlite+aiosqlite:///{database}") as store:
            now = time.time()
            session = await store.open_session(
                doc_id=doc_id, title="Séance 1", kind="plenary", planned_start=None,
                planned_end=None, by="loic-menard", by_name=FACILITATOR, at=now)
            for sub, name in (("zoe-lefevre", ZOE), ("karim-benali", KARIM)):
                await store.record_joined([PresenceInterval(
                    session_id=session.session_id, connection_id=f"c-{sub}", node_id="n1",
                    sub=sub, name=name, role="member", joined_at=now, left_at=None,
                    seen_at=now)])
            aid = other.json()["id"]
            await store.open_vote(VoteRecord(
                vote_id="v1", doc_id=doc_id, session_id=session.session_id,
                amendment_ids=(aid,), ballot="public", rule="majority",
                opened_by="loic-menard", opened_by_name=FACILITATOR, opened_at=now))
            ballots: tuple[tuple[str, str, Choice], ...] = (
                ("zoe-lefevre", ZOE, "against"), ("karim-benali", KARIM, "for"))
            for sub, name, choice in ballots:
                await store.cast_ballot(doc_id=doc_id, vote_id="v1", amendment_id=aid,
                                        voter=sub, voter_name=name, choice=choice, at=now)
        await wait_recorded(boss, {ZOE, ANAIS, KARIM, FACILITATOR})

        url = "/api/people/zoe-lefevre/data"
        answer = await zoe.get(url)
        assert answer.status_code == 200, answer.text
        data = answer.json()
        assert data["profile"]["name"] == ZOE and data["profile"]["sub"] == "zoe-lefevre"
        assert data["profile"]["pseudonym"].startswith("Membre ")
        assert data["roles"]["role"] == "member"
        (document,) = data["documents"]
        assert document["id"] == doc_id
        assert [c["body"] for c in document["comments"]] == ["Remarque de Zoé."]
        assert [r["body"] for r in document["replies"]] == ["Réponse de Zoé."]
        assert [a["text"] for a in document["amendments"]] == ["Article proposé par Zoé."]
        assert [s["amendment_id"] for s in document["supports"]] == [other.json()["id"]]
        assert document["words"] == 4  # "Démocratie directe et locale"
        assert document["paragraphs"] == [{"id": p1, "words": 4}]
        assert [(a["number"], a["name"]) for a in document["attendance"]] == [(1, ZOE)]
        assert [(v["vote_id"], v["choice"]) for v in data["votes"]] == [("v1", "against")]
        assert [e["action"] for e in data["audit"]] == ["amendment.submitted"]
        text = json.dumps(data, ensure_ascii=False)
        for foreign in (ANAIS, KARIM, "anais-dupre", "karim-benali", "Avis d'Anaïs",
                        "Texte de Karim", FACILITATOR):
            assert foreign not in text, foreign

        assert (await boss.get(url)).status_code == 200
        assert (await anais.get(url)).status_code == 403
        assert (await karim.get("/api/people/zoe-lefevre/export")).status_code == 403
        assert (await public.get(url)).status_code in (401, 403)
        assert (await boss.get("/api/people/nobody-known/data")).status_code == 404
        again = (await zoe.get("/api/people/zoe-lefevre/export")).json()
        exported = [e for e in again["audit"] if e["action"] == "person.data_exported"]
        assert {e["actor_sub"] for e in exported} == {"zoe-lefevre", "loic-menard"}
