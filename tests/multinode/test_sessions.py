"""Attendance across two nodes sharing PostgreSQL, and a node killed mid-session."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any
from uuid import uuid4

import anyio
import httpx
import pytest

from client.session import connect
from tests.conftest import postgres_or_skip
from tests.e2e.serverprocess import ServerProcess
from tests.multinode.nodes import redis_or_skip, start_cluster

pytestmark = pytest.mark.postgres

HEARTBEAT = 0.3
SESSION_ENV = {"PALABRE_SESSION_HEARTBEAT_SECONDS": str(HEARTBEAT),
               "PALABRE_SESSION_MIN_PRESENCE_SECONDS": "0.5"}


async def present(node: ServerProcess, doc_id: str, token: str) -> set[str]:
    async with httpx.AsyncClient(base_url=node.url, timeout=10) as http:
        got = await http.get(f"/api/documents/{doc_id}/sessions/1",
                             headers={"Authorization": f"Bearer {token}"})
    assert got.status_code == 200, got.text
    return {p["name"] for p in got.json()["present"]}


async def present_becomes(node: ServerProcess, doc_id: str, token: str, names: set[str],
                          *, within: float = 15) -> None:
    with anyio.fail_after(within):
        while True:
            if await present(node, doc_id, token) == names:
                return
            await anyio.sleep(0.05)  # polling the shared record under a deadline


async def test_attendance_is_recorded_on_both_nodes_and_survives_a_killed_node(
    tmp_path: Path,
) -> None:
    redis_url, database_url = await redis_or_skip(), await postgres_or_skip()
    doc_id = f"mn-session-{uuid4().hex[:8]}"
    async with start_cluster(tmp_path, 2, redis_url=redis_url, database_url=database_url,
                             extra_env=SESSION_ENV) as (first, second):
        boss = first.token("facilitator", "Loïc Ménard")
        headers = {"Authorization": f"Bearer {boss}"}
        async with httpx.AsyncClient(base_url=first.url, timeout=10) as http:
            made = await http.post("/api/documents", headers=headers, json={
                "id": doc_id, "title": "Charte", "markdown": "Article premier.\n"})
            assert made.status_code == 201, made.text
            async with connect(first.url, doc_id, first.token(name="Amélie Poulain")) as a, \
                    connect(second.url, doc_id, second.token(name="Bruno Ganz")) as b:
                await a.synced()
                await b.synced()
                # Opened on the first node: the second learns it at its next heartbeat and
                # records Bruno, already connected there.
                opened = await http.post(f"/api/documents/{doc_id}/sessions", headers=headers,
                                         json={"title": "Séance à deux nœuds"})
                assert opened.status_code == 201, opened.text
                await present_becomes(first, doc_id, boss, {"Amélie Poulain", "Bruno Ganz"})
                async with connect(second.url, doc_id,
                                   second.token(name="Chloé Durand")) as c:
                    await c.synced()
                    await present_becomes(first, doc_id, boss,
                                          {"Amélie Poulain", "Bruno Ganz", "Chloé Durand"})
                    killed_at = time.time()
                    second.kill()
                    # Its intervals stop being refreshed: after 2.5 heartbeats they are stale.
                    await present_becomes(first, doc_id, boss, {"Amélie Poulain"})
                    closed = await http.post(f"/api/documents/{doc_id}/sessions/1/close",
                                             headers=headers)
        assert closed.status_code == 200, closed.text
        minutes: dict[str, Any] = closed.json()
        people = {a["name"]: a for a in minutes["attendance"]}
        assert set(people) == {"Amélie Poulain", "Bruno Ganz", "Chloé Durand"}
        amelie_end = people["Amélie Poulain"]["intervals"][-1][1]
        assert abs(amelie_end - minutes["closed_at"]) < 0.01
        for name in ("Bruno Ganz", "Chloé Durand"):
            end = people[name]["intervals"][-1][1]
            # Ended at the dead node's last heartbeat, not at the close.
            assert killed_at - 2 * HEARTBEAT <= end <= killed_at + 0.05, (name, end, killed_at)
            assert end < minutes["closed_at"] - HEARTBEAT
            assert people[name]["present"] == (
                people[name]["present_seconds"] >= minutes["min_presence_seconds"])
        assert len(people["Bruno Ganz"]["intervals"]) == 1
        # Bruno was there from the opening (recorded by the other node) until its death.
        bruno_start = people["Bruno Ganz"]["intervals"][0][0]
        assert abs(bruno_start - minutes["opened_at"]) < 0.01
