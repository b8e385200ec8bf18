"""The Starlette application: routes, the WebSocket hub and a lifespan that owns storage."""

from __future__ import annotations

import logging
import uuid
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from typing import Any

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.routing import BaseRoute
from starlette.types import ExceptionHandler, Lifespan, Receive, Scope, Send

from server.access.auth import Principal
from server.access.gate import Access
from server.access.outbound import OutboundPolicy
from server.access.ratelimit import RateLimiter, RateLimitMiddleware
from server.access.seal import SecretSeal, thread_sealer
from server.access.secret import load_or_create_secret
from server.access.webhook_secrets import SealedWebhooks
from server.app.session_signals import session_signals
from server.disk import DiskReserve
from server.http.context import ApiContext
from server.http.embed import MapTiles
from server.http.errors import EXCEPTION_HANDLERS
from server.http.oidc import provider_from
from server.http.routes import routes
from server.integrations.webhooks import WebhookDispatcher
from server.metrics import Metrics
from server.modules.agenda import AgendaImporter
from server.modules.amendments import Amendments
from server.modules.attendance import Attendance
from server.modules.audit import DenialAudit
from server.modules.data_documents import DataDocuments, guard_loader
from server.modules.files import FileStore
from server.modules.governance import Governance
from server.modules.invitations import InvitationService
from server.modules.names import PublicDirectory
from server.modules.people import PeopleService
from server.modules.publishing import Publisher
from server.modules.sessions import SessionsService
from server.modules.votes import VotesService
from server.rooms.hooks import RoomHooks
from server.rooms.hub import Hub
from server.rooms.known_documents import KnownDocuments
from server.settings import Settings
from server.sync.admission import Admission
from server.sync.endpoint import SocketServices, SyncEndpoint
from server.sync.handshake import HandshakeGate
from server.sync.hocuspocus import HocuspocusEndpoint
from server.sync.quota import SocketQuota
from server.sync.stateless import StatelessHook, load_hook
from storage.catalog import DocumentMeta
from storage.port import Storage

log = logging.getLogger("palabre.app")

_SYNC_PREFIX = "/ws/"
_HOCUSPOCUS_PATH = "/hocuspocus"


class PalabreApp(Starlette):
    """Starlette, with ``/ws/{doc_id}`` and ``/hocuspocus`` sockets handed to their endpoints.

    A socket lives as long as its client: skipping the middleware stack and the router
    keeps their frames out of every one of the thousands of open connections.
    """

    def __init__(
        self, *, sync_endpoint: SyncEndpoint, hocuspocus_endpoint: HocuspocusEndpoint,
        handshake_gate: HandshakeGate,
        routes: Sequence[BaseRoute], exception_handlers: Mapping[Any, ExceptionHandler],
        middleware: Sequence[Middleware], lifespan: Lifespan[Starlette],
    ) -> None:
        super().__init__(routes=routes, exception_handlers=exception_handlers,
                         middleware=middleware, lifespan=lifespan)
        self.sync_endpoint = sync_endpoint
        self.hocuspocus_endpoint = hocuspocus_endpoint
        self.handshake_gate = handshake_gate
        """Refuses ``/ws`` handshakes opened too fast before the upgrade (the runner puts
        it in uvicorn's HTTP protocol: `server.sync.handshake`)."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Dispatch one ASGI connection."""
        if scope["type"] == "websocket":
            path = scope["path"][len(scope.get("root_path", "")) :]
            if path.startswith(_SYNC_PREFIX):
                scope["path_params"] = {"doc_id": path[len(_SYNC_PREFIX) :]}
                await self.sync_endpoint(scope, receive, send)
                return
            if path.rstrip("/") == _HOCUSPOCUS_PATH:
                await self.hocuspocus_endpoint(scope, receive, send)
                return
        await super().__call__(scope, receive, send)


def create_app(
    settings: Settings,
    *,
    store: Storage | None = None,
    max_body_bytes: int | None = None,
    on_stateless: StatelessHook | None = None,
) -> PalabreApp:
    """Build the ASGI app; `store` defaults to SQL storage at the configured URL.

    API request bodies over `max_body_bytes` (default: ``settings.api_max_body_bytes``)
    are refused with 413. `on_stateless` receives Hocuspocus stateless messages
    (`server.sync.stateless`), except the raised hands of sessions
    (`server.app.session_signals`); it defaults to the hook named by
    ``settings.stateless_hook``.

    Raises:
        ValueError: ``settings.stateless_hook`` names no callable, or the sign-in provider
            settings are incomplete (`server.http.oidc.provider_from`).
    """
    if on_stateless is None and settings.stateless_hook:
        on_stateless = load_hook(settings.stateless_hook)
    if store is None:
        from storage.sql import SqlDocumentStore

        store = SqlDocumentStore(
            settings.resolved_database_url,
            commit_window=settings.commit_window_seconds,
            close_timeout=settings.shutdown_timeout_seconds,
            busy_timeout=settings.sqlite_busy_timeout_seconds,
        )
    metrics = Metrics()
    disk = DiskReserve(settings.data_dir, settings.min_free_disk_bytes)
    metrics.watch_storage(lambda: store.write_error is not None, disk.free)
    access = Access(settings, people=store, signin=store)
    cluster = None
    if settings.redis_url:
        from server.integrations.cluster import RedisCluster

        cluster = RedisCluster(settings, store, metrics, roster=access.roster)
    secret = load_or_create_secret(settings.data_dir)
    webhooks = SealedWebhooks(store, secret, OutboundPolicy.parse(settings.outbound_allow))
    dispatcher = WebhookDispatcher(
        settings, webhooks, metrics, claim_change=cluster.claim_change if cluster else None
    )
    denials = DenialAudit(store, metrics, interval=settings.audit_denial_interval_seconds)
    seal = SecretSeal(secret)
    attendance = Attendance(
        store, metrics, node_id=cluster.node_id if cluster else uuid.uuid4().hex[:16],
        heartbeat=settings.session_heartbeat_seconds,
    )
    known = KnownDocuments(store)
    hub = Hub(settings, store, metrics, fanout=cluster, documents=known, hooks=RoomHooks(
        load_guard=guard_loader(known, settings.limits), migrate=thread_sealer(seal),
        after_commit=(dispatcher.on_commit,),
        on_denied=(denials.socket_denied,),
        on_join=(attendance.joined,), on_leave=(attendance.left,),
        public_names=PublicDirectory(store, access.roster.subject_digest),
    ))
    data = DataDocuments(hub, store)
    agenda = AgendaImporter(settings, hub, store)
    governance = Governance(store, hub, metrics, notify=dispatcher.notify)
    amendments = Amendments(hub, governance, dispatcher.notify, settings.limits)
    sessions = SessionsService(
        store, hub, governance, attendance, notify=dispatcher.notify,
        min_presence_seconds=settings.session_min_presence_seconds,
    )
    votes = VotesService(store, hub, governance, amendments, sessions,
                         notify=dispatcher.notify)
    people = PeopleService(store, hub, access.roster, governance.record,
                           sessions=access.sessions, catalog=store)
    provider = provider_from(settings)
    context = ApiContext(
        hub=hub, store=store, access=access, governance=governance, data=data,
        amendments=amendments, publisher=Publisher(settings.limits), sessions=sessions,
        votes=votes,
        notify=dispatcher.notify, seal=seal, webhooks=webhooks,
        max_body_bytes=max_body_bytes or settings.api_max_body_bytes,
        limits=settings.limits, token_leeway_seconds=settings.token_leeway_seconds,
        allowed_origins=settings.origins, has_signin_provider=provider is not None,
        disk=disk,
    )

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        access.announce()
        try:
            # Stopped in reverse: the hub's last commits still reach the dispatcher (and
            # the other nodes), whose last deliveries are still recorded in the store.
            async with (
                metrics.watching_event_loop(),
                store, dispatcher.running(), denials.running(), attendance.running(),
                cluster_running(),
                hub.running(), agenda.running(), access.roster.running(),
                signin_running(),
            ):
                await webhooks.seal_plain_secrets()
                yield
        finally:
            await access.aclose()

    @asynccontextmanager
    async def signin_running() -> AsyncIterator[None]:
        if access.sessions is None:
            yield
            return
        async with access.sessions.running():
            yield

    @asynccontextmanager
    async def cluster_running() -> AsyncIterator[None]:
        if cluster is None:
            yield
            return
        async with cluster.running(hub):
            yield

    async def created_by_socket(meta: DocumentMeta, principal: Principal) -> None:
        await governance.record(meta.doc_id, "document.created", principal, {
            "title": meta.title, "is_public": meta.is_public, "on_connect": True,
        })

    sockets = SocketServices(hub, settings, access, RateLimiter(
        settings.socket_update_rate_per_second, settings.socket_update_burst
    ), quota=SocketQuota(settings.limits), admission=Admission(
        catalog=store, known=known, create_on_connect=settings.create_on_connect,
        on_created=created_by_socket,
    ))
    app = PalabreApp(
        sync_endpoint=SyncEndpoint(sockets),
        handshake_gate=HandshakeGate(sockets),
        hocuspocus_endpoint=HocuspocusEndpoint(
            sockets, session_signals(sessions, store, on_stateless)),
        routes=routes(
            context, metrics=metrics, files=FileStore(settings.data_dir / "files"),
            agenda=agenda, max_file_bytes=settings.max_file_bytes, cluster=cluster,
            people=people, invitations=InvitationService(store, governance.record),
            provider=provider, secret=secret,
            map_tiles=MapTiles(
                url=settings.map_tiles_url, attribution=settings.map_attribution),
        ),
        exception_handlers=dict(EXCEPTION_HANDLERS),
        middleware=_middleware(settings, access),
        lifespan=lifespan,
    )
    app.state.hub = hub
    app.state.metrics = metrics
    app.state.settings = settings
    app.state.access = access
    app.state.webhooks = dispatcher
    app.state.governance = governance
    app.state.cluster = cluster
    return app


def _middleware(settings: Settings, access: Access) -> list[Middleware]:
    """CORS (outermost, so that a 429 carries its headers too), then rate limits."""
    stack = []
    origins = settings.cors_origin_list
    if origins:
        stack.append(Middleware(
            CORSMiddleware, allow_origins=origins,
            allow_methods=["GET", "POST", "PATCH", "DELETE"],
            allow_headers=["Authorization", "Content-Type", "If-None-Match"],
            expose_headers=["ETag", "Location", "Retry-After"], max_age=600,
        ))
    stack.append(Middleware(
        RateLimitMiddleware,
        limiter=RateLimiter(settings.http_rate_per_second, settings.http_burst),
        authenticate=access.authenticate,
        authenticate_session=access.authenticate_session,
        needs_a_read=access.needs_a_read,
        json_bytes_per_request=settings.http_json_bytes_per_request,
        pacer=access.pacer,
        citizen_json_bytes=settings.limits.citizen_json_bytes,
    ))
    return stack
