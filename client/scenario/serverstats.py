"""The server's own figures, read from its Prometheus ``/metrics``: CPU, memory, updates."""

from __future__ import annotations

from dataclasses import dataclass

import httpx

_WANTED = {
    "process_cpu_seconds_total": "cpu_seconds",
    "process_resident_memory_bytes": "rss_bytes",
    "palabre_updates_in_total": "updates_in",
    "palabre_updates_out_total": "updates_out",
}


@dataclass(frozen=True, slots=True, kw_only=True)
class ServerSample:
    """One reading of the server's counters; None where the server does not export it."""

    cpu_seconds: float | None = None
    rss_bytes: float | None = None
    updates_in: float | None = None
    updates_out: float | None = None


async def sample(base_url: str) -> ServerSample:
    """Read ``/metrics`` once; an unreachable or silent server gives an empty sample."""
    try:
        async with httpx.AsyncClient(timeout=10) as http:
            response = await http.get(base_url.rstrip("/") + "/metrics")
    except httpx.HTTPError:
        return ServerSample()
    if not response.is_success:
        return ServerSample()
    values: dict[str, float] = {}
    for line in response.text.splitlines():
        name, _, value = line.partition(" ")
        if name in _WANTED:
            try:
                values[_WANTED[name]] = float(value)
            except ValueError:
                continue
    return ServerSample(**values)
