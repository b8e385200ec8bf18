#!/usr/bin/env python3
"""Soak: one node under a W1-like load with churn, its resources sampled and plotted.

    .venv/bin/python bench/soak.py [--seconds 3600] [--clients 50] [--png bench/soak.png]

One ``palabre serve`` process on SQLite in a scratch folder. The load, all on loopback:
``--clients`` Python clients in one room typing 4 edits a second each (W1's rate), of which
10 % leave and are replaced every 10 s; and every 5 s a visitor opens one of 40 other
documents, types a few edits and leaves (rooms open and close: ``PALABRE_ROOM_GRACE_SECONDS``
is 5, so they are evicted). With ``--rotate S``, every S seconds the typists who join from
then on type into a new document (the assembly moves on to the next article): the one before
empties as its typists leave and its room is evicted. Every 10 s the node's RSS and open file descriptors
(``/proc``), its threads, and its ``palabre_connections`` and ``palabre_documents_loaded``
(``/metrics``) are sampled. The report gives each series' value after warm-up (the first
tenth of the run) and at the end; the PNG draws them over time. Flat after warm-up is the
target: a leak shows as a slope.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

import anyio  # noqa: E402
import httpx  # noqa: E402
from pycrdt import Text  # noqa: E402

from client.session import connect  # noqa: E402
from server.access.auth import Role, mint_token  # noqa: E402
from server.access.secret import load_or_create_secret  # noqa: E402

SAMPLE_SECONDS = 10.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def proc_sample(pid: int) -> dict[str, float]:
    status = Path(f"/proc/{pid}/status").read_text()
    fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
    return {
        "rss_mib": int(fields["VmRSS"].split()[0]) / 1024,
        "threads": int(fields["Threads"]),
        "fds": len(os.listdir(f"/proc/{pid}/fd")),
    }


async def metrics(url: str) -> dict[str, float]:
    """The two gauges; empty when the node does not answer within 10 s (counted)."""
    try:
        async with httpx.AsyncClient(timeout=10) as http:
            text = (await http.get(f"{url}/metrics")).text
    except httpx.HTTPError:
        return {"metrics_timeouts": 1.0}
    found = {}
    for line in text.splitlines():
        for name in ("palabre_connections", "palabre_documents_loaded"):
            if line.startswith(name + " "):
                found[name.removeprefix("palabre_")] = float(line.split()[-1])
    return found


async def run(args: argparse.Namespace) -> dict[str, Any]:
    rng = random.Random(args.seed)
    root = Path(tempfile.mkdtemp(prefix="palabre-soak-"))
    secret = load_or_create_secret(root)
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    log = (args.probe.with_suffix(".log") if args.probe else root / "server.log").open("ab")
    serve = ["serve", "--port", str(port), "--data-dir", str(root)]
    command = ([sys.executable, str(REPO / "bench" / "soak_node.py"), str(args.probe), *serve]
               if args.probe else [sys.executable, "-m", "server", *serve])
    node = subprocess.Popen(  # noqa: ASYNC220 (started once; Popen returns at once)
        command, cwd=REPO, stdout=subprocess.DEVNULL, stderr=log, env={
            **os.environ, "PALABRE_CREATE_ON_CONNECT": "members",
            "PALABRE_ROOM_GRACE_SECONDS": "5", "PALABRE_SOCKET_UPDATE_RATE_PER_SECOND": "0",
            "PALABRE_SOAK_TRACEMALLOC": str(args.tracemalloc),
        },
    )
    samples: list[dict[str, float]] = []
    counter = [0]

    def token() -> str:
        """A token for the next session: a new subject each time, or one of a fixed pool."""
        counter[0] += 1
        n = counter[0] if args.principals == 0 else counter[0] % args.principals
        return mint_token(secret, sub=f"soak-{n}", name=f"Soak {n}",
                          role=Role.MEMBER, ttl=2 * 3600)

    try:
        with anyio.fail_after(300):  # a busy machine, tracemalloc
            async with httpx.AsyncClient(timeout=2) as http:
                while True:
                    with contextlib.suppress(httpx.HTTPError):
                        if (await http.get(f"{url}/readyz")).status_code == 200:
                            break
                    await anyio.sleep(0.2)
        # The live room's document exists before its 50 seats connect at once: their
        # creations racing on an empty SQLite catalogue are not what this run measures
        # (see bench/README.md, "Soak").
        live = ["soak-0"]
        async with connect(url, live[0], token()) as first:
            await first.synced()
        started = time.monotonic()
        deadline = started + args.seconds

        async def rotate() -> None:
            """With --rotate: every so often the next typists join a new document (the
            assembly moves on to the next article); the last one's room closes as its
            typists leave."""
            while args.rotate and time.monotonic() + args.rotate < deadline:
                await anyio.sleep(args.rotate)
                following = f"soak-{int(live[0].split('-')[1]) + 1}"
                async with connect(url, following, token()) as opener:
                    await opener.synced()
                live[0] = following

        async def typist(stop: anyio.Event) -> None:
            async with connect(url, live[0], token()) as session:
                text = session.doc.get("body", type=Text)
                while not stop.is_set() and time.monotonic() < deadline:
                    text += "mot "
                    with anyio.move_on_after(0.25):  # W1: 4 edits a second
                        await stop.wait()

        async def seat(tg: Any) -> None:
            """One seat of the room: a typist, replaced now and then by a new one."""
            while time.monotonic() < deadline:
                stop = anyio.Event()
                tg.start_soon(typist, stop)
                # Leaves after 5 s to ~3 min (never past the end of the run).
                await anyio.sleep(min(rng.uniform(5, 190), max(0.0, deadline - time.monotonic())))
                stop.set()

        async def visitors() -> None:
            while time.monotonic() < deadline:
                doc_id = f"visite-{rng.randrange(40)}"
                async with connect(url, doc_id, token()) as session:
                    await session.synced()
                    text = session.doc.get("body", type=Text)
                    for _ in range(5):
                        text += "visite "
                    await session.flushed()
                await anyio.sleep(min(5.0, max(0.0, deadline - time.monotonic())))

        async def sample() -> None:
            probed = started
            while time.monotonic() < deadline:
                entry = {"t": time.monotonic() - started, **proc_sample(node.pid),
                         **await metrics(url)}
                samples.append(entry)
                print(json.dumps(entry), file=sys.stderr)
                if args.probe and time.monotonic() - probed >= args.probe_every:
                    probed = time.monotonic()
                    node.send_signal(signal.SIGUSR1)
                await anyio.sleep(SAMPLE_SECONDS)
            if args.probe:  # last probe, then how much a trim gives back
                node.send_signal(signal.SIGUSR1)
                await anyio.sleep(SAMPLE_SECONDS)
                node.send_signal(signal.SIGUSR2)
                await anyio.sleep(2)

        async with anyio.create_task_group() as tg:
            tg.start_soon(sample)
            tg.start_soon(visitors)
            tg.start_soon(rotate)
            for _ in range(args.clients):
                tg.start_soon(seat, tg)
    finally:
        node.terminate()
        with contextlib.suppress(subprocess.TimeoutExpired):
            node.wait(timeout=30)
        node.kill()
        shutil.rmtree(root, ignore_errors=True)
    warm = [s for s in samples if s["t"] >= args.seconds / 10]
    series = ("rss_mib", "fds", "threads", "connections", "documents_loaded")
    report: dict[str, Any] = {
        "seconds": args.seconds, "clients": args.clients, "samples": len(samples),
        "metrics_timeouts": sum(int(s.get("metrics_timeouts", 0)) for s in samples),
    }
    for name in series:
        values = [s.get(name, 0.0) for s in warm]
        if values:
            report[name] = {"after_warmup": values[0], "end": values[-1],
                            "min": min(values), "max": max(values)}
    if args.png:
        plot(samples, series, args.png)
    return report


def plot(samples: list[dict[str, float]], series: tuple[str, ...], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(len(series), 1, sharex=True, figsize=(8, 10))
    minutes = [s["t"] / 60 for s in samples]
    for axis, name in zip(axes, series, strict=True):
        axis.plot(minutes, [s.get(name, float("nan")) for s in samples])  # gap: no answer
        axis.set_ylabel(name.replace("_", " "))
        axis.set_ylim(bottom=0)
        axis.grid(alpha=0.3)
    axes[-1].set_xlabel("minutes")
    figure.suptitle("palabre soak: one node, W1-like load with churn")
    figure.tight_layout()
    figure.savefig(path, dpi=80)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=3600)
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument("--png", type=Path, default=REPO / "bench" / "soak.png")
    parser.add_argument("--json", type=Path, default=None)
    parser.add_argument("--principals", type=int, default=0,
                        help="sessions reuse this many subjects (0: a new subject per session)")
    parser.add_argument("--probe", type=Path, default=None,
                        help="run the node under bench/soak_node.py, its probes appended here")
    parser.add_argument("--probe-every", type=float, default=60.0)
    parser.add_argument("--rotate", type=float, default=0.0,
                        help="seconds after which new typists join a new document (0: never)")
    parser.add_argument("--tracemalloc", type=int, default=0,
                        help="with --probe: frames tracemalloc keeps (0: off)")
    args = parser.parse_args()
    report = anyio.run(run, args)
    print(json.dumps(report, indent=1))
    if args.json:
        args.json.write_text(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
