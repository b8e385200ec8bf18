"""The hub over plain ASGI (uvicorn's stock protocol), as any other ASGI server runs it."""

from __future__ import annotations

from functools import partial

from client.session import Session, connect
from crdt.protocol import CloseCode, encode_sync_update
from tests.conftest import ServerFactory
from tests.e2e.api import all_synced, body, close_of, text_of


def has_both_articles(session: Session) -> bool:
    text = text_of(session)
    return "Article 1 — Zoé propose. " in text and "Article 2 — Élodie propose. " in text


async def test_clients_converge_and_late_joiner_syncs_over_plain_asgi(
    start_server: ServerFactory,
) -> None:
    async with start_server(direct_lane=False) as server:
        async with (
            connect(server.url, "charte", server.token()) as zoe,
            connect(server.url, "charte", server.token()) as elodie,
        ):
            await all_synced(zoe, elodie)
            body(zoe).insert(0, "Article 2 — Élodie propose. ")
            body(elodie).insert(0, "Article 1 — Zoé propose. ")
            for session in (zoe, elodie):
                await session.wait_for(partial(has_both_articles, session), timeout=10)
            expected = text_of(zoe)
            assert text_of(elodie) == expected
        async with connect(server.url, "charte", server.token()) as late:
            await late.wait_for(lambda: text_of(late) == expected, timeout=10)


async def test_invalid_update_closes_with_1007_over_plain_asgi(
    start_server: ServerFactory,
) -> None:
    async with start_server(direct_lane=False) as server:
        closed = await close_of(
            f"{server.ws_url}/ws/charte?token={server.token()}",
            encode_sync_update(b"not a yjs update"),
        )
        assert closed.code == CloseCode.INVALID_UPDATE
