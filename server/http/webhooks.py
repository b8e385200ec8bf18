"""``/api/webhooks``: register, list and remove webhooks, and read their delivery attempts.

Registering needs `Action.REGISTER_WEBHOOK` (facilitators) on the webhook's document,
or on no document (an unlimited token) for a webhook that fires for every document.
A secret is generated when none is given and shown once, in the 201 response; it is
never listed afterwards.
"""

from __future__ import annotations

import secrets

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from crdt.doc_id import is_doc_id
from server.access.auth import Principal
from server.access.permissions import ROLE_ACTIONS, Action, is_allowed, require
from server.errors import Forbidden, Invalid, NotFound
from server.events import WebhookEvent, url_problem
from server.http.authorize import caller
from server.http.body import JsonObject, int_param, only_fields, read_json, text_field
from server.http.context import ApiContext, created
from storage.catalog import DeliveryAttempt, Webhook, WebhookRegistry

MAX_URL_LENGTH = 2048
SECRET_LENGTHS = range(16, 257)
_FIELDS = {"url", "events", "doc_id", "secret"}


def webhook_routes(context: ApiContext) -> list[BaseRoute]:
    """The webhook endpoints, relative to ``/api``."""
    registry = context.webhooks
    governance = context.governance

    async def create(request: Request) -> Response:
        principal = await caller(request, context)
        body = await read_json(request, context.max_body_bytes)
        only_fields(body, _FIELDS)
        url, events, doc_id = _url(body), _events(body), _doc_id(body)
        require(principal, Action.REGISTER_WEBHOOK, doc_id)
        secret = _secret(body)
        webhook = await registry.add_webhook(
            url=url, secret=secret, events=events, doc_id=doc_id, created_by=principal.sub
        )
        await governance.record(doc_id, "webhook.registered", principal, _webhook_json(webhook))
        return created({**_webhook_json(webhook), "secret": secret},
                       f"/api/webhooks/{webhook.webhook_id}")

    async def list_all(request: Request) -> Response:
        principal = await caller(request, context)
        doc_id = request.query_params.get("doc_id")
        if doc_id is not None and not is_doc_id(doc_id):
            raise Invalid("doc_id must be 1-128 characters of [A-Za-z0-9._-]")
        if doc_id is not None:
            require(principal, Action.REGISTER_WEBHOOK, doc_id)
        elif Action.REGISTER_WEBHOOK not in ROLE_ACTIONS[principal.role]:
            raise Forbidden(f"role {principal.role} may not {Action.REGISTER_WEBHOOK}")
        # A token limited to some documents lists the webhooks of those documents only.
        webhooks = await registry.list_webhooks(doc_id=doc_id)
        return JSONResponse({"webhooks": [
            _webhook_json(w) for w in webhooks if _manages(principal, w)
        ]})

    async def delete(request: Request) -> Response:
        principal = await caller(request, context)
        webhook = await _find(registry, principal, str(request.path_params["webhook_id"]))
        await registry.remove_webhook(webhook.webhook_id)
        await governance.record(webhook.doc_id, "webhook.removed", principal,
                                _webhook_json(webhook))
        return Response(status_code=204)

    async def deliveries(request: Request) -> Response:
        principal = await caller(request, context)
        webhook = await _find(registry, principal, str(request.path_params["webhook_id"]))
        limit = int_param(request, "limit", 100, low=1, high=1000)
        attempts = await registry.list_attempts(webhook.webhook_id, limit=limit)
        return JSONResponse({"deliveries": [_attempt_json(a) for a in attempts]})

    return [
        Route("/webhooks", create, methods=["POST"]),
        Route("/webhooks", list_all, methods=["GET"]),
        Route("/webhooks/{webhook_id}", delete, methods=["DELETE"]),
        Route("/webhooks/{webhook_id}/deliveries", deliveries, methods=["GET"]),
    ]


async def _find(registry: WebhookRegistry, principal: Principal, webhook_id: str) -> Webhook:
    """The webhook, once the caller may manage it.

    Raises:
        NotFound: no such webhook.
        Forbidden: the caller may not manage webhooks of its document.
        StorageUnavailable: storage is down.
    """
    webhooks = await registry.list_webhooks()
    webhook = next((w for w in webhooks if w.webhook_id == webhook_id), None)
    if webhook is None:
        raise NotFound(f"no webhook {webhook_id!r}")
    require(principal, Action.REGISTER_WEBHOOK, webhook.doc_id)  # the rule of `_manages`
    return webhook


def _manages(principal: Principal, webhook: Webhook) -> bool:
    """Whether the caller may see and manage `webhook`: facilitators, on a document their
    token covers (``docs`` claim); server-wide ones only with a token not limited to some
    documents."""
    return is_allowed(principal, Action.REGISTER_WEBHOOK, webhook.doc_id)


def _url(body: JsonObject) -> str:
    url = text_field(body, "url", required=True, max_length=MAX_URL_LENGTH)
    assert url is not None
    problem = url_problem(url)
    if problem is not None:
        raise Invalid(f"url: {problem}")
    return url


def _events(body: JsonObject) -> tuple[str, ...]:
    raw = body.get("events")
    if not isinstance(raw, list) or not raw or not all(isinstance(e, str) for e in raw):
        raise Invalid("'events' must be a non-empty list of event names")
    known = {e.value for e in WebhookEvent}
    unknown = sorted({e for e in raw if e not in known})
    if unknown:
        raise Invalid(f"unknown event(s) {', '.join(unknown)}; known: {', '.join(sorted(known))}")
    return tuple(dict.fromkeys(raw))


def _doc_id(body: JsonObject) -> str | None:
    doc_id = body.get("doc_id")
    if doc_id is None:
        return None
    if not isinstance(doc_id, str) or not is_doc_id(doc_id):
        raise Invalid("'doc_id' must be 1-128 characters of [A-Za-z0-9._-]")
    return doc_id


def _secret(body: JsonObject) -> str:
    secret = body.get("secret")
    if secret is None:
        return secrets.token_urlsafe(32)
    if not isinstance(secret, str) or len(secret) not in SECRET_LENGTHS:
        raise Invalid("'secret' must be a string of 16 to 256 characters")
    return secret


def _webhook_json(webhook: Webhook) -> JsonObject:
    """A webhook as the API shows it: never its secret."""
    return {
        "id": webhook.webhook_id, "url": webhook.url, "events": list(webhook.events),
        "doc_id": webhook.doc_id, "created_at": webhook.created_at,
        "created_by": webhook.created_by,
    }


def _attempt_json(attempt: DeliveryAttempt) -> JsonObject:
    return {
        "event_id": attempt.event_id, "event": attempt.event, "attempt": attempt.attempt,
        "at": attempt.at, "status": attempt.status, "error": attempt.error,
    }

