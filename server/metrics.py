"""Prometheus metrics, on a registry owned by one app (never the library's global one)."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

import anyio
from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    ProcessCollector,
    generate_latest,
)
from prometheus_client.core import CounterMetricFamily, Metric
from prometheus_client.exposition import CONTENT_TYPE_LATEST

CONTENT_TYPE = CONTENT_TYPE_LATEST
LOOP_PROBE_SECONDS = 0.25
"""How often the event loop's lag is sampled (`Metrics.watching_event_loop`)."""


_HOT_HELP = {
    "updates_in": "Yjs updates received from clients",
    "updates_out": "Update messages delivered to clients (one per recipient)",
    "bytes_in": "Bytes received on sockets",
    "bytes_out": "Bytes sent on sockets",
    "awareness_in": "Awareness messages received",
}


class HotCounters:
    """Counters bumped for every message: plain integers, read only when scraped.

    A prometheus ``Counter.inc`` takes a lock; at every keystroke of every client that
    showed in profiles, so the hot path adds to attributes and a collector exports them.
    """

    __slots__ = ("awareness_in", "bytes_in", "bytes_out", "updates_in", "updates_out")

    def __init__(self) -> None:
        self.updates_in = 0
        self.updates_out = 0
        self.bytes_in = 0
        self.bytes_out = 0
        self.awareness_in = 0

    def collect(self) -> Iterator[Metric]:
        """Export every counter (the prometheus_client collector protocol)."""
        for name, help_text in _HOT_HELP.items():
            yield CounterMetricFamily(f"palabre_{name}", help_text, value=getattr(self, name))


@dataclass(slots=True)
class Metrics:
    """Every metric the server exports, registered on its own registry."""

    registry: CollectorRegistry = field(default_factory=CollectorRegistry)
    hot: HotCounters = field(default_factory=HotCounters)
    connections: Gauge = field(init=False)
    documents_loaded: Gauge = field(init=False)
    commit_seconds: Histogram = field(init=False)
    commit_batch_size: Histogram = field(init=False)
    projection_seconds: Histogram = field(init=False)
    event_loop_lag: Histogram = field(init=False)
    errors: Counter = field(init=False)
    evictions: Counter = field(init=False)

    def __post_init__(self) -> None:
        reg = self.registry
        self.connections = Gauge(
            "palabre_connections", "Open WebSocket connections", registry=reg
        )
        self.documents_loaded = Gauge(
            "palabre_documents_loaded", "Documents held in memory", registry=reg
        )
        reg.register(self.hot)
        # process_cpu_seconds_total, process_resident_memory_bytes, ... (Linux /proc).
        ProcessCollector(registry=reg)
        self.commit_seconds = Histogram(
            "palabre_commit_seconds",
            "Time to commit a batch of updates to storage",
            buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5),
            registry=reg,
        )
        self.projection_seconds = Histogram(
            "palabre_projection_seconds",
            "Time to show an annotations update to readers who may not see names",
            buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5),
            registry=reg,
        )
        self.event_loop_lag = Histogram(
            "palabre_event_loop_lag_seconds",
            "How late the event loop woke a task sleeping 0.25 s (everything on the node "
            "waits as long: a long callback, a slow client's excess, an overloaded node)",
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
            registry=reg,
        )
        self.commit_batch_size = Histogram(
            "palabre_commit_batch_updates",
            "Updates per committed batch of one room",
            buckets=(1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024),
            registry=reg,
        )
        self.errors = Counter(
            "palabre_errors", "Errors by kind", labelnames=("kind",), registry=reg
        )
        self.evictions = Counter(
            "palabre_evictions", "Documents evicted from memory", registry=reg
        )

    def watch_storage(
        self, writes_failing: Callable[[], bool], disk_free_bytes: Callable[[], float]
    ) -> None:
        """Export the store's write health and the data folder's free space, read when scraped."""
        Gauge(
            "palabre_storage_writes_failing",
            "1 while appends fail (clients told 1013 and resending), else 0",
            registry=self.registry,
        ).set_function(lambda: float(writes_failing()))
        Gauge(
            "palabre_disk_free_bytes",
            "Free bytes on the filesystem of the data folder (SQLite database, files)",
            registry=self.registry,
        ).set_function(disk_free_bytes)

    def render(self) -> bytes:
        """The registry in Prometheus text format."""
        return generate_latest(self.registry)

    @asynccontextmanager
    async def watching_event_loop(self) -> AsyncIterator[None]:
        """Sample the event loop's lag (`event_loop_lag`) every `LOOP_PROBE_SECONDS`
        while inside."""
        async with anyio.create_task_group() as tg:
            tg.start_soon(self._probe_event_loop)
            try:
                yield
            finally:
                tg.cancel_scope.cancel()

    async def _probe_event_loop(self) -> None:
        while True:
            asleep = time.monotonic()
            await anyio.sleep(LOOP_PROBE_SECONDS)
            self.event_loop_lag.observe(max(0.0, time.monotonic() - asleep - LOOP_PROBE_SECONDS))
