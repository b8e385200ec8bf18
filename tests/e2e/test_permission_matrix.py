"""Every role x every action, over HTTP and over the socket, against a real server.

The expected answers are written out here, independently of `server/permissions.py`:
a refusal is checked to have changed nothing and leaked nothing to other clients.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from uuid import uuid4

import anyio
import httpx
import pytest
from pycrdt import Map

from client.session import Session, connect
from tests.conftest import RunningServer, ServerFactory
from tests.e2e.api import all_synced, body, text_of

ROLES = ("member", "facilitator", "citizen", "public")
MARKDOWN = "# Charte\n\n## Article 1\n\nLa commune garantit l'égalité des habitantes.\n"

#: role -> HTTP actions it may take (everything else must be 403).
AMENDING = {"propose_amendment", "propose_when_open", "support_amendment"}
DECIDING = {"accept_amendment", "reject_amendment", "rebase_amendment", "open_amendments"}
PEOPLE = {"list_people", "change_role", "remove_person"}
INVITING = {"invite", "list_invitations", "revoke_invitation"}
SESSIONS_READ = {"read_sessions", "read_session", "read_minutes"}
SESSIONS_RUN = {"open_session", "close_session", "give_floor", "lower_others_hand",
                "set_quorum"}
VOTES_READ = {"read_votes", "read_vote"}
VOTES_RUN = {"open_vote", "close_vote"}
ALLOWED = {
    "member": {"read", "comment", *AMENDING, *SESSIONS_READ, "raise_hand", *VOTES_READ,
               "vote"},
    "facilitator": {
        "read", "comment", "moderate", "snapshot", "freeze", "adopt", "create_document",
        "register_webhook", "read_audit", *AMENDING, *DECIDING, *PEOPLE, *INVITING,
        *SESSIONS_READ, *SESSIONS_RUN, "raise_hand", *VOTES_READ, *VOTES_RUN, "vote",
    },
    "citizen": {"read", "comment", "propose_when_open", "support_amendment", *SESSIONS_READ,
                *VOTES_READ},
    "public": set(),
}
CAN_EDIT_ON_SOCKET = {"member": True, "facilitator": True, "citizen": False}


@dataclass(slots=True)
class World:
    """A document made by a facilitator, with one comment, and clients per role."""

    server: RunningServer
    http: httpx.AsyncClient
    doc_id: str
    paragraph_id: str
    annotation_id: str
    amendment_id: str
    person: str
    """The subject of a citizen the server has seen (changed or removed by some actions)."""
    invitation: str = ""
    """An invitation a facilitator made (for the revocation)."""
    vote_id: str = ""
    """The vote opened on the amendment (by `prepare`, for the vote actions)."""

    def headers(self, role: str) -> dict[str, str]:
        if role == "public":
            return {}
        return {"Authorization": f"Bearer {self.server.token(role, f'{role} Élodie')}"}


@asynccontextmanager
async def world(server: RunningServer) -> AsyncIterator[World]:
    async with httpx.AsyncClient(base_url=server.url, timeout=20) as http:
        boss = {"Authorization": f"Bearer {server.token('facilitator', 'Anaïs')}"}
        doc_id = f"charte-{uuid4().hex[:8]}"
        created = await http.post(
            "/api/documents", json={"id": doc_id, "title": "Charte", "markdown": MARKDOWN},
            headers=boss,
        )
        assert created.status_code == 201, created.text
        blocks = (await http.get(f"/api/documents/{doc_id}/content?format=json", headers=boss))
        paragraph_id = next(b["id"] for b in blocks.json()["blocks"] if b["type"] == "paragraph")
        comment = await http.post(
            f"/api/documents/{doc_id}/annotations",
            json={"paragraph_id": paragraph_id, "body": "Préciser « habitantes »."},
            headers=boss,
        )
        assert comment.status_code == 201, comment.text
        amendment = await http.post(
            f"/api/documents/{doc_id}/amendments",
            json={"paragraph_id": paragraph_id, "kind": "replace",
                  "text": "La commune garantit l'égalité des habitants."},
            headers=boss,
        )
        assert amendment.status_code == 201, amendment.text
        person = f"cible-{uuid4().hex[:8]}"
        seen = await http.get(f"/api/documents/{doc_id}", headers={
            "Authorization": f"Bearer {server.token('citizen', 'Cible', sub=person)}"})
        assert seen.status_code == 200, seen.text
        yield World(server, http, doc_id, paragraph_id, comment.json()["id"],
                    amendment.json()["id"], person)


async def prepare(w: World, action: str) -> None:
    """What an action needs before it is tried (the facilitators opened amendments, a
    session is open, a member raised a hand, a session was closed)."""
    sessions = f"/api/documents/{w.doc_id}/sessions"
    boss = w.headers("facilitator")
    if action in (SESSIONS_READ | SESSIONS_RUN | VOTES_READ | VOTES_RUN | {
            "raise_hand", "vote"}) - {"open_session", "set_quorum"}:
        opened = await w.http.post(sessions, json={"title": "Séance 1"}, headers=boss)
        assert opened.status_code == 201, opened.text
    if action in VOTES_READ | {"close_vote", "vote"}:
        vote = await w.http.post(f"/api/documents/{w.doc_id}/votes", headers=boss,
                                 json={"amendment_ids": [w.amendment_id]})
        assert vote.status_code == 201, vote.text
        w.vote_id = vote.json()["id"]
    if action in ("give_floor", "lower_others_hand"):
        other = w.server.token("member", "Autre Membre")
        raised = await w.http.post(f"{sessions}/1/hands",
                                   headers={"Authorization": f"Bearer {other}"})
        assert raised.status_code == 200, raised.text
    if action == "read_minutes":
        closed = await w.http.post(f"{sessions}/1/close", headers=boss)
        assert closed.status_code == 200, closed.text
    if action == "revoke_invitation":
        made = await w.http.post("/api/invitations", json={"role": "citizen"}, headers=boss)
        assert made.status_code == 201, made.text
        w.invitation = made.json()["id"]
    if action == "propose_when_open":
        opened = await w.http.patch(f"/api/documents/{w.doc_id}",
                                    json={"amendments_open": True},
                                    headers=w.headers("facilitator"))
        assert opened.status_code == 200, opened.text


async def attempt(w: World, role: str, action: str) -> httpx.Response:
    """Try `action` as `role` over HTTP."""
    h, d = w.headers(role), w.doc_id
    base = f"/api/documents/{d}"
    if action == "read":
        return await w.http.get(f"{base}/content?format=md", headers=h)
    if action == "comment":
        return await w.http.post(
            f"{base}/annotations", json={"paragraph_id": w.paragraph_id, "body": "D'accord."},
            headers=h,
        )
    if action == "moderate":
        return await w.http.patch(
            f"{base}/annotations/{w.annotation_id}", json={"status": "resolved"}, headers=h
        )
    if action == "snapshot":
        return await w.http.post(
            f"{base}/snapshots", json={"label": "Séance 1", "stage": "premier jet"}, headers=h
        )
    if action == "freeze":
        return await w.http.post(f"{base}/freeze", json={}, headers=h)
    if action == "adopt":
        return await w.http.post(f"{base}/adopt", json={"label": "Texte adopté"}, headers=h)
    if action == "create_document":
        return await w.http.post(
            "/api/documents", json={"id": f"{d}-bis", "title": "Autre"}, headers=h
        )
    if action == "register_webhook":
        return await w.http.post(
            "/api/webhooks",
            json={"url": "http://127.0.0.1:9/recepteur", "events": ["document.changed"],
                  "doc_id": d},
            headers=h,
        )
    if action == "read_audit":
        return await w.http.get(f"{base}/audit", headers=h)
    amendment = f"{base}/amendments/{w.amendment_id}"
    if action in ("propose_amendment", "propose_when_open"):
        return await w.http.post(f"{base}/amendments", json={
            "paragraph_id": w.paragraph_id, "kind": "insert_after", "text": "Article 1 bis.",
        }, headers=h)
    if action == "support_amendment":
        return await w.http.post(f"{amendment}/support", headers=h)
    if action == "accept_amendment":
        return await w.http.post(f"{amendment}/accept", headers=h)
    if action == "reject_amendment":
        return await w.http.post(f"{amendment}/reject", json={"reason": "Non."}, headers=h)
    if action == "rebase_amendment":
        return await w.http.post(f"{amendment}/rebase", json={}, headers=h)
    if action == "open_amendments":
        return await w.http.patch(base, json={"amendments_open": True}, headers=h)
    sessions = f"{base}/sessions"
    if action == "read_sessions":
        return await w.http.get(sessions, headers=h)
    if action == "read_session":
        return await w.http.get(f"{sessions}/1", headers=h)
    if action == "read_minutes":
        return await w.http.get(f"{sessions}/1/minutes?format=md", headers=h)
    if action == "open_session":
        return await w.http.post(sessions, json={"title": "Audition", "kind": "hearing"},
                                 headers=h)
    if action == "close_session":
        return await w.http.post(f"{sessions}/1/close", headers=h)
    if action == "raise_hand":
        return await w.http.post(f"{sessions}/1/hands", headers=h)
    if action == "lower_others_hand":
        return await w.http.delete(f"{sessions}/1/hands?sub=autre-membre", headers=h)
    if action == "give_floor":
        return await w.http.post(f"{sessions}/1/floor", json={}, headers=h)
    if action == "set_quorum":
        return await w.http.patch(base, json={"quorum": 0.5}, headers=h)
    if action == "invite":
        return await w.http.post("/api/invitations", json={"role": "citizen"}, headers=h)
    if action == "list_invitations":
        return await w.http.get("/api/invitations", headers=h)
    if action == "revoke_invitation":
        return await w.http.delete(f"/api/invitations/{w.invitation}", headers=h)
    votes = f"{base}/votes"
    if action == "read_votes":
        return await w.http.get(votes, headers=h)
    if action == "read_vote":
        return await w.http.get(f"{votes}/{w.vote_id}", headers=h)
    if action == "open_vote":
        return await w.http.post(votes, json={"amendment_ids": [w.amendment_id],
                                              "ballot": "secret"}, headers=h)
    if action == "close_vote":
        return await w.http.post(f"{votes}/{w.vote_id}/close", headers=h)
    if action == "vote":
        return await present_and_voting(w, role)
    if action == "list_people":
        return await w.http.get("/api/people", headers=h)
    if action == "change_role":
        return await w.http.patch(f"/api/people/{w.person}", json={"role": "member"}, headers=h)
    if action == "remove_person":
        return await w.http.delete(f"/api/people/{w.person}", headers=h)
    raise AssertionError(action)


async def present_and_voting(w: World, role: str) -> httpx.Response:
    """Cast a ballot as `role`, present in the session (a socket open on the text) when
    the role may open one."""
    ballot = {"amendment_id": w.amendment_id, "choice": "for"}
    url = f"/api/documents/{w.doc_id}/votes/{w.vote_id}/ballots"
    if role == "public":
        return await w.http.post(url, json=ballot, headers=w.headers(role))
    name = f"{role} Élodie"
    async with connect(w.server.url, w.doc_id, w.server.token(role, name)) as page:
        await page.synced()
        await presence_is(w, name, True)
        answer = await w.http.post(url, json=ballot, headers=w.headers(role))
    await presence_is(w, name, False)  # the session's record as before the page came
    return answer


async def presence_is(w: World, name: str, present: bool) -> None:
    """Wait until `name` is (or is no longer) present in session 1."""
    with anyio.fail_after(10):
        while True:
            got = await w.http.get(f"/api/documents/{w.doc_id}/sessions/1",
                                   headers=w.headers("facilitator"))
            if (name in {p["name"] for p in got.json()["present"]}) == present:
                return
            await anyio.sleep(0.02)  # polling the server's record under the deadline


async def observable_state(w: World) -> tuple[object, ...]:
    """What a refused action must leave unchanged, read as a facilitator."""
    h, base = w.headers("facilitator"), f"/api/documents/{w.doc_id}"
    annotations = (await w.http.get(f"{base}/annotations", headers=h)).json()
    snapshots = (await w.http.get(f"{base}/snapshots", headers=h)).json()
    hooks = (await w.http.get("/api/webhooks", headers=h)).json()
    other = (await w.http.get(f"/api/documents/{w.doc_id}-bis", headers=h)).status_code
    content = (await w.http.get(f"{base}/content?format=md", headers=h)).text
    amendments = (await w.http.get(f"{base}/amendments", headers=h)).json()
    settings = (await w.http.get(base, headers=h)).json()
    people = (await w.http.get("/api/people", headers=h)).json()["people"]
    person = [(p["role"], p["removed"]) for p in people if p["sub"] == w.person]
    invitations = (await w.http.get("/api/invitations", headers=h)).json()
    sessions = (await w.http.get(f"{base}/sessions", headers=h)).json()
    session = (await w.http.get(f"{base}/sessions/1", headers=h)).json()
    audit = [e["action"] for e in (await w.http.get(f"{base}/audit", headers=h)).json()[
        "entries"] if not e["action"].startswith("socket.")]
    votes = (await w.http.get(f"{base}/votes", headers=h)).json()
    vote = (await w.http.get(f"{base}/votes/{w.vote_id or 'none'}", headers=h)).json()
    return (annotations, snapshots, hooks, other, content, amendments, settings, person,
            sessions, session, audit, invitations, votes, vote)


HTTP_ACTIONS = (
    "read", "comment", "moderate", "snapshot", "create_document", "register_webhook",
    "read_audit", *sorted(AMENDING), *sorted(DECIDING), *sorted(PEOPLE), *sorted(INVITING),
    "freeze", "adopt",
    *sorted(SESSIONS_READ), *sorted(SESSIONS_RUN), "raise_hand", *sorted(VOTES_READ),
    *sorted(VOTES_RUN), "vote",
)


@pytest.mark.parametrize("role", ROLES)
async def test_http_permission_matrix(start_server: ServerFactory, role: str) -> None:
    # The webhook receiver is on loopback: allowed as an operator would allow it.
    async with start_server(outbound_allow="127.0.0.1") as server:
        for action in HTTP_ACTIONS:
            async with world(server) as w:
                await prepare(w, action)
                before = await observable_state(w)
                answer = await attempt(w, role, action)
                if action in ALLOWED[role]:
                    assert answer.status_code in (200, 201, 204), (role, action, answer.text)
                else:
                    assert answer.status_code == 403, (role, action, answer.text)
                    assert answer.json()["error"] == "forbidden"
                    assert await observable_state(w) == before, (role, action)


@pytest.mark.parametrize("role", ("member", "facilitator", "citizen"))
async def test_socket_permission_matrix(start_server: ServerFactory, role: str) -> None:
    async with start_server() as server:
        witness_token = server.token("member", "Témoin")
        async with connect(server.url, "charte", witness_token) as witness:
            await witness.synced()  # the member's socket has created the document
            await edit_as(server, witness, role)
        async with connect(server.url, "charte", witness_token) as late:
            expected = f"Écrit par {role}. " if CAN_EDIT_ON_SOCKET[role] else "Témoin. "
            await late.wait_for(lambda: text_of(late) == expected, timeout=10)


@pytest.mark.parametrize("role", ("member", "facilitator", "citizen"))
async def test_no_role_writes_amendments_over_the_socket(
    start_server: ServerFactory, role: str
) -> None:
    """The amendments map of ``D.annotations`` is the server's: every socket write refused."""
    async with start_server() as server, world(server) as w:
        companion = w.doc_id + ".annotations"
        async with connect(server.url, companion, server.token(role, f"{role} Zoé")) as session:
            await session.synced()
            entry = session.doc.get("amendments", type=Map)[w.amendment_id]
            assert isinstance(entry, Map)
            entry["state"] = "accepted"
            await session.wait_for(lambda: len(session.denials) == 1, timeout=10)
        listed = await w.http.get(f"/api/documents/{w.doc_id}/amendments",
                                  headers=w.headers("facilitator"))
        assert [a["state"] for a in listed.json()["amendments"]] == ["submitted"]


async def edit_as(server: RunningServer, witness: Session, role: str) -> None:
    """`role` writes beside `witness`: seen if the role edits, refused otherwise."""
    async with connect(server.url, "charte", server.token(role, f"{role} Zoé")) as session:
        await all_synced(witness, session)
        body(session).insert(0, f"Écrit par {role}. ")
        if CAN_EDIT_ON_SOCKET[role]:
            await witness.wait_for(lambda: text_of(witness).startswith("Écrit"), timeout=10)
        else:
            await session.wait_for(lambda: len(session.denials) == 1, timeout=10)
            body(witness).insert(0, "Témoin. ")
            await session.wait_for(lambda: "Témoin. " in text_of(session), timeout=10)
            assert text_of(witness) == "Témoin. "
