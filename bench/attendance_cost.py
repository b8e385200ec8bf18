"""The cost of attendance tracking per socket join and leave.

Three figures, for N sockets (default 1,000, W5's count) joining then leaving a document:

1. **socket path**: what a join and a leave cost the socket's task
   (`Attendance.joined` / `left`: dict updates and, with a session open, one non-blocking
   queue send), with no session open and with one open; in-process.
2. **recorder**: how long the background task takes to write the N joins, then the N
   leaves, into SQLite (WAL, the default store) and PostgreSQL when reachable, in
   batches: the time from the first event queued to `flush` returning, per event.
3. **heartbeat**: one beat (read the open sessions, refresh this node's open intervals)
   with the N sockets present.

Run: ``.venv/bin/python bench/attendance_cost.py [N]`` from the repository root.
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
from pathlib import Path

import anyio

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from server.access.auth import Principal, Role  # noqa: E402
from server.metrics import Metrics  # noqa: E402
from server.modules.attendance import Attendance  # noqa: E402
from storage.engine import database_url_for  # noqa: E402
from storage.port import Storage  # noqa: E402
from storage.sql import SqlDocumentStore  # noqa: E402

DOC = "charte"
POSTGRES = "postgresql://postgres@127.0.0.1:5432/test"


def people(n: int) -> list[Principal]:
    return [Principal(sub=f"membre-{i}", name=f"Membre n°{i}", role=Role.MEMBER)
            for i in range(n)]


def socket_path(tracker: Attendance, who: list[Principal]) -> tuple[float, float]:
    """Microseconds per join and per leave, on the caller's task."""
    started = time.perf_counter()
    for i, principal in enumerate(who):
        tracker.joined(DOC, f"c{i}", principal)
    joined = time.perf_counter() - started
    started = time.perf_counter()
    for i in range(len(who)):
        tracker.left(DOC, f"c{i}")
    left = time.perf_counter() - started
    return joined / len(who) * 1e6, left / len(who) * 1e6


async def measure(store: Storage, label: str, n: int) -> None:
    who = people(n)
    tracker = Attendance(store, Metrics(), node_id="bench", heartbeat=3600)
    async with store, tracker.running():
        closed = [socket_path(tracker, who) for _ in range(5)]
        record = await store.open_session(
            doc_id=DOC, title="Banc", kind="work", planned_start=None, planned_end=None,
            by="bench", by_name="Bench", at=time.time())
        await tracker.opened(record)
        opened = []
        for _ in range(5):
            opened.append(socket_path(tracker, who))
            await tracker.flush()
        # Recorder: N joins, then N leaves, queued at once and written in batches.
        started = time.perf_counter()
        for i, principal in enumerate(who):
            tracker.joined(DOC, f"r{i}", principal)
        await tracker.flush()
        joins = time.perf_counter() - started
        beats = []
        for _ in range(5):
            started = time.perf_counter()
            await tracker.beat()
            beats.append(time.perf_counter() - started)
        started = time.perf_counter()
        for i in range(n):
            tracker.left(DOC, f"r{i}")
        await tracker.flush()
        leaves = time.perf_counter() - started
        intervals = len(await store.list_presence(record.session_id))
    print(f"[{label}] N={n} intervals recorded={intervals}")
    print(f"  socket path, no session open : join {statistics.median(j for j, _ in closed):.2f}"
          f" µs, leave {statistics.median(v for _, v in closed):.2f} µs (median of 5 runs)")
    print(f"  socket path, session open    : join {statistics.median(j for j, _ in opened):.2f}"
          f" µs, leave {statistics.median(v for _, v in opened):.2f} µs")
    print(f"  recorder: {n} joins written in {joins * 1e3:.1f} ms "
          f"({joins / n * 1e6:.0f} µs each); {n} leaves in {leaves * 1e3:.1f} ms "
          f"({leaves / n * 1e6:.0f} µs each)")
    print(f"  heartbeat with {n} open intervals: median {statistics.median(beats) * 1e3:.1f} ms")


async def main(n: int) -> None:
    with tempfile.TemporaryDirectory() as folder:
        await measure(SqlDocumentStore(database_url_for(Path(folder))), "sqlite", n)
    try:
        import asyncpg

        with anyio.fail_after(5):
            conn = await asyncpg.connect(POSTGRES)
        await conn.execute("DROP DATABASE IF EXISTS palabre_bench_attendance")
        await conn.execute("CREATE DATABASE palabre_bench_attendance")
        await conn.close()
    except (OSError, TimeoutError, ImportError) as exc:
        print(f"[postgres] skipped: {exc}")
        return
    await measure(SqlDocumentStore(POSTGRES.rsplit("/", 1)[0] + "/palabre_bench_attendance"),
                  "postgres", n)


if __name__ == "__main__":
    anyio.run(main, int(sys.argv[1]) if len(sys.argv) > 1 else 1000)
