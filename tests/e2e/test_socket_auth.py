"""Tokens and roles on the WebSocket: who may connect, read, write, and for how long."""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping

import anyio
import pytest
from pycrdt import Doc, Text
from websockets.asyncio.client import connect as ws_connect
from websockets.exceptions import ConnectionClosed

from client.api import PalabreApi
from client.errors import Forbidden, Unauthenticated
from client.session import connect
from crdt.protocol import (
    AuthMessage,
    CloseCode,
    SyncMessage,
    SyncStep,
    decode_message,
    encode_sync_step1,
    encode_sync_update,
)
from server.access.auth import Role, mint_token
from tests.conftest import ServerFactory
from tests.e2e.api import body, close_of, text_of

ARTICLE = "Article 1 — Chaque habitante et chaque habitant peut proposer un projet."


async def close_code_of(url: str) -> int:
    """Open a raw socket and return the code it is closed with."""
    return (await close_of(url)).code


def unsigned_token() -> str:
    def part(data: Mapping[str, object]) -> str:
        return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()

    claims = {"iss": "palabre", "sub": "mallory", "name": "Mallory", "role": "facilitator"}
    return f"{part({'alg': 'none', 'typ': 'JWT'})}.{part(claims)}."


@pytest.mark.parametrize(
    "token",
    [
        "pas-un-jeton",
        mint_token(b"x" * 32, sub="mallory", name="Mallory", role=Role.FACILITATOR),
        unsigned_token(),
    ],
    ids=["garbage", "another-secret", "alg-none"],
)
async def test_invalid_token_closes_with_4401(start_server: ServerFactory, token: str) -> None:
    async with start_server() as server:
        assert await close_code_of(f"{server.ws_url}/ws/charte?token={token}") == 4401


async def test_expired_token_closes_with_4401(start_server: ServerFactory) -> None:
    async with start_server(token_leeway_seconds=0.0) as server:
        token = server.token(now=1_000_000.0, ttl=60)
        assert await close_code_of(f"{server.ws_url}/ws/charte?token={token}") == 4401


async def test_no_token_is_public_and_may_not_read_a_private_document(
    start_server: ServerFactory,
) -> None:
    async with start_server() as server:
        assert await close_code_of(f"{server.ws_url}/ws/charte") == CloseCode.FORBIDDEN


async def test_token_limited_to_other_documents_is_forbidden(start_server: ServerFactory) -> None:
    async with start_server() as server:
        token = server.token(docs=["budget-*"])
        assert await close_code_of(f"{server.ws_url}/ws/charte?token={token}") == 4403
        with pytest.raises(Forbidden):
            async with connect(server.url, "charte", token, reconnect=False) as session:
                await session.synced()


async def test_python_client_raises_unauthenticated_for_a_bad_token(
    start_server: ServerFactory,
) -> None:
    async with start_server() as server:
        with pytest.raises(Unauthenticated):
            async with connect(server.url, "charte", "pas-un-jeton", reconnect=False) as s:
                await s.synced()


async def test_citizen_reads_live_but_its_writes_are_refused_and_never_relayed(
    start_server: ServerFactory,
) -> None:
    async with start_server() as server:
        async with PalabreApi(server.url, server.token("facilitator", "Loïc")) as api:
            await api.create_document("charte", "Charte")  # a citizen cannot create it
        member_token = server.token(name="Zoé")
        citizen_token = server.token("citizen", "Élodie")
        async with (
            connect(server.url, "charte", member_token) as zoe,
            connect(server.url, "charte", server.token(name="François")) as francois,
            connect(server.url, "charte", citizen_token) as elodie,
        ):
            body(zoe).insert(0, ARTICLE)
            await elodie.wait_for(lambda: text_of(elodie) == ARTICLE, timeout=10)
            await francois.wait_for(lambda: text_of(francois) == ARTICLE, timeout=10)

            body(elodie).insert(0, "Amendement non autorisé. ")
            await elodie.wait_for(lambda: len(elodie.denials) == 1, timeout=10)
            assert "read-only" in elodie.denials[0]
            assert elodie.is_connected

            # A later member edit still reaches the citizen: the socket stays open.
            body(zoe).insert(len(ARTICLE.encode()), " Fin.")
            await elodie.wait_for(lambda: text_of(elodie).endswith(" Fin."), timeout=10)
            await francois.wait_for(lambda: text_of(francois).endswith(" Fin."), timeout=10)
            assert "Amendement" not in text_of(francois)
            assert "Amendement" not in text_of(zoe)
        async with connect(server.url, "charte", member_token) as late:
            await late.wait_for(lambda: text_of(late) == ARTICLE + " Fin.", timeout=10)


async def test_raw_read_only_update_gets_permission_denied_and_changes_nothing(
    start_server: ServerFactory,
) -> None:
    async with start_server() as server:
        citizen = server.token("citizen", "Anaïs")
        async with connect(server.url, "charte", server.token()) as zoe:
            # Her socket creates the document: the citizen's may open only once it is in.
            await zoe.synced()
            body(zoe).insert(0, ARTICLE)
            async with connect(server.url, "charte", citizen) as reader:
                await reader.wait_for(lambda: text_of(reader) == ARTICLE, timeout=10)
            forged: Doc[Text] = Doc()
            body(forged).insert(0, "Falsifié. ")
            async with ws_connect(f"{server.ws_url}/ws/charte?token={citizen}") as socket:
                await socket.send(encode_sync_update(forged.get_update()))
                await socket.send(encode_sync_step1(b"\x00"))
                denied = None
                with anyio.fail_after(10):
                    while True:
                        message = decode_message(await socket.recv(decode=False))
                        if isinstance(message, AuthMessage):
                            denied = message.reason
                        if isinstance(message, SyncMessage) and message.step == SyncStep.STEP2:
                            break
                assert denied is not None and "read-only" in denied
                check: Doc[Text] = Doc()
                check.apply_update(message.payload)
                assert text_of(check) == ARTICLE
            assert text_of(zoe) == ARTICLE


async def test_nobody_writes_the_annotations_document_over_the_socket(
    start_server: ServerFactory,
) -> None:
    async with start_server() as server:
        token = server.token("facilitator", "Loïc")
        async with connect(server.url, "charte.annotations", token) as loic:
            body(loic).insert(0, "Commentaire direct")
            await loic.wait_for(lambda: len(loic.denials) == 1, timeout=10)
        async with connect(server.url, "charte.annotations", token) as reader:
            await reader.synced()
            assert text_of(reader) == ""


async def test_socket_closes_with_4401_when_its_token_expires(
    start_server: ServerFactory,
) -> None:
    async with start_server(token_leeway_seconds=0.0) as server:
        token = server.token(ttl=2)
        closed = await close_of(f"{server.ws_url}/ws/charte?token={token}", within=15)
        assert closed.code == CloseCode.UNAUTHENTICATED
        assert closed.reason == "token expired"


async def test_origin_outside_the_allow_list_is_forbidden(start_server: ServerFactory) -> None:
    allowed = "https://assemblee.example"
    async with start_server(allowed_origins=allowed) as server:
        url = f"{server.ws_url}/ws/charte?token={server.token()}"
        async with ws_connect(url, origin="https://intrus.example") as socket:  # type: ignore[arg-type]
            with anyio.fail_after(10), pytest.raises(ConnectionClosed) as closed:
                await socket.recv()
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 4403
        async with ws_connect(url, origin=allowed) as socket:  # type: ignore[arg-type]
            with anyio.fail_after(10):
                assert decode_message(await socket.recv(decode=False))
