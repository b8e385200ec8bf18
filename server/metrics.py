"""Prometheus metrics, on a registry owned by one app (never the library's global one)."""

from __future__ import annotations

from dataclasses import dataclass, field

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

CONTENT_TYPE = CONTENT_TYPE_LATEST


@dataclass(slots=True)
class Metrics:
    """Every metric the server exports, registered on its own registry."""

    registry: CollectorRegistry = field(default_factory=CollectorRegistry)
    connections: Gauge = field(init=False)
    documents_loaded: Gauge = field(init=False)
    updates_in: Counter = field(init=False)
    updates_out: Counter = field(init=False)
    bytes_in: Counter = field(init=False)
    bytes_out: Counter = field(init=False)
    awareness_in: Counter = field(init=False)
    commit_seconds: Histogram = field(init=False)
    commit_batch_size: Histogram = field(init=False)
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
        self.updates_in = Counter(
            "palabre_updates_in", "Yjs updates received from clients", registry=reg
        )
        self.updates_out = Counter(
            "palabre_updates_out",
            "Update messages delivered to clients (one per recipient)",
            registry=reg,
        )
        self.bytes_in = Counter("palabre_bytes_in", "Bytes received on sockets", registry=reg)
        self.bytes_out = Counter("palabre_bytes_out", "Bytes queued to sockets", registry=reg)
        self.awareness_in = Counter(
            "palabre_awareness_in", "Awareness messages received", registry=reg
        )
        self.commit_seconds = Histogram(
            "palabre_commit_seconds",
            "Time to commit a batch of updates to storage",
            buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5),
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

    def render(self) -> bytes:
        """The registry in Prometheus text format."""
        return generate_latest(self.registry)
