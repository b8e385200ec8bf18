"""Counters a store keeps about its own work, for tests and metrics."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import anyio


@dataclass(slots=True, kw_only=True)
class StoreStats:
    """What a store did since it was built. Read it; only the store writes it."""

    transactions: int = 0
    """Append transactions committed (each holds one or more `append` calls)."""
    failed_transactions: int = 0
    """Append transactions that failed (every append in them raised StorageUnavailable)."""
    appends: int = 0
    """`append` calls committed."""
    entries_appended: int = 0
    """Log entries committed."""
    compactions: int = 0
    """Compactions that merged at least one log row into the state."""
    failed_compactions: int = 0
    """Compactions that raised StorageUnavailable."""
    queued: int = 0
    """`append` calls currently waiting for their transaction to start."""
    _changed: anyio.Event | None = field(default=None, repr=False, compare=False)

    def __setattr__(self, name: str, value: Any) -> None:
        object.__setattr__(self, name, value)
        changed = getattr(self, "_changed", None)
        if name != "_changed" and changed is not None:
            object.__setattr__(self, "_changed", None)
            changed.set()

    async def wait_for(self, predicate: Callable[[StoreStats], bool]) -> None:
        """Return once `predicate(self)` holds, woken by every change of a counter."""
        while not predicate(self):
            if self._changed is None:
                object.__setattr__(self, "_changed", anyio.Event())
            assert self._changed is not None
            await self._changed.wait()

