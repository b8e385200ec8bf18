"""Recurring iCalendar events: one agenda event per occurrence within the window, EXDATEs
left out, overrides by RECURRENCE-ID in place of their occurrence, and the merge that
follows a feed as it changes (pure: the window stands for "now")."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, cast

import pytest
from icalendar import Calendar

from crdt.agenda import Window, event_key, export_ics, feed_patch, parse_feed
from crdt.data import JsonObject, merge_patch
from crdt.errors import SchemaError
from crdt.schemas import validate

WINDOW = Window(start=datetime(2026, 12, 1, tzinfo=UTC), end=datetime(2027, 2, 1, tzinfo=UTC),
                max_events=500)
PARIS = "TZID=Europe/Paris"


def vcalendar(*events: str) -> str:
    return "\r\n".join(["BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//test//FR", *events,
                        "END:VCALENDAR"]) + "\r\n"


def vevent(uid: str, title: str, *lines: str) -> str:
    return "\r\n".join(["BEGIN:VEVENT", f"UID:{uid}", "DTSTAMP:20261101T090000Z",
                        f"SUMMARY:{title}", *lines, "END:VEVENT"])


SERIES = vevent("compost@mairie", "Atelier compost",
                f"DTSTART;{PARIS}:20261207T180000", f"DTEND;{PARIS}:20261207T200000",
                "RRULE:FREQ=WEEKLY;COUNT=6", f"EXDATE;{PARIS}:20261221T180000",
                "LOCATION:Jardin des Pentes")
MOVED = vevent("compost@mairie", "Atelier compost (décalé)",
               f"RECURRENCE-ID;{PARIS}:20261214T180000",
               f"DTSTART;{PARIS}:20261215T190000", f"DTEND;{PARIS}:20261215T210000")


def merged(data: dict[str, Any], patch: JsonObject) -> dict[str, Any]:
    """`data` after the merge `patch` (an agenda: an object)."""
    return cast(dict[str, Any], merge_patch(data, patch))


def by_start(events: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {event["start"]: event for event in events.values()}


def test_a_series_becomes_its_occurrences_less_exdates_with_overrides_in_place() -> None:
    events = parse_feed(vcalendar(SERIES, MOVED), organisation="Mairie", window=WINDOW)
    starts = sorted(by_start(events))
    assert starts == [
        "2026-12-07T18:00:00+01:00", "2026-12-15T19:00:00+01:00",  # the 14th, moved
        "2026-12-28T18:00:00+01:00", "2027-01-04T18:00:00+01:00",
        "2027-01-11T18:00:00+01:00",
    ]
    moved = by_start(events)["2026-12-15T19:00:00+01:00"]
    assert moved["title"] == "Atelier compost (décalé)"
    # Keyed by the occurrence it replaces (its original start, in UTC).
    assert moved["recurrence_id"] == "2026-12-14T17:00:00+00:00"
    assert event_key("compost@mairie", "2026-12-14T17:00:00+00:00") in events
    first = by_start(events)["2026-12-07T18:00:00+01:00"]
    assert first["location"] == "Jardin des Pentes" and first["end"].startswith("2026-12-07T20")
    validate("agenda", {"title": "Agenda", "events": events})


def test_an_endless_rule_stops_at_the_window_and_the_bound_is_enforced() -> None:
    daily = vevent("marche@asso", "Marché", "DTSTART;VALUE=DATE:20261101", "RRULE:FREQ=DAILY")
    events = parse_feed(vcalendar(daily), organisation="Asso", window=WINDOW)
    assert len(events) == 62  # December and January
    assert all(event["all_day"] for event in events.values())
    tight = Window(start=WINDOW.start, end=WINDOW.end, max_events=30)
    with pytest.raises(SchemaError, match="more than 30 events"):
        parse_feed(vcalendar(daily), organisation="Asso", window=tight)


def test_an_override_in_another_zone_still_replaces_its_occurrence() -> None:
    moved_utc = vevent("compost@mairie", "Atelier compost (UTC)",
                       "RECURRENCE-ID:20261214T170000Z", "DTSTART:20261214T190000Z")
    plain = parse_feed(vcalendar(SERIES), organisation="Mairie", window=WINDOW)
    moved = parse_feed(vcalendar(SERIES, moved_utc), organisation="Mairie", window=WINDOW)
    assert set(plain) == set(moved)
    key = event_key("compost@mairie", "2026-12-14T17:00:00+00:00")
    assert moved[key]["title"] == "Atelier compost (UTC)"


def test_merging_follows_the_feed_per_occurrence() -> None:
    data: dict[str, Any] = {"title": "Agenda", "feeds": {"mairie": {"url": "x"}}, "events": {}}
    first = parse_feed(vcalendar(SERIES), organisation="Mairie", window=WINDOW)
    data = merged(data, feed_patch(data, "mairie", first, at="2026-12-01T00:00:00Z",
                                        window=WINDOW))
    # The feed drops an occurrence (EXDATE) and moves another.
    later = SERIES.replace(f"EXDATE;{PARIS}:20261221T180000",
                           f"EXDATE;{PARIS}:20261221T180000,20261228T180000")
    second = parse_feed(vcalendar(later, MOVED), organisation="Mairie", window=WINDOW)
    patch = feed_patch(data, "mairie", second, at="2026-12-02T00:00:00Z", window=WINDOW)
    data = merged(data, patch)
    events = by_start(data["events"])
    assert events["2026-12-28T18:00:00+01:00"]["status"] == "cancelled"
    assert "2026-12-14T18:00:00+01:00" not in events  # moved in place, not duplicated
    assert events["2026-12-15T19:00:00+01:00"]["title"] == "Atelier compost (décalé)"
    assert len(data["events"]) == 5
    # Served again unchanged: nothing to write.
    assert feed_patch(data, "mairie", second, at="2026-12-03T00:00:00Z", window=WINDOW) == {}

    # A month on, the first occurrences left the window: they stay as they were.
    on = Window(start=datetime(2027, 1, 1, tzinfo=UTC), end=datetime(2027, 3, 1, tzinfo=UTC),
                max_events=500)
    third = parse_feed(vcalendar(later, MOVED), organisation="Mairie", window=on)
    assert sorted(by_start(third)) == ["2027-01-04T18:00:00+01:00", "2027-01-11T18:00:00+01:00"]
    assert feed_patch(data, "mairie", third, at="2027-01-01T00:00:00Z", window=on) == {}


def test_a_key_renamed_for_the_same_occurrence_replaces_the_old_event() -> None:
    # As imported before series were expanded: the first occurrence under the series' key.
    old_key = event_key("compost@mairie")
    data: dict[str, Any] = {"title": "Agenda", "events": {old_key: {
        "uid": "compost@mairie", "title": "Atelier compost", "organisation": "Mairie",
        "start": "2026-12-07T18:00:00+01:00", "status": "confirmed", "feed": "mairie"}}}
    imported = parse_feed(vcalendar(SERIES), organisation="Mairie", window=WINDOW)
    patch = feed_patch(data, "mairie", imported, at="2026-12-01T00:00:00Z", window=WINDOW)
    assert cast(dict[str, Any], patch["events"])[old_key] is None
    events = merged(data, patch)["events"]
    assert old_key not in events and len(events) == len(imported) == 5


def test_occurrences_export_with_their_recurrence_id() -> None:
    events: dict[str, Any] = parse_feed(vcalendar(SERIES, MOVED), organisation="Mairie",
                                        window=WINDOW)
    ics = export_ics({"title": "Agenda", "events": events}, stamp=datetime(2026, 12, 1))
    exported = Calendar.from_ical(ics).walk("VEVENT")
    assert len(exported) == 5
    assert len({(str(e["uid"]), e.decoded("recurrence-id")) for e in exported}) == 5
