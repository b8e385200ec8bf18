"""A provider written here, for what the certified one (``tests/e2e/oidc_provider.py``) cannot
be made to do. Two uses only:

- A plain OAuth 2.0 provider in Decidim's shape: scope ``public``, no ``openid``, the person
  from a user endpoint as ``{"id": 42, "name", "nickname", "email"}``. ``oidc-provider``
  serves user info only to access tokens with the ``openid`` scope
  (``lib/actions/userinfo.js``: "access token missing openid scope").
- A lying provider: an ID token for another audience or from another issuer, or user info
  about someone else. ``oidc-provider`` always signs its client's ID token with ``aud`` =
  that client and ``iss`` = itself (``lib/models/id_token.js``), hands a code's tokens only
  to the client the code was issued to, and serves user info about the ID token's subject:
  such answers reach palabre only from a compromised or mixed-up provider.

It speaks HTTP on loopback: discovery, code flow with PKCE (S256 only), RS256 ID tokens
(joserfc), JWKS, user info, client secret authentication. It approves every authorization
at once for `Provider.claims` and gets wrong what `Misbehaviour` says.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, unquote, urlencode

from joserfc import jwt
from joserfc.jwk import RSAKey
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from tests.e2e.loopback import serving

CLIENT_ID = "palabre"
CLIENT_SECRET = "s3cret-de-test"


@dataclass
class Misbehaviour:
    """What the provider gets wrong on purpose (all off: a correct provider)."""

    wrong_audience: bool = False
    wrong_issuer: bool = False
    userinfo_about_someone_else: bool = False


@dataclass
class Provider:
    """The provider's state: who signs in next, what it has issued, how it misbehaves."""

    url: str = ""
    claims: dict[str, Any] = field(default_factory=lambda: {
        "sub": "decidim-42", "name": "Élodie Lefèvre", "email": "elodie@example.org"})
    misbehaviour: Misbehaviour = field(default_factory=Misbehaviour)
    key: RSAKey = field(default_factory=lambda: RSAKey.generate_key(
        2048, parameters={"kid": "test-key", "use": "sig", "alg": "RS256"}, private=True))
    codes: dict[str, dict[str, Any]] = field(default_factory=dict)
    tokens: dict[str, dict[str, Any]] = field(default_factory=dict)
    authorize_requests: list[dict[str, str]] = field(default_factory=list)

    def app(self) -> Starlette:
        """The provider as an ASGI app."""
        return Starlette(routes=[
            Route("/.well-known/openid-configuration", self._discovery),
            Route("/authorize", self._authorize),
            Route("/token", self._token, methods=["POST"]),
            Route("/jwks", self._jwks),
            Route("/userinfo", self._userinfo),
        ])

    async def _discovery(self, request: Request) -> Response:
        base = self.url
        return JSONResponse({
            "issuer": base, "authorization_endpoint": f"{base}/authorize",
            "token_endpoint": f"{base}/token", "jwks_uri": f"{base}/jwks",
            "userinfo_endpoint": f"{base}/userinfo", "response_types_supported": ["code"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "code_challenge_methods_supported": ["S256"],
            "token_endpoint_auth_methods_supported": ["client_secret_basic",
                                                      "client_secret_post"],
            "scopes_supported": ["openid", "profile", "email"],
        })

    async def _authorize(self, request: Request) -> Response:
        query = dict(request.query_params)
        self.authorize_requests.append(query)
        if query.get("client_id") != CLIENT_ID or query.get("response_type") != "code":
            return JSONResponse({"error": "unauthorized_client"}, status_code=400)
        if query.get("code_challenge_method") != "S256" or not query.get("code_challenge"):
            return JSONResponse({"error": "invalid_request",
                                 "error_description": "PKCE S256 required"}, status_code=400)
        code = secrets.token_urlsafe(16)
        self.codes[code] = {
            "redirect_uri": query["redirect_uri"], "challenge": query["code_challenge"],
            "nonce": query.get("nonce"), "scope": query.get("scope", ""),
        }
        back = urlencode({"code": code, "state": query.get("state", "")})
        return RedirectResponse(f"{query['redirect_uri']}?{back}", status_code=302)

    async def _token(self, request: Request) -> Response:
        # A form body, read by hand (python-multipart is not a dependency).
        form = {k: v[0] for k, v in parse_qs((await request.body()).decode()).items()}
        client_id, client_secret = _client_auth(request, form)
        if (client_id, client_secret) != (CLIENT_ID, CLIENT_SECRET):
            return JSONResponse({"error": "invalid_client"}, status_code=401)
        grant = self.codes.pop(str(form.get("code", "")), None)  # single use
        if grant is None or form.get("grant_type") != "authorization_code":
            return JSONResponse({"error": "invalid_grant"}, status_code=400)
        if form.get("redirect_uri") != grant["redirect_uri"]:
            return JSONResponse({"error": "invalid_grant",
                                 "error_description": "redirect_uri differs"}, status_code=400)
        verifier = str(form.get("code_verifier", ""))
        digest = hashlib.sha256(verifier.encode()).digest()
        if base64.urlsafe_b64encode(digest).rstrip(b"=").decode() != grant["challenge"]:
            return JSONResponse({"error": "invalid_grant",
                                 "error_description": "PKCE verifier does not match"},
                                status_code=400)
        access_token = secrets.token_urlsafe(24)
        self.tokens[access_token] = dict(self.claims)
        body: dict[str, Any] = {"access_token": access_token, "token_type": "Bearer",
                                "expires_in": 3600, "scope": grant["scope"]}
        if "openid" in grant["scope"].split():
            body["id_token"] = self._id_token(grant["nonce"])
        return JSONResponse(body, headers={"Cache-Control": "no-store"})

    def _id_token(self, nonce: str | None) -> str:
        now = int(time.time())
        wrong = self.misbehaviour
        claims = {
            **self.claims,
            "iss": "https://elsewhere.example" if wrong.wrong_issuer else self.url,
            "aud": "another-app" if wrong.wrong_audience else CLIENT_ID,
            "iat": now, "exp": now + 600, "nonce": nonce,
        }
        return jwt.encode({"alg": "RS256", "kid": "test-key"}, claims, self.key)

    async def _jwks(self, request: Request) -> Response:
        return JSONResponse({"keys": [self.key.as_dict(private=False)]})

    async def _userinfo(self, request: Request) -> Response:
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        claims = self.tokens.get(token) if scheme.lower() == "bearer" else None
        if claims is None:
            return JSONResponse({"error": "invalid_token"}, status_code=401)
        if self.misbehaviour.userinfo_about_someone_else:
            claims = {**claims, "sub": "quelqu-un-d-autre", "groups": ["animation"]}
        return JSONResponse(claims)


def _client_auth(request: Request, form: dict[str, Any]) -> tuple[str, str]:
    header = request.headers.get("authorization", "")
    if header.lower().startswith("basic "):
        decoded = base64.b64decode(header[6:]).decode()
        user, _, password = decoded.partition(":")
        return unquote(user), unquote(password)
    return str(form.get("client_id", "")), str(form.get("client_secret", ""))


@asynccontextmanager
async def scripted_provider() -> AsyncIterator[Provider]:
    """The provider served on a loopback port for the block's duration."""
    provider = Provider()
    async with serving(provider.app()) as url:
        provider.url = url
        yield provider
