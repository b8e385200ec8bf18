"""What every part of `MemoryDocumentStore` does before touching its dicts."""

from __future__ import annotations

from abc import ABC, abstractmethod

import anyio.lowlevel


class MemoryAccess(ABC):
    """The gate of each call: a checkpoint, then the store's open and available checks."""

    @abstractmethod
    def _check_usable(self) -> None:
        """Raise StorageUnavailable when the store is closed or marked unavailable."""

    async def _enter(self) -> None:
        # Every call is a checkpoint, as a database round trip would be.
        await anyio.lowlevel.checkpoint()
        self._check_usable()
