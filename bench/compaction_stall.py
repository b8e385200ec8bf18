"""How long compacting a 10,000-row log holds up palabre's event loop.

Appends 10,000 small updates from 50 Yjs clients to a SQLite store, then compacts
while a 1 ms ticker measures the longest gap of the event loop; twice, since the first
compaction also starts the worker process that merges the log.
Run: ``.venv/bin/python bench/compaction_stall.py`` from the repository root.
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import anyio
from pycrdt import Doc, Text

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from storage.base import LogEntry  # noqa: E402
from storage.sql import SqlDocumentStore  # noqa: E402


async def main() -> None:
    docs: list[Doc[Any]] = [Doc() for _ in range(50)]
    updates: list[bytes] = []
    for doc in docs:
        doc.observe(lambda event: updates.append(event.update))
    texts = [doc.get("t", type=Text) for doc in docs]
    for i in range(200):
        for j, text in enumerate(texts):
            text.insert(0, f"[{j}:{i}]")
    url = f"sqlite+aiosqlite:///{tempfile.mkdtemp()}/stall.db"
    async with SqlDocumentStore(url, commit_window=0.0) as store:
        # The first compaction also starts the worker process; the second shows the rest.
        for round_name in ("first (starts the worker)", "second"):
            for start in range(0, len(updates), 50):
                batch = updates[start : start + 50]
                await store.append("d", [
                    LogEntry(update=u, received_at=time.time(), connection_id=f"c{n}",
                             principal="p")
                    for n, u in enumerate(batch)
                ])
            await store.load("d")
            took, worst = await compact_watching_the_loop(store)
            print(f"{round_name}: {len(updates)} rows compacted in {took:.2f} s; "
                  f"worst event-loop gap {worst * 1000:.0f} ms")


async def compact_watching_the_loop(store: SqlDocumentStore) -> tuple[float, float]:
    """Compact "d" while a 1 ms ticker records the event loop's longest gap."""
    worst = 0.0
    done = anyio.Event()

    async def ticker() -> None:
        nonlocal worst
        while not done.is_set():
            before = time.perf_counter()
            await anyio.sleep(0.001)
            worst = max(worst, time.perf_counter() - before)

    async with anyio.create_task_group() as tg:
        tg.start_soon(ticker)
        started = time.perf_counter()
        await store.compact("d")
        took = time.perf_counter() - started
        done.set()
    return took, worst

if __name__ == "__main__":  # compaction's worker process loads this module again
    anyio.run(main)
