"""Webhooks end to end: a real receiver on a loopback port, edits over real sockets."""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import cast

import anyio
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from client.api import PalabreApi
from client.session import connect
from server.events import verify_signature
from storage.catalog import DeliveryAttempt
from storage.memory import MemoryDocumentStore
from tests.conftest import RunningServer, ServerFactory
from tests.e2e.api import body, http_as, text_of
from tests.e2e.loopback import serving

FAST: dict[str, object] = {
    "webhook_debounce_seconds": 0.5, "webhook_retry_base_seconds": 0.01,
    "webhook_retry_max_seconds": 0.05,
    "outbound_allow": "127.0.0.1",  # the receiver is on loopback, allowed as an operator would
}
CHARTE = (Path(__file__).parent.parent / "fixtures" / "charte.md").read_text(encoding="utf-8")
ARTICLE = "Article 2 — Le budget participatif est voté chaque année."


@dataclass(frozen=True, slots=True)
class Received:
    path: str
    headers: dict[str, str]
    body: bytes

    @property
    def json(self) -> dict[str, object]:
        value = json.loads(self.body)
        assert isinstance(value, dict)
        return value


@dataclass
class Receiver:
    """Records every POST; answers each path with its scripted statuses, then 200."""

    url: str = ""
    scripts: dict[str, list[int]] = field(default_factory=dict)
    requests: list[Received] = field(default_factory=list)
    _arrived: anyio.Event = field(default_factory=anyio.Event)

    async def hook(self, request: Request) -> Response:
        self.requests.append(
            Received(request.url.path, dict(request.headers), await request.body())
        )
        self._arrived.set()
        self._arrived = anyio.Event()
        script = self.scripts.get(request.url.path, [])
        return Response(status_code=script.pop(0) if script else 200)

    def at(self, path: str) -> list[Received]:
        return [r for r in self.requests if r.path == path]

    async def wait_for(self, path: str, n: int) -> list[Received]:
        with anyio.fail_after(15):
            while len(self.at(path)) < n:
                await self._arrived.wait()
        return self.at(path)


@asynccontextmanager
async def receiving(**scripts: Sequence[int]) -> AsyncIterator[Receiver]:
    """A receiver on 127.0.0.1 (port 0); ``hook_a=[500]`` scripts ``/hook/a``."""
    receiver = Receiver(scripts={f"/{k.replace('_', '/')}": list(v) for k, v in scripts.items()})
    app = Starlette(routes=[Route("/hook/{name}", receiver.hook, methods=["POST"])])
    async with serving(app, ws="none", log_level="warning") as receiver.url:
        yield receiver


class RecordingStore(MemoryDocumentStore):
    """The memory store, letting a test wait until delivery attempts are recorded."""

    def __init__(self) -> None:
        super().__init__()
        self.recorded: list[DeliveryAttempt] = []
        self._changed = anyio.Event()

    async def record_attempt(self, attempt: DeliveryAttempt) -> None:
        await super().record_attempt(attempt)
        self.recorded.append(attempt)
        self._changed.set()
        self._changed = anyio.Event()

    async def wait_recorded(self, n: int) -> None:
        with anyio.fail_after(15):
            while len(self.recorded) < n:
                await self._changed.wait()


async def register(
    server: RunningServer, url: str, doc_id: str | None = "charte",
    events: Sequence[str] = ("document.changed",),
) -> dict[str, object]:
    async with http_as(server) as api:
        response = await api.post("/api/webhooks", json={
            "url": url, "events": list(events), "doc_id": doc_id,
        })
    assert response.status_code == 201, response.text
    created = response.json()
    assert isinstance(created, dict)
    return created


async def edit(server: RunningServer, doc_id: str, text: str = ARTICLE) -> None:
    """A member types `text` over a real socket; return once the server relayed it."""
    token = server.token("member", "Zoé Lefèvre")
    async with connect(server.url, doc_id, token, reconnect=False) as writer, connect(
        server.url, doc_id, token, reconnect=False
    ) as reader:
        await writer.synced()
        await reader.synced()
        body(writer).insert(0, text)
        await reader.wait_for(lambda: text_of(reader) == text, timeout=10)


async def test_a_members_edit_sends_one_signed_document_changed(
    start_server: ServerFactory,
) -> None:
    async with receiving() as receiver:
        async with start_server(**FAST) as server:
            webhook = await register(server, receiver.url + "/hook/charte")
            await edit(server, "charte")
            await receiver.wait_for("/hook/charte", 1)
        # The server has stopped, so a second event, had there been one, was flushed.
        (delivery,) = receiver.at("/hook/charte")
    body = delivery.json
    assert body["event"] == "document.changed" and body["doc_id"] == "charte"
    assert set(body) == {"id", "event", "doc_id", "created_at", "data"}
    etag = body["data"]["etag"]  # type: ignore[index]
    assert isinstance(etag, str) and etag.startswith('"')
    headers = delivery.headers
    assert headers["palabre-event"] == "document.changed"
    assert headers["palabre-delivery"] == body["id"]
    secret = webhook["secret"]
    assert isinstance(secret, str)
    assert verify_signature(
        secret, headers["palabre-timestamp"], delivery.body, headers["palabre-signature"],
        now=time.time(),
    )


@pytest.mark.parametrize(("script", "statuses"), [([500, 500], [200, 500, 500]), ([400], [400])])
async def test_deliveries_are_retried_on_5xx_only_and_every_attempt_is_listed(
    start_server: ServerFactory, script: list[int], statuses: list[int]
) -> None:
    store = RecordingStore()
    async with receiving(hook_flaky=script) as receiver:
        async with start_server(store=store, **FAST) as server:
            webhook = await register(server, receiver.url + "/hook/flaky")
            await edit(server, "charte")
            await store.wait_recorded(len(statuses))
            async with http_as(server) as api:
                response = await api.get(f"/api/webhooks/{webhook['id']}/deliveries")
        # Stopped: any further retry would have been sent (or counted dropped) by now.
        assert len(receiver.at("/hook/flaky")) == len(statuses)
    assert response.status_code == 200
    deliveries = response.json()["deliveries"]
    assert [d["status"] for d in deliveries] == statuses
    assert [d["attempt"] for d in deliveries] == list(range(len(statuses), 0, -1))
    assert len({d["event_id"] for d in deliveries}) == 1
    assert len(store.recorded) == len(statuses)


async def test_a_webhook_of_another_document_gets_nothing(start_server: ServerFactory) -> None:
    async with receiving() as receiver:
        async with start_server(**FAST) as server:
            await register(server, receiver.url + "/hook/budget", doc_id="budget")
            await register(server, receiver.url + "/hook/charte", doc_id="charte")
            await edit(server, "charte")
            await receiver.wait_for("/hook/charte", 1)
        assert receiver.at("/hook/budget") == []


async def test_annotations_send_created_then_updated_without_their_words(
    start_server: ServerFactory,
) -> None:
    async with receiving() as receiver:
        async with start_server(**FAST) as server:
            await register(
                server, receiver.url + "/hook/notes",
                events=("annotation.created", "annotation.updated"),
            )
            async with PalabreApi(server.url, server.token("facilitator", "Loïc")) as api:
                await api.create_document("charte", "Charte", markdown=CHARTE)
                content = json.loads(await api.get_content("charte", "json"))
                paragraph = next(b["id"] for b in content["blocks"] if b["type"] == "paragraph")
                made = await api.add_annotation("charte", paragraph, "Préciser l'article 1 ?")
                await api.set_status("charte", str(made["id"]), "hidden")
            deliveries = await receiver.wait_for("/hook/notes", 2)
    # Deliveries run concurrently: receivers order events by ``created_at``.
    ordered = sorted((d.json for d in deliveries), key=lambda body: cast(float, body["created_at"]))
    assert [body["event"] for body in ordered] == ["annotation.created", "annotation.updated"]
    assert [body["data"] for body in ordered] == [
        {"annotation_id": made["id"], "paragraph_id": paragraph, "reply_id": None,
         "status": status} for status in ("open", "hidden")
    ]
    assert all(b"article 1" not in d.body for d in deliveries)


@pytest.mark.parametrize("role", ["citizen", "member", "public"])
async def test_only_facilitators_register_webhooks(
    start_server: ServerFactory, role: str
) -> None:
    async with start_server() as server:
        async with http_as(server, role) as api:
            response = await api.post("/api/webhooks", json={
                "url": "https://decidim.example/hook", "events": ["document.changed"],
            })
            listed = await api.get("/api/webhooks")
    assert response.status_code in {401, 403}
    assert response.json()["error"] in {"forbidden", "unauthenticated"}
    assert listed.status_code in {401, 403}
    if role != "public":
        assert response.status_code == 403


async def test_secrets_are_shown_once_and_webhooks_can_be_removed(
    start_server: ServerFactory,
) -> None:
    async with start_server() as server, http_as(server) as api:
        created = await api.post("/api/webhooks", json={
            "url": "https://decidim.example/hook", "events": ["annotation.created"],
            "secret": "un-secret-choisi-par-decidim",
        })
        assert created.status_code == 201
        assert created.json()["secret"] == "un-secret-choisi-par-decidim"
        webhook_id = created.json()["id"]
        listed = (await api.get("/api/webhooks")).json()["webhooks"]
        assert [w["id"] for w in listed] == [webhook_id]
        assert all("secret" not in w for w in listed)
        assert (await api.delete(f"/api/webhooks/{webhook_id}")).status_code == 204
        gone = await api.delete(f"/api/webhooks/{webhook_id}")
        assert gone.status_code == 404 and gone.json()["error"] == "not_found"


@pytest.mark.parametrize(
    "body",
    [
        {"url": "https://alice:motdepasse@decidim.example/hook", "events": ["document.changed"]},
        {"url": "ftp://decidim.example/hook", "events": ["document.changed"]},
        {"url": "https://decidim.example/hook", "events": ["document.deleted"]},
        {"url": "https://decidim.example/hook", "events": []},
        {"url": "https://decidim.example/hook", "events": ["document.changed"], "secret": "court"},
        {"url": "https://decidim.example/hook", "events": ["document.changed"], "doc_id": "a/b"},
    ],
)
async def test_bad_registrations_are_refused_with_422(
    start_server: ServerFactory, body: dict[str, object]
) -> None:
    async with start_server() as server, http_as(server) as api:
        response = await api.post("/api/webhooks", json=body)
    assert response.status_code == 422, response.text
    assert response.json()["error"] == "invalid"
