"""Invitations (issue 17): a facilitator makes a link; the invited person names themselves
and is signed in with the invitation's role and documents; limits in uses and time hold
(also when two people race for the last use); revocation; who may invite; unknown ids."""

from __future__ import annotations

import time
from uuid import uuid4

import anyio
import httpx
import pytest

from tests.conftest import RunningServer, ServerFactory
from tests.e2e.test_hostile_sockets import create_document
from tests.e2e.test_signin import COOKIE

WAIT = 15


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def invite(server: RunningServer, **body: object) -> dict[str, object]:
    """A facilitator's new invitation."""
    async with httpx.AsyncClient(base_url=server.url) as http:
        made = await http.post("/api/invitations", json=body,
                               headers=bearer(server.token("facilitator", "Anaïs Fabre")))
    assert made.status_code == 201, made.text
    invitation: dict[str, object] = made.json()
    return invitation


async def accept(server: RunningServer, invitation_id: object, name: str) -> httpx.Response:
    """Post the invitation page's form as a browser would (its own origin)."""
    async with httpx.AsyncClient(base_url=server.url) as browser:
        return await browser.post(
            f"/auth/invitations/{invitation_id}", data={"name": name},
            headers={"Origin": server.url})


async def test_an_invited_person_signs_in_with_the_role_and_documents(
    start_server: ServerFactory,
) -> None:
    doc_id = f"charte-{uuid4().hex[:8]}"
    async with start_server() as server, httpx.AsyncClient(base_url=server.url) as browser:
        await create_document(server, doc_id)
        invitation = await invite(server, role="member", docs=[doc_id], uses=2,
                                  note="Atelier du jeudi")
        assert invitation["url"] == f"{server.url}/invite/{invitation['id']}"
        assert (invitation["used"], invitation["uses"], invitation["revoked"]) == (0, 2, False)
        page = await browser.get(f"/invite/{invitation['id']}")
        assert page.status_code == 200 and "Atelier du jeudi" in page.text
        assert 'name="name"' in page.text or "name=name" in page.text
        signed = await browser.post(f"/auth/invitations/{invitation['id']}",
                                    data={"name": "Élodie Lefèvre"},
                                    headers={"Origin": server.url})
        assert signed.status_code == 303
        assert signed.headers["location"] == f"/d/{doc_id}"
        assert browser.cookies.get(COOKIE)
        me = (await browser.get("/auth/session")).json()
        assert (me["name"], me["role"], me["docs"], me["via"]) == (
            "Élodie Lefèvre", "member", [doc_id], "invitation")
        assert me["sub"].startswith("elodie-lefevre-")
        assert (await browser.get(f"/api/documents/{doc_id}")).status_code == 200
        # Limited to the invitation's document.
        other = f"budget-{uuid4().hex[:8]}"
        await create_document(server, other)
        assert (await browser.get(f"/api/documents/{other}")).status_code == 403
        # Listed among people and invitations; two names from one link are two people.
        json_signed = await browser.post(f"/auth/invitations/{invitation['id']}",
                                         json={"name": "Élodie Lefèvre"})
        assert json_signed.status_code == 201, json_signed.text
        assert json_signed.json()["sub"] != me["sub"]
        assert json_signed.json()["next"] == f"/d/{doc_id}"
        boss = bearer(server.token("facilitator", "Anaïs Fabre"))
        listed = (await browser.get("/api/invitations", headers=boss)).json()["invitations"]
        assert [(i["id"], i["used"]) for i in listed] == [(invitation["id"], 2)]
        with anyio.fail_after(WAIT):
            while True:  # sightings are written off the request path
                people = (await browser.get("/api/people", headers=boss)).json()["people"]
                if me["sub"] in {p["sub"] for p in people}:
                    break
                await anyio.sleep(0.05)
        # Used up.
        spent = await accept(server, invitation["id"], "Troisième")
        assert spent.status_code == 410 and spent.json()["error"] == "gone"
        assert "used as many times" in spent.json()["detail"]
        page = await browser.get(f"/invite/{invitation['id']}")
        assert page.status_code == 410


async def test_expired_and_revoked_invitations_let_nobody_in(
    start_server: ServerFactory,
) -> None:
    async with start_server() as server, httpx.AsyncClient(base_url=server.url) as http:
        boss = bearer(server.token("facilitator", "Anaïs Fabre"))
        short = await invite(server, role="citizen", ttl_seconds=1, uses=5)
        revoked = await invite(server, role="citizen", uses=5)
        gone = await http.delete(f"/api/invitations/{revoked['id']}", headers=boss)
        assert gone.status_code == 204
        refused = await accept(server, revoked["id"], "Yann")
        assert refused.status_code == 410 and "revoked" in refused.json()["detail"]
        with anyio.fail_after(WAIT):  # the server's expiry instant, by the clock
            await anyio.sleep(max(0.0, float(str(short["expires_at"])) + 0.05 - time.time()))
        expired = await accept(server, short["id"], "Yann")
        assert expired.status_code == 410 and "expired" in expired.json()["detail"]
        unknown = await http.delete("/api/invitations/nope", headers=boss)
        assert unknown.status_code == 404
        assert unknown.json() == {"error": "not_found", "detail": "no invitation 'nope'"}
        assert (await accept(server, "nope", "Yann")).status_code == 404
        assert (await http.get("/invite/nope")).status_code == 404
        listed = (await http.get("/api/invitations", headers=boss)).json()["invitations"]
        assert {i["id"]: i["used"] for i in listed} == {short["id"]: 0, revoked["id"]: 0}


async def test_the_last_use_goes_to_one_person_only(start_server: ServerFactory) -> None:
    async with start_server() as server:
        invitation = await invite(server, role="member", uses=1)
        results: list[int] = []

        async def race(name: str) -> None:
            results.append((await accept(server, invitation["id"], name)).status_code)

        async with anyio.create_task_group() as tg:
            for n in range(6):
                tg.start_soon(race, f"Personne {n}")
        assert sorted(results) == [303] + [410] * 5


@pytest.mark.parametrize("role", ["member", "citizen", None])
async def test_only_facilitators_invite(start_server: ServerFactory, role: str | None) -> None:
    async with start_server() as server, httpx.AsyncClient(base_url=server.url) as http:
        headers = bearer(server.token(role, "Zoé")) if role else {}
        made = await http.post("/api/invitations", json={"role": "member"}, headers=headers)
        assert made.status_code == 403, made.text
        assert (await http.get("/api/invitations", headers=headers)).status_code == 403
        invitation = await invite(server, role="member")
        revoked = await http.delete(f"/api/invitations/{invitation['id']}", headers=headers)
        assert revoked.status_code == 403
        limited = bearer(server.token("facilitator", "Anaïs", docs=["charte"]))
        assert (await http.get("/api/invitations", headers=limited)).status_code == 403


async def test_bad_invitations_and_bad_guests_are_refused(start_server: ServerFactory) -> None:
    async with start_server() as server, httpx.AsyncClient(base_url=server.url) as http:
        boss = bearer(server.token("facilitator", "Anaïs Fabre"))
        for body in ({"role": "public"}, {"role": "king"}, {"role": "member", "uses": 0},
                     {"role": "member", "uses": 10**9}, {"role": "member", "docs": []},
                     {"role": "member", "ttl_seconds": 10**12}, {"role": "member", "x": 1}):
            refused = await http.post("/api/invitations", json=body, headers=boss)
            assert refused.status_code == 422, (body, refused.text)
        assert (await http.get("/api/invitations", headers=boss)).json()["invitations"] == []
        invitation = await invite(server, role="member", uses=5)
        for name in ("", "   ", "x" * 101, "!!!"):
            assert (await accept(server, invitation["id"], name)).status_code == 422
        cross = await http.post(f"/auth/invitations/{invitation['id']}", data={"name": "Yann"},
                                headers={"Origin": "https://evil.example"})
        assert cross.status_code == 403
        # next= goes only to a local path.
        away = await http.post(f"/auth/invitations/{invitation['id']}", headers={
            "Origin": server.url}, data={"name": "Yann", "next": "https://evil.example/x"})
        assert away.status_code == 303 and away.headers["location"] == "/"
        for target in ("//evil.example", "/\\evil.example", "javascript:alert(1)"):
            away = await http.post(f"/auth/invitations/{invitation['id']}", headers={
                "Origin": server.url}, data={"name": "Yann", "next": target})
            assert away.headers.get("location") == "/", target
        listed = (await http.get("/api/invitations", headers=boss)).json()["invitations"]
        assert listed[0]["used"] == 4
