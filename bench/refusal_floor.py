#!/usr/bin/env python3
"""What one refused WebSocket handshake costs the server, next to the floor of Python.

A citizen opening sockets in a loop (`bench/hostile.py`'s attacks) is refused with 429
once its openings are spent; what is left of the attack is what each refusal costs the
node's one event loop. This floods, in turn, a fresh palabre (default limits, as
`bench/hostile.py` starts it) and a plain asyncio server that answers every request head
with a canned 429 and closes (the least a Python server can do per connection: accept,
read, write, close), from `--loops` concurrent raw-socket loops for `--seconds`, and
reports each server's CPU per handshake. The loops open sockets on unknown document ids
with one citizen token: after the first few (4403, each costing `refused_socket_cost`)
palabre answers 429 before the WebSocket upgrade. Interleaved `--repeats` times.

    bench/refusal_floor.py                      # 2 repeats, 10 s each, 8 loops
    bench/refusal_floor.py --repeats 3 --seconds 15

Standard library only (the token comes from `bench/hostile_attacker.py tokens`).
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import hostile
import run
from run import log

CANNED = (b"HTTP/1.1 429 Too Many Requests\r\ncontent-type: application/json\r\n"
          b"content-length: 2\r\nconnection: close\r\n\r\n{}")


class CannedRefusal(asyncio.Protocol):
    """Answer the first request head with `CANNED` and close."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        self.received = b""

    def data_received(self, data: bytes) -> None:
        self.received += data
        if b"\r\n\r\n" in self.received:
            self.transport.write(CANNED)
            self.transport.close()


async def serve_floor(port: int) -> None:
    server = await asyncio.get_running_loop().create_server(
        CannedRefusal, "127.0.0.1", port, backlog=1024)
    print("ready", flush=True)
    await server.serve_forever()


async def flood(port: int, token: str, seconds: float, loops: int) -> collections.Counter[str]:
    """Open handshakes on unknown ids from `loops` loops; count the answers' statuses."""
    counts: collections.Counter[str] = collections.Counter()
    deadline = time.monotonic() + seconds

    async def loop(i: int) -> None:
        n = 0
        while time.monotonic() < deadline:
            n += 1
            try:
                reader, writer = await asyncio.open_connection("127.0.0.1", port)
                writer.write((f"GET /ws/inconnu-{i}-{n}?token={token} HTTP/1.1\r\nHost: x\r\n"
                              "Upgrade: websocket\r\nConnection: Upgrade\r\n"
                              "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                              "Sec-WebSocket-Version: 13\r\n\r\n").encode())
                head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
                counts[head.split(b" ", 2)[1].decode()] += 1
                writer.close()
            except (OSError, TimeoutError, asyncio.IncompleteReadError) as exc:
                counts[type(exc).__name__] += 1

    await asyncio.gather(*(loop(i) for i in range(loops)))
    return counts


def measure(pid: int, port: int, token: str, args: argparse.Namespace) -> dict[str, Any]:
    cpu0, t0 = run.cpu_seconds(pid), time.monotonic()
    counts = asyncio.run(flood(port, token, args.seconds, args.loops))
    cpu, wall = run.cpu_seconds(pid) - cpu0, time.monotonic() - t0
    total = sum(v for k, v in counts.items() if k.isdigit())
    return {"counts": dict(counts), "cpu_s": cpu, "handshakes": total,
            "per_second": total / wall, "cpu_ms_each": 1000 * cpu / total if total else None,
            "load": Path("/proc/loadavg").read_text().split()[0]}


def palabre_run(work: Path, args: argparse.Namespace) -> dict[str, Any]:
    with hostile.defended("palabre", work) as srv:
        out = subprocess.run([str(hostile.PYTHON), str(hostile.ATTACKER), "tokens", "--data-dir",
                              str(srv.data_dir), "--count", "1", "--role", "citizen"],
                             capture_output=True, text=True, check=True, timeout=120)
        return measure(srv.pid, srv.port, json.loads(out.stdout)[0], args)


def floor_run(args: argparse.Namespace) -> dict[str, Any]:
    port = run.free_port()
    proc = subprocess.Popen([sys.executable, __file__, "--serve-floor", str(port)],
                            stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
        return measure(proc.pid, port, "x", args)
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--repeats", type=int, default=2)
    p.add_argument("--seconds", type=float, default=10)
    p.add_argument("--loops", type=int, default=8)
    p.add_argument("--serve-floor", type=int, metavar="PORT", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.serve_floor:
        asyncio.run(serve_floor(args.serve_floor))
        return 0
    work = Path(tempfile.mkdtemp(prefix="refusal-floor-"))
    runs: dict[str, list[dict[str, Any]]] = {"palabre": [], "asyncio floor": []}
    for rep in range(args.repeats):
        for name in runs:
            res = palabre_run(work, args) if name == "palabre" else floor_run(args)
            runs[name].append(res)
            log(f"{name} {rep + 1}/{args.repeats}: {json.dumps(res)}")
    print("| server | handshakes/s | server CPU ms per handshake | answers | load |")
    print("|---|---|---|---|---|")
    for name, results in runs.items():
        each = statistics.median(r["cpu_ms_each"] for r in results if r["cpu_ms_each"])
        rate = statistics.median(r["per_second"] for r in results)
        print(f"| {name} | {rate:.0f} | {each:.3f} | {results[-1]['counts']} | "
              f"{', '.join(r['load'] for r in results)} |")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
