"""Votes on amendments against a real server, real sockets and the real database: who may
vote (members present in the open session), a second ballot is a change until the close,
secret ballots keep no choice, the quorum, majority and two thirds, the accepted wording
in the live text of a connected client, the results in the session's minutes."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable
from contextlib import AsyncExitStack, asynccontextmanager
from functools import partial
from typing import Any

import anyio
import httpx
from pycrdt import Map
from sqlalchemy import select

from client.session import Session, connect
from crdt.amend_text import block_wording
from storage.engine import create_engine, database_url_for
from storage.models import BallotRow, VoteCountRow
from tests.conftest import RunningServer, ServerFactory
from tests.e2e.api import http_as
from tests.e2e.test_amendments import ARTICLE, charter
from tests.e2e.test_webhooks import FAST, receiving, register

PRESENCE = {"session_min_presence_seconds": 0.2, "session_heartbeat_seconds": 0.2}
NEW_ARTICLE = "Les élus et les citoyens votent le budget chaque année."


async def present_becomes(api: httpx.AsyncClient, doc_id: str, number: int,
                          names: set[str], *, within: float = 10) -> None:
    """Wait until the open session's ``present`` list is exactly `names`."""
    with anyio.fail_after(within):
        while True:
            got = await api.get(f"/api/documents/{doc_id}/sessions/{number}")
            assert got.status_code == 200, got.text
            if {p["name"] for p in got.json()["present"]} == names:
                return
            await anyio.sleep(0.02)  # polling the server's record under the deadline


@asynccontextmanager
async def attending(server: RunningServer, doc_id: str, people: dict[str, str],
                    ) -> AsyncIterator[dict[str, Session]]:
    """Sockets on the text for each name → role, synced."""
    async with AsyncExitStack() as stack:
        sessions = {name: await stack.enter_async_context(
            connect(server.url, doc_id, server.token(role, name)))
            for name, role in people.items()}
        for session in sessions.values():
            await session.synced()
        yield sessions


async def propose(client: httpx.AsyncClient, doc_id: str, pid: str, text: str) -> str:
    made = await client.post(f"/api/documents/{doc_id}/amendments",
                             json={"paragraph_id": pid, "kind": "replace", "text": text})
    assert made.status_code == 201, made.text
    return str(made.json()["id"])


async def paragraph_ids(boss: httpx.AsyncClient, doc_id: str) -> dict[str, str]:
    content = (await boss.get(f"/api/documents/{doc_id}/content?format=json")).json()
    return {b["text"]: b["id"] for b in content["blocks"] if b.get("text")}


async def reads(pages: Iterable[Session], pid: str, wording: str) -> None:
    """Wait until every page shows `wording` in the block `pid`."""
    for page in pages:
        await page.wait_for(partial(_shows, page, pid, wording), timeout=10)


def _shows(page: Session, pid: str, wording: str) -> bool:
    return block_wording(page.doc, pid) == wording


def tally_of(session: Session, amendment_id: str) -> dict[str, Any]:
    entry = session.doc.get("amendments", type=Map).get(amendment_id)
    if not isinstance(entry, Map):
        return {}
    tally = entry.get("tally")
    return tally if isinstance(tally, dict) else {}


async def test_public_vote_change_refusals_majority_applied_and_minuted(
    start_server: ServerFactory,
) -> None:
    async with start_server(**PRESENCE) as server, charter(server) as (doc_id, pid, boss), \
            http_as(server, "member", "Karim") as karim, \
            http_as(server, "member", "Lina") as lina, \
            http_as(server, "member", "Marc") as marc, \
            http_as(server, "member", "Nina") as nina, \
            http_as(server, "citizen", "Chloé") as chloe:
        votes = f"/api/documents/{doc_id}/votes"
        ids = await paragraph_ids(boss, doc_id)
        a = await propose(karim, doc_id, pid, NEW_ARTICLE)
        b = await propose(lina, doc_id, ids["La commune publie ses comptes."],
                          "La commune publie ses comptes chaque mois.")
        body = {"amendment_ids": [a, b], "ballot": "public", "rule": "majority"}
        no_session = await boss.post(votes, json=body)
        assert no_session.status_code == 409 and "open session" in no_session.json()["detail"]
        opened = await boss.post(f"/api/documents/{doc_id}/sessions",
                                 json={"title": "Séance d'examen"})
        number = opened.json()["number"]
        assert (await karim.post(votes, json=body)).status_code == 403
        bad: dict[str, Any]
        for bad in ({"amendment_ids": []}, {"amendment_ids": [a, a]},
                    {"amendment_ids": [a], "rule": "unanimity"},
                    {"amendment_ids": [a], "ballot": "open"}):
            refused = await boss.post(votes, json=bad)
            assert refused.status_code == 422, (bad, refused.text)
        assert (await boss.post(votes, json={"amendment_ids": ["nope"]})).status_code == 404
        async with attending(server, doc_id, {"Karim": "member", "Lina": "member",
                                              "Marc": "member", "Chloé": "citizen"}) as pages, \
                connect(server.url, doc_id + ".annotations",
                        server.token("citizen", "Chloé")) as live:
            await live.synced()
            await present_becomes(boss, doc_id, number, {"Karim", "Lina", "Marc", "Chloé"})
            made = await boss.post(votes, json=body)
            assert made.status_code == 201, made.text
            vid = made.json()["id"]
            states = {x["id"]: x["state"] for x in (await boss.get(
                f"/api/documents/{doc_id}/amendments")).json()["amendments"]}
            assert states == {a: "evaluating", b: "evaluating"}
            again = await boss.post(votes, json={"amendment_ids": [a]})
            assert again.status_code == 409 and "evaluating" in again.json()["detail"]
            ballots = f"{votes}/{vid}/ballots"

            async def cast(client: httpx.AsyncClient, aid: str, choice: str) -> httpx.Response:
                return await client.post(ballots, json={"amendment_id": aid, "choice": choice})

            first = await cast(karim, a, "against")
            assert first.status_code == 200, first.text
            changed = await cast(karim, a, "for")  # a double vote is a change
            assert (changed.json()["for"], changed.json()["against"]) == (1, 0)
            assert (await cast(lina, a, "for")).status_code == 200
            assert (await cast(marc, a, "against")).status_code == 200
            for client, choice in ((karim, "against"), (lina, "against"), (marc, "for")):
                assert (await cast(client, b, choice)).status_code == 200
            citizen = await cast(chloe, a, "for")
            assert citizen.status_code == 403 and "may not vote" in citizen.json()["detail"]
            absent = await cast(nina, a, "for")
            assert absent.status_code == 403 and "present" in absent.json()["detail"]
            async with http_as(server, "public", "Anonyme") as anonymous:
                assert (await cast(anonymous, a, "for")).status_code in (401, 403)
            assert (await cast(karim, "other", "for")).status_code == 422
            assert (await cast(karim, a, "maybe")).status_code == 422
            # Live tallies, with who voted what (public), in the server-written map.
            await live.wait_for(lambda: tally_of(live, a).get("for") == 2
                                and tally_of(live, b).get("against") == 2, timeout=10)
            # Chloé (a citizen) syncs the public view: the voters by their pseudonyms.
            pseudonyms = {p["name"]: p["pseudonym"]
                          for p in (await boss.get("/api/people")).json()["people"]}
            assert {x["name"]: x["choice"] for x in tally_of(live, a)["ballots"]} == {
                pseudonyms["Karim"]: "for", pseudonyms["Lina"]: "for",
                pseudonyms["Marc"]: "against"}
            shown = (await boss.get(f"{votes}/{vid}")).json()
            assert [(c["for"], c["against"], c["abstain"]) for c in shown["counts"]] == [
                (2, 1, 0), (1, 2, 0)]
            assert shown["state"] == "open" and len(shown["ballots"]) == 6
            assert (await karim.post(f"{votes}/{vid}/close")).status_code == 403
            closed = await boss.post(f"{votes}/{vid}/close")
            assert closed.status_code == 200, closed.text
            results = {r["amendment_id"]: r for r in closed.json()["results"]}
            assert (results[a]["result"], results[a]["for"], results[a]["against"]) == (
                "accepted", 2, 1)
            assert results[b]["result"] == "rejected" and results[a]["applied"] is True
            late = await cast(lina, a, "against")
            assert late.status_code == 409 and "closed" in late.json()["detail"]
            assert (await boss.post(f"{votes}/{vid}/close")).status_code == 409
            # The accepted wording reaches every connected page; the rejected one is not.
            await reads(pages.values(), pid, NEW_ARTICLE)
            await live.wait_for(lambda: tally_of(live, a).get("result") == "accepted",
                                timeout=10)
        listed = {x["id"]: x for x in (await boss.get(
            f"/api/documents/{doc_id}/amendments")).json()["amendments"]}
        assert listed[a]["state"] == "accepted" and listed[a]["tally"]["for"] == 2
        assert (listed[b]["state"], listed[b]["reason"]) == ("rejected", "rejected by vote")
        # A citizen reads the members' public ballots by their pseudonyms, without subjects.
        members = {"Karim", "Lina", "Marc"}
        seen = (await chloe.get(f"/api/documents/{doc_id}/amendments/{a}")).json()["tally"]
        assert len(seen["ballots"]) == 3 and all(x["sub"] is None for x in seen["ballots"])
        assert not members & {x["name"] for x in seen["ballots"]}
        shown_to_citizen = (await chloe.get(f"{votes}/{vid}")).json()["ballots"]
        assert len(shown_to_citizen) == 6 and all(x["sub"] is None for x in shown_to_citizen)
        assert not members & {x["name"] for x in shown_to_citizen}
        minutes = (await boss.post(f"/api/documents/{doc_id}/sessions/{number}/close")).json()
        decided = [d for d in minutes["decisions"] if d["action"] == "vote.closed"]
        assert len(decided) == 1
        assert {r["amendment_id"]: r["result"] for r in decided[0]["detail"]["results"]} == {
            a: "accepted", b: "rejected"}
        assert any(d["action"] == "vote.opened" for d in minutes["decisions"])
        markdown = (await boss.get(f"/api/documents/{doc_id}/sessions/{number}/minutes",
                                   params={"format": "md"})).text
        assert f"vote.closed by Loïc Ménard: {a[:8]} accepted (for 2, against 1, " \
               f"abstain 0); {b[:8]} rejected (for 1, against 2, abstain 0)" in markdown
        text = (await boss.get(f"/api/documents/{doc_id}/content?format=text")).text
        assert NEW_ARTICLE in text and ARTICLE not in text and "chaque mois" not in text
        listing = (await chloe.get(votes)).json()["votes"]
        assert [(v["id"], v["state"]) for v in listing] == [(vid, "closed")]


async def test_secret_ballot_two_thirds_and_quorum(start_server: ServerFactory) -> None:
    members = ["Karim", "Lina", "Marc", "Odile", "Paul"]
    async with start_server(**PRESENCE) as server, charter(server) as (doc_id, pid, boss), \
            AsyncExitStack() as stack:
        clients = {n: await stack.enter_async_context(http_as(server, "member", n))
                   for n in members}
        ids = await paragraph_ids(boss, doc_id)
        split = await propose(clients["Karim"], doc_id, pid, NEW_ARTICLE)
        wide = await propose(clients["Lina"], doc_id, ids["La commune publie ses comptes."],
                             "La commune publie ses comptes en ligne.")
        few = await propose(clients["Marc"], doc_id, ids["Article 1"], "Article premier")
        assert (await boss.patch(f"/api/documents/{doc_id}", json={"quorum": 3})
                ).status_code == 200
        number = (await boss.post(f"/api/documents/{doc_id}/sessions",
                                  json={"title": "Vote"})).json()["number"]
        votes = f"/api/documents/{doc_id}/votes"
        async with attending(server, doc_id, dict.fromkeys(members, "member")) as pages:
            await present_becomes(boss, doc_id, number, set(members))
            made = await boss.post(votes, json={"amendment_ids": [split, wide, few],
                                                "ballot": "secret", "rule": "two_thirds"})
            assert made.status_code == 201, made.text
            vid = made.json()["id"]
            plan = {split: ["for", "for", "for", "against", "against"],   # 3/5: not 2/3
                    wide: ["for", "for", "for", "for", "against"],        # 4/5
                    few: ["for", "for"]}                                  # 2 < quorum 3
            for aid, choices in plan.items():
                for name, choice in zip(members, choices, strict=False):
                    cast = await clients[name].post(f"{votes}/{vid}/ballots", json={
                        "amendment_id": aid, "choice": choice})
                    assert cast.status_code == 200, cast.text
            change = await clients["Karim"].post(f"{votes}/{vid}/ballots", json={
                "amendment_id": split, "choice": "against"})
            assert change.status_code == 409 and "secret" in change.json()["detail"]
            # The database keeps who voted, never what: only the per-amendment counts.
            engine = create_engine(database_url_for(server.settings.data_dir))
            try:
                async with engine.connect() as conn:
                    rows = (await conn.execute(select(
                        BallotRow.amendment_id, BallotRow.voter, BallotRow.choice,
                    ).where(BallotRow.vote_id == vid))).all()
                    counts = (await conn.execute(select(
                        VoteCountRow.amendment_id, VoteCountRow.for_count,
                        VoteCountRow.against_count, VoteCountRow.abstain_count,
                    ).where(VoteCountRow.vote_id == vid))).all()
            finally:
                await engine.dispose()
            assert len(rows) == 12 and all(choice is None for _, _, choice in rows)
            assert {voter for aid, voter, _ in rows if aid == split} == {
                "karim", "lina", "marc", "odile", "paul"}
            assert {c[0]: tuple(c[1:]) for c in counts} == {
                split: (3, 2, 0), wide: (4, 1, 0), few: (2, 0, 0)}
            shown = (await clients["Paul"].get(f"{votes}/{vid}")).json()
            assert all("choice" not in b for b in shown["ballots"])
            closed = await boss.post(f"{votes}/{vid}/close")
            assert closed.status_code == 200, closed.text
            results = {r["amendment_id"]: r["result"] for r in closed.json()["results"]}
            assert results == {split: "rejected", wide: "accepted", few: "no_quorum"}
            await reads(pages.values(), ids["La commune publie ses comptes."],
                        "La commune publie ses comptes en ligne.")
        listed = (await boss.get(f"/api/documents/{doc_id}/amendments")).json()["amendments"]
        states = {x["id"]: (x["state"], x["reason"]) for x in listed}
        assert all("ballots" not in x["tally"] for x in listed)
        assert {x["id"]: x["tally"]["for"] for x in listed} == {split: 3, wide: 4, few: 2}
        assert states == {split: ("rejected", "rejected by vote"), wide: ("accepted", None),
                          few: ("submitted", None)}
        audit = (await boss.get(f"/api/documents/{doc_id}/audit")).json()["entries"]
        cast_entries = [e for e in audit if e["action"] == "ballot.cast"]
        assert len(cast_entries) == 12 and all("choice" not in e["detail"]
                                               for e in cast_entries)


async def test_vote_opened_and_closed_reach_webhooks_with_the_results(
    start_server: ServerFactory,
) -> None:
    async with receiving() as receiver, start_server(**PRESENCE, **FAST) as server, \
            charter(server) as (doc_id, pid, boss), \
            http_as(server, "member", "Karim") as karim:
        await register(server, receiver.url + "/hook/votes", doc_id=doc_id,
                       events=("vote.opened", "vote.closed"))
        aid = await propose(karim, doc_id, pid, NEW_ARTICLE)
        number = (await boss.post(f"/api/documents/{doc_id}/sessions",
                                  json={"title": "Vote"})).json()["number"]
        votes = f"/api/documents/{doc_id}/votes"
        async with attending(server, doc_id, {"Karim": "member"}):
            await present_becomes(boss, doc_id, number, {"Karim"})
            vid = (await boss.post(votes, json={"amendment_ids": [aid]})).json()["id"]
            assert (await karim.post(f"{votes}/{vid}/ballots", json={
                "amendment_id": aid, "choice": "for"})).status_code == 200
            assert (await boss.post(f"{votes}/{vid}/close")).status_code == 200
        deliveries = await receiver.wait_for("/hook/votes", 2)
    by_event = {d.json["event"]: d.json["data"] for d in deliveries}
    opened, closed = by_event["vote.opened"], by_event["vote.closed"]
    assert isinstance(opened, dict) and isinstance(closed, dict)
    assert (opened["vote_id"], opened["amendment_ids"], opened["ballot"]) == (
        vid, [aid], "public")
    assert closed["results"] == [{"amendment_id": aid, "for": 1, "against": 0,
                                  "abstain": 0, "result": "accepted", "applied": True}]
