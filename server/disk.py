"""Free space on the data folder's disk: checked before large writes, shown by the probes.

SQLite fails a commit cleanly on a full disk (the transaction rolls back, the database stays
sound), but a snapshot or an upload that fills the disk would take the last bytes the
update log needs. So those check first that they leave `Settings.min_free_disk_bytes`
free, and ``/readyz`` turns unready below it, before appends start failing.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

from server.errors import InsufficientStorage

MIB = 1024 * 1024


def free_bytes(folder: Path) -> int:
    """Free bytes (for an unprivileged writer) on the filesystem holding `folder`."""
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    return shutil.disk_usage(folder).free


def low_space(folder: Path, reserve: int) -> str | None:
    """Why `folder`'s disk is too full (less than `reserve` bytes free), or ``None``."""
    free = free_bytes(folder)
    if free >= reserve:
        return None
    return (f"{free / MIB:.1f} MiB free on the data folder's disk, under the "
            f"{reserve / MIB:.0f} MiB kept free (PALABRE_MIN_FREE_DISK_BYTES)")


def ensure_room(folder: Path, needed: int, reserve: int) -> None:
    """Refuse a write of `needed` bytes that would leave less than `reserve` free.

    Raises:
        InsufficientStorage: the disk is that full; nothing was written.
    """
    free = free_bytes(folder)
    if free - needed < reserve:
        raise InsufficientStorage(
            f"not enough disk space: {free / MIB:.1f} MiB free, this needs "
            f"{needed / MIB:.1f} MiB and {reserve / MIB:.0f} MiB are kept free for edits; "
            "nothing was written"
        )


@dataclass(frozen=True, slots=True)
class DiskReserve:
    """The data folder and the free space kept on its disk."""

    folder: Path
    reserve: int

    def shortage(self) -> str | None:
        """Why the disk is too full now, or ``None``."""
        return low_space(self.folder, self.reserve)

    def free(self) -> float:
        """Free bytes now (for the metrics)."""
        return float(free_bytes(self.folder))

    def ensure(self, needed: int) -> None:
        """Refuse a write of `needed` bytes that would eat into the reserve.

        Raises:
            InsufficientStorage: the disk is that full; nothing was written.
        """
        ensure_room(self.folder, needed, self.reserve)
