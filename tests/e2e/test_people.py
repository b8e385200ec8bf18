"""People and rights (issue 17): subjects seen are listed; a facilitator's role change
reaches open sockets at once (y-websocket refuses writes, Hocuspocus gets the read-only
scope); removing a person closes their sockets with 4403 and refuses their credentials."""

from __future__ import annotations

from uuid import uuid4

import anyio
import httpx
import pytest
from websockets.asyncio.client import connect as ws_connect

from client.errors import SessionClosed
from client.session import connect
from crdt.hocuspocus import AuthScope, HocuspocusAuth
from crdt.protocol import CloseCode
from server.sync.connection import READ_ONLY_NOTICE
from tests.conftest import ServerFactory
from tests.e2e.api import all_synced, body, text_of
from tests.e2e.test_hostile_lifetimes import closed
from tests.e2e.test_hostile_sockets import auth_answer, auth_frame, create_document

WAIT = 15


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def person(http: httpx.AsyncClient, boss: str, sub: str) -> dict[str, object]:
    listed = await http.get("/api/people", headers=bearer(boss))
    assert listed.status_code == 200, listed.text
    found = [p for p in listed.json()["people"] if p["sub"] == sub]
    assert len(found) == 1, listed.json()
    entry: dict[str, object] = found[0]
    return entry


async def test_demoting_a_member_turns_open_sockets_read_only_at_once(
    start_server: ServerFactory,
) -> None:
    doc_id, sub = f"charte-{uuid4().hex[:8]}", f"zoe-{uuid4().hex[:8]}"
    async with start_server() as server, httpx.AsyncClient(base_url=server.url) as http:
        boss = server.token("facilitator", "Anaïs Fabre")
        await create_document(server, doc_id)
        member = server.token("member", "Zoé Lefèvre", sub=sub)
        async with (
            connect(server.url, doc_id, boss) as witness,
            connect(server.url, doc_id, member) as typist,
            ws_connect(f"{server.ws_url}/hocuspocus") as tiptap,
        ):
            await tiptap.send(auth_frame(doc_id, member))
            assert await auth_answer(tiptap, doc_id) == (
                HocuspocusAuth.AUTHENTICATED, AuthScope.READ_WRITE)
            await all_synced(witness, typist)
            body(typist).insert(0, "avant ")
            await witness.wait_for(lambda: text_of(witness) == "avant ", timeout=WAIT)
            seen = await person(http, boss, sub)
            assert (seen["name"], seen["role"], seen["removed"]) == ("Zoé Lefèvre", "member",
                                                                     False)

            changed = await http.patch(f"/api/people/{sub}", json={"role": "citizen"},
                                       headers=bearer(boss))
            assert changed.status_code == 200, changed.text
            assert changed.json()["role"] == "citizen"
            assert changed.json()["credential_role"] == "member"
            # Told at once on both lanes, before anything else is tried.
            await typist.wait_for(lambda: READ_ONLY_NOTICE in typist.denials, timeout=WAIT)
            assert await auth_answer(tiptap, doc_id) == (
                HocuspocusAuth.AUTHENTICATED, AuthScope.READ_ONLY)
            body(typist).insert(0, "après ")
            await typist.wait_for(lambda: len(typist.denials) >= 2, timeout=WAIT)
            body(witness).insert(len(text_of(witness)), "fin")
            await typist.wait_for(lambda: text_of(typist).endswith("fin"), timeout=WAIT)
            assert text_of(witness) == "avant fin"
            assert typist.is_connected
            # Its credential now stands for a citizen on the API too.
            created = await http.post("/api/documents", json={"id": doc_id + "-x", "title": "x"},
                                      headers=bearer(member))
            assert created.status_code == 403
        # A new socket with the same token is read-only from the start.
        async with connect(server.url, doc_id, member) as again:
            await again.synced()
            body(again).insert(0, "encore ")
            await again.wait_for(lambda: len(again.denials) >= 1, timeout=WAIT)


async def test_removing_a_person_closes_their_sockets_and_refuses_their_tokens(
    start_server: ServerFactory,
) -> None:
    doc_id, sub = f"charte-{uuid4().hex[:8]}", f"yann-{uuid4().hex[:8]}"
    async with start_server() as server, httpx.AsyncClient(base_url=server.url) as http:
        boss = server.token("facilitator", "Anaïs Fabre")
        await create_document(server, doc_id)
        member = server.token("member", "Yann Le Goff", sub=sub)
        other = server.token("member", "Inès Haddad")
        async with (
            ws_connect(f"{server.ws_url}/ws/{doc_id}?token={member}") as raw,
            ws_connect(f"{server.ws_url}/hocuspocus") as tiptap,
            connect(server.url, doc_id, other) as kept,
        ):
            await raw.recv()
            await tiptap.send(auth_frame(doc_id, member))
            assert (await auth_answer(tiptap, doc_id))[0] == HocuspocusAuth.AUTHENTICATED
            await kept.synced()
            removed = await http.delete(f"/api/people/{sub}", headers=bearer(boss))
            assert removed.status_code == 204, removed.text
            with anyio.fail_after(WAIT):
                assert await closed(raw) == (CloseCode.FORBIDDEN, "access revoked")
                assert (await closed(tiptap))[0] == CloseCode.FORBIDDEN
            body(kept).insert(0, "toujours là")
            await kept.wait_for(lambda: text_of(kept) == "toujours là", timeout=WAIT)
        refused = await http.get(f"/api/documents/{doc_id}", headers=bearer(member))
        assert refused.status_code == 401
        assert "revoked" in refused.json()["detail"]
        with pytest.raises(SessionClosed) as ended:
            async with connect(server.url, doc_id, member, reconnect=False) as again:
                await again.synced()
        assert ended.value.code == CloseCode.UNAUTHENTICATED
        entry = await person(http, boss, sub)
        assert entry["removed"] is True


async def test_people_routes_refuse_bad_input_and_self_changes(
    start_server: ServerFactory,
) -> None:
    async with start_server() as server, httpx.AsyncClient(base_url=server.url) as http:
        boss_token = server.token("facilitator", "Anaïs Fabre", sub="anais-boss")
        boss = bearer(boss_token)
        target = f"cible-{uuid4().hex[:8]}"
        seen = await http.get("/api/documents", headers=bearer(
            server.token("citizen", "Cible", sub=target)))
        assert seen.status_code == 200
        cases = [
            (http.patch("/api/people/nobody-ever", json={"role": "member"}, headers=boss),
             404, "not_found"),
            (http.delete("/api/people/nobody-ever", headers=boss), 404, "not_found"),
            (http.patch(f"/api/people/{target}", json={"role": "public"}, headers=boss),
             422, None),
            (http.patch(f"/api/people/{target}", json={"role": "roi"}, headers=boss), 422, None),
            (http.patch(f"/api/people/{target}", json={"role": "member", "x": 1}, headers=boss),
             422, None),
            (http.patch(f"/api/people/{target}", json={}, headers=boss), 422, None),
            (http.patch("/api/people/anais-boss", json={"role": "member"}, headers=boss),
             409, None),
            (http.delete("/api/people/anais-boss", headers=boss), 409, None),
            (http.delete("/api/people/" + "x" * 300, headers=boss), 422, None),
        ]
        for request, status, code in cases:
            answer = await request
            assert answer.status_code == status, answer.text
            assert set(answer.json()) == {"error", "detail"}
            if code is not None:
                assert answer.json()["error"] == code
        entry = await person(http, boss_token, target)
        assert (entry["role"], entry["removed"]) == ("citizen", False)
