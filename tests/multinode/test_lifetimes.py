"""Issue 21, lifetimes across nodes: a document deleted or made private on one node closes
the channels that lose their right on the others too (real PostgreSQL and Redis)."""

from __future__ import annotations

from pathlib import Path
from uuid import uuid4

import anyio
import httpx
from websockets.asyncio.client import connect as ws_connect

from client.api import PalabreApi
from client.session import connect
from tests.conftest import postgres_or_skip
from tests.e2e.api import body, text_of
from tests.e2e.test_hostile_lifetimes import closed
from tests.multinode.nodes import metric, redis_or_skip, start_cluster, wait_for_metric


def ws(url: str, doc_id: str, token: str | None) -> str:
    """The ``/ws`` URL of `doc_id` on the node at `url`."""
    query = f"?token={token}" if token else ""
    return "ws" + url.removeprefix("http") + f"/ws/{doc_id}{query}"


async def test_delete_and_unpublish_on_one_node_close_sockets_on_the_other(
    tmp_path: Path,
) -> None:
    redis_url, database_url = await redis_or_skip(), await postgres_or_skip()
    gone, public, honest = (f"{name}-{uuid4().hex[:8]}" for name in ("gone", "pub", "ok"))
    async with start_cluster(tmp_path, 2, redis_url=redis_url,
                             database_url=database_url) as (first, second):
        facilitator = first.token("facilitator", "Loïc Ménard")
        async with PalabreApi(first.url, facilitator) as api:
            await api.create_document(gone, "Supprimé", markdown="Texte.")
            await api.create_document(public, "Public", markdown="Texte.", is_public=True)
            await api.create_document(honest, "Honnête")
            member = second.token("member", "Zoé")
            async with (
                ws_connect(ws(second.url, gone, member)) as text_socket,
                ws_connect(ws(second.url, gone + ".annotations", member)) as companion,
                ws_connect(ws(second.url, public, None)) as anonymous,
                connect(second.url, honest, member) as kept,
            ):
                for socket in (text_socket, companion, anonymous):
                    await socket.recv()  # admitted on the second node
                await kept.synced()
                before = await api.get_content(gone)
                async with httpx.AsyncClient(
                    base_url=first.url, headers={"Authorization": f"Bearer {facilitator}"}
                ) as http:
                    assert (await http.delete(f"/api/documents/{gone}")).status_code == 204
                with anyio.fail_after(5):  # "within seconds, on every node"
                    assert await closed(text_socket) == (4403, "document deleted")
                    assert await closed(companion) == (4403, "document deleted")
                # the second node had just read both in its catalogue: what it remembers
                # was forgotten with the frame, so a socket opened now is refused
                async with ws_connect(ws(second.url, gone, member)) as late:
                    assert await closed(late) == (4403, "document deleted")
                await api.update_document(public, is_public=False)
                with anyio.fail_after(5):
                    assert await closed(anonymous) == (4403, "document made private")
                async with ws_connect(ws(second.url, public, None)) as late_reader:
                    assert (await closed(late_reader))[0] == 4403
                body(kept).insert(0, "toujours là")
                await kept.wait_for(lambda: text_of(kept) == "toujours là", timeout=10)
        async with PalabreApi(first.url, facilitator) as api:
            await api.update_document(public, is_public=True)
            assert await api.get_content(public) != ""
        async with ws_connect(ws(second.url, gone, member)) as again:
            assert await closed(again) == (4403, "document deleted")
        assert before.strip() == "Texte."


async def test_a_node_that_read_a_document_it_no_longer_holds_hears_of_its_deletion(
    tmp_path: Path,
) -> None:
    """The second node admitted a socket (so it remembers the catalogue entry for a moment)
    and let the room go: it follows the document's channel no more, yet the deletion made
    on the first node reaches it, and a socket opened there right after is refused."""
    redis_url, database_url = await redis_or_skip(), await postgres_or_skip()
    brief = f"bref-{uuid4().hex[:8]}"
    async with start_cluster(tmp_path, 2, redis_url=redis_url, database_url=database_url,
                             extra_env={"PALABRE_ROOM_GRACE_SECONDS": "0"}) as (first, second):
        facilitator = first.token("facilitator", "Loïc Ménard")
        async with PalabreApi(first.url, facilitator) as api:
            await api.create_document(brief, "Bref", markdown="Texte.")
        member = second.token("member", "Zoé")
        async with ws_connect(ws(second.url, brief, member)) as visit:
            await visit.recv()  # admitted on the second node
        with anyio.fail_after(10):
            while await metric(second, "palabre_documents_loaded") > 0:  # noqa: ASYNC110
                await anyio.sleep(0.02)  # polling /metrics under a deadline
        async with httpx.AsyncClient(
            base_url=first.url, headers={"Authorization": f"Bearer {facilitator}"}
        ) as http:
            assert (await http.delete(f"/api/documents/{brief}")).status_code == 204
        # the revocation went out on the nodes channel (a document's channel reaches only
        # the nodes that hold it): wait until the second node has heard it
        await wait_for_metric(second, "palabre_cluster_received_total", 'kind="v"',
                              at_least=2, within=5)  # the document and its companion
        async with ws_connect(ws(second.url, brief, member)) as late:
            assert await closed(late) == (4403, "document deleted")
