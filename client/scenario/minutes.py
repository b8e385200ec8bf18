"""A scenario's sessions checked against their minutes: attendance, edits, snapshots, floor.

Each scenario session is a real session of the document: opened before the members
connect, closed once its stage is archived. What the run did is counted here as it goes
(`Sitting`), then compared with the minutes the server made from its own records.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from client.api import JsonObject

if TYPE_CHECKING:
    from client.scenario.checks import Checks
    from client.scenario.member import Member


@dataclass(slots=True, kw_only=True)
class Sitting:
    """What one scenario session did, as the run saw it."""

    number: int
    attendees: set[str]
    """Names of everyone connected during the session (members and the facilitator)."""
    typed: dict[str, tuple[int, int, int]] = field(default_factory=dict)
    """Member name → (edits, characters inserted, characters deleted) during the session."""
    snapshot_number: int | None = None
    floor: str | None = None
    """Who was given the floor (the first raised hand)."""

    @staticmethod
    def counts(members: list[Member]) -> dict[str, tuple[int, int, int]]:
        """Each member's running totals now."""
        return {m.name: (m.edits, m.inserted, m.deleted) for m in members}

    def wrote(self, before: dict[str, tuple[int, int, int]], members: list[Member]) -> None:
        """Keep what each member wrote since `before`."""
        for name, (edits, inserted, deleted) in self.counts(members).items():
            was = before.get(name, (0, 0, 0))
            self.typed[name] = (edits - was[0], inserted - was[1], deleted - was[2])


def check_minutes(checks: Checks, sitting: Sitting, minutes: JsonObject, *,
                  per_person: bool) -> None:
    """Record whether the minutes of `sitting` say what the run did.

    Without a token per person (`per_person` false) everyone acted as the facilitator:
    only the snapshot and the floor are compared.
    """
    prefix = f"session {sitting.number} minutes"
    attendance = {str(a["name"]): a for a in _rows(minutes, "attendance")}
    activity = {str(a["name"]): a for a in _rows(minutes, "activity")}
    snapshots = [s.get("number") for s in _rows(minutes, "snapshots")]
    checks.record(f"{prefix}: the stage archived during it is listed",
                  sitting.snapshot_number in snapshots,
                  f"snapshot #{sitting.snapshot_number}; listed {snapshots}")
    decisions = [str(d.get("action")) for d in _rows(minutes, "decisions")]
    checks.record(f"{prefix}: the snapshot is among its decisions",
                  "snapshot.created" in decisions, ", ".join(decisions) or "none")
    if not per_person:
        return
    missing = sitting.attendees - set(attendance)
    extra = set(attendance) - sitting.attendees
    absent = [n for n in sitting.attendees if n in attendance
              and not float(str(attendance[n].get("present_seconds", 0))) > 0]
    checks.record(f"{prefix}: attendance is who was connected",
                  not (missing or extra or absent),
                  f"missing {sorted(missing)}, extra {sorted(extra)}, no time {absent}"
                  if missing or extra or absent else f"{len(attendance)} people")
    wrong: list[str] = []
    for name, (edits, inserted, deleted) in sitting.typed.items():
        row = activity.get(name, {})
        updates = int(str(row.get("updates", 0)))
        merged = int(str(row.get("merged_ranges", 0)))
        got = (int(str(row.get("chars_inserted", 0))), int(str(row.get("chars_deleted", 0))))
        if not (updates <= edits and (updates > 0) == (edits > 0)):
            wrong.append(f"{name}: {updates} updates for {edits} edits")
        if merged == 0 and got != (inserted, deleted):
            wrong.append(f"{name}: +{got[0]}/-{got[1]} for +{inserted}/-{deleted}")
        if merged and got[0] < inserted:
            wrong.append(f"{name}: {got[0]} inserted for {inserted} typed")
    total = sum(t[0] for t in sitting.typed.values())
    checks.record(f"{prefix}: each member's edits are what they typed", not wrong,
                  "; ".join(wrong[:4]) if wrong else f"{total} edits of "
                  f"{len(sitting.typed)} members, characters exact")
    checks.record(f"{prefix}: the floor went to the first raised hand",
                  sitting.floor is not None, sitting.floor or "someone else, or nobody")


def _rows(minutes: JsonObject, key: str) -> list[JsonObject]:
    value = minutes.get(key)
    return [row for row in value if isinstance(row, dict)] if isinstance(value, list) else []
