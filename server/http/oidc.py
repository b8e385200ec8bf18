"""Sign-in through the identity provider: ``/auth/login?next=`` → provider → ``/auth/callback``.

palabre is an OpenID Connect relying party (authlib's Starlette client): authorization code
flow with PKCE (S256), ``state`` and ``nonce``, endpoints from the issuer's discovery
document, the ID token checked (signature from the JWKS, issuer, audience, expiry, nonce),
the person's claims from the ID token and the provider's user info (same subject).
With no issuer but ``oauth_*`` endpoints, the same flow runs against a plain OAuth 2.0
provider (Decidim) and the person is read from its user endpoint.

What authlib keeps between the two legs (state, PKCE verifier, nonce, the redirect URI)
and the ``next`` path travel in a short-lived cookie signed with the server's secret, so the
callback may land on any node. It is read once: a replayed callback finds nothing.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import time
import warnings
from dataclasses import dataclass
from typing import Any

import httpx
from authlib.deprecate import AuthlibDeprecationWarning
from joserfc.errors import JoseError
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from server.access.auth import Principal
from server.access.claims import RoleMapping, signed_in_principal
from server.access.roster import RightsChange
from server.errors import NotFound, Overloaded, Unauthenticated
from server.http.context import ApiContext
from server.http.cookie import is_https, own_origin
from server.http.signin import local_path, open_session, with_cookie
from server.modules.invitations import MAX_ID_CHARS, InvitationService
from server.settings import Settings

# authlib >= 1.7 warns, on import, that its httpx integration will move to httpx2; the
# filter installed by authlib.deprecate comes first, ours (added after) wins.
with warnings.catch_warnings():
    warnings.simplefilter("ignore", AuthlibDeprecationWarning)
    from authlib.integrations.base_client import OAuthError
    from authlib.integrations.starlette_client import OAuth

log = logging.getLogger("palabre.signin")

LOGIN_COOKIE = "palabre_login"
SECURE_LOGIN_COOKIE = "__Host-palabre_login"
LOGIN_SECONDS = 600
"""How long a sign-in at the provider may take, from ``/auth/login`` to the callback."""
_PROVIDER = "provider"


@dataclass(frozen=True, slots=True, kw_only=True)
class Provider:
    """The configured identity provider."""

    client: Any
    """authlib's Starlette OAuth 2.0 app (untyped)."""
    is_oidc: bool
    userinfo_url: str
    mapping: RoleMapping
    sub_prefix: str


def provider_from(settings: Settings) -> Provider | None:
    """The identity provider the settings configure (``None``: sign-in by provider is off).

    Raises:
        ValueError: a client id without an issuer or the three OAuth endpoints, ``openid``
            among the plain OAuth scopes, or a bad default role.
    """
    if not settings.oidc_client_id:
        return None
    mapping = RoleMapping.parse(settings.signin_role_claim, settings.signin_facilitator_values,
                                settings.signin_member_values, settings.signin_default_role)
    oauth = OAuth()
    common = {"client_id": settings.oidc_client_id,
              "client_secret": settings.oidc_client_secret or None}
    if settings.oidc_issuer:
        client = oauth.register(
            _PROVIDER, **common,
            server_metadata_url=settings.oidc_issuer.rstrip("/")
            + "/.well-known/openid-configuration",
            client_kwargs={"scope": settings.oidc_scopes, "code_challenge_method": "S256"},
        )
        return Provider(client=client, is_oidc=True, userinfo_url="", mapping=mapping,
                        sub_prefix="")
    urls = (settings.oauth_authorize_url, settings.oauth_token_url, settings.oauth_userinfo_url)
    if not all(urls):
        raise ValueError(
            "PALABRE_OIDC_CLIENT_ID needs PALABRE_OIDC_ISSUER, or PALABRE_OAUTH_AUTHORIZE_URL, "
            "PALABRE_OAUTH_TOKEN_URL and PALABRE_OAUTH_USERINFO_URL")
    if "openid" in settings.oauth_scopes.split():
        # The ID token it would send could not be checked (no discovery, no JWKS).
        raise ValueError("PALABRE_OAUTH_SCOPES asks for 'openid': that provider speaks "
                         "OpenID Connect, so set PALABRE_OIDC_ISSUER instead")
    client = oauth.register(
        _PROVIDER, **common, authorize_url=urls[0], access_token_url=urls[1],
        client_kwargs={"scope": settings.oauth_scopes, "code_challenge_method": "S256",
                       "token_endpoint_auth_method": "client_secret_post"},
    )
    return Provider(client=client, is_oidc=False, userinfo_url=urls[2], mapping=mapping,
                    sub_prefix=settings.oauth_sub_prefix)


def oidc_routes(
    context: ApiContext, provider: Provider | None, secret: bytes,
    invitations: InvitationService,
) -> list[BaseRoute]:
    """``/auth/login`` and ``/auth/callback`` (404 when no provider is configured).

    ``/auth/login?invitation=ID`` links the account: after the provider's sign-in, one use
    of the invitation gives that account the invitation's role (kept, as a facilitator's
    change would be) and, for this session, its documents.
    """
    key = hmac.new(secret, b"palabre login state", hashlib.sha256).digest()

    def configured() -> Provider:
        if provider is None:
            raise NotFound("no identity provider is configured on this server "
                           "(PALABRE_OIDC_CLIENT_ID)")
        return provider

    async def login(request: Request) -> Response:
        chosen = configured()
        next_path = local_path(request.query_params.get("next"))
        invitation = request.query_params.get("invitation")
        if invitation is not None:
            if len(invitation) > MAX_ID_CHARS:
                raise NotFound("no such invitation")
            await invitations.usable(invitation)  # refused now rather than after the provider
        request.scope["session"] = {}
        redirect_uri = f"{own_origin(request)}/auth/callback"
        try:
            response: Response = await chosen.client.authorize_redirect(request, redirect_uri)
        except (httpx.HTTPError, OAuthError, ValueError) as exc:
            log.warning("identity provider unreachable: %s", exc)
            raise Overloaded("identity provider unavailable; retry later") from exc
        state = {"session": request.scope["session"], "next": next_path,
                 "invitation": invitation,
                 "exp": time.time() + LOGIN_SECONDS}
        response.set_cookie(_cookie_name(request), _sign(key, state), max_age=LOGIN_SECONDS,
                            path="/", secure=is_https(request), httponly=True, samesite="lax")
        return response

    async def callback(request: Request) -> Response:
        chosen = configured()
        state = _verify(key, request.cookies.get(_cookie_name(request)))
        if state is None:
            raise Unauthenticated("sign-in expired or started in another browser: start again "
                                  "from /auth/login")
        request.scope["session"] = state["session"]
        person = await _person(chosen, request)
        try:
            # Removed people stay out, whatever the provider says (their sign-in is new).
            context.access.roster.resolve(person)
        except Unauthenticated as exc:
            raise Unauthenticated("this person was removed from the assembly") from exc
        invitation = state.get("invitation")
        if isinstance(invitation, str):
            person = await invitations.redeem_as(invitation, person)
            await _keep_role(context, person)
        session_id, session = await open_session(request, context, person, via="oidc",
                                                 not_after=None)
        target = local_path(str(state.get("next", "/")))
        response = with_cookie(RedirectResponse(target, status_code=303), request,
                               session_id, session)
        response.delete_cookie(_cookie_name(request), path="/", secure=is_https(request),
                               httponly=True, samesite="lax")
        return response

    return [
        Route("/auth/login", login, methods=["GET"]),
        Route("/auth/callback", callback, methods=["GET"]),
    ]


async def _keep_role(context: ApiContext, person: Principal) -> None:
    """Give the account the role its invitation gave, for its later sign-ins too.

    Raises:
        StorageUnavailable: the database failed.
    """
    await context.store.record_person(sub=person.sub, name=person.name,
                                      role=str(person.role), at=time.time())
    await context.store.set_role_override(person.sub, str(person.role))
    change = RightsChange(person.sub, role=person.role)
    context.access.roster.apply(change)
    context.hub.change_rights(change)


async def _person(provider: Provider, request: Request) -> Principal:
    """Who the provider signed in, after every check of the callback.

    Raises:
        Unauthenticated: bad state, refused or replayed code, bad ID token (signature,
            issuer, audience, expiry, nonce), user info about someone else, no subject.
        Overloaded: the provider cannot be reached.
    """
    try:
        token = await provider.client.authorize_access_token(request)
        if provider.is_oidc:
            id_claims = token.get("userinfo")
            if not id_claims:
                raise Unauthenticated("sign-in refused: the provider sent no ID token")
            claims = dict(id_claims)
            # A conforming provider puts the profile claims (name, groups) in its user info,
            # not in the ID token of a code flow (OpenID Connect Core 5.4).
            metadata = await provider.client.load_server_metadata()
            if metadata.get("userinfo_endpoint") and token.get("access_token"):
                info = await _user_endpoint(provider, metadata["userinfo_endpoint"], token)
                if info.get("sub") != claims.get("sub"):
                    raise Unauthenticated("sign-in refused: the provider's user info is "
                                          "about someone else than its ID token")
                claims = {**claims, **info}
        else:
            claims = await _user_endpoint(provider, provider.userinfo_url, token)
    except OAuthError as exc:
        detail = exc.description or exc.error
        raise Unauthenticated(f"sign-in refused: {exc.error}: {detail}"[:300]) from exc
    except JoseError as exc:
        raise Unauthenticated(f"sign-in refused: invalid ID token: {exc}"[:300]) from exc
    except (httpx.HTTPError, ValueError) as exc:
        log.warning("identity provider failed: %s", exc)
        raise Overloaded("identity provider unavailable; retry later") from exc
    return signed_in_principal(claims, provider.mapping, sub_prefix=provider.sub_prefix)


async def _user_endpoint(provider: Provider, url: str, token: Any) -> dict[str, Any]:
    """The claims the provider's user endpoint gives for `token`.

    Raises:
        Unauthenticated: the answer is not a JSON object.
        httpx.HTTPError: the endpoint failed or refused the token.
    """
    answer = await provider.client.get(url, token=token)
    answer.raise_for_status()
    claims = answer.json()
    if not isinstance(claims, dict):
        raise Unauthenticated("sign-in refused: the user endpoint sent no JSON object")
    return claims


def _cookie_name(request: Request) -> str:
    return SECURE_LOGIN_COOKIE if is_https(request) else LOGIN_COOKIE


def _sign(key: bytes, state: dict[str, Any]) -> str:
    payload = base64.urlsafe_b64encode(json.dumps(state).encode()).rstrip(b"=").decode()
    mac = hmac.new(key, payload.encode(), hashlib.sha256).digest()
    return f"{payload}.{base64.urlsafe_b64encode(mac).rstrip(b'=').decode()}"


def _verify(key: bytes, value: str | None) -> dict[str, Any] | None:
    if not value or "." not in value:
        return None
    payload, _, mac = value.rpartition(".")
    expected = base64.urlsafe_b64encode(
        hmac.new(key, payload.encode(), hashlib.sha256).digest()).rstrip(b"=").decode()
    if not hmac.compare_digest(expected, mac):
        return None
    try:
        state = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    except ValueError:
        return None
    if not isinstance(state, dict) or not isinstance(state.get("session"), dict) \
            or not isinstance(state.get("exp"), float | int) or state["exp"] < time.time():
        return None
    return state
