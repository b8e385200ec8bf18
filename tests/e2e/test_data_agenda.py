"""The agenda: iCalendar feeds served by a real local HTTP server, imported, exported."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest
from icalendar import Calendar
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from client.api import PermissionDenied
from client.examples import create_example
from client.session import connect
from crdt.agenda import event_key
from crdt.data import read_data
from tests.conftest import RunningServer, ServerFactory
from tests.e2e.api import api_as
from tests.e2e.loopback import serving

FAST = {"http_rate_per_second": 0.0, "agenda_poll_seconds": 0.0,
        "outbound_allow": "127.0.0.1"}  # the feeds are served on loopback


def vevent(uid: str, title: str, start: str, *, status: str = "CONFIRMED",
           location: str | None = None) -> str:
    lines = ["BEGIN:VEVENT", f"UID:{uid}", "DTSTAMP:20261101T090000Z", f"SUMMARY:{title}",
             f"DTSTART:{start}", f"STATUS:{status}"]
    if location:
        lines.append(f"LOCATION:{location}")
    return "\r\n".join([*lines, "END:VEVENT"])


def calendar(*events: str) -> bytes:
    body = ["BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//test//feed//FR", *events,
            "END:VCALENDAR"]
    return ("\r\n".join(body) + "\r\n").encode()


class Feeds:
    """A real HTTP server on an ephemeral port serving .ics files the test changes."""

    def __init__(self) -> None:
        self.files: dict[str, bytes] = {}
        self.status: dict[str, int] = {}
        self.hits: dict[str, int] = {}
        self.url = ""

    async def serve_file(self, request: Request) -> Response:
        name = request.path_params["name"]
        self.hits[name] = self.hits.get(name, 0) + 1
        if self.status.get(name, 200) != 200:
            return Response("panne", status_code=self.status[name])
        return Response(self.files.get(name, b""), media_type="text/calendar")

    @asynccontextmanager
    async def running(self) -> AsyncIterator[Feeds]:
        app = Starlette(routes=[Route("/{name}.ics", self.serve_file)])
        async with serving(app, log_config=None) as self.url:
            yield self


async def import_now(server: RunningServer, doc_id: str) -> dict[str, Any]:
    async with httpx.AsyncClient(base_url=server.url) as http:
        token = server.token("facilitator", "Loïc Ménard")
        response = await http.post(f"/api/documents/{doc_id}/agenda/import",
                                   headers={"Authorization": f"Bearer {token}"})
        assert response.status_code == 200, response.text
        report: dict[str, Any] = response.json()["feeds"]
        return report


async def test_feeds_import_deduplicate_update_in_place_cancel_and_export(
    start_server: ServerFactory,
) -> None:
    feeds = Feeds()
    feeds.files["mairie"] = calendar(
        vevent("conseil-1@mairie", "Conseil municipal", "20261203T183000Z",
               location="Hôtel de ville"),
        vevent("forum@mairie", "Forum des associations", "20261205T090000Z",
               status="TENTATIVE"),
    )
    feeds.files["repair"] = calendar(
        vevent("conseil-1@mairie", "Conseil municipal (relayé)", "20261203T183000Z"),
        vevent("repair@asso", "Repair café", "20261210T140000Z"),
    )
    async with feeds.running(), start_server(**FAST) as server, \
            api_as(server, "facilitator", "Loïc Ménard") as loic:
        await create_example(loic, "agenda", "agenda")
        await loic.patch_data("agenda", {"feeds": {
            "mairie": {"url": f"{feeds.url}/mairie.ics", "organisation": "Mairie"},
            "repair": {"url": f"{feeds.url}/repair.ics", "organisation": "Repair Prés"},
        }})
        report = await import_now(server, "agenda")
        assert report["mairie"]["error"] is None and report["repair"]["error"] is None
        events = (await loic.get_data("agenda"))["events"]
        conseil = events[event_key("conseil-1@mairie")]
        # One event for one UID, kept by the feed that brought it first (feeds import in
        # the order of their ids).
        assert conseil["title"] == "Conseil municipal" and conseil["feed"] == "mairie"
        assert sum(1 for e in events.values() if e.get("uid") == "conseil-1@mairie") == 1
        assert events[event_key("forum@mairie")]["status"] == "tentative"
        assert events[event_key("repair@asso")]["organisation"] == "Repair Prés"
        assert "seance-conseil" in events  # entered by hand, untouched by imports

        # The feeds change: an update, a cancellation, a new event, one disappears.
        feeds.files["mairie"] = calendar(
            vevent("conseil-1@mairie", "Conseil municipal extraordinaire", "20261204T183000Z",
                   location="Salle des fêtes"),
            vevent("forum@mairie", "Forum des associations", "20261205T090000Z",
                   status="CANCELLED"),
            vevent("voeux@mairie", "Vœux du maire", "20270108T180000Z"),
        )
        feeds.files["repair"] = calendar()
        report = await import_now(server, "agenda")
        assert report["mairie"]["changed"] == 3 and report["repair"]["changed"] == 1
        events = (await loic.get_data("agenda"))["events"]
        conseil = events[event_key("conseil-1@mairie")]
        assert conseil["title"] == "Conseil municipal extraordinaire"
        assert conseil["start"] == "2026-12-04T18:30:00+00:00"
        assert conseil["location"] == "Salle des fêtes"
        assert events[event_key("forum@mairie")]["status"] == "cancelled"
        assert events[event_key("repair@asso")]["status"] == "cancelled"
        assert events[event_key("voeux@mairie")]["title"] == "Vœux du maire"

        # Unchanged feeds change nothing; a failing feed keeps its events, says why.
        assert (await import_now(server, "agenda"))["mairie"]["changed"] == 0
        feeds.status["mairie"] = 500
        report = await import_now(server, "agenda")
        assert report["mairie"]["error"] == "HTTP 500"
        after = await loic.get_data("agenda")
        assert after["events"] == events
        assert after["feeds"]["mairie"]["last_error"] == "HTTP 500"

        # The export is valid iCalendar holding the merged agenda.
        async with httpx.AsyncClient(base_url=server.url) as http:
            answer = await http.get("/api/documents/agenda/agenda.ics")
        assert answer.status_code == 200
        assert answer.headers["content-type"].startswith("text/calendar")
        parsed = Calendar.from_ical(answer.content)
        exported = {str(e["uid"]): e for e in parsed.walk("VEVENT")}
        assert str(exported["conseil-1@mairie"]["summary"]) == "Conseil municipal extraordinaire"
        assert str(exported["forum@mairie"]["status"]) == "CANCELLED"
        assert str(exported["voeux@mairie"]["summary"]) == "Vœux du maire"
        assert "seance-conseil@palabre" in exported
        assert len(exported) == len(after["events"])


async def test_imported_events_and_feeds_are_not_for_members(
    start_server: ServerFactory,
) -> None:
    feeds = Feeds()
    feeds.files["mairie"] = calendar(vevent("a@mairie", "Conseil", "20261203T183000Z"))
    async with feeds.running(), start_server(**FAST) as server, \
            api_as(server, "facilitator", "Loïc Ménard") as loic, \
            api_as(server, "member", "Zoé Lefèvre") as zoe:
        await create_example(loic, "agenda", "agenda")
        with pytest.raises(PermissionDenied):
            await zoe.patch_data("agenda", {"feeds": {"x": {
                "url": f"{feeds.url}/mairie.ics", "organisation": "X"}}})
        await loic.patch_data("agenda", {"feeds": {"mairie": {
            "url": f"{feeds.url}/mairie.ics", "organisation": "Mairie"}}})
        await import_now(server, "agenda")
        key = event_key("a@mairie")
        with pytest.raises(PermissionDenied, match="imported from a feed"):
            await zoe.patch_data("agenda", {"events": {key: {"title": "Autre"}}})
        # Members add events of their own.
        await zoe.patch_data("agenda", {"events": {"pique-nique": {
            "title": "Pique-nique", "start": "2026-12-06", "all_day": True,
            "organisation": "Voisins", "status": "confirmed"}}})
        async with httpx.AsyncClient(base_url=server.url) as http:
            token = server.token("member", "Zoé Lefèvre")
            refused = await http.post("/api/documents/agenda/agenda/import",
                                      headers={"Authorization": f"Bearer {token}"})
        assert refused.status_code == 403 and refused.json()["error"] == "forbidden"


async def test_feeds_are_polled_on_schedule(start_server: ServerFactory) -> None:
    feeds = Feeds()
    feeds.files["mairie"] = calendar(vevent("a@mairie", "Conseil", "20261203T183000Z"))
    settings = {**FAST, "agenda_poll_seconds": 0.2}
    async with feeds.running(), start_server(**settings) as server, \
            api_as(server, "facilitator", "Loïc Ménard") as loic:
        await create_example(loic, "agenda", "agenda")
        async with connect(server.url, "agenda", server.token("member", "Zoé")) as watcher:
            await watcher.synced()
            await loic.patch_data("agenda", {"feeds": {"mairie": {
                "url": f"{feeds.url}/mairie.ics", "organisation": "Mairie"}}})
            key = event_key("a@mairie")

            def title() -> object:
                event = dict(read_data(watcher.doc)).get("events", {}).get(key)  # type: ignore[union-attr]
                return event.get("title") if isinstance(event, dict) else None

            await watcher.wait_for(lambda: title() == "Conseil", timeout=20)
            feeds.files["mairie"] = calendar(
                vevent("a@mairie", "Conseil (reporté)", "20261210T183000Z"))
            await watcher.wait_for(lambda: title() == "Conseil (reporté)", timeout=20)
