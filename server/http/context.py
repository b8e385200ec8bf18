"""What every API module shares: the context built by `create_app`, documents and their JSON."""

from __future__ import annotations

from dataclasses import dataclass, field

from starlette.requests import Request
from starlette.responses import JSONResponse

from crdt.annotations import Seal
from crdt.doc_id import ANNOTATIONS_SUFFIX
from server.access.gate import Access
from server.disk import DiskReserve
from server.errors import BadRequest, NotFound
from server.http.body import JsonObject
from server.limits import Limits
from server.modules.amendments import Amendments
from server.modules.data_documents import DataDocuments
from server.modules.governance import Governance, Notify
from server.modules.publishing import Publisher
from server.modules.sessions import SessionsService
from server.modules.votes import VotesService
from server.rooms.hub import Hub
from storage.catalog import DocumentMeta, WebhookRegistry
from storage.port import Storage

DEFAULT_MAX_BODY_BYTES = 2 * 1024 * 1024
MEDIA_TYPES: dict[str, str] = {
    "md": "text/markdown; charset=utf-8",
    "html": "text/html; charset=utf-8",
    "text": "text/plain; charset=utf-8",
    "json": "application/json",
}
"""The formats of a text's content, live or archived (snapshots add ``yjs``)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class ApiContext:
    """What the endpoints reach: the hub, the store, token checks, services, limits."""

    hub: Hub
    store: Storage
    access: Access
    governance: Governance
    """Freeze, snapshots, adoption and the audit log (`server.modules.governance`)."""
    data: DataDocuments
    publisher: Publisher
    """Renders exports and redlines off the event loop (`server.modules.publishing`)."""
    amendments: Amendments
    """Proposed wordings and their lifecycle (`server.modules.amendments`)."""
    sessions: SessionsService
    """Sessions of the assembly, their attendance, queue and quorum (`server.modules.sessions`)."""
    votes: VotesService
    """Votes of a session on amendments (`server.modules.votes`)."""
    notify: Notify
    """Queues a webhook event about a document; never blocks (`WebhookDispatcher.notify`)."""
    seal: Seal
    """Seals the words of hidden comments (`server.access.seal`)."""
    webhooks: WebhookRegistry
    """Registered webhooks, their secrets sealed and their URLs checked against the outbound
    policy (`server.access.webhook_secrets.SealedWebhooks` over the store)."""
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES
    disk: DiskReserve | None = None
    """The data folder's free-space reserve, checked before snapshots and uploads."""
    limits: Limits = field(default_factory=Limits)
    """Bounds on what one client controls (event streams per principal, ...)."""
    token_leeway_seconds: float = 30.0
    """An event stream ends this long after its token's ``exp``."""
    has_signin_provider: bool = False
    """Whether ``/auth/login`` signs in through an identity provider (the page offers it)."""
    allowed_origins: frozenset[str] = frozenset()
    """Origins besides the server's own whose pages may send cookie-authenticated requests
    (``PALABRE_ALLOWED_ORIGINS``)."""


async def live_document(context: ApiContext, doc_id: str) -> DocumentMeta:
    """The metadata of a live (not deleted) document; companions are not documents here.

    Raises:
        NotFound: no such document (or it is an annotations companion).
        DocumentNotFound, StorageUnavailable: from the store (the app's handler maps them).
    """
    if doc_id.endswith(ANNOTATIONS_SUFFIX):
        raise NotFound(f"{doc_id!r} holds annotations: use /api/documents/<id>/annotations")
    return await context.store.get_document(doc_id)


def meta_json(meta: DocumentMeta) -> JsonObject:
    """A document's metadata as the API shows it."""
    return {
        "id": meta.doc_id, "title": meta.title, "kind": meta.kind, "is_public": meta.is_public,
        "created_at": meta.created_at, "updated_at": meta.updated_at,
        "created_by": meta.created_by,
        **({"schema": meta.schema} if meta.kind == "data" else {}),
    }


def content_format(request: Request, media_types: dict[str, str]) -> str:
    """The ``?format=`` of a content request (default ``md``).

    Raises:
        BadRequest: a format not in `media_types`.
    """
    fmt = request.query_params.get("format", "md")
    if fmt not in media_types:
        raise BadRequest(f"format must be one of {', '.join(media_types)}, not {fmt!r}")
    return fmt


def created(body: JsonObject, location: str) -> JSONResponse:
    """201 with `body`, saying where the new resource lives."""
    return JSONResponse(body, status_code=201, headers={"Location": location})
