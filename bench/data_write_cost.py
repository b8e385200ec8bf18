#!/usr/bin/env python3
"""Server CPU per data request, by kind, against a fresh palabre (sequential requests).

A citizen's largest accepted write to an actors map (proposals of 12 values each, as many
as `Limits.citizen_values_per_write` allows), ten times that (refused), a GET of the map,
and ``/healthz`` (the floor), each 50 times per round; the map grows with every round of
accepted writes. The server's CPU is read from /proc before and after each batch, so the
figure includes its threads (the SQLite writer). HTTP rate limits are off.

    python3 bench/data_write_cost.py --rounds 3
    python3 bench/data_write_cost.py --checkout /tmp/base   # an older checkout, same load
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))
sys.path.insert(0, str(BENCH.parent))

import hostile_attacker as attacker  # noqa: E402
from connect_cost import cpu_seconds, free_port  # noqa: E402

from server.access.auth import Role  # noqa: E402


async def measure(checkout: Path, rounds: int, per_batch: int) -> None:
    data_dir, port = Path(tempfile.mkdtemp(prefix="write-cost-")), free_port()
    env = dict(os.environ, PALABRE_HTTP_RATE_PER_SECOND="0", PYTHONPATH=str(checkout))
    server = subprocess.Popen(
        [str(BENCH.parent / ".venv/bin/python"), "-m", "server", "serve", "--host",
         "127.0.0.1", "--port", str(port), "--data-dir", str(data_dir)],
        cwd=checkout, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    try:
        async with httpx.AsyncClient(base_url=base) as probe:
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                try:
                    if (await probe.get("/healthz")).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                await asyncio.sleep(0.1)  # polling a server that is starting
        await attacker.setup(base, data_dir)
        token = attacker.mint(data_dir, Role.CITIZEN, "Intrus", "bench-intrus")
        largest = (attacker.Limits().citizen_values_per_write - 2) // 12
        headers = {"Authorization": f"Bearer {token}",
                   "Content-Type": "application/merge-patch+json"}
        counter = iter(range(10**9))
        path = f"/api/documents/{attacker.ACTORS_DOC}/data"
        async with httpx.AsyncClient(base_url=base, headers=headers, timeout=60) as http:
            kinds = {
                f"write {largest} actors": lambda: http.patch(path, content=json.dumps(
                    attacker.proposals(largest, next(counter) * 1000)).encode()),
                f"write {10 * largest} actors": lambda: http.patch(path, content=json.dumps(
                    attacker.proposals(10 * largest, 0)).encode()),
                "read the map": lambda: http.get(path),
                "healthz": lambda: http.get("/healthz"),
            }
            for number in range(rounds):
                for name, request in kinds.items():
                    before, started, codes = cpu_seconds(server.pid), time.perf_counter(), set()
                    for _ in range(per_batch):
                        codes.add((await request()).status_code)
                    spent = (cpu_seconds(server.pid) - before) / per_batch
                    wall = (time.perf_counter() - started) / per_batch
                    print(f"round {number + 1} {name:22s} {spent * 1000:6.2f} ms CPU "
                          f"{wall * 1000:6.2f} ms wall, answered {sorted(codes)}", flush=True)
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=30)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--per-batch", type=int, default=50)
    parser.add_argument("--checkout", type=Path, default=BENCH.parent)
    args = parser.parse_args()
    asyncio.run(measure(args.checkout.resolve(), args.rounds, args.per_batch))


if __name__ == "__main__":
    main()
