#!/usr/bin/env python3
"""The soak's node with memory probes: ``palabre serve`` in this process, probed on signals.

    python bench/soak_node.py OUT.jsonl serve --port ... --data-dir ...

Used by ``bench/soak.py --probe`` (not a production entry point). ``PALABRE_SOAK_TRACEMALLOC``
(frames, default 0: off) starts `tracemalloc` at the first probe (not during start-up). Each SIGUSR1
appends one JSON line to OUT.jsonl: RSS, glibc's heap (``mallinfo2``: bytes in use and free),
the live objects counted by type (the 25 that grew most since the previous probe), the
documents loaded with the size of their state (``len(doc.get_update())``, the text's own
growth), the length of every per-key table of the known per-principal holders, and with
tracemalloc the 25 tracebacks whose allocations grew most since the previous probe. SIGUSR2
runs ``malloc_trim(0)`` and appends the RSS before and after (how much is free heap the
allocator kept, not live objects).
"""

from __future__ import annotations

import collections
import ctypes
import gc
import json
import os
import signal
import sys
import time
import tracemalloc
from pathlib import Path
from types import FrameType
from typing import Any

REPO = Path(__file__).resolve().parent.parent
TOP = 25

_libc = ctypes.CDLL("libc.so.6")


class _MallInfo2(ctypes.Structure):
    _fields_ = [(name, ctypes.c_size_t) for name in (
        "arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks", "uordblks",
        "fordblks", "keepcost")]


_libc.mallinfo2.restype = _MallInfo2


def rss_mib() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


class Probe:
    """What the previous probe saw, to report growth."""

    def __init__(self, out: Path, frames: int) -> None:
        self.out = out
        self.frames = frames
        self.started = time.monotonic()
        self.types: collections.Counter[str] = collections.Counter()
        self.snapshot: tracemalloc.Snapshot | None = None

    def write(self, entry: dict[str, Any]) -> None:
        entry = {"t": round(time.monotonic() - self.started, 1), **entry}
        with self.out.open("a") as file:
            file.write(json.dumps(entry) + "\n")

    def probe(self, _sig: int, _frame: FrameType | None) -> None:
        gc.collect()
        objects = gc.get_objects()
        types = collections.Counter(type(o).__qualname__ for o in objects)
        grown = (types - self.types).most_common(TOP)
        info = _libc.mallinfo2()
        entry: dict[str, Any] = {
            "rss_mib": round(rss_mib(), 1),
            "heap_in_use_mib": round(info.uordblks / 2**20, 1),
            "heap_free_mib": round(info.fordblks / 2**20, 1),
            "mmapped_mib": round(info.hblkhd / 2**20, 1),
            "objects": len(objects),
            "types_grown": grown,
            "rooms": _rooms(objects),
            "tables": _tables(objects),
            "tasks": _tasks(),
        }
        self.types = types
        del objects
        if tracemalloc.is_tracing():
            snapshot = tracemalloc.take_snapshot().filter_traces(
                [tracemalloc.Filter(False, tracemalloc.__file__)])
            entry["traced_mib"] = round(tracemalloc.get_traced_memory()[0] / 2**20, 1)
            if self.snapshot is not None:
                diff = snapshot.compare_to(self.snapshot, "traceback")[:TOP]
                entry["traces_grown"] = [
                    {"kib": round(d.size_diff / 1024, 1), "count": d.count_diff,
                     "where": d.traceback.format()[-12:]} for d in diff]
            self.snapshot = snapshot
        elif self.frames > 0:  # from the first probe on: start-up is not what leaks
            tracemalloc.start(self.frames)
        self.write(entry)

    def trim(self, _sig: int, _frame: FrameType | None) -> None:
        before = rss_mib()
        _libc.malloc_trim(0)
        self.write({"trim_before_mib": round(before, 1), "trim_after_mib": round(rss_mib(), 1)})


def _tasks() -> list[tuple[int, str]]:
    """The running tasks grouped by where each is suspended (innermost three frames)."""
    import asyncio

    try:
        tasks = asyncio.all_tasks(asyncio.get_running_loop())
    except RuntimeError:
        return []
    where: collections.Counter[str] = collections.Counter()
    for task in tasks:
        frames: list[FrameType] = []
        awaited: Any = task.get_coro()
        while awaited is not None and len(frames) < 50:
            frame = getattr(awaited, "cr_frame", None) or getattr(awaited, "gi_frame", None)
            if frame is None:
                break
            frames.append(frame)
            awaited = getattr(awaited, "cr_await", None) or getattr(awaited, "gi_yieldfrom", None)
        where[" < ".join(f"{f.f_code.co_qualname}:{f.f_lineno}"
                         for f in reversed(frames[-4:]))] += 1
    return [(n, w) for w, n in where.most_common(TOP)]


def _rooms(objects: list[Any]) -> list[dict[str, Any]]:
    from server.rooms.room import Room

    return [{"doc_id": o.doc_id, "state_bytes": len(o.doc.get_update()),
             "connections": len(o.connections)}
            for o in objects if type(o) is Room]


_HOLDERS = {
    "RateLimiter": ("_buckets",), "Roster": ("_recorded",), "SocketQuota": ("_open",),
    "AwarenessRegistry": ("_states", "_owners", "_ids", "_principals", "_bytes_of"),
    "Hub": ("_rooms", "_loading", "_transforming", "_scratches", "_guards"),
}


def _tables(objects: list[Any]) -> dict[str, int]:
    """Entries of every known per-key table, summed over instances of its holder."""
    sizes: collections.Counter[str] = collections.Counter()
    for o in objects:
        for attribute in _HOLDERS.get(type(o).__name__, ()):
            table = getattr(o, attribute, None)
            if table is not None:
                sizes[f"{type(o).__name__}.{attribute}"] += len(table)
    return dict(sizes)


def main() -> None:
    out = Path(sys.argv[1])
    probe = Probe(out, int(os.environ.get("PALABRE_SOAK_TRACEMALLOC", "0")))
    signal.signal(signal.SIGUSR1, probe.probe)
    signal.signal(signal.SIGUSR2, probe.trim)
    sys.path.insert(0, str(REPO))
    from server.app.cli import main as palabre

    sys.argv = ["palabre", *sys.argv[2:]]
    palabre()


if __name__ == "__main__":
    main()
