"""A vote across two nodes sharing PostgreSQL and Redis: members present on either node
vote through either node, the counts stay exact, the tallies and the accepted wording
reach the pages of both nodes."""

from __future__ import annotations

from functools import partial
from pathlib import Path
from uuid import uuid4

import anyio
import httpx
import pytest
from pycrdt import Map

from client.session import Session, connect
from crdt.amend_text import block_wording
from tests.conftest import postgres_or_skip
from tests.e2e.serverprocess import ServerProcess
from tests.multinode.nodes import redis_or_skip, start_cluster
from tests.multinode.test_sessions import SESSION_ENV, present_becomes

pytestmark = pytest.mark.postgres

ARTICLE = "Les élus votent le budget chaque année."
PROPOSED = "Les élus et les citoyens votent le budget chaque année."


def client(node: ServerProcess, token: str) -> httpx.AsyncClient:
    return httpx.AsyncClient(base_url=node.url, timeout=10,
                             headers={"Authorization": f"Bearer {token}"})


def reads(page: Session, pid: str) -> bool:
    return block_wording(page.doc, pid) == PROPOSED


def tally_for(page: Session, amendment_id: str) -> int:
    entry = page.doc.get("amendments", type=Map).get(amendment_id)
    tally = entry.get("tally") if isinstance(entry, Map) else None
    return int(tally.get("for", -1)) if isinstance(tally, dict) else -1


async def test_members_on_two_nodes_vote_and_the_result_reaches_both(tmp_path: Path) -> None:
    redis_url, database_url = await redis_or_skip(), await postgres_or_skip()
    doc_id = f"mn-vote-{uuid4().hex[:8]}"
    async with start_cluster(tmp_path, 2, redis_url=redis_url, database_url=database_url,
                             extra_env=SESSION_ENV) as (first, second):
        boss = first.token("facilitator", "Loïc Ménard")
        names = ["Amélie", "Bruno", "Chloé", "David"]
        tokens = {n: first.token("member", n) for n in names}
        async with client(first, boss) as on_first, client(second, boss) as on_second:
            made = await on_first.post("/api/documents", json={
                "id": doc_id, "title": "Charte", "markdown": f"{ARTICLE}\n"})
            assert made.status_code == 201, made.text
            blocks = (await on_first.get(f"/api/documents/{doc_id}/content?format=json")
                      ).json()["blocks"]
            pid = next(b["id"] for b in blocks if b.get("text") == ARTICLE)
            async with client(first, tokens["Amélie"]) as amelie:
                proposed = await amelie.post(f"/api/documents/{doc_id}/amendments", json={
                    "paragraph_id": pid, "kind": "replace", "text": PROPOSED})
            assert proposed.status_code == 201, proposed.text
            aid = proposed.json()["id"]
            opened = await on_first.post(f"/api/documents/{doc_id}/sessions",
                                         json={"title": "Vote à deux nœuds"})
            assert opened.status_code == 201, opened.text
            # Amélie and Bruno have their page on the first node, Chloé and David on the
            # second; each votes through the other node than their page's.
            nodes = {"Amélie": first, "Bruno": first, "Chloé": second, "David": second}
            async with connect(first.url, doc_id, tokens["Amélie"]) as a, \
                    connect(first.url, doc_id, tokens["Bruno"]) as b, \
                    connect(second.url, doc_id, tokens["Chloé"]) as c, \
                    connect(second.url, doc_id, tokens["David"]) as d, \
                    connect(second.url, doc_id + ".annotations", tokens["David"]) as live:
                for page in (a, b, c, d, live):
                    await page.synced()
                await present_becomes(first, doc_id, boss, set(names))
                vote = await on_second.post(f"/api/documents/{doc_id}/votes",
                                            json={"amendment_ids": [aid]})
                assert vote.status_code == 201, vote.text
                vid = vote.json()["id"]
                choices = {"Amélie": "for", "Bruno": "for", "Chloé": "for", "David": "against"}

                async def cast(name: str) -> None:
                    other = second if nodes[name] is first else first
                    async with client(other, tokens[name]) as voter:
                        for choice in ("against", choices[name]):  # the second is a change
                            answer = await voter.post(
                                f"/api/documents/{doc_id}/votes/{vid}/ballots",
                                json={"amendment_id": aid, "choice": choice})
                            assert answer.status_code == 200, answer.text

                async with anyio.create_task_group() as group:
                    for name in names:
                        group.start_soon(cast, name)
                await live.wait_for(lambda: tally_for(live, aid) == 3, timeout=15)
                closed = await on_first.post(f"/api/documents/{doc_id}/votes/{vid}/close")
                assert closed.status_code == 200, closed.text
                (result,) = closed.json()["results"]
                assert (result["for"], result["against"], result["result"],
                        result["applied"]) == (3, 1, "accepted", True)
                for page in (a, b, c, d):
                    await page.wait_for(partial(reads, page, pid), timeout=15)
