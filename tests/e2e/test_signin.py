"""Web sign-in sessions (issue 17): a cookie that authenticates the page, its API calls and
its sockets; its flags; CSRF refusals; sign-out here and everywhere; idle and absolute
expiry; removal of a person ends their sessions and closes the sockets the cookie opened;
a session id held before sign-in is never kept after it."""

from __future__ import annotations

import secrets
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Protocol
from uuid import uuid4

import anyio
import httpx
from websockets.asyncio.client import ClientConnection
from websockets.asyncio.client import connect as ws_connect

from crdt.hocuspocus import AuthScope, HocuspocusAuth
from crdt.protocol import CloseCode
from server.app.factory import PalabreApp
from tests.conftest import ServerFactory
from tests.e2e.test_hostile_lifetimes import closed
from tests.e2e.test_hostile_sockets import auth_answer, auth_frame, create_document

WAIT = 15
COOKIE = "palabre_session"


class Served(Protocol):
    """A server in this process or another one (the multi-node tests)."""

    @property
    def url(self) -> str:
        """The HTTP base URL."""
        ...

    @property
    def ws_url(self) -> str:
        """The WebSocket base URL."""
        ...


@asynccontextmanager
async def signed_in(server: Served, token: str) -> AsyncIterator[httpx.AsyncClient]:
    """A browser-like client (it keeps cookies) signed in by exchanging `token`."""
    async with httpx.AsyncClient(base_url=server.url, timeout=30) as browser:
        answer = await browser.post("/auth/session",
                                    headers={"Authorization": f"Bearer {token}"})
        assert answer.status_code == 201, answer.text
        assert browser.cookies.get(COOKIE)
        yield browser


async def csrf_of(browser: httpx.AsyncClient) -> str:
    """The CSRF token the page reads from ``GET /auth/session``."""
    session = (await browser.get("/auth/session")).json()
    assert session["signed_in"] is True, session
    token: str = session["csrf_token"]
    return token


def page_headers(server: Served, csrf: str | None = None) -> dict[str, str]:
    """What the page's own fetches send on unsafe requests."""
    headers = {"Origin": server.url}
    if csrf is not None:
        headers["X-CSRF-Token"] = csrf
    return headers


@asynccontextmanager
async def cookie_socket(
    server: Served, browser: httpx.AsyncClient, doc_id: str, *,
    origin: str | None = "own",
) -> AsyncIterator[ClientConnection]:
    """A ``/ws`` socket authenticated by the browser's cookie alone."""
    headers = {"Cookie": f"{COOKIE}={browser.cookies.get(COOKIE)}"}
    if origin is not None:
        headers["Origin"] = server.url if origin == "own" else origin
    async with ws_connect(f"{server.ws_url}/ws/{doc_id}", additional_headers=headers) as ws:
        yield ws


async def status_with(server: Served, session_id: str | None, path: str) -> int:
    """The status of ``GET path`` sent with that session id alone (a replayed cookie)."""
    async with httpx.AsyncClient(base_url=server.url) as other:
        answer = await other.get(path, headers={"Cookie": f"{COOKIE}={session_id}"})
        return answer.status_code


async def wait_until_signed_out(browser: httpx.AsyncClient, within: float = WAIT) -> str:
    """Poll ``GET /auth/session`` until it says signed out; its detail."""
    with anyio.fail_after(within):
        while True:
            answer = (await browser.get("/auth/session")).json()
            if answer["signed_in"] is False:
                detail: str = answer.get("detail", "")
                return detail
            await anyio.sleep(0.1)  # polling the server: nothing to wait on but time


async def test_the_cookie_authenticates_the_api_and_sockets_with_its_flags(
    start_server: ServerFactory,
) -> None:
    doc_id = f"charte-{uuid4().hex[:8]}"
    async with start_server() as server:
        await create_document(server, doc_id)
        async with httpx.AsyncClient(base_url=server.url) as raw:
            answer = await raw.post("/auth/session", headers={
                "Authorization": f"Bearer {server.token('member', 'Zoé Lefèvre')}"})
            assert answer.status_code == 201, answer.text
            flags = answer.headers["set-cookie"].lower()
            assert flags.startswith(f"{COOKIE}=")
            assert "httponly" in flags and "samesite=lax" in flags and "path=/" in flags
            assert "secure" not in flags and "domain" not in flags
            # Behind an HTTPS proxy (uvicorn trusts loopback's X-Forwarded-Proto).
            secure = await raw.post("/auth/session", headers={
                "Authorization": f"Bearer {server.token('member', 'Zoé Lefèvre')}",
                "X-Forwarded-Proto": "https"})
            flags = secure.headers["set-cookie"].lower()
            assert flags.startswith(f"__host-{COOKIE}=")
            assert "secure" in flags and "httponly" in flags and "domain" not in flags
            assert (await raw.post("/auth/session")).status_code == 401
        async with signed_in(server, server.token("member", "Zoé Lefèvre")) as browser:
            session = (await browser.get("/auth/session")).json()
            assert (session["name"], session["role"], session["via"]) == (
                "Zoé Lefèvre", "member", "token")
            assert (await browser.get(f"/api/documents/{doc_id}")).status_code == 200
            async with cookie_socket(server, browser, doc_id) as ws:
                assert (await ws.recv())[:1] == b"\x00"  # sync step 1: admitted
            # Another site's page cannot open a socket as its visitor, nor a client without
            # an Origin.
            async with cookie_socket(server, browser, doc_id, origin="https://evil.example") as ws:
                assert (await closed(ws))[0] == CloseCode.FORBIDDEN
            async with cookie_socket(server, browser, doc_id, origin=None) as ws:
                assert (await closed(ws))[0] == CloseCode.FORBIDDEN
            # A bearer token still wins and works as before.
            boss = server.token("facilitator", "Anaïs Fabre")
            listed = await browser.get("/api/people", headers={"Authorization": f"Bearer {boss}"})
            assert listed.status_code == 200


async def test_unsafe_cookie_requests_need_the_same_origin_and_the_csrf_token(
    start_server: ServerFactory,
) -> None:
    async with start_server() as server:
        async with signed_in(server, server.token("facilitator", "Anaïs Fabre")) as browser:
            csrf = await csrf_of(browser)
            new = {"id": "charte-csrf", "title": "Charte"}
            no_token = await browser.post("/api/documents", json=new,
                                          headers=page_headers(server))
            assert no_token.status_code == 403
            assert "CSRF token missing" in no_token.json()["detail"]
            wrong = await browser.post("/api/documents", json=new,
                                       headers=page_headers(server, "x" + csrf[1:]))
            assert wrong.status_code == 403 and "CSRF token wrong" in wrong.json()["detail"]
            elsewhere = await browser.post("/api/documents", json=new, headers={
                "Origin": "https://evil.example", "X-CSRF-Token": csrf})
            assert elsewhere.status_code == 403
            assert "cross-site" in elsewhere.json()["detail"]
            no_origin = await browser.post("/api/documents", json=new,
                                           headers={"X-CSRF-Token": csrf})
            assert no_origin.status_code == 403
            assert (await browser.get("/api/documents/charte-csrf")).status_code == 404
            made = await browser.post("/api/documents", json=new,
                                      headers=page_headers(server, csrf))
            assert made.status_code == 201, made.text
            assert made.json()["created_by"] == "anais-fabre"
            # The Referer stands in for a missing Origin.
            referred = await browser.post(
                "/api/documents", json={"id": "charte-2", "title": "Deux"},
                headers={"Referer": f"{server.url}/d/charte-csrf", "X-CSRF-Token": csrf})
            assert referred.status_code == 201, referred.text


async def test_sign_out_here_and_everywhere_closes_the_sockets_of_those_sessions(
    start_server: ServerFactory,
) -> None:
    sub, doc_id = f"zoe-{uuid4().hex[:8]}", f"charte-{uuid4().hex[:8]}"
    async with start_server() as server:
        await create_document(server, doc_id)
        token = server.token("member", "Zoé Lefèvre", sub=sub)
        async with (
            signed_in(server, token) as laptop, signed_in(server, token) as phone,
            signed_in(server, token) as tablet,
            cookie_socket(server, laptop, doc_id) as laptop_ws,
            cookie_socket(server, phone, doc_id) as phone_ws,
            cookie_socket(server, tablet, doc_id) as tablet_ws,
            ws_connect(f"{server.ws_url}/ws/{doc_id}?token={token}") as bot_ws,
        ):
            for ws in (laptop_ws, phone_ws, tablet_ws, bot_ws):
                await ws.recv()
            old = laptop.cookies.get(COOKIE)
            refused = await laptop.post("/auth/logout", headers=page_headers(server))
            assert refused.status_code == 403
            out = await laptop.post("/auth/logout",
                                    headers=page_headers(server, await csrf_of(laptop)))
            assert out.status_code == 200 and out.json()["ended"] == 1
            assert await closed(laptop_ws) == (CloseCode.FORBIDDEN, "signed out")
            assert laptop.cookies.get(COOKIE) is None
            assert (await laptop.get("/auth/session")).json()["signed_in"] is False
            # The old id, replayed, is dead.
            assert await status_with(server, old, "/api/documents") == 401
            assert (await phone.get("/auth/session")).json()["signed_in"] is True
            everywhere = await phone.post("/auth/logout?everywhere=true",
                                          headers=page_headers(server, await csrf_of(phone)))
            assert everywhere.json()["ended"] == 2
            assert await closed(phone_ws) == (CloseCode.FORBIDDEN, "signed out")
            assert await closed(tablet_ws) == (CloseCode.FORBIDDEN, "signed out")
            assert "sign in again" in await wait_until_signed_out(tablet)
            # A token's socket of the same person is not a sign-in session: it stays.
            with anyio.fail_after(WAIT):
                await (await bot_ws.ping())
            bad = await phone.post("/auth/logout?everywhere=maybe", headers=page_headers(server))
            assert bad.status_code == 400


async def test_sessions_end_when_idle_and_at_their_absolute_expiry(
    start_server: ServerFactory,
) -> None:
    doc_id = f"charte-{uuid4().hex[:8]}"
    async with start_server(signin_idle_seconds=1.0) as server:
        async with signed_in(server, server.token("member", "Zoé Lefèvre")) as browser:
            idle_end = (await browser.get("/auth/session")).json()["idle_expires_at"]
            # Any use would keep it alive: wait, without using it, for the server's idle end.
            with anyio.fail_after(WAIT):
                await anyio.sleep(max(0.0, idle_end + 0.05 - time.time()))
            assert "expired" in await wait_until_signed_out(browser)
    async with start_server(signin_absolute_seconds=2.0, token_leeway_seconds=0.2) as server:
        await create_document(server, doc_id)
        async with (
            signed_in(server, server.token("member", "Zoé Lefèvre")) as browser,
            cookie_socket(server, browser, doc_id) as ws,
        ):
            session_id = browser.cookies.get(COOKIE)
            await ws.recv()
            # Open and in use, it still ends at its absolute expiry; its socket closes then.
            assert (await closed(ws, within=WAIT))[0] == CloseCode.UNAUTHENTICATED
            # The browser drops the cookie then (its Max-Age); the server refuses it anyway.
            assert await status_with(server, session_id, f"/api/documents/{doc_id}") == 401


async def test_removing_a_person_ends_their_sessions_and_closes_cookie_sockets(
    start_server: ServerFactory,
) -> None:
    doc_id, sub = f"charte-{uuid4().hex[:8]}", f"yann-{uuid4().hex[:8]}"
    async with start_server() as server:
        await create_document(server, doc_id)
        boss = server.token("facilitator", "Anaïs Fabre")
        async with (
            signed_in(server, server.token("member", "Yann Le Goff", sub=sub)) as browser,
            cookie_socket(server, browser, doc_id) as ws,
        ):
            await ws.recv()
            removed = await browser.delete(f"/api/people/{sub}",
                                           headers={"Authorization": f"Bearer {boss}"})
            assert removed.status_code == 204, removed.text
            assert await closed(ws) == (CloseCode.FORBIDDEN, "access revoked")
            assert (await browser.get(f"/api/documents/{doc_id}")).status_code == 401
            assert (await browser.get("/auth/session")).json()["signed_in"] is False


async def test_an_id_held_before_sign_in_is_never_kept(start_server: ServerFactory) -> None:
    async with start_server() as server:
        planted = secrets.token_urlsafe(32)
        assert await status_with(server, planted, "/api/documents") == 401
        async with httpx.AsyncClient(base_url=server.url) as browser:
            browser.cookies.set(COOKIE, planted)
            answer = await browser.post("/auth/session", headers={
                "Authorization": f"Bearer {server.token('member', 'Zoé Lefèvre')}"})
            assert answer.status_code == 201
            first = answer.cookies.get(COOKIE)
            assert first and first != planted
            # Signing in again draws a new id and ends the previous one.
            browser.cookies.set(COOKIE, first)
            again = await browser.post("/auth/session", headers={
                "Authorization": f"Bearer {server.token('member', 'Zoé Lefèvre')}"})
            second = again.cookies.get(COOKIE)
            assert second and second != first
            assert await status_with(server, first, "/api/documents") == 401
            assert await status_with(server, second, "/api/documents") == 200


async def test_the_hocuspocus_lane_takes_the_cookie_when_no_token_is_sent(
    start_server: ServerFactory,
) -> None:
    doc_id = f"charte-{uuid4().hex[:8]}"
    async with start_server() as server:
        await create_document(server, doc_id)
        async with signed_in(server, server.token("citizen", "Carla Dupré")) as browser:
            headers = {"Cookie": f"{COOKIE}={browser.cookies.get(COOKIE)}", "Origin": server.url}
            async with ws_connect(f"{server.ws_url}/hocuspocus",
                                  additional_headers=headers) as tiptap:
                await tiptap.send(auth_frame(doc_id, ""))
                assert await auth_answer(tiptap, doc_id) == (
                    HocuspocusAuth.AUTHENTICATED, AuthScope.READ_ONLY)
            headers["Origin"] = "https://evil.example"
            async with ws_connect(f"{server.ws_url}/hocuspocus",
                                  additional_headers=headers) as tiptap:
                await tiptap.send(auth_frame(doc_id, ""))
                kind, reason = await auth_answer(tiptap, doc_id)
                assert kind == HocuspocusAuth.PERMISSION_DENIED and "cross-site" in reason


async def test_people_signed_in_behind_one_address_each_get_their_own_rate(
    start_server: ServerFactory,
) -> None:
    async with start_server(http_rate_per_second=0.5, http_burst=3) as server:
        async with (
            signed_in(server, server.token("member", "Zoé Lefèvre")) as zoe,
            signed_in(server, server.token("member", "Yann Le Goff")) as yann,
        ):
            answers = [(await zoe.get("/api/documents")).status_code for _ in range(4)]
            assert answers == [200, 200, 200, 429]
            # Same address (loopback), another person: a bucket of their own.
            assert (await yann.get("/api/documents")).status_code == 200
            # A made-up cookie is no person: limited by address like the public.
            app = server.app
            assert isinstance(app, PalabreApp)
            sessions = app.sync_endpoint.services.access.sessions
            assert sessions is not None
            async with httpx.AsyncClient(base_url=server.url) as stranger:

                async def made_up() -> int:
                    return (await stranger.get("/api/documents", headers={
                        "Cookie": f"{COOKIE}={secrets.token_urlsafe(32)}"})).status_code

                assert [await made_up() for _ in range(3)] == [401, 401, 401]
                reads = sessions.reads
                # Past the address's rate, a made-up cookie is refused before its session
                # is looked for: no database read.
                assert [await made_up() for _ in range(2)] == [429, 429]
                assert sessions.reads == reads
