"""The summary a run prints: what the assembly did, how fast members saw each other's
edits, what the server spent, and every check with its verdict."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from client.scenario.checks import Check

if TYPE_CHECKING:
    from client.scenario.runner import Scenario


@dataclass(frozen=True, slots=True, kw_only=True)
class Report:
    """A finished run. `exit_code` is 0 only when every check held."""

    doc_id: str
    sessions: int
    members: int
    citizens: int
    speed: float
    edits: int
    comments: int
    replies: int
    snapshots: int
    latency_samples: int
    p50_ms: float | None
    p99_ms: float | None
    server_cpu_seconds: float | None
    server_peak_rss_mib: float | None
    updates_in: float | None
    wall_seconds: float
    checks: tuple[Check, ...]

    @classmethod
    def build(cls, run: Scenario, *, wall_seconds: float, p50: float | None,
              p99: float | None) -> Report:
        """Summarise a run whose checks are done."""
        first, last = run.samples[0], run.samples[-1]
        rss = [s.rss_bytes for s in run.samples if s.rss_bytes is not None]
        return cls(
            doc_id=run.doc_id, sessions=run.config.sessions, members=run.config.members,
            citizens=run.config.citizens, speed=run.config.speed,
            edits=sum(member.edits for member in run.members),
            comments=len(run.discussion.threads), replies=run.discussion.replies,
            snapshots=len(run.archive.records), latency_samples=len(run.tracker.samples),
            p50_ms=None if p50 is None else p50 * 1000,
            p99_ms=None if p99 is None else p99 * 1000,
            server_cpu_seconds=_delta(first.cpu_seconds, last.cpu_seconds),
            server_peak_rss_mib=max(rss) / 2**20 if rss else None,
            updates_in=_delta(first.updates_in, last.updates_in),
            wall_seconds=wall_seconds, checks=tuple(run.checks.results),
        )

    @property
    def failed(self) -> list[Check]:
        """The checks that did not hold."""
        return [check for check in self.checks if not check.ok]

    @property
    def exit_code(self) -> int:
        """0 when every check held, 1 otherwise (also when no check ran)."""
        return 0 if self.checks and not self.failed else 1

    def render(self) -> str:
        """The summary table and the checks, as printed by ``palabre scenario``."""
        rows = [
            ("document", self.doc_id),
            ("sessions", str(self.sessions)),
            ("members / citizens", f"{self.members} / {self.citizens}"),
            ("speed-up", f"x{self.speed:g}"),
            ("edits (words typed, spans deleted)", str(self.edits)),
            ("comments / replies", f"{self.comments} / {self.replies}"),
            ("snapshots", str(self.snapshots)),
            ("edit latency seen by members p50 / p99",
             f"{_ms(self.p50_ms)} / {_ms(self.p99_ms)} ({self.latency_samples} deliveries)"),
            ("server updates received", _num(self.updates_in, "{:.0f}")),
            ("server CPU", _num(self.server_cpu_seconds, "{:.1f} s")),
            ("server memory (peak RSS)", _num(self.server_peak_rss_mib, "{:.0f} MiB")),
            ("wall time", f"{self.wall_seconds:.0f} s"),
        ]
        width = max(len(name) for name, _ in rows)
        lines = ["| " + name.ljust(width) + " | " + value + " |" for name, value in rows]
        lines.append("")
        lines += [f"[{'ok' if c.ok else 'FAILED'}] {c.name}: {c.detail}" for c in self.checks]
        verdict = "all checks passed" if self.exit_code == 0 else \
            f"{len(self.failed) or 'no'} check(s) failed"
        lines.append(verdict)
        return "\n".join(lines)


def _delta(first: float | None, last: float | None) -> float | None:
    return None if first is None or last is None else last - first


def _ms(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.0f} ms"


def _num(value: float | None, fmt: str) -> str:
    return "n/a (not exported)" if value is None else fmt.format(value)
