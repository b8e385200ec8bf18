"""Clusters of real server subprocesses sharing PostgreSQL and relaying over Redis."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import AsyncIterator, Iterator, Mapping
from contextlib import AsyncExitStack, asynccontextmanager, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from uuid import uuid4

import anyio
import httpx
from redis.asyncio import Redis
from redis.exceptions import RedisError

from server.access.secret import SECRET_FILE, load_or_create_secret
from tests.conftest import postgres_or_skip, require_service
from tests.e2e.serverprocess import ServerProcess, server_process

REDIS_URL = os.environ.get("PALABRE_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
HEARTBEAT_SECONDS = 0.2
NODE_TIMEOUT_SECONDS = 2.0


async def redis_or_skip(url: str = REDIS_URL) -> str:
    """The Redis URL once it answers PING; fail in CI, skip elsewhere, when it does not."""
    client = Redis.from_url(url, socket_connect_timeout=2)
    try:
        with anyio.fail_after(5):
            await client.ping()
    except (RedisError, OSError, TimeoutError) as exc:
        require_service("Redis", f"{url}: {exc}")
    finally:
        await client.aclose()
    return url


@dataclass(frozen=True, slots=True, kw_only=True)
class HeldLock:
    """A fresh document's cluster lock, under a key prefix of its own, and a Redis client
    with which a test holds that lock as another node would."""

    redis_url: str
    database_url: str
    prefix: str
    doc_id: str
    key: str
    redis: Redis


@asynccontextmanager
async def lock_to_hold(purpose: str, doc_prefix: str) -> AsyncIterator[HeldLock]:
    """The ``lock:<purpose>`` of a new ``<doc_prefix>-…`` document (skips without the services)."""
    redis_url, database_url = await redis_or_skip(), await postgres_or_skip()
    prefix = f"palabre-test-{uuid4().hex[:10]}:"
    doc_id = f"{doc_prefix}-{uuid4().hex[:8]}"
    redis = Redis.from_url(redis_url)
    try:
        yield HeldLock(redis_url=redis_url, database_url=database_url, prefix=prefix,
                       doc_id=doc_id, key=f"{prefix}lock:{purpose}:{doc_id}", redis=redis)
    finally:
        await redis.aclose()


def node_env(
    index: int, *, redis_url: str, prefix: str, database_url: str,
    extra: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """The ``PALABRE_*`` variables of node `index` of a test cluster."""
    return {
        "PALABRE_REDIS_URL": redis_url,
        "PALABRE_REDIS_PREFIX": prefix,
        "PALABRE_NODE_ID": f"node{index}",
        "PALABRE_DATABASE_URL": database_url,
        "PALABRE_CLUSTER_HEARTBEAT_SECONDS": str(HEARTBEAT_SECONDS),
        "PALABRE_CLUSTER_NODE_TIMEOUT_SECONDS": str(NODE_TIMEOUT_SECONDS),
        **(extra or {}),
    }


def node_dirs(root: Path, count: int) -> list[Path]:
    """One data folder per node, all holding the same signing secret (tokens work anywhere)."""
    dirs = [root / f"node{i}" for i in range(count)]
    load_or_create_secret(dirs[0])
    for data_dir in dirs[1:]:
        data_dir.mkdir(parents=True, exist_ok=True)
        if not (data_dir / SECRET_FILE).exists():
            shutil.copy2(dirs[0] / SECRET_FILE, data_dir / SECRET_FILE)
    return dirs


@asynccontextmanager
async def start_cluster(
    root: Path, count: int, *, redis_url: str, database_url: str,
    simultaneous: bool = False, extra_env: Mapping[str, str] | None = None,
    prefix: str | None = None,
) -> AsyncIterator[list[ServerProcess]]:
    """Start `count` nodes (at once with `simultaneous`); yield once each has joined Redis.

    `prefix` (Redis channels and keys) defaults to a fresh one: clusters never meet.
    """
    prefix = prefix or f"palabre-test-{uuid4().hex[:10]}:"
    dirs = node_dirs(root, count)
    envs = [
        node_env(i, redis_url=redis_url, prefix=prefix, database_url=database_url,
                 extra=extra_env)
        for i in range(count)
    ]
    nodes: list[ServerProcess | None] = [None] * count
    async with AsyncExitStack() as stack:

        async def start(index: int) -> None:
            nodes[index] = await stack.enter_async_context(
                server_process(dirs[index], env=envs[index])
            )

        if simultaneous:
            async with anyio.create_task_group() as tg:
                for index in range(count):
                    tg.start_soon(start, index)
        else:
            for index in range(count):
                await start(index)
        started = [node for node in nodes if node is not None]
        for node in started:
            await wait_ready(node)
        yield started


async def readiness(node: ServerProcess) -> dict[str, Any]:
    """The node's ``/readyz`` body."""
    async with httpx.AsyncClient(timeout=5) as http:
        response = await http.get(f"{node.url}/readyz")
    body: dict[str, Any] = response.json()
    return body


async def wait_ready(node: ServerProcess, *, status: str = "ready", within: float = 20) -> None:
    """Wait until ``/readyz`` reports `status` (``ready`` means Redis joined too)."""
    with anyio.fail_after(within):
        while True:
            if (await readiness(node)).get("status") == status:
                return
            await anyio.sleep(0.05)  # polling an HTTP probe: there is nothing to wait on


async def metric(node: ServerProcess, name: str, labels: str = "") -> float:
    """The value of one sample of the node's ``/metrics`` (0 when absent)."""
    async with httpx.AsyncClient(timeout=5) as http:
        text = (await http.get(f"{node.url}/metrics")).text
    wanted = f"{name}{{{labels}}}" if labels else name
    for line in text.splitlines():
        if line.startswith(wanted + " "):
            return float(line.split()[-1])
    return 0.0


async def wait_for_metric(
    node: ServerProcess, name: str, labels: str = "", *, at_least: float, within: float = 10
) -> None:
    """Poll the node's ``/metrics`` until the sample reaches `at_least` (no push exists)."""
    with anyio.fail_after(within):
        while await metric(node, name, labels) < at_least:  # noqa: ASYNC110
            await anyio.sleep(0.05)  # polling /metrics under a deadline: nothing to wait on


class PrivateRedis:
    """A redis-server of our own, without persistence, to kill and restart.

    It listens on a Unix socket in `data_dir`, not on a TCP port: the address is ours alone
    across restarts, where a port picked free beforehand could be taken by another process.
    """

    def __init__(self, data_dir: Path) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            require_service("redis-server", "binary not found on PATH")
        data_dir.mkdir(parents=True, exist_ok=True)
        path = data_dir / "redis.sock"
        self.url = f"unix://{path}?db=0"
        self._command = [
            binary, "--port", "0", "--unixsocket", str(path), "--unixsocketperm", "700",
            "--save", "", "--appendonly", "no", "--dir", str(data_dir),
        ]
        self._process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        """Start the server (it listens a moment later: callers wait for PING)."""
        self._process = subprocess.Popen(
            self._command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )

    def kill(self) -> None:
        """SIGKILL the server (idempotent) and reap it."""
        process, self._process = self._process, None
        if process is not None:
            process.kill()
            process.wait(timeout=10)


@contextmanager
def private_redis(data_dir: Path) -> Iterator[PrivateRedis]:
    """A started `PrivateRedis`, killed on exit."""
    server = PrivateRedis(data_dir)
    server.start()
    try:
        yield server
    finally:
        server.kill()
