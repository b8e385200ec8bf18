"""Sign-in through an identity provider (issue 17), against the certified ``oidc-provider``
(npm) on loopback (`tests.e2e.oidc_provider`): discovery, PKCE, state and nonce, RS256 ID
tokens, the provider's own sign-in and consent pages; the role mapped from the groups the
provider's user info gives, sign-out; the session cookie's flags, a fresh id at each
sign-in. Refused: a bad state, a replayed code, a wrong nonce,
an expired ID token, a code issued to another application, a removed person; ``next`` only
to local paths. An ID token for another audience or issuer, user info about someone else,
and Decidim's plain OAuth 2.0 run on a provider written here (`tests.e2e.scripted_provider`
says why)."""

from __future__ import annotations

import html
import re
import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit, urlunsplit
from uuid import uuid4

import anyio
import httpx

from tests.conftest import RunningServer, ServerFactory
from tests.e2e import scripted_provider as scripted
from tests.e2e.oidc_provider import (
    ANAIS,
    ELODIE,
    OTHER_CLIENT_ID,
    YANN,
    Account,
    SigninServerFactory,
    through_provider,
)
from tests.e2e.test_hostile_sockets import create_document
from tests.e2e.test_signin import COOKIE, status_with

LOGIN_COOKIE = "palabre_login"


@asynccontextmanager
async def browser(server: RunningServer) -> AsyncIterator[httpx.AsyncClient]:
    """A browser: keeps cookies, follows nothing by itself."""
    async with httpx.AsyncClient(base_url=server.url, timeout=30) as client:
        yield client


async def start_login(client: httpx.AsyncClient, next_path: str = "/d/charte") -> str:
    """``/auth/login?next=``: the provider's authorization URL it sends the browser to."""
    login = await client.get("/auth/login", params={"next": next_path})
    assert login.status_code == 302, login.text
    assert client.cookies.get(LOGIN_COOKIE)
    location: str = login.headers["location"]
    return location


async def to_callback(
    client: httpx.AsyncClient, server: RunningServer, account: Account | None = ELODIE,
    next_path: str = "/d/charte",
) -> str:
    """Start the sign-in, sign in at the provider: the callback URL it sends back to."""
    return await through_provider(client, await start_login(client, next_path), account,
                                  until=f"{server.url}/auth/callback")


def with_query(url: str, **changed: str) -> str:
    """`url` with the query parameters `changed` set."""
    parts = urlsplit(url)
    query = {k: v[0] for k, v in parse_qs(parts.query).items()}
    return urlunsplit(parts._replace(query=urlencode({**query, **changed})))


async def signed_in_as(client: httpx.AsyncClient) -> dict[str, Any]:
    """``GET /auth/session``."""
    session: dict[str, Any] = (await client.get("/auth/session")).json()
    return session


async def test_the_full_flow_signs_in_with_the_mapped_role_and_signs_out(
    oidc_signin: SigninServerFactory,
) -> None:
    async with oidc_signin() as (server, issuer), browser(server) as client:
        authorize = await start_login(client)
        asked = {k: v[0] for k, v in parse_qs(urlsplit(authorize).query).items()}
        assert authorize.startswith(f"{issuer}/auth?")  # from the provider's discovery
        assert asked["code_challenge_method"] == "S256" and asked["code_challenge"]
        assert asked["state"] and asked["nonce"]
        assert asked["redirect_uri"] == f"{server.url}/auth/callback"
        assert asked["scope"].split() == ["openid", "profile", "email", "groups"]
        callback = await through_provider(client, authorize, ELODIE,
                                          until=f"{server.url}/auth/callback")
        landed = await client.get(callback)
        assert landed.status_code == 303, landed.text
        assert landed.headers["location"] == "/d/charte"
        assert client.cookies.get(COOKIE) and not client.cookies.get(LOGIN_COOKIE)
        me = await signed_in_as(client)
        # The groups come from the provider's user info (its ID token carries only `sub`).
        assert (me["sub"], me["name"], me["role"], me["via"]) == (
            ELODIE.sub, ELODIE.name, "member", "oidc")
        out = await client.post("/auth/logout", headers={
            "Origin": server.url, "X-CSRF-Token": me["csrf_token"]})
        assert out.json()["ended"] == 1
        assert (await signed_in_as(client))["signed_in"] is False
        # Signed in at the provider still: back without its pages.
        assert (await client.get(await to_callback(client, server, None))).status_code == 303
        assert (await signed_in_as(client))["role"] == "member"
        for account, role in ((ANAIS, "facilitator"), (YANN, "citizen")):
            async with browser(server) as other:
                await other.get(await to_callback(other, server, account))
                them = await signed_in_as(other)
                assert (them["sub"], them["name"], them["role"]) == (
                    account.sub, account.name, role)


async def test_the_provider_sign_in_sets_a_fresh_cookie_with_its_flags(
    oidc_signin: SigninServerFactory,
) -> None:
    async with oidc_signin() as (server, _):
        planted = secrets.token_urlsafe(32)
        async with browser(server) as client:
            client.cookies.set(COOKIE, planted)  # fixation: an id given to the browser before
            landed = await client.get(await to_callback(client, server))
            assert landed.status_code == 303, landed.text
            [flags] = [c.lower() for c in landed.headers.get_list("set-cookie")
                       if c.startswith(f"{COOKIE}=")]
            assert "httponly" in flags and "samesite=lax" in flags and "path=/" in flags
            assert "domain" not in flags and "secure" not in flags  # plain HTTP here
            fresh = landed.cookies.get(COOKIE)
            assert fresh and fresh != planted
            assert await status_with(server, planted, "/api/documents") == 401
            assert await status_with(server, fresh, "/api/documents") == 200
        async with browser(server) as client:
            await client.get(await to_callback(client, server))
            first = client.cookies.get(COOKIE)
            # Signing in again (the provider remembers the browser): a new id, the old one ends.
            await client.get(await to_callback(client, server, None))
            second = client.cookies.get(COOKIE)
            assert first and second and second != first
            assert await status_with(server, first, "/api/documents") == 401
            assert await status_with(server, second, "/api/documents") == 200


async def test_a_bad_state_is_refused(oidc_signin: SigninServerFactory) -> None:
    async with oidc_signin() as (server, _), browser(server) as client:
        # Changed on the way back from the provider.
        callback = await to_callback(client, server)
        refused = await client.get(with_query(callback, state="forged-state"))
        assert refused.status_code == 401 and "state" in refused.json()["detail"].lower()
        assert client.cookies.get(COOKIE) is None
        # Changed on the way to the provider, which sends it back as it got it.
        authorize = with_query(await start_login(client), state="forged-state")
        back = await through_provider(client, authorize, None,
                                      until=f"{server.url}/auth/callback")
        assert parse_qs(urlsplit(back).query)["state"] == ["forged-state"]
        refused = await client.get(back)
        assert refused.status_code == 401 and "state" in refused.json()["detail"].lower()
        assert (await signed_in_as(client))["signed_in"] is False
        # A callback in a browser that never started a sign-in (login CSRF).
        callback = await to_callback(client, server)
        async with browser(server) as other:
            stranger = await other.get(callback)
            assert stranger.status_code == 401
            assert "start again" in stranger.json()["detail"]
            assert other.cookies.get(COOKIE) is None


async def test_a_replayed_code_is_refused_and_opens_no_session(
    oidc_signin: SigninServerFactory,
) -> None:
    async with oidc_signin() as (server, _), browser(server) as client:
        callback = await to_callback(client, server)
        login_state = client.cookies[LOGIN_COOKIE]
        assert (await client.get(callback)).status_code == 303
        # The same browser: its sign-in state was read once.
        again = await client.get(callback)
        assert again.status_code == 401 and "start again" in again.json()["detail"]
        # Someone who copied the callback and the sign-in cookie: palabre's state check
        # passes, the provider refuses the code's second use.
        async with browser(server) as thief:
            thief.cookies.set(LOGIN_COOKIE, login_state)
            replayed = await thief.get(callback)
            assert replayed.status_code == 401, replayed.text
            assert "invalid_grant" in replayed.json()["detail"]
            assert thief.cookies.get(COOKIE) is None
            assert (await signed_in_as(thief))["signed_in"] is False
        me = await signed_in_as(client)
        everywhere = await client.post("/auth/logout", params={"everywhere": "true"}, headers={
            "Origin": server.url, "X-CSRF-Token": me["csrf_token"]})
        assert everywhere.json()["ended"] == 1  # the replay opened no session


async def test_a_wrong_nonce_is_refused(oidc_signin: SigninServerFactory) -> None:
    async with oidc_signin() as (server, _), browser(server) as client:
        # Changed on the way to the provider: its ID token then carries another nonce.
        authorize = with_query(await start_login(client), nonce="not-the-nonce")
        callback = await through_provider(client, authorize, ELODIE,
                                          until=f"{server.url}/auth/callback")
        refused = await client.get(callback)
        assert refused.status_code == 401, refused.text
        assert "nonce" in refused.json()["detail"]
        assert client.cookies.get(COOKIE) is None
        assert (await signed_in_as(client))["signed_in"] is False


async def test_an_expired_id_token_is_refused(oidc_signin: SigninServerFactory) -> None:
    # The provider's clock runs ten minutes late and its ID tokens live one: each is
    # nine minutes past its expiry when palabre reads it (authlib allows two of skew).
    async with oidc_signin(clock_offset_seconds=-600, id_token_ttl_seconds=60) as (server, _), \
            browser(server) as client:
        refused = await client.get(await to_callback(client, server))
        assert refused.status_code == 401, refused.text
        assert "expired" in refused.json()["detail"]
        assert client.cookies.get(COOKIE) is None
        assert (await signed_in_as(client))["signed_in"] is False


async def test_a_code_issued_to_another_application_is_refused(
    oidc_signin: SigninServerFactory,
) -> None:
    async with oidc_signin() as (server, _), browser(server) as victim, \
            browser(server) as attacker:
        authorize = await start_login(victim)
        # Another application of the provider whose redirect URI is palabre's callback: its
        # code, pushed into the victim's callback with the victim's own state.
        theirs = with_query(authorize, client_id=OTHER_CLIENT_ID)
        stolen = await through_provider(attacker, theirs, YANN,
                                        until=f"{server.url}/auth/callback")
        code = parse_qs(urlsplit(stolen).query)["code"][0]
        state = parse_qs(urlsplit(authorize).query)["state"][0]
        refused = await victim.get("/auth/callback", params={"code": code, "state": state})
        assert refused.status_code == 401, refused.text
        assert "invalid_grant" in refused.json()["detail"]
        assert victim.cookies.get(COOKIE) is None


async def test_an_id_token_for_another_audience_or_issuer_is_refused(
    start_server: ServerFactory,
) -> None:
    """On the scripted provider: the certified one never sends such answers to its client
    (see `tests.e2e.scripted_provider`)."""
    async with scripted.scripted_provider() as provider, start_server(
        oidc_issuer=provider.url, oidc_audience=scripted.CLIENT_ID,
        oidc_client_id=scripted.CLIENT_ID, oidc_client_secret=scripted.CLIENT_SECRET,
    ) as server:
        for wrong, word in ((scripted.Misbehaviour(wrong_audience=True), "azp"),
                            (scripted.Misbehaviour(wrong_issuer=True), "iss"),
                            (scripted.Misbehaviour(userinfo_about_someone_else=True),
                             "someone else")):
            provider.misbehaviour = wrong
            async with browser(server) as client:
                at_provider = await client.get(await start_login(client))
                refused = await client.get(at_provider.headers["location"])
                assert refused.status_code == 401, (wrong, refused.text)
                assert word in refused.json()["detail"], refused.json()
                assert client.cookies.get(COOKIE) is None
                assert (await signed_in_as(client))["signed_in"] is False


async def test_next_goes_only_to_local_paths_and_removed_people_stay_out(
    oidc_signin: SigninServerFactory,
) -> None:
    async with oidc_signin() as (server, _), browser(server) as client:
        for target in ("https://elsewhere.example/x", "//elsewhere.example", "/\\elsewhere",
                       "https:/elsewhere.example"):
            landed = await client.get(await to_callback(client, server, next_path=target))
            assert landed.status_code == 303 and landed.headers["location"] == "/", target
        boss = {"Authorization": f"Bearer {server.token('facilitator', 'Anaïs Fabre')}"}
        # Known once signed in (the sighting is written off the request path).
        await client.get("/api/documents")
        with anyio.fail_after(15):
            removed = await client.delete(f"/api/people/{ELODIE.sub}", headers=boss)
            while removed.status_code == 404:
                await anyio.sleep(0.05)  # polling the people table: nothing else to wait on
                removed = await client.delete(f"/api/people/{ELODIE.sub}", headers=boss)
        assert removed.status_code == 204
        assert (await signed_in_as(client))["signed_in"] is False
        again = await client.get(await to_callback(client, server))
        assert again.status_code == 401 and "removed" in again.json()["detail"]


async def test_without_a_provider_login_is_404(start_server: ServerFactory) -> None:
    async with start_server() as server, browser(server) as client:
        missing = await client.get("/auth/login")
        assert missing.status_code == 404 and "PALABRE_OIDC_CLIENT_ID" in missing.json()["detail"]


async def test_a_plain_oauth_provider_with_a_user_endpoint(start_server: ServerFactory) -> None:
    """Decidim's way, on the scripted provider (the certified one serves user info only to
    ``openid`` tokens: `tests.e2e.scripted_provider`): no discovery, no ID token, the person
    from the user endpoint, the client's secret in the token request's body."""
    async with scripted.scripted_provider() as provider:
        provider.claims = {"id": 42, "name": "Yann Le Goff", "nickname": "yann",
                           "email": "yann@example.org"}
        async with start_server(
            oidc_client_id=scripted.CLIENT_ID, oidc_client_secret=scripted.CLIENT_SECRET,
            oauth_authorize_url=f"{provider.url}/authorize",
            oauth_token_url=f"{provider.url}/token",
            oauth_userinfo_url=f"{provider.url}/userinfo", oauth_scopes="public",
        ) as server, browser(server) as client:
            at_provider = await client.get(await start_login(client, "/"))
            landed = await client.get(at_provider.headers["location"])
            assert landed.status_code == 303, landed.text
            me = await signed_in_as(client)
            assert (me["sub"], me["name"], me["role"]) == ("oauth-42", "Yann Le Goff", "citizen")
            asked = provider.authorize_requests[-1]
            assert asked["code_challenge_method"] == "S256" and asked["scope"] == "public"


async def test_an_invitation_links_the_provider_account_to_its_role(
    oidc_signin: SigninServerFactory,
) -> None:
    doc_id = f"charte-{uuid4().hex[:8]}"
    async with oidc_signin() as (server, _), browser(server) as client:
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
        callback = await through_provider(client, login.headers["location"], YANN,
                                          until=f"{server.url}/auth/callback")
        landed = await client.get(callback)
        assert landed.status_code == 303 and landed.headers["location"] == f"/d/{doc_id}"
        me = await signed_in_as(client)
        # The provider maps Yann to citizen: the invitation made him a member, on its documents.
        assert (me["sub"], me["role"], me["docs"]) == (YANN.sub, "member", [doc_id])
        listed = (await client.get("/api/invitations", headers=boss)).json()["invitations"]
        assert listed[0]["used"] == 1
        # Linked: the next sign-in through the provider keeps the role, on every document.
        await client.post("/auth/logout", headers={"Origin": server.url,
                                                   "X-CSRF-Token": me["csrf_token"]})
        await client.get(await to_callback(client, server, YANN))
        again = await signed_in_as(client)
        assert (again["role"], again["docs"]) == ("member", None)
        spent = await client.get("/auth/login", params={"invitation": invitation["id"]})
        assert spent.status_code == 410



async def test_sign_ins_invitations_and_rights_are_audited(
    oidc_signin: SigninServerFactory,
) -> None:
    async with oidc_signin() as (server, _), browser(server) as client:
        boss = {"Authorization": f"Bearer {server.token('facilitator', 'Loïc Ménard')}"}
        async with httpx.AsyncClient(base_url=server.url, headers=boss) as facilitator:
            made = (await facilitator.post("/api/invitations",
                                           json={"role": "member", "uses": 1})).json()
            spare = (await facilitator.post("/api/invitations", json={"role": "citizen"})).json()
            assert (await facilitator.delete(f"/api/invitations/{spare['id']}")).status_code == 204
            login = await client.get("/auth/login", params={"invitation": made["id"]})
            await client.get(await through_provider(client, login.headers["location"], YANN,
                                                    until=f"{server.url}/auth/callback"))
            me = await signed_in_as(client)
            assert me["role"] == "member"
            await client.post("/auth/logout", headers={"Origin": server.url,
                                                       "X-CSRF-Token": me["csrf_token"]})
            changed = await facilitator.patch(f"/api/people/{YANN.sub}", json={"role": "citizen"})
            assert changed.status_code == 200, changed.text
            assert (await facilitator.delete(f"/api/people/{YANN.sub}")).status_code == 204
            about = (await facilitator.get(f"/api/people/{YANN.sub}/data")).json()["audit"]
            by_action = {entry["action"]: entry for entry in about}
            assert {"invitation.used", "signin", "signout", "person.role_changed",
                    "person.removed"} <= by_action.keys(), about
            assert by_action["signin"]["detail"]["via"] == "oidc"
            assert by_action["person.role_changed"]["actor_name"] == "Loïc Ménard"
            with anyio.fail_after(15):
                own = await facilitator.get("/api/people/loic-menard/data")
                while own.status_code == 404:
                    await anyio.sleep(0.05)  # polling the people table: nothing else to wait on
                    own = await facilitator.get("/api/people/loic-menard/data")
            actions = [entry["action"] for entry in own.json()["audit"]]
            assert {"invitation.created", "invitation.revoked"} <= set(actions), actions
