"""The metrics of a node's cluster relay (`server/cluster.py`), on the app's registry."""

from __future__ import annotations

from prometheus_client import Counter, Gauge

from server.metrics import Metrics


class ClusterMetrics:
    """The cluster's metrics, registered on the app's registry."""

    def __init__(self, metrics: Metrics) -> None:
        reg = metrics.registry
        self.redis_up = Gauge("palabre_cluster_redis_up", "1 while Redis is reachable",
                              registry=reg)
        self.published = Counter("palabre_cluster_published", "Frames published, by kind",
                                 labelnames=("kind",), registry=reg)
        self.received = Counter("palabre_cluster_received",
                                "Frames received from other nodes, by kind",
                                labelnames=("kind",), registry=reg)
        self.lost = Counter("palabre_cluster_publish_lost",
                            "Frames not published (Redis down or outbox full)", registry=reg)
        self.catch_ups = Counter("palabre_cluster_catch_ups",
                                 "Catch-ups from storage, by outcome",
                                 labelnames=("outcome",), registry=reg)
        self.reconnects = Counter("palabre_cluster_redis_reconnects",
                                  "Times the Redis subscription was (re)established",
                                  registry=reg)
        self.documents = Gauge(
            "palabre_cluster_documents",
            "Documents whose channel Redis confirmed this node follows",
            registry=reg,
        )
        self.nodes = Gauge("palabre_cluster_peer_nodes", "Other nodes heard from recently",
                           registry=reg)
        self.expired = Counter("palabre_cluster_nodes_expired",
                               "Nodes taken for dead after their heartbeats stopped",
                               registry=reg)
        self.compactions = Counter("palabre_cluster_compactions",
                                   "Compaction attempts under the cluster lock, by outcome",
                                   labelnames=("outcome",), registry=reg)
