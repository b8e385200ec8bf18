"""Sessions over real HTTP and real sockets: attendance, minutes, the queue, quorum."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import anyio
import httpx
from pycrdt import Doc, Map
from sqlalchemy import update

from client.session import Session, connect
from crdt.sessions import read_session
from storage.engine import create_engine, database_url_for
from storage.models import SessionRow
from tests.conftest import RunningServer, ServerFactory
from tests.e2e.api import http_as
from tests.e2e.test_cli_verify_archive import verify
from tests.e2e.test_governance import create, paragraph_text, type_into

DOC = "charte"
BASE = f"/api/documents/{DOC}/sessions"
AMELIE_WROTE = " Amendé par Amélie, édition « été »"


@asynccontextmanager
async def served(
    start_server: ServerFactory, **options: Any,
) -> AsyncIterator[tuple[RunningServer, httpx.AsyncClient]]:
    """A server holding the charter (presence counts from 0.2 s), its facilitator's client."""
    options.setdefault("session_min_presence_seconds", 0.2)
    options.setdefault("session_heartbeat_seconds", 0.2)
    async with start_server(**options) as server:
        await create(server)
        async with http_as(server) as api:
            yield server, api


async def open_session(api: httpx.AsyncClient, title: str = "Séance de travail n°7",
                       kind: str = "work") -> dict[str, Any]:
    opened = await api.post(BASE, json={"title": title, "kind": kind})
    assert opened.status_code == 201, opened.text
    found: dict[str, Any] = opened.json()
    return found


async def present_becomes(
    api: httpx.AsyncClient, number: int, names: set[str], *, within: float = 10,
) -> None:
    """Wait until the open session's ``present`` list is exactly `names`."""
    with anyio.fail_after(within):
        while True:
            got = await api.get(f"{BASE}/{number}")
            assert got.status_code == 200, got.text
            if {p["name"] for p in got.json()["present"]} == names:
                return
            await anyio.sleep(0.02)  # polling the server's record under the deadline


def deleted_from(session: Session, index: int, count: int) -> None:
    text = paragraph_text(session.doc, index)
    del text[0:count]  # ASCII at the start: bytes and characters agree


async def test_attendance_edits_and_minutes_follow_what_happened(
    start_server: ServerFactory,
) -> None:
    async with served(start_server) as (server, api):
        amelie, bruno = server.token(name="Amélie Poulain"), server.token(name="Bruno Ganz")
        citizen = server.token("citizen", name="Chloé Citoyenne")
        async with connect(server.url, DOC, amelie) as a:
            await a.synced()
            session = await open_session(api)
            assert (await api.post(BASE, json={"title": "Une autre"})).status_code == 409
            # Amélie was there before the opening; Bruno and a citizen join during it.
            async with connect(server.url, DOC, bruno) as b, \
                    connect(server.url, DOC, citizen) as c:
                await b.synced()
                await c.synced()
                await present_becomes(api, session["number"],
                                      {"Amélie Poulain", "Bruno Ganz", "Chloé Citoyenne"})
                type_into(a, 0, AMELIE_WROTE)
                type_into(b, 1, " Bruno ajoute")
                deleted_from(b, 2, 7)
                await a.flushed()
                await b.flushed()
                await b.wait_for(lambda: " Amendé par Amélie" in str(paragraph_text(b.doc, 0)))
                await a.wait_for(lambda: "Bruno ajoute" in str(paragraph_text(a.doc, 1)))
            await present_becomes(api, session["number"], {"Amélie Poulain"})
            # Bruno comes back: a second interval, merged with the first.
            async with connect(server.url, DOC, bruno) as b:
                await b.synced()
                await present_becomes(api, session["number"], {"Amélie Poulain", "Bruno Ganz"})
            await present_becomes(api, session["number"], {"Amélie Poulain"})
            closed = await api.post(f"{BASE}/{session['number']}/close")
        assert closed.status_code == 200, closed.text
        minutes = closed.json()
        people = {a["name"]: a for a in minutes["attendance"]}
        assert set(people) == {"Amélie Poulain", "Bruno Ganz", "Chloé Citoyenne"}
        assert people["Amélie Poulain"]["present"] and not people["Amélie Poulain"]["guest"]
        assert len(people["Bruno Ganz"]["intervals"]) == 2
        assert people["Chloé Citoyenne"]["guest"] and people["Chloé Citoyenne"]["role"] == "citizen"
        duration = minutes["closed_at"] - minutes["opened_at"]
        assert abs(people["Amélie Poulain"]["present_seconds"] - duration) < 0.05
        edits = {row["name"]: row for row in minutes["activity"]}
        assert edits["Amélie Poulain"]["chars_inserted"] == len(AMELIE_WROTE)
        assert edits["Amélie Poulain"]["chars_deleted"] == 0
        assert edits["Bruno Ganz"]["chars_inserted"] == len(" Bruno ajoute")
        assert edits["Bruno Ganz"]["chars_deleted"] == 7
        assert edits["Bruno Ganz"]["updates"] >= 1  # the client may send both in one
        # Stored once: read back the same, in three formats, and never changed by the API.
        again = await api.get(f"{BASE}/{session['number']}/minutes")
        assert again.json()["attendance"] == minutes["attendance"]
        markdown = await api.get(f"{BASE}/{session['number']}/minutes", params={"format": "md"})
        assert "| Bruno Ganz | member |" in markdown.text
        page = await api.get(f"{BASE}/{session['number']}/minutes", params={"format": "html"})
        assert page.headers["content-type"].startswith("text/html") and "<table>" in page.text
        assert (await api.post(f"{BASE}/{session['number']}/close")).status_code == 409
        listed = (await api.get(BASE)).json()["sessions"]
        assert [(s["number"], s["closed_at"] is not None) for s in listed] == [(1, True)]
        # A citizen reads the minutes with guests named by their role only.
        async with http_as(server, "citizen", "Chloé Citoyenne") as citizen_api:
            seen = (await citizen_api.get(f"{BASE}/1/minutes")).json()
        guests = [a for a in seen["attendance"] if a["guest"]]
        assert guests and all(g["name"] == "citizen" and g["sub"] is None for g in guests)
        # Members by their pseudonym (none chose to be named), no subject anywhere.
        members = [a for a in seen["attendance"] if not a["guest"]]
        assert members and all(m["name"].startswith("Membre ") and m["sub"] is None
                               for m in members)
        text = json.dumps(seen, ensure_ascii=False)
        assert "Amélie Poulain" not in text and "Bruno Ganz" not in text


async def test_sessions_are_chained_and_verify_archive_detects_a_tampered_one(
    start_server: ServerFactory,
) -> None:
    async with served(start_server) as (server, api):
        for n in range(2):
            session = await open_session(api, f"Audition {n}", "hearing")
            assert (await api.post(f"{BASE}/{session['number']}/close")).status_code == 200
        data_dir = str(server.settings.data_dir)
        code, out, err = await verify(DOC, "--data-dir", data_dir)
        assert code == 0, err
        assert "session #1 ok" in out and "2 session record(s), chain intact" in out
        # Nothing in the API changes stored minutes: only someone editing the database.
        assert (await api.post(f"{BASE}/1/close")).status_code == 409
        engine = create_engine(database_url_for(server.settings.data_dir))
        try:
            async with engine.begin() as conn:
                await conn.execute(update(SessionRow).where(
                    SessionRow.doc_id == DOC, SessionRow.number == 1
                ).values(minutes=json.dumps({"attendance": []})))
        finally:
            await engine.dispose()
        code, out, err = await verify(DOC, "--data-dir", data_dir)
        assert code != 0
        assert "session #1 BROKEN" in out and "session #2 unverified" in out
        assert "sessions chain broken at session #1" in err


async def test_speaking_queue_is_live_and_only_facilitators_give_the_floor(
    start_server: ServerFactory,
) -> None:
    async with served(start_server) as (server, api):
        session = await open_session(api)
        one = f"{BASE}/{session['number']}"
        async with http_as(server, "member", "Amélie Poulain") as amelie, \
                http_as(server, "member", "Bruno Ganz") as bruno, \
                http_as(server, "citizen", "Chloé Citoyenne") as chloe, \
                connect(server.url, DOC + ".annotations",
                        server.token("citizen", name="Chloé Citoyenne")) as page:
            await page.synced()
            assert (await amelie.post(one + "/hands")).status_code == 200
            assert (await bruno.post(one + "/hands")).status_code == 200
            await page.wait_for(lambda: len(read_session(page.doc).hands) == 2, timeout=10)
            # A citizen's socket syncs the public view: the members by their pseudonyms.
            pseudonyms = {p["name"]: p["pseudonym"]
                          for p in (await api.get("/api/people")).json()["people"]}
            assert [h.name for h in read_session(page.doc).hands] == [
                pseudonyms["Amélie Poulain"], pseudonyms["Bruno Ganz"]]
            refused = await chloe.post(one + "/hands")
            assert refused.status_code == 403 and refused.json()["error"] == "forbidden"
            assert (await amelie.post(one + "/floor", json={})).status_code == 403
            assert (await amelie.delete(one + "/hands", params={"sub": "bruno-ganz"})
                    ).status_code == 403
            given = await api.post(one + "/floor", json={})
            assert given.status_code == 200, given.text
            assert given.json()["floor"]["name"] == "Amélie Poulain"
            await page.wait_for(lambda: _floor(page.doc) == pseudonyms["Amélie Poulain"],
                                timeout=10)
            assert (await bruno.delete(one + "/hands")).status_code == 200
            await page.wait_for(lambda: not read_session(page.doc).hands, timeout=10)
            # A citizen's page cannot write the queue over the socket: refused, not relayed.
            queue = page.doc.get("session", type=Map)
            queue["floor"] = {"sub": "chloe", "name": "Chloé", "since": 0}
            await page.wait_for(lambda: bool(page.denials), timeout=10)
            state = (await api.get(one)).json()
            assert state["floor"]["name"] == "Amélie Poulain"
            cleared = await api.post(one + "/floor", json={"clear": True})
            assert cleared.json() == {"hands": [], "floor": None}
            no_hand = await api.post(one + "/floor", json={"sub": "personne"})
            assert no_hand.status_code == 422


def _floor(doc: Doc[Any]) -> str | None:
    floor = read_session(doc).floor
    return floor.name if floor else None


async def test_quorum_refuses_forces_and_records_the_members_present(
    start_server: ServerFactory,
) -> None:
    async with served(start_server) as (server, api):
        set_to = await api.patch(f"/api/documents/{DOC}", json={"quorum": 2})
        assert set_to.status_code == 200 and set_to.json()["quorum"] == 2, set_to.text
        bad = await api.patch(f"/api/documents/{DOC}", json={"quorum": 1.5})
        assert bad.status_code == 422 and "quorum" in bad.json()["detail"]
        outside = await api.post(f"/api/documents/{DOC}/adopt", json={})
        assert outside.status_code == 409 and outside.json()["error"] == "quorum_not_met"
        assert "open session" in outside.json()["detail"]
        session = await open_session(api, "Séance d'adoption", "adoption")
        async with connect(server.url, DOC, server.token(name="Amélie Poulain")) as a:
            await a.synced()
            await present_becomes(api, session["number"], {"Amélie Poulain"})
            below = await api.post(f"/api/documents/{DOC}/adopt", json={})
            assert below.status_code == 409 and "1 member(s) present, 2 needed" in \
                below.json()["detail"]
            async with connect(server.url, DOC, server.token(name="Bruno Ganz")) as b:
                await b.synced()
                await present_becomes(api, session["number"], {"Amélie Poulain", "Bruno Ganz"})
                adopted = await api.post(f"/api/documents/{DOC}/adopt", json={})
        assert adopted.status_code == 201, adopted.text
        present = {p["name"] for p in adopted.json()["session"]["members_present"]}
        assert present == {"Amélie Poulain", "Bruno Ganz"}
        await api.post(f"/api/documents/{DOC}/unfreeze")
        forced = await api.post(f"/api/documents/{DOC}/adopt", json={"force": True})
        assert forced.status_code == 201, forced.text
        assert forced.json()["session"]["forced"] is True
        audit = (await api.get(f"/api/documents/{DOC}/audit")).json()["entries"]
        actions = [e["action"] for e in audit]
        assert "adoption.forced" in actions
        adopted_entries = [e for e in audit if e["action"] == "document.adopted"]
        assert {p["name"] for p in adopted_entries[-1]["detail"]["session"]["members_present"]
                } == {"Amélie Poulain", "Bruno Ganz"}
        closed = (await api.post(f"{BASE}/{session['number']}/close")).json()
        assert [d["action"] for d in closed["decisions"]].count("document.adopted") == 2
        assert json.dumps(closed)  # JSON all the way down
