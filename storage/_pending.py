"""One `append` call waiting in the group-commit queue."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import anyio

from storage.base import AppendResult, LogEntry, StorageUnavailable

MAX_BATCH_APPENDS = 1000
"""Most `append` calls one transaction takes; the rest wait for the next one."""


@dataclass(slots=True, eq=False, kw_only=True)
class PendingAppend:
    """One `append` call waiting for its transaction."""

    doc_id: str
    entries: Sequence[LogEntry]
    enqueued_at: float
    done: anyio.Event = field(default_factory=anyio.Event)
    result_value: AppendResult | None = None
    error: str | None = None
    cause: Exception | None = None

    async def result(self) -> AppendResult:
        """See `storage.base.AppendTicket.result`."""
        await self.done.wait()
        if self.result_value is None:
            raise StorageUnavailable(self.error or "append failed") from self.cause
        return self.result_value

    def resolve(self, result: AppendResult) -> None:
        """Wake the caller with its result."""
        self.result_value = result
        self.done.set()

    def fail(self, error: str, cause: Exception | None) -> None:
        """Wake the caller with an error (nothing of its entries was stored)."""
        self.error, self.cause = error, cause
        self.done.set()
