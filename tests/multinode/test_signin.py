"""Sign-in sessions across nodes (real PostgreSQL and Redis): a session opened on one node
authenticates on the other (the table is shared); signing out everywhere on one node closes
the sockets the cookie opened on the other, and removing the person closes them too."""

from __future__ import annotations

from pathlib import Path
from uuid import uuid4

import httpx

from client.api import PalabreApi
from crdt.protocol import CloseCode
from tests.conftest import postgres_or_skip
from tests.e2e.test_hostile_lifetimes import closed
from tests.e2e.test_signin import COOKIE, cookie_socket, csrf_of, page_headers, signed_in
from tests.multinode.nodes import redis_or_skip, start_cluster


async def test_sign_out_everywhere_on_one_node_closes_cookie_sockets_on_the_other(
    tmp_path: Path,
) -> None:
    redis_url, database_url = await redis_or_skip(), await postgres_or_skip()
    doc_id, sub = f"session-{uuid4().hex[:8]}", f"ines-{uuid4().hex[:8]}"
    async with start_cluster(tmp_path, 2, redis_url=redis_url,
                             database_url=database_url) as (first, second):
        async with PalabreApi(first.url, first.token("facilitator", "Loïc Ménard")) as api:
            await api.create_document(doc_id, "Charte", markdown="Texte.")
        token = first.token("member", "Inès Haddad", sub=sub)
        async with signed_in(first, token) as here, signed_in(first, token) as phone:
            # The same cookie works on the other node (a load balancer may send it there).
            async with httpx.AsyncClient(base_url=second.url) as there:
                there.cookies.set(COOKIE, here.cookies.get(COOKIE) or "")
                assert (await there.get("/auth/session")).json()["sub"] == sub
            async with (
                cookie_socket(second, here, doc_id) as on_second,
                cookie_socket(first, phone, doc_id) as on_first,
            ):
                await on_second.recv()
                await on_first.recv()
                out = await here.post("/auth/logout?everywhere=true",
                                      headers=page_headers(first, await csrf_of(here)))
                assert out.json()["ended"] == 2
                assert await closed(on_second) == (CloseCode.FORBIDDEN, "signed out")
                assert await closed(on_first) == (CloseCode.FORBIDDEN, "signed out")
