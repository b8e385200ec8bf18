"""The verdicts of a scenario: each check has a name, a pass/fail and what it found."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True, kw_only=True)
class Check:
    """One verified property of the run."""

    name: str
    ok: bool
    detail: str


@dataclass(slots=True)
class Checks:
    """Every check made so far, in order."""

    results: list[Check] = field(default_factory=list)

    def record(self, name: str, ok: bool, detail: str) -> bool:
        """Add a check; return `ok`."""
        self.results.append(Check(name=name, ok=ok, detail=detail))
        return ok

    @property
    def failed(self) -> list[Check]:
        """The checks that did not hold."""
        return [check for check in self.results if not check.ok]
