"""Hostile outbound requests: a facilitator's webhook or feed aimed at internal addresses.

Each attack is refused (422 at registration for an address literal; a failed attempt or
import for a name resolving inside), nothing reaches the internal service, stored data
is unchanged, and honest deliveries and imports keep working.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from client.api import ApiError, PalabreApi
from client.examples import create_example
from client.session import connect
from crdt.data import read_data
from server.modules.agenda import FEED_ERROR
from tests.conftest import RunningServer, ServerFactory
from tests.e2e.api import http_as
from tests.e2e.test_data_agenda import Feeds, calendar, import_now, vevent
from tests.e2e.test_webhooks import RecordingStore, edit, receiving, register

FAST: dict[str, object] = {
    "webhook_debounce_seconds": 0.2, "webhook_retry_base_seconds": 0.01,
    "webhook_retry_max_seconds": 0.05, "webhook_max_attempts": 2,
    "http_rate_per_second": 0.0, "agenda_poll_seconds": 0.0,
}

INTERNAL_LITERALS = [
    ("http://127.0.0.1:8080/hook", "loopback"),
    ("http://[::1]/hook", "loopback"),
    ("http://10.0.0.8/hook", "private"),
    ("http://172.16.3.4/hook", "private"),
    ("http://192.168.1.10/hook", "private"),
    ("http://169.254.169.254/latest/meta-data/", "link-local"),
    ("http://[fe80::1]/hook", "link-local"),
    ("http://[fd00::1]/hook", "unique-local"),
    ("http://[::ffff:127.0.0.1]/hook", "loopback"),
    ("http://[::ffff:169.254.169.254]/hook", "link-local"),
    ("http://0.0.0.0/hook", "unspecified"),
    ("http://[::]/hook", "unspecified"),
    ("http://224.0.0.1/hook", "multicast"),
]


@pytest.mark.parametrize(("url", "kind"), INTERNAL_LITERALS)
async def test_a_webhook_to_an_internal_address_literal_is_refused_with_422(
    start_server: ServerFactory, url: str, kind: str
) -> None:
    async with start_server(**FAST) as server, http_as(server) as api:
        refused = await api.post("/api/webhooks", json={
            "url": url, "events": ["document.changed"], "doc_id": "charte"})
        assert refused.status_code == 422, refused.text
        assert refused.json()["error"] == "invalid"
        assert kind in refused.json()["detail"]
        assert "PALABRE_OUTBOUND_ALLOW" in refused.json()["detail"]
        assert (await api.get("/api/webhooks")).json()["webhooks"] == []
        # An honest registration still works.
        honest = await api.post("/api/webhooks", json={
            "url": "https://decidim.example/hook", "events": ["document.changed"]})
        assert honest.status_code == 201


async def test_a_webhook_to_a_name_resolving_to_loopback_is_refused_on_delivery(
    start_server: ServerFactory,
) -> None:
    store = RecordingStore()
    async with receiving() as receiver, receiving() as internal:
        port = receiver.url.rsplit(":", 1)[1]
        hidden = internal.url.rsplit(":", 1)[1]
        async with start_server(store=store, **FAST, outbound_allow=f"127.0.0.1:{port}") \
                as server:
            # `localhost` is a name: accepted at registration, judged on each connection.
            hostile = await register(server, f"http://localhost:{hidden}/hook/hostile")
            honest = await register(server, f"{receiver.url}/hook/honest")
            await edit(server, "charte")
            await receiver.wait_for("/hook/honest", 1)
            await store.wait_recorded(2)  # the honest delivery and the one hostile try
            async with http_as(server) as api:
                tries = (await api.get(
                    f"/api/webhooks/{hostile['id']}/deliveries")).json()["deliveries"]
                ok = (await api.get(
                    f"/api/webhooks/{honest['id']}/deliveries")).json()["deliveries"]
    assert internal.requests == []
    # Refused by policy: final at once, not retried (webhook_max_attempts is 2).
    assert len(tries) == 1 and all(t["status"] is None for t in tries)
    assert all("loopback" in t["error"] and "localhost refused" in t["error"] for t in tries)
    assert [t["status"] for t in ok] == [200]


async def test_the_allow_list_lets_an_operator_reach_an_internal_receiver(
    start_server: ServerFactory,
) -> None:
    async with receiving() as receiver:
        port = receiver.url.rsplit(":", 1)[1]
        async with start_server(**FAST, outbound_allow=f"localhost:{port}") as server:
            await register(server, f"http://localhost:{port}/hook/allowed")
            async with http_as(server) as api:
                # Allowed: that host and port only, not its neighbours.
                other = await api.post("/api/webhooks", json={
                    "url": f"http://127.0.0.1:{int(port) + 1}/hook",
                    "events": ["document.changed"]})
            assert other.status_code == 422
            await edit(server, "charte")
            (delivery,) = await receiver.wait_for("/hook/allowed", 1)
        assert delivery.json["event"] == "document.changed"


async def test_a_delivery_log_line_has_no_query_or_credentials(
    start_server: ServerFactory, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="palabre.webhooks")
    async with receiving() as receiver:
        async with start_server(**FAST, outbound_allow="127.0.0.1") as server:
            await register(server, f"{receiver.url}/hook/keyed?key=cle-tres-secrete&x=1")
            await edit(server, "charte")
            await receiver.wait_for("/hook/keyed", 1)
    lines = [r.getMessage() for r in caplog.records if r.name == "palabre.webhooks"]
    assert any("/hook/keyed?[redacted]" in line for line in lines), lines
    assert not any("cle-tres-secrete" in line for line in lines)


# -- agenda feeds ------------------------------------------------------------------------


class RedirectingFeeds(Feeds):
    """The test feed server, also answering some names with a redirect."""

    def __init__(self) -> None:
        super().__init__()
        self.redirects: dict[str, str] = {}

    async def serve_file(self, request: Request) -> Response:
        target = self.redirects.get(request.path_params["name"])
        if target is not None:
            return RedirectResponse(target, status_code=302)
        return await super().serve_file(request)


@asynccontextmanager
async def agenda_world(
    start_server: ServerFactory, feeds: Feeds
) -> AsyncIterator[tuple[RunningServer, PalabreApi, PalabreApi]]:
    """A server allowing only the honest feed server; an agenda with one honest feed."""
    port = feeds.url.rsplit(":", 1)[1]
    async with start_server(**FAST, outbound_allow=f"127.0.0.1:{port}") as server, \
            PalabreApi(server.url, server.token("facilitator", "Loïc Ménard")) as loic, \
            PalabreApi(server.url, server.token("member", "Zoé Lefèvre")) as zoe:
        await create_example(loic, "agenda", "agenda")
        await loic.patch_data("agenda", {"feeds": {"mairie": {
            "url": f"{feeds.url}/mairie.ics", "organisation": "Mairie"}}})
        yield server, loic, zoe


@pytest.mark.parametrize("url", [u for u, _ in INTERNAL_LITERALS[:6]])
async def test_a_feed_at_an_internal_address_literal_is_refused_with_422(
    start_server: ServerFactory, url: str
) -> None:
    feeds = Feeds()
    feeds.files["mairie"] = calendar(vevent("a@mairie", "Conseil", "20261203T183000Z"))
    async with feeds.running(), agenda_world(start_server, feeds) as (server, loic, _zoe):
        before = await loic.get_data("agenda")
        with pytest.raises(ApiError) as refused:
            await loic.patch_data(
                "agenda", {"feeds": {"interne": {"url": url, "organisation": "X"}}})
        assert refused.value.status == 422 and refused.value.error == "invalid"
        assert "feeds.interne.url" in refused.value.detail
        assert await loic.get_data("agenda") == before
        # The honest feed still imports.
        assert (await import_now(server, "agenda"))["mairie"]["error"] is None


async def test_a_feed_resolving_inside_or_redirected_inside_fails_with_a_generic_error(
    start_server: ServerFactory,
) -> None:
    feeds, internal = RedirectingFeeds(), Feeds()
    internal.files["meta-data"] = b"BEGIN:VCALENDAR secret interne"
    feeds.files["mairie"] = calendar(vevent("a@mairie", "Conseil", "20261203T183000Z"))
    async with feeds.running(), internal.running(), \
            agenda_world(start_server, feeds) as (server, loic, zoe):
        feeds.redirects["detour"] = f"{internal.url}/meta-data.ics"
        feeds.redirects["metadata"] = "http://169.254.169.254/latest/meta-data/"
        await loic.patch_data("agenda", {"feeds": {
            # A name resolving to loopback, on a port the operator did not allow.
            "nom": {"url": internal.url.replace("127.0.0.1", "localhost") + "/meta-data.ics",
                    "organisation": "Nom"},
            # The allowed feed server redirecting to internal hosts.
            "detour": {"url": f"{feeds.url}/detour.ics", "organisation": "Détour"},
            "metadata": {"url": f"{feeds.url}/metadata.ics", "organisation": "Nuage"},
        }})
        report = await import_now(server, "agenda")
        assert report["mairie"]["error"] is None
        assert "loopback" in report["nom"]["error"]
        assert "loopback" in report["detour"]["error"]
        assert "link-local" in report["metadata"]["error"]
        assert internal.hits == {}

        # Readers see a generic error, over HTTP and over the socket.
        read = await zoe.get_data("agenda")
        for feed_id in ("nom", "detour", "metadata"):
            assert read["feeds"][feed_id]["last_error"] == FEED_ERROR
        assert read["feeds"]["mairie"].get("last_error") is None
        async with connect(server.url, "agenda", server.token("citizen", "Élodie")) as citizen:
            await citizen.synced()
            seen = read_data(citizen.doc).get("feeds")
            assert isinstance(seen, dict)
            assert "loopback" not in str(seen) and "secret interne" not in str(seen)
            nom = seen["nom"]
            assert isinstance(nom, dict) and nom["last_error"] == FEED_ERROR
        # Facilitators see the detail.
        detail = (await loic.get_data("agenda"))["feeds"]["nom"]["last_error"]
        assert "loopback" in detail
        # The honest feed imported; the failed ones brought nothing.
        events = read["events"]
        assert any(e.get("uid") == "a@mairie" for e in events.values())
        assert not any(e.get("feed") in {"nom", "detour", "metadata"} for e in events.values())
