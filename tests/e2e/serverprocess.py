"""Run ``palabre serve`` as a real subprocess (for SIGKILL and restart tests)."""

from __future__ import annotations

import os
import signal
import sys
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

import anyio
from anyio.abc import Process

READY_PREFIX = "palabre serving on "
CLEAN_EXIT = (0, -signal.SIGTERM)
"""Exit statuses of a graceful shutdown: uvicorn re-raises SIGTERM once it has finished."""


@dataclass(slots=True)
class ServerProcess:
    """A server subprocess with its URL."""

    process: Process
    url: str
    data_dir: Path
    output: str = ""
    """What the server printed on stdout up to and including its URL line's chunk."""

    @property
    def ws_url(self) -> str:
        """The server's base URL for sockets (``ws://host:port``)."""
        return "ws" + self.url.removeprefix("http")

    def token(self, role: str = "member", name: str = "Zoé Lefèvre", **claims: Any) -> str:
        """A token signed with this server's secret (`claims` as `token_for` takes them)."""
        from tests.conftest import token_for

        return token_for(self.data_dir, role, name, **claims)

    def kill(self) -> None:
        """SIGKILL: no shutdown code runs."""
        self.process.send_signal(signal.SIGKILL)

    async def stop(self) -> int:
        """SIGTERM, then wait for a clean exit; return the exit status."""
        self.process.send_signal(signal.SIGTERM)
        with anyio.fail_after(30):
            return await self.process.wait()


def _open_log(data_dir: Path) -> BinaryIO:
    data_dir.mkdir(parents=True, exist_ok=True)
    return (data_dir / "server.log").open("ab")


@asynccontextmanager
async def server_process(
    data_dir: Path, *options: str, env: Mapping[str, str] | None = None
) -> AsyncIterator[ServerProcess]:
    """Start ``palabre serve`` on an ephemeral port; yield once it prints its URL.

    `env` adds variables (``PALABRE_*``) to the inherited environment.
    """
    log = _open_log(data_dir)
    command = [
        sys.executable, "-m", "server", "serve", "--port", "0", "--data-dir", str(data_dir),
        *options,
    ]
    process = await anyio.open_process(
        command, stderr=log, env={
            **os.environ, "PYTHONUNBUFFERED": "1",
            # Tests open sockets on ids they never created (see tests/conftest.py).
            "PALABRE_CREATE_ON_CONNECT": "members", **(env or {}),
        }
    )
    try:
        assert process.stdout is not None
        buffer = b""
        with anyio.fail_after(30):
            while READY_PREFIX.encode() not in buffer:
                chunk = await process.stdout.receive()
                buffer += chunk
        line = buffer.decode().split(READY_PREFIX, 1)[1].splitlines()[0].strip()
        yield ServerProcess(process, line, data_dir, buffer.decode())
    finally:
        if process.returncode is None:
            process.kill()
        with anyio.CancelScope(shield=True), anyio.fail_after(30):
            await process.wait()
        await process.aclose()
        log.close()
