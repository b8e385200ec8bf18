"""The ``agenda`` data document: iCalendar feeds in, one merged iCalendar out.

An imported event is keyed by its ``UID`` (and ``RECURRENCE-ID``), so the same event
served by two feeds, or served again, is one event updated in place. An event a feed
marks ``STATUS:CANCELLED``, or that disappears from the feed that brought it, stays in
the agenda with status ``cancelled``, so pages showing it can say so.
"""

from __future__ import annotations

import hashlib
from datetime import date, datetime
from typing import Any

from icalendar import Calendar, Event

from crdt.data import Json, JsonObject
from crdt.errors import SchemaError

_STATUSES = {"CONFIRMED": "confirmed", "TENTATIVE": "tentative", "CANCELLED": "cancelled"}
_TEXT_FIELDS = {"summary": "title", "location": "location", "description": "description",
                "url": "url"}
_MAX_TEXT = {"title": 500, "location": 1000, "description": 10000, "url": 2000}


def event_key(uid: str, recurrence_id: str | None = None) -> str:
    """The key of an imported event in ``events``: stable for its UID (and occurrence)."""
    digest = hashlib.sha256(f"{uid}\x00{recurrence_id or ''}".encode()).hexdigest()
    return "ics-" + digest[:24]


def parse_feed(ics: bytes | str, *, organisation: str) -> dict[str, JsonObject]:
    """The events of an iCalendar text, keyed by `event_key` (events without UID skipped).

    Raises:
        SchemaError: the text is not iCalendar.
    """
    try:
        calendar = Calendar.from_ical(ics)
    except (ValueError, IndexError, KeyError) as exc:
        raise SchemaError(f"not an iCalendar feed: {exc}") from exc
    events: dict[str, JsonObject] = {}
    for component in calendar.walk("VEVENT"):
        uid = component.get("uid")
        start = component.get("dtstart")
        if uid is None or start is None:
            continue
        recurrence = component.get("recurrence-id")
        key = event_key(str(uid), _when(recurrence.dt) if recurrence is not None else None)
        event: JsonObject = {
            "uid": str(uid),
            "start": _when(start.dt),
            "organisation": organisation,
            "status": _STATUSES.get(str(component.get("status", "CONFIRMED")).upper(),
                                    "confirmed"),
        }
        if isinstance(start.dt, date) and not isinstance(start.dt, datetime):
            event["all_day"] = True
        end = component.get("dtend")
        if end is not None:
            event["end"] = _when(end.dt)
        for name, field in _TEXT_FIELDS.items():
            value = component.get(name)
            if value is not None and str(value).strip():
                event[field] = str(value)[: _MAX_TEXT[field]]
        event.setdefault("title", "(sans titre)")
        events[key] = event
    return events


def feed_patch(
    data: JsonObject, feed_id: str, imported: dict[str, JsonObject], *, at: str
) -> JsonObject:
    """The merge patch bringing the agenda in line with one feed's current events.

    New and changed events are written whole (stamped ``updated_at``); unchanged ones
    are left alone; events of this feed that it no longer serves are cancelled. An event
    another feed already brought (same UID) stays with that feed.
    """
    current = data.get("events")
    events: dict[str, Json] = dict(current) if isinstance(current, dict) else {}
    patch: dict[str, Json] = {}
    for key, event in imported.items():
        existing = events.get(key)
        if isinstance(existing, dict) and existing.get("feed") not in (None, feed_id):
            continue
        fresh: JsonObject = {**event, "feed": feed_id}
        if not isinstance(existing, dict) or _without_stamp(existing) != fresh:
            changed: JsonObject = {**fresh, "updated_at": at}
            if isinstance(existing, dict):
                # Fields the feed no longer sends are removed (merge patch: null).
                for field in existing:
                    if field not in fresh and field != "updated_at":
                        changed[field] = None
            patch[key] = changed
    for key, existing in events.items():
        if (isinstance(existing, dict) and existing.get("feed") == feed_id
                and key not in imported and existing.get("status") != "cancelled"):
            patch[key] = {"status": "cancelled", "updated_at": at}
    return {"events": patch} if patch else {}


def _without_stamp(event: dict[str, Json]) -> dict[str, Json]:
    return {key: value for key, value in event.items() if key != "updated_at"}


def _when(value: Any) -> str:
    if isinstance(value, datetime | date):
        return value.isoformat()
    raise SchemaError(f"not a date or time: {value!r}")


def export_ics(data: JsonObject, *, stamp: datetime) -> bytes:
    """The agenda as one iCalendar (``VCALENDAR``), every event with its status."""
    calendar = Calendar()
    calendar.add("prodid", "-//palabre//agenda//FR")
    calendar.add("version", "2.0")
    title = data.get("title")
    if isinstance(title, str):
        calendar.add("x-wr-calname", title)
    events = data.get("events")
    for key, event in sorted(events.items() if isinstance(events, dict) else []):
        if not isinstance(event, dict):
            continue
        calendar.add_component(_to_vevent(key, event, stamp))
    data_bytes: bytes = calendar.to_ical()
    return data_bytes


def _to_vevent(key: str, event: dict[str, Json], stamp: datetime) -> Event:
    vevent = Event()
    uid = event.get("uid")
    vevent.add("uid", uid if isinstance(uid, str) else f"{key}@palabre")
    vevent.add("dtstamp", stamp)
    vevent.add("summary", str(event.get("title", "")))
    for field in ("start", "end"):
        value = event.get(field)
        if isinstance(value, str):
            try:
                when = _parse_when(value)
            except SchemaError:
                continue  # The schema only checks the date prefix: skip what is not ISO.
            vevent.add("dtstart" if field == "start" else "dtend", when)
    for field, name in (("location", "location"), ("description", "description"),
                        ("url", "url")):
        value = event.get(field)
        if isinstance(value, str):
            vevent.add(name, value)
    organisation = event.get("organisation")
    if isinstance(organisation, str):
        vevent.add("categories", [organisation])
    status = event.get("status")
    if isinstance(status, str):
        vevent.add("status", status.upper())
    return vevent


def _parse_when(value: str) -> date | datetime:
    try:
        return datetime.fromisoformat(value) if "T" in value else date.fromisoformat(value)
    except ValueError as exc:
        raise SchemaError(f"not an ISO date or time: {value!r}") from exc
