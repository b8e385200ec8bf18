"""Counters a store keeps about its own work, for tests and metrics."""

from __future__ import annotations

from dataclasses import dataclass


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
