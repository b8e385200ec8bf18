"""``/healthz``, ``/readyz`` and ``/metrics``: what load balancers and Prometheus read."""

from __future__ import annotations

from typing import Protocol

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from server.http.context import ApiContext
from server.metrics import CONTENT_TYPE, Metrics
from storage.base import StorageUnavailable


class ClusterHealth(Protocol):
    """What ``/readyz`` reads of the cluster relay (`server.integrations.cluster`)."""

    @property
    def is_connected(self) -> bool:
        """Whether this node hears and reaches the others now."""
        ...

    @property
    def down_reason(self) -> str | None:
        """Why not, when not."""
        ...

    def status(self) -> dict[str, object]:
        """The cluster's part of the answer."""
        ...


def probe_routes(
    context: ApiContext, metrics: Metrics, cluster: ClusterHealth | None
) -> list[Route]:
    """The health, readiness and metrics routes."""

    async def healthz(request: Request) -> Response:
        return JSONResponse({"status": "ok"})

    async def readyz(request: Request) -> Response:
        try:
            await context.store.check()
        except StorageUnavailable as exc:
            return JSONResponse(
                {"error": "storage_unavailable", "detail": str(exc)}, status_code=503
            )
        shortage = context.disk.shortage() if context.disk is not None else None
        if shortage is not None:
            return JSONResponse({"error": "disk_full", "detail": shortage}, status_code=503)
        body: dict[str, object] = {
            "status": "ready", "documents_loaded": context.hub.loaded_documents,
        }
        if cluster is not None:
            # Still serving its own clients: degraded, not unready (see docs/deployment.md).
            body["cluster"] = cluster.status()
            if not cluster.is_connected:
                body["status"] = "degraded"
                body["reason"] = f"redis unavailable: {cluster.down_reason}"
        return JSONResponse(body)

    async def metrics_endpoint(request: Request) -> Response:
        return Response(metrics.render(), media_type=CONTENT_TYPE)

    return [
        Route("/healthz", healthz),
        Route("/readyz", readyz),
        Route("/metrics", metrics_endpoint),
    ]
