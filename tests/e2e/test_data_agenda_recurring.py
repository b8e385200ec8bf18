"""Recurring events from feeds served by a real local HTTP server: expanded over the
server's window around now, EXDATEs left out, overrides in place, one event per
occurrence across feeds, and updated in place when the feed changes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from icalendar import Calendar

from client.examples import create_example
from crdt.agenda import event_key
from tests.conftest import ServerFactory
from tests.e2e.api import api_as
from tests.e2e.test_data_agenda import FAST, Feeds, calendar, import_now

WINDOW = {"agenda_past_days": 7, "agenda_future_days": 60}


def ics_time(moment: datetime) -> str:
    return moment.strftime("%Y%m%dT%H%M%SZ")


def series(first: datetime, *, title: str, exdates: list[datetime]) -> str:
    """A weekly series with no end, less `exdates`."""
    lines = ["BEGIN:VEVENT", "UID:compost@mairie", "DTSTAMP:20261101T090000Z",
             f"SUMMARY:{title}", f"DTSTART:{ics_time(first)}", "RRULE:FREQ=WEEKLY",
             "LOCATION:Jardin des Pentes"]
    lines += [f"EXDATE:{ics_time(moment)}" for moment in exdates]
    return "\r\n".join([*lines, "END:VEVENT"])


def override(original: datetime, start: datetime, title: str) -> str:
    return "\r\n".join([
        "BEGIN:VEVENT", "UID:compost@mairie", "DTSTAMP:20261101T090000Z",
        f"RECURRENCE-ID:{ics_time(original)}", f"DTSTART:{ics_time(start)}",
        f"SUMMARY:{title}", "END:VEVENT"])


def occurrences(events: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The series' events, by key."""
    return {key: e for key, e in events.items() if e.get("uid") == "compost@mairie"}


async def test_a_weekly_series_is_expanded_deduplicated_and_followed_in_place(
    start_server: ServerFactory,
) -> None:
    # Occurrences half a day away from the window's edges (now ± whole days), whenever
    # the test runs; the series began three weeks ago.
    now = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    first = now + timedelta(hours=12) - timedelta(days=21)
    week = [first + timedelta(weeks=k) for k in range(13)]
    # In the window (now - 7 days to now + 60 days): weeks 2 to 11; week 4 is excluded,
    # week 5 moved a day later.
    feeds = Feeds()
    feeds.files["mairie"] = calendar(
        series(first, title="Atelier compost", exdates=[week[4]]),
        override(week[5], week[5] + timedelta(days=1), "Atelier compost (décalé)"))
    feeds.files["relai"] = feeds.files["mairie"]  # another feed relaying the same series
    async with feeds.running(), start_server(**FAST, **WINDOW) as server, \
            api_as(server, "facilitator", "Loïc Ménard") as loic:
        await create_example(loic, "agenda", "agenda")
        await loic.patch_data("agenda", {"feeds": {
            "mairie": {"url": f"{feeds.url}/mairie.ics", "organisation": "Mairie"},
            "relai": {"url": f"{feeds.url}/relai.ics", "organisation": "Relai"},
        }})
        report = await import_now(server, "agenda")
        assert report["mairie"] == {"changed": 9, "error": None}
        assert report["relai"]["error"] is None

        found = occurrences((await loic.get_data("agenda"))["events"])
        expected = [k for k in range(2, 12) if k != 4]
        assert set(found) == {event_key("compost@mairie", week[k].isoformat())
                              for k in expected}
        assert {e["feed"] for e in found.values()} == {"mairie"}  # one event per occurrence
        moved = found[event_key("compost@mairie", week[5].isoformat())]
        assert moved["title"] == "Atelier compost (décalé)"
        assert moved["start"] == (week[5] + timedelta(days=1)).isoformat()
        assert {e["status"] for e in found.values()} == {"confirmed"}

        # The feed changes: a new title for the series, one more EXDATE, the override
        # renamed. The same events are updated in place; the dropped one is cancelled.
        feeds.files["mairie"] = calendar(
            series(first, title="Atelier compost et paillage", exdates=[week[4], week[7]]),
            override(week[5], week[5] + timedelta(days=1), "Atelier compost (jeudi)"))
        report = await import_now(server, "agenda")
        assert report["mairie"]["error"] is None
        again = occurrences((await loic.get_data("agenda"))["events"])
        assert set(again) == set(found)
        dropped = event_key("compost@mairie", week[7].isoformat())
        assert again[dropped]["status"] == "cancelled"
        assert again[event_key("compost@mairie", week[5].isoformat())]["title"] == (
            "Atelier compost (jeudi)")
        assert {e["title"] for key, e in again.items()
                if key != dropped and e["recurrence_id"] != week[5].isoformat()} == {
            "Atelier compost et paillage"}

        # Served again unchanged: nothing changes.
        report = await import_now(server, "agenda")
        assert report["mairie"] == {"changed": 0, "error": None}

        # The merged .ics names each occurrence by its RECURRENCE-ID.
        async with httpx.AsyncClient(base_url=server.url) as http:
            response = await http.get("/api/documents/agenda/agenda.ics")
        exported = [e for e in Calendar.from_ical(response.content).walk("VEVENT")
                    if str(e["uid"]) == "compost@mairie"]
        assert sorted(e.decoded("recurrence-id") for e in exported) == [week[k] for k in expected]
