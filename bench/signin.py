"""What a sign-in cookie costs next to a bearer token, on a real server (SQLite).

Times ``GET /api/documents/bench`` with a bearer token, with the cookie while its session is
cached (a node reuses a session row for 1 s), and with the cookie read from the database
each time (requests spaced past the cache); then opening a ``/ws`` socket with each (until
the server's first sync message). Medians and 95th percentiles in milliseconds.

Run: ``.venv/bin/python bench/signin.py [requests]`` from the repository root.
"""

from __future__ import annotations

import asyncio
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))


def _summary(times: list[float]) -> str:
    ordered = sorted(times)
    p95 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.95))]
    return f"median {statistics.median(ordered) * 1000:6.2f} ms, p95 {p95 * 1000:6.2f} ms"


async def _timed(n: int, call: Callable[[], Awaitable[None]], *, gap: float = 0.0) -> list[float]:
    times = []
    for _ in range(n):
        if gap:
            await asyncio.sleep(gap)
        started = time.perf_counter()
        await call()
        times.append(time.perf_counter() - started)
    return times


async def measure(n: int) -> dict[str, list[float]]:
    """The timings, by what was timed."""
    import httpx
    import uvicorn
    from websockets.asyncio.client import connect as ws_connect

    from client.api import PalabreApi
    from server.access.auth import Role, mint_token
    from server.access.secret import load_or_create_secret
    from server.app.factory import create_app
    from server.limits import Limits
    from server.settings import Settings

    with tempfile.TemporaryDirectory() as folder:
        settings = Settings(host="127.0.0.1", port=0, data_dir=Path(folder),
                            http_rate_per_second=0,
                            limits=Limits(socket_opens_per_second=0))
        app = create_app(settings)
        server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0,
                                               log_level="warning"))
        task = asyncio.create_task(server.serve())
        while not server.started:  # noqa: ASYNC110 (uvicorn only exposes a flag)
            await asyncio.sleep(0.05)
        port = server.servers[0].sockets[0].getsockname()[1]
        url, ws_url = f"http://127.0.0.1:{port}", f"ws://127.0.0.1:{port}"
        token = mint_token(load_or_create_secret(Path(folder)), sub="bench", name="Bench",
                           role=Role.FACILITATOR, ttl=3600)
        async with PalabreApi(url, token) as api:
            await api.create_document("bench", "Banc d'essai", markdown="Texte.")
        results: dict[str, list[float]] = {}
        async with httpx.AsyncClient(base_url=url) as bearer, \
                httpx.AsyncClient(base_url=url) as browser:
            bearer.headers["Authorization"] = f"Bearer {token}"
            made = await browser.post("/auth/session",
                                      headers={"Authorization": f"Bearer {token}"})
            cookie = f"palabre_session={made.cookies['palabre_session']}"

            async def with_bearer() -> None:
                assert (await bearer.get("/api/documents/bench")).status_code == 200

            async def with_cookie() -> None:
                assert (await browser.get("/api/documents/bench")).status_code == 200

            results["HTTP, bearer token"] = await _timed(n, with_bearer)
            results["HTTP, cookie (cached session)"] = await _timed(n, with_cookie)
            results["HTTP, cookie (read from the database)"] = await _timed(
                max(10, n // 20), with_cookie, gap=1.05)

            async def socket_with(**options: object) -> Callable[[], Awaitable[None]]:
                async def open_one() -> None:
                    async with ws_connect(**options) as ws:  # type: ignore[arg-type]
                        await ws.recv()
                return open_one

            results["socket, token"] = await _timed(n // 5, await socket_with(
                uri=f"{ws_url}/ws/bench?token={token}"))
            results["socket, cookie"] = await _timed(n // 5, await socket_with(
                uri=f"{ws_url}/ws/bench",
                additional_headers={"Cookie": cookie, "Origin": url}))
        server.should_exit = True
        await task
    return results


def main() -> None:
    """Print the timings."""
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 500
    for what, times in asyncio.run(measure(n)).items():
        print(f"{what:42s} {len(times):4d} requests, {_summary(times)}")


if __name__ == "__main__":
    main()
