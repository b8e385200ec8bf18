"""Freeze, unfreeze, adopt, diff and the audit log over real HTTP and real sockets."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from functools import partial
from typing import Any

import anyio
import httpx
from pycrdt import Doc, XmlElement, XmlText

from client.session import Session, connect
from crdt.schema import blocks, text_fragment
from server.metrics import Metrics
from server.modules.audit import DenialAudit
from storage.memory import MemoryDocumentStore
from tests.conftest import RunningServer, ServerFactory
from tests.e2e.api import http_as

DOC = "charte"
PARAGRAPHS = [f"Article {n} — Les habitantes et habitants délibèrent." for n in range(1, 11)]
MARKDOWN = "\n\n".join(PARAGRAPHS) + "\n"


async def create(server: RunningServer) -> None:
    async with http_as(server) as api:
        made = await api.post("/api/documents", json={"id": DOC, "title": "Charte",
                                                       "markdown": MARKDOWN})
        assert made.status_code == 201, made.text


@asynccontextmanager
async def charter_served(
    start_server: ServerFactory, role: str, name: str
) -> AsyncIterator[tuple[RunningServer, httpx.AsyncClient, httpx.AsyncClient]]:
    """A server holding the charter, the facilitator's HTTP client and one for `name`."""
    async with start_server() as server:
        await create(server)
        async with http_as(server) as api, http_as(server, role, name) as other:
            yield server, api, other


def texts(session: Session) -> list[str]:
    return [block.text for block in blocks(session.doc) if block.type == "paragraph"]


def paragraph_text(doc: Doc[Any], index: int) -> XmlText:
    element = text_fragment(doc).children[index]
    assert isinstance(element, XmlElement)
    text = element.children[0]
    assert isinstance(text, XmlText)
    return text


def type_into(session: Session, index: int, chars: str) -> None:
    text = paragraph_text(session.doc, index)
    text.insert(len(str(text).encode()), chars)  # pycrdt counts UTF-8 bytes


def was_told_frozen(session: Session) -> bool:
    return any("frozen" in denial for denial in session.denials)


async def content(server: RunningServer, fmt: str = "text") -> str:
    async with http_as(server) as api:
        response = await api.get(f"/api/documents/{DOC}/content", params={"format": fmt})
        assert response.status_code == 200, response.text
        return response.text


async def fresh_texts(server: RunningServer) -> list[str]:
    async with connect(server.url, DOC, server.token(name="Nouvelle Venue")) as late:
        await late.synced()
        return texts(late)


async def test_freeze_while_ten_clients_type_stops_every_change_at_the_response(
    start_server: ServerFactory,
) -> None:
    async with start_server(room_grace_seconds=0.2) as server:
        await create(server)
        frozen = anyio.Event()
        typed_after = [0] * 10
        async with (
            connect(server.url, DOC, server.token(name="Observatrice")) as observer,
            anyio.create_task_group() as typing,
        ):
            sessions: list[Session] = []

            async def typist(index: int, *, task_status: anyio.abc.TaskStatus[None]) -> None:
                async with connect(server.url, DOC, server.token(name=f"Membre {index}")) as me:
                    await me.synced()
                    sessions.append(me)
                    task_status.started()
                    while True:
                        type_into(me, index, "é")
                        if frozen.is_set():
                            typed_after[index] += 1
                        await me.flushed()
                        # Paced by the server: the next edit relayed from the others, or the
                        # refusal of ours, wakes us (a bound in case that one slipped by).
                        changed = me.changed
                        with anyio.move_on_after(0.5):
                            await changed.wait()

            for index in range(10):
                await typing.start(typist, index)
            await observer.wait_for(
                lambda: all(t.count("é") >= 3 for t in texts(observer)), timeout=20
            )
            async with http_as(server) as api:
                response = await api.post(f"/api/documents/{DOC}/freeze")
            frozen.set()
            assert response.status_code == 200, response.text
            assert response.json()["frozen"] is True
            assert response.json()["frozen_by"] == "loic-menard"
            at_freeze = await fresh_texts(server)
            stored_at_freeze = await content(server)

            with anyio.fail_after(20):
                for session in sessions:
                    await session.wait_for(partial(was_told_frozen, session))
                while min(typed_after) < 5:
                    await sessions[0].changed.wait()
            typing.cancel_scope.cancel()
            await observer.wait_for(lambda: texts(observer) == at_freeze, timeout=10)
            assert was_told_frozen(observer)

        assert await fresh_texts(server) == at_freeze
        assert await content(server) == stored_at_freeze
        with anyio.fail_after(20):
            await server.app.state.hub.wait_unloaded(DOC)
        assert await content(server) == stored_at_freeze  # read back from storage


async def test_unfreeze_restores_writes_on_open_sockets(start_server: ServerFactory) -> None:
    async with start_server() as server:
        await create(server)
        async with (
            connect(server.url, DOC, server.token(name="Zoé")) as zoe,
            connect(server.url, DOC, server.token(name="Hugo")) as hugo,
            http_as(server) as api,
        ):
            await zoe.synced()
            await hugo.synced()
            assert (await api.post(f"/api/documents/{DOC}/freeze")).status_code == 200
            await zoe.wait_for(lambda: len(zoe.denials) == 1, timeout=10)
            type_into(zoe, 0, " Refusé.")
            await zoe.wait_for(lambda: len(zoe.denials) == 2, timeout=10)
            assert "frozen" in zoe.denials[1]

            unfrozen = await api.post(f"/api/documents/{DOC}/unfreeze")
            assert unfrozen.status_code == 200 and unfrozen.json()["frozen"] is False
            type_into(hugo, 1, " Accepté.")
            await zoe.wait_for(lambda: texts(zoe)[1].endswith(" Accepté."), timeout=10)
            assert " Refusé." not in await content(server)
            assert " Accepté." in await content(server)


async def test_adopt_archives_the_frozen_text_as_an_adopted_snapshot(
    start_server: ServerFactory,
) -> None:
    async with charter_served(start_server, "member", "Zoé") as (server, api, member):
        refused = await member.post(f"/api/documents/{DOC}/adopt", json={})
        assert refused.status_code == 403
        adopted = await api.post(f"/api/documents/{DOC}/adopt",
                                 json={"label": "Texte adopté le 26 novembre"})
        assert adopted.status_code == 201, adopted.text
        snapshot = adopted.json()
        assert snapshot["adopted"] is True
        assert snapshot["label"] == "Texte adopté le 26 novembre"
        archived = await api.get(
            f"/api/documents/{DOC}/snapshots/{snapshot['id']}/content",
            params={"format": "md"},
        )
        assert archived.text == await content(server, "md")
        async with connect(server.url, DOC, server.token(name="Zoé")) as zoe:
            await zoe.synced()
            type_into(zoe, 0, " Trop tard.")
            await zoe.wait_for(lambda: len(zoe.denials) >= 2, timeout=10)
        assert "Trop tard" not in await content(server)
        listed = (await api.get(f"/api/documents/{DOC}/snapshots")).json()["snapshots"]
        assert [s["adopted"] for s in listed] == [True]


async def test_diff_between_a_snapshot_and_the_live_text(start_server: ServerFactory) -> None:
    async with start_server() as server:
        await create(server)
        async with http_as(server) as api:
            made = await api.post(f"/api/documents/{DOC}/snapshots",
                                  json={"label": "Premier jet", "stage": "draft"})
            assert made.status_code == 201, made.text
            sid = made.json()["id"]
            async with (
                connect(server.url, DOC, server.token(name="Zoé")) as zoe,
                connect(server.url, DOC, server.token(name="Hugo")) as hugo,
            ):
                await zoe.synced()
                await hugo.synced()
                type_into(zoe, 2, " <amendé>")
                # Relayed to Hugo means committed and applied to the live text.
                await hugo.wait_for(lambda: texts(hugo)[2].endswith("<amendé>"), timeout=10)
            diff = await api.get(f"/api/documents/{DOC}/diff", params={"from": sid,
                                                                       "to": "live"})
            assert diff.status_code == 200, diff.text
            body = diff.json()
            assert body["summary"] == {"added": 0, "removed": 0, "changed": 1, "moved": 0,
                                       "unchanged": 9}
            changed = next(b for b in body["blocks"] if b["status"] == "changed")
            assert changed["words"] == [{"op": "equal", "text": PARAGRAPHS[2]},
                                        {"op": "insert", "text": " <amendé>"}]
            page = await api.get(f"/api/documents/{DOC}/diff",
                                 params={"from": sid, "to": "live", "format": "html"})
            assert "<ins> &lt;amendé&gt;</ins>" in page.text
            same = await api.get(f"/api/documents/{DOC}/diff", params={"from": sid, "to": sid})
            assert same.json()["summary"]["unchanged"] == 10
            missing = await api.get(f"/api/documents/{DOC}/diff", params={"from": "nope"})
            assert missing.status_code == 404


async def test_comments_on_a_frozen_document_only_when_comments_are_open(
    start_server: ServerFactory,
) -> None:
    async with charter_served(start_server, "citizen", "Anaïs") as (_server, api, citizen):
        blocks_json = (await api.get(f"/api/documents/{DOC}/content",
                                     params={"format": "json"})).json()["blocks"]
        paragraph = blocks_json[0]["id"]
        url = f"/api/documents/{DOC}/annotations"
        comment = {"paragraph_id": paragraph, "body": "Et les enfants ?"}
        first = await citizen.post(url, json=comment)
        assert first.status_code == 201

        await api.post(f"/api/documents/{DOC}/freeze", json={"comments_open": False})
        closed = await citizen.post(url, json=comment)
        assert closed.status_code == 403 and "closed to comments" in closed.json()["detail"]
        hidden = await api.patch(f"{url}/{first.json()['id']}", json={"status": "hidden"})
        assert hidden.status_code == 200  # moderating is still possible

        await api.post(f"/api/documents/{DOC}/freeze", json={"comments_open": True})
        opened = await citizen.post(url, json=comment)
        assert opened.status_code == 201


async def test_audit_lists_governance_actions_with_who_and_when_newest_first(
    start_server: ServerFactory,
) -> None:
    async with charter_served(start_server, "member", "Zoé") as (_server, api, member):
        await api.post(f"/api/documents/{DOC}/freeze", json={"comments_open": True})
        await api.post(f"/api/documents/{DOC}/unfreeze")
        await api.post(f"/api/documents/{DOC}/adopt", json={})
        hook = await api.post("/api/webhooks", json={
            "url": "https://hooks.example/palabre", "events": ["document.frozen"],
            "doc_id": DOC})
        assert hook.status_code == 201
        assert (await member.get(f"/api/documents/{DOC}/audit")).status_code == 403

        page = await api.get(f"/api/documents/{DOC}/audit", params={"limit": 3})
        assert page.status_code == 200
        entries = page.json()["entries"]
        assert [e["action"] for e in entries] == [
            "webhook.registered", "document.adopted", "document.frozen"]
        assert all(e["actor_sub"] == "loic-menard" and e["actor_name"] == "Loïc Ménard"
                   and e["at"] > 0 for e in entries)
        assert entries[1]["detail"]["label"] == "Version adoptée"
        rest = await api.get(f"/api/documents/{DOC}/audit",
                             params={"before": page.json()["next"]})
        assert [e["action"] for e in rest.json()["entries"]] == [
            "document.unfrozen", "document.frozen", "document.created"]
        assert rest.json()["entries"][1]["detail"]["comments_open"] is True


async def test_socket_denials_are_audited_once_per_interval(tmp_path: Any) -> None:
    store = MemoryDocumentStore()
    denials = DenialAudit(store, Metrics(), interval=60.0)
    async with store:
        async with denials.running():
            for _ in range(5):
                denials.socket_denied(DOC, "elodie", "read-only: changes not applied")
            denials.socket_denied(DOC, "hugo", "document frozen: changes not applied")
        entries = await store.list_audit(DOC)  # `running` recorded the queue on its way out
    assert sorted((e.actor_sub, e.action) for e in entries) == [
        ("elodie", "socket.permission_denied"), ("hugo", "socket.permission_denied")]


async def test_stages_list_in_the_order_first_archived_with_the_adopted_one(
    start_server: ServerFactory,
) -> None:
    async with charter_served(start_server, "citizen", "Anaïs") as (_server, api, citizen):
        for label, stage in [("Séance 1", "premier jet"), ("Séance 4", "auditions"),
                             ("Séance 5", "auditions")]:
            made = await api.post(f"/api/documents/{DOC}/snapshots",
                                  json={"label": label, "stage": stage})
            assert made.status_code == 201, made.text
        adopted = await api.post(f"/api/documents/{DOC}/adopt",
                                 json={"label": "Texte final", "stage": "texte final"})
        assert adopted.status_code == 201, adopted.text
        listed = await citizen.get(f"/api/documents/{DOC}/stages")
        assert listed.status_code == 200
        stages = listed.json()["stages"]
        assert [s["stage"] for s in stages] == ["premier jet", "auditions", "texte final"]
        assert [[x["label"] for x in s["snapshots"]] for s in stages] == [
            ["Séance 1"], ["Séance 4", "Séance 5"], ["Texte final"]]
        assert [s["adopted"] for s in stages] == [False, False, True]
        created = (await api.get(f"/api/documents/{DOC}/audit")).json()["entries"][-1]
        assert created["action"] == "document.created"
        assert created["actor_name"] == "Loïc Ménard"

