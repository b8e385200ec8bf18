#!/usr/bin/env python3
"""Chaos run: three nodes, PostgreSQL and Redis, 50 typists, faults injected at random.

    .venv/bin/python bench/chaos.py [--seconds 180] [--clients 50] [--documents 5] [--json OUT]

Everything runs on this machine, on loopback: three ``palabre serve`` processes sharing a
PostgreSQL database made for the run (next to ``--database-url``'s, dropped at the end) and
a redis-server of the run's own (Unix socket, no persistence). Clients are the Python
client, each given the three node URLs (it tries the next on every reconnection); each
types numbered pieces at the end of one of the documents, every 100-300 ms.

The driver injects one fault at a time, every 3-8 s, chosen at random among:
``kill`` (SIGKILL a node, restart it 1-3 s later), ``stop`` (SIGSTOP a node past the cluster
node timeout, then SIGCONT), ``redis`` (SIGKILL redis, restart it 1-2 s later) and
``postgres`` (the run's database refuses connections and the nodes' are cut,
``pg_terminate_backend`` by application name, for 1-3 s: what a restart looks like; the
machine's PostgreSQL is shared and is never restarted itself).

Counted: a piece is *acknowledged* once another client has it (nodes relay only what they
committed). At the end the faults stop, every client's pending edits are given time to
reach storage, a fresh reader reads each document, and the report says: faults injected,
pieces typed and acknowledged, acknowledged pieces lost (target 0), typed pieces missing,
convergence (every client's text equal to the reader's), longest interruption per client.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import random
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

import anyio  # noqa: E402
import asyncpg  # noqa: E402
import httpx  # noqa: E402
from pycrdt import Text  # noqa: E402

from client.errors import SessionClosed  # noqa: E402
from client.session import Session, connect  # noqa: E402
from server.access.auth import Role, mint_token  # noqa: E402
from server.access.secret import SECRET_FILE, load_or_create_secret  # noqa: E402

PIECE = re.compile(r"\[c(\d+)-(\d+)\]")
NODE_TIMEOUT = 2.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class Node:
    """One palabre node process, restartable at the same address."""

    index: int
    port: int
    data_dir: Path
    env: dict[str, str]
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        log = (self.data_dir / "server.log").open("ab")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "server", "serve", "--port", str(self.port),
             "--data-dir", str(self.data_dir)],
            cwd=REPO, env={**os.environ, **self.env}, stdout=subprocess.DEVNULL, stderr=log,
        )

    def signal(self, sig: int) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(sig)

    def kill(self) -> None:
        if self.process is not None:
            self.process.kill()
            self.process.wait(timeout=10)
            self.process = None


async def ready(node: Node, within: float = 30) -> None:
    with anyio.fail_after(within):
        async with httpx.AsyncClient(timeout=2) as http:
            while True:
                with contextlib.suppress(httpx.HTTPError):
                    if (await http.get(f"{node.url}/readyz")).status_code == 200:
                        return
                await anyio.sleep(0.1)


@dataclass
class Typist:
    """One client typing numbered pieces into one document."""

    number: int
    doc_id: str
    session: Session | None = None
    typed: int = 0
    down_since: float | None = None
    interruptions: list[float] = field(default_factory=list)


def pieces(text: str) -> set[tuple[int, int]]:
    return {(int(c), int(n)) for c, n in PIECE.findall(text)}


async def run(args: argparse.Namespace) -> dict[str, Any]:
    rng = random.Random(args.seed)
    root = Path(tempfile.mkdtemp(prefix="palabre-chaos-"))
    base = args.database_url.replace("postgresql+asyncpg://", "postgresql://")
    database = f"palabre_chaos_{uuid.uuid4().hex[:8]}"
    app_name = f"palabre-chaos-{uuid.uuid4().hex[:6]}"
    admin = await asyncpg.connect(base)
    await admin.execute(f'CREATE DATABASE "{database}"')
    db_url = base.rsplit("/", 1)[0] + f"/{database}?application_name={app_name}"
    redis_dir = root / "redis"
    redis_dir.mkdir()
    redis_cmd = [shutil.which("redis-server") or "redis-server", "--port", "0",
                 "--unixsocket", str(redis_dir / "redis.sock"), "--unixsocketperm", "700",
                 "--save", "", "--appendonly", "no", "--dir", str(redis_dir)]
    def start_redis() -> subprocess.Popen[bytes]:
        return subprocess.Popen(redis_cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    redis = [start_redis()]
    secret = load_or_create_secret(root / "node0")
    nodes = []
    for i in range(3):
        data_dir = root / f"node{i}"
        data_dir.mkdir(exist_ok=True, mode=0o700)
        if i:
            shutil.copy2(root / "node0" / SECRET_FILE, data_dir / SECRET_FILE)
        nodes.append(Node(i, free_port(), data_dir, {
            "PALABRE_DATABASE_URL": db_url,
            "PALABRE_REDIS_URL": f"unix://{redis_dir / 'redis.sock'}?db=0",
            "PALABRE_NODE_ID": f"chaos{i}", "PALABRE_CLUSTER_HEARTBEAT_SECONDS": "0.5",
            "PALABRE_CLUSTER_NODE_TIMEOUT_SECONDS": str(NODE_TIMEOUT),
            "PALABRE_CREATE_ON_CONNECT": "members", "PALABRE_SOCKET_UPDATE_RATE_PER_SECOND": "0",
            "PALABRE_HTTP_RATE_PER_SECOND": "0", "PALABRE_SHUTDOWN_TIMEOUT_SECONDS": "2",
        }))
    faults: dict[str, int] = {"kill": 0, "stop": 0, "redis": 0, "postgres": 0}
    acknowledged: dict[str, set[tuple[int, int]]] = {}
    typists = [Typist(i, f"chaos-{i % args.documents}") for i in range(args.clients)]
    urls = [node.url for node in nodes]
    try:
        for node in nodes:
            node.start()
        for node in nodes:
            await ready(node)
        stop_typing = anyio.Event()
        stop_faults = anyio.Event()
        finished = anyio.Event()

        async def type_into(typist: Typist) -> None:
            token = mint_token(secret, sub=f"typist-{typist.number}",
                               name=f"Typist {typist.number}", role=Role.MEMBER, ttl=3600)
            # Each client starts on its own node; reconnections go round the three.
            order = urls[typist.number % 3:] + urls[: typist.number % 3]
            async with connect(order, typist.doc_id, token) as session:
                typist.session = session
                text = session.doc.get("body", type=Text)
                while not stop_typing.is_set():
                    text += f"[c{typist.number}-{typist.typed}]"
                    typist.typed += 1
                    await anyio.sleep(rng.uniform(0.1, 0.3))  # typing cadence
                # Give the pending edits time to reach a node and be committed.
                with anyio.move_on_after(args.settle):
                    await session.wait_for(lambda: session.is_synced
                                           and not session.has_unsent_updates)
                await finished.wait()

        async def watch() -> None:
            """Every 0.5 s: what each client has seen of others; who is cut off."""
            while True:
                now = time.monotonic()
                for typist in typists:
                    session = typist.session
                    if session is None:
                        continue
                    seen = {p for p in pieces(str(session.doc.get("body", type=Text)))
                            if p[0] != typist.number}
                    acknowledged.setdefault(typist.doc_id, set()).update(seen)
                    up = session.is_connected and session.is_synced
                    if not up and typist.down_since is None:
                        typist.down_since = now
                    elif up and typist.down_since is not None:
                        typist.interruptions.append(now - typist.down_since)
                        typist.down_since = None
                await anyio.sleep(0.5)

        async def inject() -> None:
            async with asyncpg.create_pool(base, min_size=1, max_size=1) as pool:
                while not stop_faults.is_set():
                    await anyio.sleep(rng.uniform(3, 8))
                    if stop_faults.is_set():
                        return
                    kind = rng.choice(list(faults))
                    faults[kind] += 1
                    print(f"{time.strftime('%H:%M:%S')} fault {kind}", file=sys.stderr)
                    if kind == "kill":
                        node = rng.choice(nodes)
                        node.kill()
                        await anyio.sleep(rng.uniform(1, 3))
                        node.start()
                        await ready(node, within=90)
                    elif kind == "stop":
                        node = rng.choice(nodes)
                        node.signal(signal.SIGSTOP)
                        await anyio.sleep(NODE_TIMEOUT + 1)
                        node.signal(signal.SIGCONT)
                    elif kind == "redis":
                        redis[0].kill()
                        redis[0].wait()
                        await anyio.sleep(rng.uniform(1, 2))
                        redis[0] = start_redis()
                    else:
                        await pool.execute(f'ALTER DATABASE "{database}" ALLOW_CONNECTIONS false')
                        await pool.execute(
                            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                            "WHERE datname = $1 AND application_name = $2", database, app_name)
                        await anyio.sleep(rng.uniform(1, 3))
                        await pool.execute(f'ALTER DATABASE "{database}" ALLOW_CONNECTIONS true')

        started = time.monotonic()
        async with anyio.create_task_group() as tg:
            tg.start_soon(watch)
            async with anyio.create_task_group() as typing:
                for typist in typists:
                    typing.start_soon(type_into, typist)
                typing.start_soon(inject)
                await anyio.sleep(args.seconds)
                stop_typing.set()
                # Let the last fault end, then the clients settle with every node up.
                stop_faults.set()
                for node in nodes:
                    if node.process is None:
                        node.start()
                    node.signal(signal.SIGCONT)
                for node in nodes:
                    await ready(node, within=60)
                await anyio.sleep(args.settle)
                for typist in typists:
                    session = typist.session
                    if session is not None and session.is_connected:
                        with contextlib.suppress(Exception):
                            await session.wait_for(lambda s=session: not s.has_unsent_updates,
                                                   timeout=args.settle)
                finals = {}
                reader_token = mint_token(secret, sub="reader", name="Reader", role=Role.MEMBER,
                                          ttl=600)
                for doc_id in sorted({t.doc_id for t in typists}):
                    async with connect(urls, doc_id, reader_token) as reader:
                        await reader.synced()
                        finals[doc_id] = str(reader.doc.get("body", type=Text))
                converged = 0
                for typist in typists:
                    session = typist.session
                    if session is None:
                        continue
                    goal = finals[typist.doc_id]
                    with contextlib.suppress(TimeoutError, SessionClosed):
                        await session.wait_for(
                            lambda s=session, g=goal: str(s.doc.get("body", type=Text)) == g,
                            timeout=args.settle)
                        converged += 1
                finished.set()
            tg.cancel_scope.cancel()
        elapsed = time.monotonic() - started
        typed = {(t.number, n) for t in typists for n in range(t.typed)}
        stored = set().union(*(pieces(text) for text in finals.values()))
        acked = set().union(*acknowledged.values())
        longest = [max(t.interruptions, default=0.0) for t in typists]
        return {
            "seconds": round(elapsed, 1), "nodes": 3, "clients": args.clients,
            "documents": args.documents, "faults": faults,
            "pieces_typed": len(typed), "pieces_acknowledged": len(acked),
            "acknowledged_lost": len(acked - stored), "typed_missing": len(typed - stored),
            "clients_converged": f"{converged}/{len(typists)}",
            "longest_interruption_s": {"max": round(max(longest), 2),
                                       "median": round(sorted(longest)[len(longest) // 2], 2)},
        }
    finally:
        for node in nodes:
            node.signal(signal.SIGCONT)
            node.kill()
        redis[0].kill()
        with contextlib.suppress(Exception):
            await admin.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
        await admin.close()
        if args.keep:
            print(f"node logs kept in {root}", file=sys.stderr)
        else:
            shutil.rmtree(root, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=180)
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--documents", type=int, default=5)
    parser.add_argument("--settle", type=float, default=15, help="seconds to let edits land")
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument("--database-url", default=os.environ.get(
        "PALABRE_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test"))
    parser.add_argument("--json", type=Path, default=None)
    parser.add_argument("--keep", action="store_true", help="keep the nodes' data and logs")
    args = parser.parse_args()
    report = anyio.run(run, args)
    print(json.dumps(report, indent=1))
    if args.json:
        args.json.write_text(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
