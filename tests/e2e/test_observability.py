"""Health, readiness and Prometheus metrics over real HTTP."""

from __future__ import annotations

import httpx

from client.session import connect
from tests.conftest import ServerFactory
from tests.e2e.api import body, text_of


async def test_healthz_and_readyz_answer(start_server: ServerFactory) -> None:
    async with start_server() as server, httpx.AsyncClient(base_url=server.url) as http:
        assert (await http.get("/healthz")).json() == {"status": "ok"}
        ready = await http.get("/readyz")
        assert ready.status_code == 200
        assert ready.json()["status"] == "ready"


async def test_metrics_count_connections_updates_and_commits(start_server: ServerFactory) -> None:
    async with start_server() as server, httpx.AsyncClient(base_url=server.url) as http:
        async with (
            connect(server.url, "assemblee", server.token()) as session,
            connect(server.url, "assemblee", server.token()) as observer,
        ):
            body(session).insert(0, "Séance n°1 : ouverture")
            await observer.wait_for(
                lambda: text_of(observer) == "Séance n°1 : ouverture",
                timeout=10,
            )
            text = (await http.get("/metrics")).text
        lines = {
            line.split(" ")[0]: float(line.split(" ")[1])
            for line in text.splitlines()
            if line and not line.startswith("#")
        }
        assert lines["palabre_connections"] == 2
        assert lines["palabre_documents_loaded"] == 1
        assert lines["palabre_updates_in_total"] >= 1
        assert lines["palabre_commit_seconds_count"] >= 1
        assert "palabre_event_loop_lag_seconds_count" in lines  # sampled every 0.25 s
        assert lines["palabre_bytes_in_total"] > 0
