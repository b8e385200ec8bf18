"""Sign-in through an identity provider (issue 17), against a real OpenID Connect provider
on loopback (`tests.e2e.oidc_provider`): the full flow with PKCE, state and nonce, the
mapped role, sign-out; refusals of a bad state, a replayed callback, a wrong nonce, a
wrong audience, an expired ID token, a removed person; ``next`` only to local paths; the
same flow against a plain OAuth 2.0 provider with a user endpoint (Decidim's shape)."""

from __future__ import annotations

import html
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any
from urllib.parse import parse_qs, urlsplit
from uuid import uuid4

import anyio
import httpx

from tests.conftest import RunningServer, ServerFactory
from tests.e2e.oidc_provider import CLIENT_ID, CLIENT_SECRET, Misbehaviour, Provider, oidc_provider
from tests.e2e.test_hostile_sockets import create_document
from tests.e2e.test_signin import COOKIE

LOGIN_COOKIE = "palabre_login"


def oidc_settings(provider: Provider, **more: Any) -> dict[str, Any]:
    """palabre's settings for `provider` (OpenID Connect, discovery)."""
    return {"oidc_issuer": provider.url, "oidc_audience": CLIENT_ID,
            "oidc_client_id": CLIENT_ID, "oidc_client_secret": CLIENT_SECRET,
            "signin_role_claim": "groups", "signin_member_values": "assemblee",
            "signin_facilitator_values": "animation", **more}


@asynccontextmanager
async def browser(server: RunningServer) -> AsyncIterator[httpx.AsyncClient]:
    """A browser: keeps cookies, follows nothing by itself."""
    async with httpx.AsyncClient(base_url=server.url, timeout=30) as client:
        yield client


async def to_callback(client: httpx.AsyncClient, next_path: str = "/d/charte") -> str:
    """Start the sign-in and go through the provider: the callback URL it sends back to."""
    login = await client.get("/auth/login", params={"next": next_path})
    assert login.status_code == 302, login.text
    assert client.cookies.get(LOGIN_COOKIE)
    at_provider = await client.get(login.headers["location"])
    assert at_provider.status_code == 302, at_provider.text
    callback: str = at_provider.headers["location"]
    return callback


async def test_the_full_flow_signs_in_with_the_mapped_role_and_signs_out(
    start_server: ServerFactory,
) -> None:
    async with oidc_provider() as provider:
        provider.claims["groups"] = ["assemblee"]
        async with start_server(**oidc_settings(provider)) as server, browser(server) as client:
            callback = await to_callback(client)
            asked = provider.authorize_requests[-1]
            assert asked["code_challenge_method"] == "S256" and asked["code_challenge"]
            assert asked["state"] and asked["nonce"]
            assert asked["redirect_uri"] == f"{server.url}/auth/callback"
            assert "openid" in asked["scope"].split()
            landed = await client.get(callback)
            assert landed.status_code == 303, landed.text
            assert landed.headers["location"] == "/d/charte"
            assert client.cookies.get(COOKIE) and not client.cookies.get(LOGIN_COOKIE)
            me = (await client.get("/auth/session")).json()
            assert (me["sub"], me["name"], me["role"], me["via"]) == (
                "decidim-42", "Élodie Lefèvre", "member", "oidc")
            # The code was single use and the login state read once: replaying fails.
            replayed = await client.get(callback)
            assert replayed.status_code == 401
            assert (await client.get("/auth/session")).json()["signed_in"] is True
            out = await client.post("/auth/logout", headers={
                "Origin": server.url, "X-CSRF-Token": me["csrf_token"]})
            assert out.json()["ended"] == 1
            assert (await client.get("/auth/session")).json()["signed_in"] is False
            # Without a listed group: the default role.
            provider.claims["groups"] = ["autre"]
            await client.get(await to_callback(client))
            assert (await client.get("/auth/session")).json()["role"] == "citizen"
            provider.claims["groups"] = "animation"
            await client.get(await to_callback(client))
            assert (await client.get("/auth/session")).json()["role"] == "facilitator"


async def test_a_bad_state_and_a_foreign_callback_are_refused(
    start_server: ServerFactory,
) -> None:
    async with oidc_provider() as provider, \
            start_server(**oidc_settings(provider)) as server, browser(server) as client:
        callback = await to_callback(client)
        parts = urlsplit(callback)
        query = parse_qs(parts.query)
        forged = f"/auth/callback?code={query['code'][0]}&state=forged-state"
        refused = await client.get(forged)
        assert refused.status_code == 401 and "state" in refused.json()["detail"].lower()
        assert client.cookies.get(COOKIE) is None
        # A callback in a browser that never started a sign-in (login CSRF): refused.
        async with browser(server) as other:
            stranger = await other.get(f"/auth/callback?{parts.query}")
            assert stranger.status_code == 401
            assert "start again" in stranger.json()["detail"]
            assert other.cookies.get(COOKIE) is None


async def test_a_wrong_nonce_audience_or_expiry_is_refused(
    start_server: ServerFactory,
) -> None:
    async with oidc_provider() as provider, start_server(**oidc_settings(provider)) as server:
        for wrong, word in ((Misbehaviour(wrong_nonce=True), "nonce"),
                            (Misbehaviour(wrong_audience=True), "azp"),  # not for us
                            (Misbehaviour(expired_id_token=True), "exp"),
                            (Misbehaviour(wrong_issuer=True), "iss")):
            provider.misbehaviour = wrong
            async with browser(server) as client:
                refused = await client.get(await to_callback(client))
                assert refused.status_code == 401, (wrong, refused.text)
                assert word in refused.json()["detail"], refused.json()
                assert client.cookies.get(COOKIE) is None
                assert (await client.get("/auth/session")).json()["signed_in"] is False


async def test_next_goes_only_to_local_paths_and_removed_people_stay_out(
    start_server: ServerFactory,
) -> None:
    async with oidc_provider() as provider, \
            start_server(**oidc_settings(provider)) as server, browser(server) as client:
        for target in ("https://elsewhere.example/x", "//elsewhere.example", "/\\elsewhere"):
            landed = await client.get(await to_callback(client, target))
            assert landed.status_code == 303 and landed.headers["location"] == "/", target
        boss = {"Authorization": f"Bearer {server.token('facilitator', 'Anaïs Fabre')}"}
        # Known once signed in (the sighting is written off the request path).
        await client.get("/api/documents")
        with anyio.fail_after(15):
            removed = await client.delete("/api/people/decidim-42", headers=boss)
            while removed.status_code == 404:
                await anyio.sleep(0.05)  # polling the people table: nothing else to wait on
                removed = await client.delete("/api/people/decidim-42", headers=boss)
        assert removed.status_code == 204
        assert (await client.get("/auth/session")).json()["signed_in"] is False
        again = await client.get(await to_callback(client))
        assert again.status_code == 401 and "removed" in again.json()["detail"]


async def test_without_a_provider_login_is_404(start_server: ServerFactory) -> None:
    async with start_server() as server, browser(server) as client:
        missing = await client.get("/auth/login")
        assert missing.status_code == 404 and "PALABRE_OIDC_CLIENT_ID" in missing.json()["detail"]


async def test_a_plain_oauth_provider_with_a_user_endpoint(start_server: ServerFactory) -> None:
    async with oidc_provider() as provider:
        provider.claims = {"id": 42, "name": "Yann Le Goff", "nickname": "yann",
                           "email": "yann@example.org"}
        async with start_server(
            oidc_client_id=CLIENT_ID, oidc_client_secret=CLIENT_SECRET,
            oauth_authorize_url=f"{provider.url}/authorize",
            oauth_token_url=f"{provider.url}/token",
            oauth_userinfo_url=f"{provider.url}/userinfo", oauth_scopes="public",
        ) as server, browser(server) as client:
            landed = await client.get(await to_callback(client, "/"))
            assert landed.status_code == 303, landed.text
            me = (await client.get("/auth/session")).json()
            assert (me["sub"], me["name"], me["role"]) == ("oauth-42", "Yann Le Goff", "citizen")
            assert provider.authorize_requests[-1]["code_challenge_method"] == "S256"


async def test_an_invitation_links_the_provider_account_to_its_role(
    start_server: ServerFactory,
) -> None:
    doc_id = f"charte-{uuid4().hex[:8]}"
    async with oidc_provider() as provider, \
            start_server(**oidc_settings(provider)) as server, browser(server) as client:
        await create_document(server, doc_id)
        boss = {"Authorization": f"Bearer {server.token('facilitator', 'Anaïs Fabre')}"}
        made = await client.post("/api/invitations", headers=boss,
                                 json={"role": "member", "docs": [doc_id], "uses": 1})
        invitation = made.json()
        page = await client.get(f"/invite/{invitation['id']}")
        link = re.search(r'class=provider-sign-in href="([^"]+)"', page.text)
        assert link is not None, page.text
        login = await client.get(html.unescape(link.group(1)))
        assert login.status_code == 302, login.text
        callback = (await client.get(login.headers["location"])).headers["location"]
        landed = await client.get(callback)
        assert landed.status_code == 303 and landed.headers["location"] == f"/d/{doc_id}"
        me = (await client.get("/auth/session")).json()
        # The provider maps nobody to member: the invitation did, on its documents.
        assert (me["sub"], me["role"], me["docs"]) == ("decidim-42", "member", [doc_id])
        listed = (await client.get("/api/invitations", headers=boss)).json()["invitations"]
        assert listed[0]["used"] == 1
        # Linked: the next sign-in through the provider keeps the role, on every document.
        await client.post("/auth/logout", headers={"Origin": server.url,
                                                   "X-CSRF-Token": me["csrf_token"]})
        await client.get(await to_callback(client))
        again = (await client.get("/auth/session")).json()
        assert (again["role"], again["docs"]) == ("member", None)
        spent = await client.get("/auth/login", params={"invitation": invitation["id"]})
        assert spent.status_code == 410
