#!/usr/bin/env python3
"""Server CPU per socket admission: ROOMS x PER sockets open, sync and stay; then close.

    .venv/bin/python bench/connect_cost.py [--checkout DIR] [--rooms 500] [--per-room 4]
                                           [--profile OUT.txt]

Starts ``palabre serve`` from a checkout (this one by default; ``--checkout`` measures
another, e.g. a worktree of an older commit, with this checkout's venv) on SQLite in a
scratch folder, with a member token that creates documents by connecting (as the bench's
W3 does), then opens ``--rooms`` x ``--per-room`` y-websocket sockets (50 at a time), each
sending sync step 1 and waiting for the server's step 2. Reported: the server process's
CPU (user + system, from ``/proc``) over the whole opening, per socket. ``--profile``
records the server with py-spy (raw samples) meanwhile. ``PALABRE_*`` variables in the
environment reach the server (``PALABRE_EVENT_LOOP=asyncio``, say).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import websockets

REPO = Path(__file__).resolve().parent.parent
SYNC_STEP1_EMPTY = bytes([0, 0, 1, 0])


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def open_synced(url: str) -> websockets.ClientConnection:
    ws = await websockets.connect(url, max_size=None)
    await ws.send(SYNC_STEP1_EMPTY)
    while True:
        message = await ws.recv()
        if isinstance(message, bytes) and message[:2] == b"\x00\x01":
            return ws


async def measure(args: argparse.Namespace) -> None:
    checkout = Path(args.checkout).resolve()
    python = str(REPO / ".venv" / "bin" / "python")
    data = Path(tempfile.mkdtemp(prefix="palabre-connect-"))
    port = free_port()
    env = {**os.environ, "PYTHONPATH": str(checkout),
           "PALABRE_SOCKET_UPDATE_RATE_PER_SECOND": "0",
           "PALABRE_LIMIT_SOCKETS_PER_PRINCIPAL": "0",
           "PALABRE_LIMIT_AWARENESS_RATE_PER_SECOND": "0",
           "PALABRE_LIMIT_SOCKET_OPENS_PER_SECOND": "0",
           "PALABRE_CREATE_ON_CONNECT": "members"}
    token = subprocess.run(
        [python, "-m", "server", "token", "--role", "member", "--name", "Bench", "--sub",
         "bench", "--data-dir", str(data)],
        env=env, cwd=checkout, capture_output=True, text=True, check=True).stdout.strip()
    server = subprocess.Popen(  # noqa: ASYNC220 (started once)
        [python, "-m", "server", "serve", "--host", "127.0.0.1", "--port", str(port),
         "--data-dir", str(data)],
        env=env, cwd=checkout, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    spy = None
    sockets: list[websockets.ClientConnection] = []
    try:
        async with httpx.AsyncClient() as http:
            deadline = time.monotonic() + 60
            while True:
                try:
                    if (await http.get(f"http://127.0.0.1:{port}/readyz")).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                if time.monotonic() > deadline:
                    raise SystemExit("the server did not get ready within 60 s")
                await asyncio.sleep(0.1)
        if args.profile:
            spy = subprocess.Popen(  # noqa: ASYNC220
                [str(REPO / ".venv" / "bin" / "py-spy"), "record", "--nonblocking", "-r", "200",
                 "-f", "raw", "-o", args.profile, "-p", str(server.pid)],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            await asyncio.sleep(1)
        stamp = int(time.time())
        gate = asyncio.Semaphore(50)

        async def one(index: int) -> None:
            async with gate:
                sockets.append(await open_synced(
                    f"ws://127.0.0.1:{port}/ws/connect-{stamp}-{index // args.per_room}"
                    f"?token={token}"))

        cpu0, wall0 = cpu_seconds(server.pid), time.monotonic()
        await asyncio.gather(*(one(i) for i in range(args.rooms * args.per_room)))
        cpu, wall = cpu_seconds(server.pid) - cpu0, time.monotonic() - wall0
        count = args.rooms * args.per_room
        print(f"{checkout.name}: {count} sockets ({args.rooms} documents) in {wall:.2f} s: "
              f"server CPU {cpu:.2f} s, {cpu * 1000 / count:.2f} ms per socket")
    finally:
        await asyncio.gather(*(ws.close() for ws in sockets), return_exceptions=True)
        if spy is not None:
            spy.send_signal(signal.SIGINT)
            spy.wait()
        server.terminate()
        server.wait(timeout=30)
        shutil.rmtree(data, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--checkout", default=str(REPO))
    parser.add_argument("--rooms", type=int, default=500)
    parser.add_argument("--per-room", type=int, default=4)
    parser.add_argument("--profile", default=None)
    asyncio.run(measure(parser.parse_args()))


if __name__ == "__main__":
    main()
