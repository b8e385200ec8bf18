"""The ``agenda`` data document: iCalendar feeds in, one merged iCalendar out.

An imported event is keyed by its ``UID`` (and ``RECURRENCE-ID``), so the same event
served by two feeds, or served again, is one event updated in place. An event a feed
marks ``STATUS:CANCELLED``, or that disappears from the feed that brought it, stays in
the agenda with status ``cancelled``, so pages showing it can say so.

A recurring event (``RRULE``/``RDATE``, less its ``EXDATE``s, with its overrides by
``RECURRENCE-ID``) becomes one event per occurrence within a window the caller gives
(expanded by ``recurring-ical-events``), each keyed by its UID and its original start:
an override replaces its occurrence in place, an occurrence the feed drops (a new
``EXDATE``) is cancelled, and occurrences that slid out of the window into the past are
left as they were. Pure: the caller says what "now" is through the window.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

import recurring_ical_events
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


@dataclass(frozen=True, slots=True, kw_only=True)
class Window:
    """The span recurring events are expanded over (occurrences starting within it)."""

    start: datetime
    end: datetime
    max_events: int
    """Most events one feed may yield, occurrences included (beyond: `SchemaError`)."""

    def is_before(self, when: str) -> bool:
        """Whether the ISO date or time `when` is before the window (naive: UTC)."""
        try:
            moment = _parse_when(when)
        except SchemaError:
            return False
        if not isinstance(moment, datetime):
            moment = datetime(moment.year, moment.month, moment.day)
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
        return moment < self.start


def parse_feed(ics: bytes | str, *, organisation: str, window: Window) -> dict[str, JsonObject]:
    """The events of an iCalendar text, keyed by `event_key` (events without UID skipped);
    recurring ones as their occurrences within `window`.

    Raises:
        SchemaError: the text is not iCalendar (or a recurrence rule is broken), or it
            yields more than ``window.max_events`` events.
    """
    try:
        calendar = Calendar.from_ical(ics)
    except (ValueError, IndexError, KeyError) as exc:
        raise SchemaError(f"not an iCalendar feed: {exc}") from exc
    recurring = _recurring_uids(calendar.walk("VEVENT"))
    events: dict[str, JsonObject] = {}
    for component in calendar.walk("VEVENT"):
        uid = component.get("uid")
        if uid is not None and str(uid) not in recurring:
            _add(events, component, organisation, window, recurrence_id=None)
    if recurring:
        for occurrence in _occurrences(calendar, window):
            uid = occurrence.get("uid")
            if uid is None or str(uid) not in recurring:
                continue
            original = occurrence.get("recurrence-id") or occurrence.get("dtstart")
            if original is not None:
                _add(events, occurrence, organisation, window,
                     recurrence_id=_occurrence_id(original.dt))
    return events


def _recurring_uids(components: Iterable[Any]) -> set[str]:
    """UIDs of the series: events with a rule or extra dates, or overriding one."""
    return {str(c.get("uid")) for c in components if c.get("uid") is not None and (
        c.get("rrule") is not None or c.get("rdate") is not None
        or c.get("recurrence-id") is not None)}


def _occurrences(calendar: Calendar, window: Window) -> list[Any]:
    try:
        found: list[Any] = recurring_ical_events.of(calendar).between(window.start, window.end)
    except (ValueError, TypeError, KeyError) as exc:
        raise SchemaError(f"recurring events could not be expanded: {exc}") from exc
    return found


def _occurrence_id(original: Any) -> str:
    """An occurrence's name in its series: its original start, in UTC when it has a zone
    (a ``RECURRENCE-ID`` may be written in another zone than the series' ``DTSTART``)."""
    if isinstance(original, datetime) and original.tzinfo is not None:
        return original.astimezone(UTC).isoformat()
    return _when(original)


def _add(events: dict[str, JsonObject], component: Any, organisation: str, window: Window,
         *, recurrence_id: str | None) -> None:
    """Add one event (or occurrence) under its key, unless it has no start.

    Raises:
        SchemaError: the feed yields more than ``window.max_events`` events.
    """
    uid, start = component.get("uid"), component.get("dtstart")
    if uid is None or start is None:
        return
    if recurrence_id is None:
        old = component.get("recurrence-id")
        key = event_key(str(uid), _when(old.dt) if old is not None else None)
    else:
        key = event_key(str(uid), recurrence_id)
    event: JsonObject = {
        "uid": str(uid),
        "start": _when(start.dt),
        "organisation": organisation,
        "status": _STATUSES.get(str(component.get("status", "CONFIRMED")).upper(),
                                "confirmed"),
    }
    if recurrence_id is not None:
        event["recurrence_id"] = recurrence_id
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
    if len(events) > window.max_events:
        raise SchemaError(f"the feed has more than {window.max_events} events (occurrences "
                          "of recurring events in the window included)")


def feed_patch(
    data: JsonObject, feed_id: str, imported: dict[str, JsonObject], *, at: str,
    window: Window | None = None,
) -> JsonObject:
    """The merge patch bringing the agenda in line with one feed's current events.

    New and changed events are written whole (stamped ``updated_at``); unchanged ones
    are left alone; events of this feed that it no longer serves are cancelled, except
    occurrences of a recurring event that started before the `window` (they only left
    it) and events the feed now serves under another key with the same UID and start
    (the same occurrence, named anew: removed). An event another feed already brought
    (same UID) stays with that feed.
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
    served = {(event.get("uid"), event.get("start")) for event in imported.values()}
    for key, existing in events.items():
        if not (isinstance(existing, dict) and existing.get("feed") == feed_id
                and key not in imported):
            continue
        start = existing.get("start")
        if (existing.get("uid"), start) in served:
            patch[key] = None
        elif (window is not None and "recurrence_id" in existing and isinstance(start, str)
                and window.is_before(start)):
            continue
        elif existing.get("status") != "cancelled":
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
    recurrence_id = event.get("recurrence_id")
    original = _maybe_when(recurrence_id) if isinstance(recurrence_id, str) else None
    if original is not None:  # As for the start, what is not ISO is skipped.
        vevent.add("recurrence-id", original)
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


def _maybe_when(value: str) -> date | datetime | None:
    try:
        return _parse_when(value)
    except SchemaError:
        return None
