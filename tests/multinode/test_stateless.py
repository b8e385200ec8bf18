"""A stateless broadcast of the Hocuspocus hook reaches the clients of every node."""

from __future__ import annotations

from pathlib import Path
from uuid import uuid4

import pytest

from tests.conftest import postgres_or_skip
from tests.e2e.test_hocuspocus import HocuspocusPeerFactory, hocuspocus_peer  # noqa: F401
from tests.multinode.nodes import redis_or_skip, start_cluster, wait_for_metric

pytestmark = [pytest.mark.postgres, pytest.mark.node]


async def test_a_stateless_broadcast_crosses_nodes_once_and_not_back_to_its_sender(
    tmp_path: Path, hocuspocus_peer: HocuspocusPeerFactory  # noqa: F811
) -> None:
    redis_url, database_url = await redis_or_skip(), await postgres_or_skip()
    doc = f"mn-stateless-{uuid4().hex[:8]}"
    hook = {"PALABRE_STATELESS_HOOK": "server.sync.stateless:relay"}
    async with (
        start_cluster(tmp_path, 2, redis_url=redis_url, database_url=database_url,
                      extra_env=hook) as nodes,
        hocuspocus_peer("zoé") as zoe,
        hocuspocus_peer("inès") as ines,
        hocuspocus_peer("karim") as karim,
    ):
        # Zoé and Inès on the first node, Karim on the second.
        for peer, node, name in ((zoe, nodes[0], "Zoé"), (ines, nodes[0], "Inès"),
                                 (karim, nodes[1], "Karim")):
            await peer.connect(node)  # type: ignore[arg-type]
            await peer.open_synced(doc, node.token(name=name))
        for node in nodes:
            await wait_for_metric(node, "palabre_cluster_documents", at_least=1)
        since = {peer: peer.mark() for peer in (zoe, ines, karim)}
        await zoe.request("sendStateless", name=doc, payload='{"main levée": "Zoé"}')
        await karim.wait_event("stateless", since[karim], doc=doc, payload='{"main levée": "Zoé"}')
        await ines.wait_event("stateless", since[ines], doc=doc, payload='{"main levée": "Zoé"}')
        # Karim's edit, sent after, reaches everyone behind any stray stateless copy.
        await karim.insert_in(doc, "vu")
        for peer in (zoe, ines):
            await peer.wait_text_of(doc, "vu")
        told = {peer: [e for e in peer.events[since[peer]:] if e["event"] == "stateless"]
                for peer in (zoe, ines, karim)}
        assert told[zoe] == []
        assert len(told[ines]) == len(told[karim]) == 1
