"""Nodes relay over Redis: clients spread over two or three nodes see one document."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from functools import partial
from pathlib import Path
from uuid import uuid4

import anyio
import httpx
import pytest
from pycrdt import XmlElement, XmlFragment, XmlText

from client.api import PalabreApi
from client.session import Session, connect
from tests.conftest import postgres_or_skip
from tests.e2e.api import all_synced, body, text_of
from tests.e2e.serverprocess import ServerProcess
from tests.multinode.nodes import metric, redis_or_skip, start_cluster, wait_for_metric

pytestmark = pytest.mark.postgres


def holds_all(session: Session, markers: set[str]) -> bool:
    text = text_of(session)
    return all(marker in text for marker in markers)


async def services() -> tuple[str, str]:
    return await redis_or_skip(), await postgres_or_skip()


@asynccontextmanager
async def two_nodes(tmp_path: Path) -> AsyncIterator[list[ServerProcess]]:
    """Two nodes on the test Redis and PostgreSQL."""
    redis_url, database_url = await services()
    async with start_cluster(tmp_path, 2, redis_url=redis_url,
                             database_url=database_url) as nodes:
        yield nodes


@pytest.fixture
async def stack() -> AsyncIterator[AsyncExitStack]:
    async with AsyncExitStack() as exits:
        yield exits


@pytest.mark.parametrize("count", [2, 3])
async def test_clients_spread_over_nodes_converge(tmp_path: Path, count: int) -> None:
    redis_url, database_url = await services()
    doc_id = f"mn-converge-{uuid4().hex[:8]}"
    edits = 25
    async with start_cluster(tmp_path, count, redis_url=redis_url,
                             database_url=database_url) as nodes, AsyncExitStack() as exits:
        sessions = [
            await exits.enter_async_context(connect(node.url, doc_id, node.token()))
            for node in nodes for _ in range(2)
        ]
        with anyio.fail_after(10):
            for session in sessions:
                await session.synced()
        for node in nodes:  # every node follows the document before anyone writes
            await wait_for_metric(node, "palabre_cluster_documents", at_least=1)

        async def write(index: int, session: Session) -> None:
            for i in range(edits):
                body(session).insert(0, f"[c{index}-e{i}]")
                with anyio.fail_after(10):
                    await session.flushed()

        async with anyio.create_task_group() as tg:
            for index, session in enumerate(sessions):
                tg.start_soon(write, index, session)
        markers = {f"[c{c}-e{i}]" for c in range(len(sessions)) for i in range(edits)}
        for session in sessions:
            await session.wait_for(partial(holds_all, session, markers), timeout=30)
        texts = {text_of(session) for session in sessions}
        assert len(texts) == 1, "the nodes' clients diverged"
        relayed = [await metric(node, "palabre_cluster_received_total", 'kind="u"')
                   for node in nodes]
        assert all(count > 0 for count in relayed), relayed


async def test_awareness_crosses_nodes_and_leaves_with_the_socket(tmp_path: Path) -> None:
    doc_id = f"mn-aware-{uuid4().hex[:8]}"
    async with two_nodes(tmp_path) as (first, second):
        async with connect(second.url, doc_id, second.token()) as watcher:
            async with connect(first.url, doc_id, first.token()) as zoe:
                await all_synced(zoe, watcher)
                zoe.set_awareness({"user": {"name": "Zoé", "color": "#c0392b"}})
                with anyio.fail_after(10):
                    await watcher.wait_peers(lambda peers: zoe.client_id in peers)
                assert watcher.peers[zoe.client_id]["user"] == {"name": "Zoé",
                                                                "color": "#c0392b"}
                # A client arriving later on the second node hears of Zoé too.
                async with connect(second.url, doc_id, second.token()) as late:
                    with anyio.fail_after(10):
                        await late.wait_peers(lambda peers: zoe.client_id in peers)
            with anyio.fail_after(10):
                await watcher.wait_peers(lambda peers: zoe.client_id not in peers)


async def test_awareness_of_a_dead_node_expires(tmp_path: Path) -> None:
    doc_id = f"mn-expire-{uuid4().hex[:8]}"
    async with two_nodes(tmp_path) as (first, second):
        async with connect(second.url, doc_id, second.token()) as watcher:
            async with connect(first.url, doc_id, first.token(), reconnect=False) as zoe:
                with anyio.fail_after(10):
                    await zoe.synced()
                zoe.set_awareness({"user": {"name": "Zoé"}})
                with anyio.fail_after(10):
                    await watcher.wait_peers(lambda peers: zoe.client_id in peers)
                first.kill()
                with anyio.fail_after(15):
                    await watcher.wait_peers(lambda peers: zoe.client_id not in peers)
        assert await metric(second, "palabre_cluster_nodes_expired_total") >= 1


async def test_http_reads_on_any_node_see_writes_made_on_another(tmp_path: Path) -> None:
    doc_id = f"mn-http-{uuid4().hex[:8]}"
    async with two_nodes(tmp_path) as (first, second):
        facilitator = first.token("facilitator", "Camille Martin")
        async with PalabreApi(first.url, facilitator) as api_first, \
                PalabreApi(second.url, facilitator) as api_second:
            await api_first.create_document(doc_id, "Charte", markdown="# Article 1\n\nLe texte.")
            assert "Le texte." in await api_second.get_content(doc_id, "md")
            # A socket edit on the first node reaches the second node's loaded document,
            # and the block id the first node assigns reaches the second node's clients.
            async with connect(second.url, doc_id, second.token()) as reader, \
                    connect(first.url, doc_id, first.token()) as writer:
                await all_synced(writer, reader)
                fragment = writer.doc.get("default", type=XmlFragment)
                fragment.children.append(
                    XmlElement("paragraph", {}, [XmlText("Ajouté sur le premier nœud.")])
                )

                def has_id() -> bool:
                    frag = reader.doc.get("default", type=XmlFragment)
                    return any(
                        isinstance(child, XmlElement) and "premier nœud" in str(child)
                        and child.attributes.get("id") for child in frag.children
                    )

                await reader.wait_for(has_id, timeout=15)
            with anyio.fail_after(15):
                while True:
                    if "premier nœud" in await api_second.get_content(doc_id, "text"):
                        break
                    await anyio.sleep(0.05)  # an HTTP read: nothing to wait on
            # A comment written through the second node is listed by the first.
            content = await api_second.get_content(doc_id, "json")
            assert "premier nœud" in content
            async with httpx.AsyncClient(timeout=10) as http:
                blocks = (await http.get(
                    f"{second.url}/api/documents/{doc_id}/content?format=json",
                    headers={"Authorization": f"Bearer {facilitator}"},
                )).json()
            paragraph_id = next(
                block["id"] for block in blocks["blocks"] if block.get("type") == "paragraph"
            )
            await api_second.add_annotation(doc_id, paragraph_id, "Précisons ce point.")
            listed = await api_first.list_annotations(doc_id)
            assert any("Précisons" in str(item) for item in listed)


async def test_freeze_on_one_node_holds_on_the_sockets_of_another(tmp_path: Path) -> None:
    doc_id = f"mn-freeze-{uuid4().hex[:8]}"
    async with two_nodes(tmp_path) as (first, second):
        facilitator = first.token("facilitator", "Camille Martin")
        headers = {"Authorization": f"Bearer {facilitator}"}
        async with PalabreApi(first.url, facilitator) as api:
            await api.create_document(doc_id, "Charte", markdown="Premier alinéa.")
        async with connect(second.url, doc_id, second.token()) as member, \
                connect(first.url, doc_id, first.token()) as other, \
                httpx.AsyncClient(timeout=10, headers=headers) as http:
            await all_synced(member, other)
            response = await http.post(f"{first.url}/api/documents/{doc_id}/freeze", json={})
            assert response.status_code == 200, response.text
            # The freeze notice comes from the second node's room, which refuses writes now.
            await member.wait_for(lambda: any("frozen" in d for d in member.denials), timeout=10)
            response = await http.post(f"{first.url}/api/documents/{doc_id}/unfreeze")
            assert response.status_code == 200, response.text
            # Once the second node has unfrozen too, its sockets write again and it spreads.
            with anyio.fail_after(15):
                while True:
                    async with connect(second.url, doc_id, second.token()) as probe:
                        await probe.synced()
                        if not probe.denials:
                            body(probe).insert(0, "accepté ")
                            await probe.flushed()
                            break
                    await anyio.sleep(0.05)  # the unfreeze is on its way to the second node
            await other.wait_for(lambda: "accepté" in text_of(other), timeout=10)
