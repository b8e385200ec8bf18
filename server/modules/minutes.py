"""The minutes of a session, from the server's own records only. Pure: no I/O, no clock.

- attendance: each person's presence intervals merged (several sockets, leaves and
  rejoins, several nodes), clipped to the session; present past the minimum presence,
  or the whole session when that is shorter. Roles ``citizen`` and ``public`` are guests.
- activity: per person, the updates and characters inserted/deleted that the log stored
  during the session, each counted once (`crdt.edit_count`: a reconnecting client's sync
  re-asserts its whole delete set, which is not a new deletion); log rows compaction merged count
  their characters, as one update per authorship range, counted in ``merged_ranges``;
  their deletions are no longer known), comments and replies made then,
  snapshots taken then.
- decisions: the audit log's governance actions during the session (freeze, adoption,
  amendment transitions and votes).
"""

from __future__ import annotations

import html
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

from crdt.annotations import Annotation
from crdt.edit_count import EditCounter
from crdt.errors import InvalidUpdate
from crdt.schema import JsonValue
from storage.archive import AuditEntry, Snapshot
from storage.sessions import PresenceInterval, SessionRecord, WindowLog

GUEST_ROLES = frozenset({"citizen", "public"})
"""Roles recorded as guests, not members."""

DECISIONS = ("document.frozen", "document.unfrozen", "document.adopted", "adoption.forced",
             "snapshot.created", "amendment.", "vote.")
"""Audit actions (or prefixes) the minutes list as decisions."""


@dataclass(slots=True)
class _Activity:
    updates: int = 0
    chars_inserted: int = 0
    chars_deleted: int = 0
    comments: int = 0
    replies: int = 0
    snapshots: int = 0
    merged_ranges: int = 0


@dataclass(frozen=True, slots=True, kw_only=True)
class MinutesInput:
    """What the minutes are made of, read by the sessions service at close."""

    record: SessionRecord
    closed_at: float
    presence: Sequence[PresenceInterval]
    stale_before: float
    """An interval still open whose ``seen_at`` is before this ends then (a dead node)."""
    log: WindowLog
    annotations: Sequence[Annotation]
    snapshots: Sequence[Snapshot]
    audit: Sequence[AuditEntry]
    min_presence_seconds: float
    names: dict[str, str] = field(default_factory=dict)


def make_minutes(given: MinutesInput) -> dict[str, JsonValue]:
    """The minutes as JSON (DESIGN.md: attendance, activity, snapshots, decisions)."""
    start, end = given.record.opened_at, given.closed_at
    attendance = attendance_json(given.presence, start=start, end=end,
                                 stale_before=given.stale_before,
                                 min_presence=given.min_presence_seconds)
    names = {a["sub"]: a["name"] for a in attendance if isinstance(a, dict)
             and isinstance(a["sub"], str) and isinstance(a["name"], str)}
    activity: dict[str, _Activity] = {}
    counter = EditCounter()
    for earlier in given.log.before:
        try:
            counter.count(earlier)
        except InvalidUpdate:
            continue
    for entry in given.log.entries:
        try:
            inserted, deleted, changed = counter.count(entry.update)
        except InvalidUpdate:
            continue
        if entry.principal is None or entry.connection_id is None or not changed:
            continue  # the server's own writes (amendments applied, restores), or a
            # reconnecting client's sync that only re-asserted what was already there
        mine = activity.setdefault(entry.principal, _Activity())
        mine.updates += 1
        mine.chars_inserted += inserted
        mine.chars_deleted += deleted
    for merged in given.log.compacted:
        if merged.principal is not None:
            mine = activity.setdefault(merged.principal, _Activity())
            mine.updates += 1
            mine.merged_ranges += 1
            mine.chars_inserted += merged.clocks
    for note in given.annotations:
        if _within(note.created_at, start, end):
            activity.setdefault(note.author.sub, _Activity()).comments += 1
            names.setdefault(note.author.sub, note.author.name)
        for reply in note.replies:
            if _within(reply.created_at, start, end):
                activity.setdefault(reply.author.sub, _Activity()).replies += 1
                names.setdefault(reply.author.sub, reply.author.name)
    taken = [s for s in given.snapshots if start <= s.created_at <= end]
    for snapshot in taken:
        if snapshot.created_by is not None:
            activity.setdefault(snapshot.created_by, _Activity()).snapshots += 1
            names.setdefault(snapshot.created_by, snapshot.created_by_name or "")
    decisions: list[JsonValue] = [
        {"at": e.at, "action": e.action, "actor_sub": e.actor_sub,
         "actor_name": e.actor_name, "detail": _json(e.detail)}
        for e in sorted(given.audit, key=lambda e: e.entry_id)
        if start <= e.at <= end and any(e.action.startswith(d) for d in DECISIONS)
    ]
    return {
        "session": _json(session_json(given.record)),
        "opened_at": start,
        "closed_at": end,
        "duration_seconds": round(end - start, 3),
        "min_presence_seconds": min(given.min_presence_seconds, end - start),
        "attendance": attendance,
        "activity": [
            {"sub": sub, "name": names.get(sub, given.names.get(sub, "")),
             "updates": a.updates, "chars_inserted": a.chars_inserted,
             "chars_deleted": a.chars_deleted, "comments": a.comments,
             "replies": a.replies, "snapshots": a.snapshots, "merged_ranges": a.merged_ranges}
            for sub, a in sorted(activity.items())
        ],
        "snapshots": [
            {"id": s.snapshot_id, "number": s.number, "stage": s.stage, "label": s.label,
             "created_at": s.created_at, "created_by_name": s.created_by_name,
             "hash": s.content_hash, "adopted": s.adopted}
            for s in taken
        ],
        "decisions": decisions,
    }


def attendance_json(
    presence: Iterable[PresenceInterval], *, start: float, end: float, stale_before: float,
    min_presence: float,
) -> list[JsonValue]:
    """Each person's merged intervals within ``[start, end]`` and their verdict."""
    people: dict[str, list[tuple[float, float]]] = {}
    who: dict[str, PresenceInterval] = {}
    for interval in presence:
        left = interval.left_at
        if left is None:
            left = interval.seen_at if interval.seen_at < stale_before else end
        low, high = max(interval.joined_at, start), min(left, end)
        who.setdefault(interval.sub, interval)
        people.setdefault(interval.sub, [])
        if high > low:
            people[interval.sub].append((low, high))
    threshold = min(min_presence, end - start)
    found: list[JsonValue] = []
    for sub, spans in people.items():
        merged = merge_intervals(spans)
        seconds = sum(high - low for low, high in merged)
        seen = who[sub]
        found.append({
            "sub": sub, "name": seen.name, "role": seen.role,
            "guest": seen.role in GUEST_ROLES,
            "present_seconds": round(seconds, 3),
            "minutes_present": round(seconds / 60, 1),
            "present": seconds >= threshold - 1e-6,
            "intervals": [[low, high] for low, high in merged],
        })
    return sorted(found, key=lambda a: (a["guest"], a["name"], a["sub"])
                  if isinstance(a, dict) else ())


def merge_intervals(spans: Iterable[tuple[float, float]]) -> list[tuple[float, float]]:
    """Overlapping or touching intervals merged, in order."""
    merged: list[tuple[float, float]] = []
    for low, high in sorted(spans):
        if merged and low <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], high))
        else:
            merged.append((low, high))
    return merged


def session_json(record: SessionRecord) -> dict[str, object]:
    """A session as the API lists it."""
    return {
        "id": record.session_id, "number": record.number, "title": record.title,
        "kind": record.kind, "planned_start": record.planned_start,
        "planned_end": record.planned_end, "opened_at": record.opened_at,
        "opened_by": record.opened_by, "opened_by_name": record.opened_by_name,
        "closed_at": record.closed_at, "closed_by": record.closed_by,
        "closed_by_name": record.closed_by_name, "hash": record.content_hash,
        "chain_hash": record.chain_hash,
    }


def minutes_subjects(minutes: dict[str, JsonValue]) -> list[str]:
    """Every subject the minutes name (attendance, activity, decisions, the session)."""
    subs: list[str] = []
    for key, field_name in (("attendance", "sub"), ("activity", "sub"),
                            ("decisions", "actor_sub")):
        subs += [str(row[field_name]) for row in _rows(minutes.get(key))
                 if isinstance(row.get(field_name), str)]
    session = minutes.get("session")
    if isinstance(session, dict):
        subs += [str(session[k]) for k in ("opened_by", "closed_by")
                 if isinstance(session.get(k), str)]
    return subs


def public_minutes(minutes: dict[str, JsonValue], names: dict[str, str]) -> dict[str, JsonValue]:
    """The minutes for readers who are not members: people as `names` shows them (their
    pseudonym unless they chose to be named), guests by their role, no subjects, and the
    decisions without their details (which name people)."""
    guests = {str(a.get("sub")): str(a.get("role")) for a in _rows(minutes.get("attendance"))
              if a.get("guest")}

    def name(sub: JsonValue) -> str:
        key = str(sub)
        return guests[key] if key in guests else names.get(key, "")

    attendance: list[JsonValue] = [{**row, "sub": None, "name": name(row.get("sub"))}
                                   for row in _rows(minutes.get("attendance"))]
    activity: list[JsonValue] = [{**row, "sub": None, "name": name(row.get("sub"))}
                                 for row in _rows(minutes.get("activity"))]
    decisions: list[JsonValue] = [
        {"at": row.get("at"), "action": row.get("action"), "actor_sub": None,
         "actor_name": name(row.get("actor_sub")), "detail": {}}
        for row in _rows(minutes.get("decisions"))]
    snapshots: list[JsonValue] = [{**row, "created_by_name": None}
                                  for row in _rows(minutes.get("snapshots"))]
    shown: dict[str, JsonValue] = {**minutes, "attendance": attendance, "activity": activity,
                                   "decisions": decisions, "snapshots": snapshots}
    session = minutes.get("session")
    if isinstance(session, dict):
        shown["session"] = {**session, "opened_by": None, "closed_by": None,
                            "opened_by_name": name(session.get("opened_by")),
                            "closed_by_name": name(session.get("closed_by"))}
    return shown


def minutes_markdown(minutes: dict[str, JsonValue]) -> str:
    """The minutes as Markdown."""
    session = minutes.get("session")
    s = session if isinstance(session, dict) else {}
    lines = [f"# Session {s.get('number')}: {s.get('title')}", "",
             f"- Kind: {s.get('kind')}",
             f"- Opened: {_time(minutes.get('opened_at'))} by {s.get('opened_by_name')}",
             f"- Closed: {_time(minutes.get('closed_at'))} by {s.get('closed_by_name')}",
             f"- Duration: {_minutes(minutes.get('duration_seconds'))} min", "",
             "## Attendance", "", "| name | role | minutes present | verdict |",
             "|---|---|---|---|"]
    for a in _rows(minutes.get("attendance")):
        verdict = "present" if a.get("present") else "absent"
        if a.get("guest"):
            verdict += " (guest)"
        lines.append(f"| {_cell(a.get('name'))} | {a.get('role')} | "
                     f"{a.get('minutes_present')} | {verdict} |")
    lines += ["", "## Activity", "",
              "| name | updates | chars inserted | chars deleted | comments | replies "
              "| snapshots |", "|---|---|---|---|---|---|---|"]
    for a in _rows(minutes.get("activity")):
        lines.append(f"| {_cell(a.get('name') or a.get('sub'))} | {a.get('updates')} | "
                     f"{a.get('chars_inserted')} | {a.get('chars_deleted')} | "
                     f"{a.get('comments')} | {a.get('replies')} | {a.get('snapshots')} |")
    lines += ["", "## Snapshots", ""]
    lines += [f"- #{s_.get('number')} {s_.get('label')} ({s_.get('stage')})"
              f"{' — adopted' if s_.get('adopted') else ''}"
              for s_ in _rows(minutes.get("snapshots"))] or ["None."]
    lines += ["", "## Decisions", ""]
    lines += [f"- {_time(d.get('at'))} {d.get('action')} by {d.get('actor_name')}"
              f"{_vote_results(d)}"
              for d in _rows(minutes.get("decisions"))] or ["None."]
    if s.get("hash"):
        lines += ["", f"Record hash: `{s.get('hash')}` (chain `{s.get('chain_hash')}`)"]
    return "\n".join(lines) + "\n"


def minutes_html(minutes: dict[str, JsonValue]) -> str:
    """The minutes as a standalone HTML page (the Markdown's content, escaped)."""
    from markdown_it import MarkdownIt

    body = MarkdownIt("commonmark", {"html": False}).enable("table").render(
        minutes_markdown(minutes))
    session = minutes.get("session")
    title = html.escape(str(session.get("title") if isinstance(session, dict) else ""))
    return (f"<!doctype html><html><head><meta charset=\"utf-8\"><title>{title}</title>"
            f"</head><body>{body}</body></html>")


def _vote_results(decision: dict[str, JsonValue]) -> str:
    """A closed vote's tally per amendment (``: 1a2b3c4d accepted (for 2, against 1,
    abstain 0); ...``), empty for any other decision."""
    detail = decision.get("detail")
    if decision.get("action") != "vote.closed" or not isinstance(detail, dict):
        return ""
    shown = [f"{str(r.get('amendment_id'))[:8]} {r.get('result')} (for {r.get('for')}, "
             f"against {r.get('against')}, abstain {r.get('abstain')})"
             for r in _rows(detail.get("results"))]
    return (": " + "; ".join(shown)) if shown else ""


def _rows(value: JsonValue) -> list[dict[str, JsonValue]]:
    return [row for row in value if isinstance(row, dict)] if isinstance(value, list) else []


def _cell(value: JsonValue) -> str:
    return str(value).replace("|", "\\|").replace("\n", " ")


def _time(value: JsonValue) -> str:
    if not isinstance(value, int | float):
        return "—"
    return datetime.fromtimestamp(value, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _minutes(value: JsonValue) -> str:
    return f"{value / 60:.1f}" if isinstance(value, int | float) else "—"


def _within(stamp: str, start: float, end: float) -> bool:
    try:
        at = datetime.fromisoformat(stamp).timestamp()
    except ValueError:
        return False
    # Comment times are stored to the second: a comment in the session's first second counts.
    return int(start) <= at <= end


def _json(value: object) -> JsonValue:
    loaded: JsonValue = json.loads(json.dumps(value, default=str))
    return loaded
