"""Who is asking: a JWT (HS256 with our secret, or RS256/ES256 from an OIDC issuer) → `Principal`.

This is the only module that verifies bearer tokens (`server.http.oidc` uses authlib's
client for sign-in through a provider). Auth fails closed: a token that
is present but not fully valid is refused, never downgraded to `PUBLIC`.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
import re
import secrets
import time
import unicodedata
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import anyio
import httpx
from authlib.deprecate import AuthlibDeprecationWarning

from server.errors import Overloaded, Unauthenticated

# authlib >= 1.6 deprecates authlib.jose in favour of joserfc (removal planned for
# 2.0) and warns once on import. Importing authlib.deprecate (above) installs its
# own "always" filter first, so that ours, added after it, takes precedence.
with warnings.catch_warnings():
    warnings.simplefilter("ignore", AuthlibDeprecationWarning)
    from authlib.jose import JsonWebKey, JsonWebToken
    from authlib.jose.errors import (
        BadSignatureError,
        ExpiredTokenError,
        InvalidClaimError,
        InvalidTokenError,
        JoseError,
        MissingClaimError,
        UnsupportedAlgorithmError,
    )

log = logging.getLogger("palabre.auth")

LOCAL_ISSUER = "palabre"
"""The ``iss`` of tokens signed with the server's own secret."""
LEEWAY_SECONDS = 30.0
"""Clock skew tolerated on ``exp``, ``nbf`` and ``iat``."""
LOCAL_ALGORITHM = "HS256"
HOUR = 3600
DAY = 24 * HOUR
_KEY_TYPES = {"RS256": "RSA", "ES256": "EC"}


class Role(StrEnum):
    """What a principal is in the assembly (DESIGN.md, "Users and what they do")."""

    MEMBER = "member"
    FACILITATOR = "facilitator"
    CITIZEN = "citizen"
    PUBLIC = "public"


@dataclass(frozen=True, slots=True, kw_only=True)
class Principal:
    """An authenticated caller, or `PUBLIC` when no token was given."""

    sub: str
    name: str
    role: Role
    docs: tuple[str, ...] | None = None
    """Document ids or glob patterns the token is limited to; ``None`` means all."""
    expires_at: float | None = None
    """The token's ``exp`` (Unix time); every token has one, so ``None`` only for `PUBLIC`
    and the development principal, which have no token."""
    issued_at: float | None = None
    """The credential's ``iat`` (Unix time): removing a person refuses what was issued before."""
    credential_id: str | None = None
    """The credential's id: a token's ``jti`` (tokens we mint always have one)."""

    def is_expired_at(self, now: float) -> bool:
        """Whether the token behind this principal has expired at `now` (Unix time)."""
        return self.expires_at is not None and now > self.expires_at + LEEWAY_SECONDS


DEFAULT_TTL_SECONDS: Mapping[Role, int] = {
    Role.FACILITATOR: 12 * HOUR,
    Role.MEMBER: 7 * DAY,
    Role.CITIZEN: 30 * DAY,
    Role.PUBLIC: 30 * DAY,
}
"""Lifetime of a token minted without an explicit ``ttl``, per role.

The more a token may do, the shorter it lives: a facilitator's (create, freeze, adopt,
moderate, webhooks) covers a day of sessions; a member's the week between two sessions; a
citizen's (read and comment only, handed out by the thousand) a consultation period.
"""

MAX_TTL_SECONDS = 366 * DAY
"""Longest lifetime ``palabre token --ttl`` signs: a year, so no token is forever in practice."""

SUB_SUFFIX_BYTES = 4
"""Random bytes (hex) appended to a subject made from a name, so two people never share one."""

PUBLIC = Principal(sub="anonymous", name="Public", role=Role.PUBLIC)
"""The principal of a request without a token."""


@dataclass(frozen=True, slots=True, kw_only=True)
class OidcIssuer:
    """An OpenID Connect provider whose RS256/ES256 tokens are accepted."""

    issuer: str
    """Expected ``iss``; discovery is read at ``{issuer}/.well-known/openid-configuration``."""
    audience: str | None = None
    """Expected ``aud`` (required in tokens when set)."""
    algorithms: tuple[str, ...] = ("RS256", "ES256")
    min_refresh_seconds: float = 60.0
    """At most one JWKS fetch per this interval, however many unknown ``kid``s arrive."""
    timeout_seconds: float = 5.0


def mint_token(
    secret: bytes,
    *,
    sub: str,
    name: str,
    role: Role,
    docs: Sequence[str] | None = None,
    ttl: float | None = None,
    issuer: str = LOCAL_ISSUER,
    now: float | None = None,
) -> str:
    """Sign a token for `sub` with the server's secret (HS256), expiring after `ttl` seconds.

    Without `ttl` the token lives `DEFAULT_TTL_SECONDS` for its role: every token expires.

    Raises:
        ValueError: `sub` is empty or `ttl` is not positive.
    """
    if not sub:
        raise ValueError("sub must not be empty")
    if ttl is None:
        ttl = DEFAULT_TTL_SECONDS[role]
    if ttl <= 0:
        raise ValueError(f"ttl must be positive, got {ttl}")
    issued_at = int(time.time() if now is None else now)
    payload: dict[str, object] = {
        "iss": issuer, "sub": sub, "name": name, "role": str(role), "iat": issued_at,
        "exp": issued_at + max(1, int(ttl)), "jti": secrets.token_urlsafe(12),
    }
    if docs is not None:
        payload["docs"] = list(docs)
    header = {"alg": LOCAL_ALGORITHM, "typ": "JWT"}
    token: bytes = JsonWebToken([LOCAL_ALGORITHM]).encode(header, payload, secret, check=False)
    return token.decode("ascii")


class Authenticator:
    """Turns the token of a request into a `Principal`.

    HS256 tokens are checked against the server's secret and `issuer`; RS256/ES256
    tokens against the JWKS of `oidc`, fetched on first use and again when a token
    names an unknown ``kid`` (at most once per ``min_refresh_seconds``). Use it as
    an async context manager, or call `aclose`, to release its HTTP client.
    """

    def __init__(
        self,
        secret: bytes | None,
        *,
        issuer: str = LOCAL_ISSUER,
        oidc: OidcIssuer | None = None,
        leeway: float = LEEWAY_SECONDS,
        clock: Callable[[], float] = time.time,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._secret = secret
        self._issuer = issuer
        self._oidc = oidc
        self._leeway = leeway
        self._clock = clock
        self._local_jwt = JsonWebToken([LOCAL_ALGORITHM])
        self._keys = _KeySource(oidc, monotonic) if oidc is not None else None
        self._oidc_jwt = JsonWebToken(list(oidc.algorithms)) if oidc is not None else None

    async def __aenter__(self) -> Authenticator:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the HTTP client used to fetch the issuer's keys."""
        if self._keys is not None:
            await self._keys.aclose()

    async def authenticate(self, token: str | None) -> Principal:
        """The principal a token stands for; `PUBLIC` when there is no token.

        Raises:
            Unauthenticated: the token is malformed, unsigned, signed with another
                key or algorithm, without ``exp``, expired, not yet valid, from another issuer or
                audience, or lacks a valid ``sub`` or ``role``.
            Overloaded: the OIDC issuer's keys cannot be fetched right now.
        """
        if token is None or token == "":
            return PUBLIC
        local = self.authenticate_local(token)
        if local is not None:
            return local
        assert self._oidc is not None and self._keys is not None
        header = _read_header(token)
        key = await self._keys.key_for(header.get("kid"), str(header.get("alg")))
        claims = self._verify(self._oidc_jwt, token, key, self._oidc.issuer, self._oidc.audience)
        return _principal(claims)

    def authenticate_local(self, token: str) -> Principal | None:
        """`authenticate`, without I/O: the principal of a token signed with our secret;
        ``None`` for a token of the OIDC issuer (its keys may have to be fetched).

        Raises:
            Unauthenticated: as `authenticate`.
        """
        header = _read_header(token)
        alg = header.get("alg")
        if not isinstance(alg, str):
            raise Unauthenticated("malformed token: the header names no algorithm")
        if alg.lower() == "none":
            raise Unauthenticated("unsigned token (alg none) refused")
        if alg == LOCAL_ALGORITHM and self._secret is not None:
            return _principal(
                self._verify(self._local_jwt, token, self._secret, self._issuer, None))
        if self._oidc is not None and self._keys is not None and alg in self._oidc.algorithms:
            return None
        raise Unauthenticated(f"algorithm {alg[:16]!r} not accepted")

    def _verify(
        self, jwt: Any, token: str, key: object, issuer: str, audience: str | None
    ) -> Mapping[str, object]:
        options: dict[str, dict[str, object]] = {
            "iss": {"essential": True, "value": issuer},
            "exp": {"essential": True},
        }
        if audience is not None:
            options["aud"] = {"essential": True, "value": audience}
        try:
            claims = jwt.decode(token, key, claims_options=options)
            claims.validate(now=self._clock(), leeway=self._leeway)
        except BadSignatureError as exc:
            raise Unauthenticated("bad signature") from exc
        except ExpiredTokenError as exc:
            raise Unauthenticated("token expired") from exc
        except InvalidTokenError as exc:
            raise Unauthenticated("token not valid yet (nbf or iat in the future)") from exc
        except InvalidClaimError as exc:
            if exc.claim_name == "iss":
                raise Unauthenticated(f"wrong issuer (expected {issuer!r})") from exc
            if exc.claim_name == "aud":
                raise Unauthenticated(f"wrong audience (expected {audience!r})") from exc
            raise Unauthenticated(f"invalid claim {exc.claim_name!r}") from exc
        except MissingClaimError as exc:
            if "'exp'" in exc.description:
                raise Unauthenticated("token without expiry ('exp' claim) refused") from exc
            raise Unauthenticated(f"malformed token: {exc.description.lower()}") from exc
        except UnsupportedAlgorithmError as exc:
            raise Unauthenticated("algorithm not accepted") from exc
        except (JoseError, ValueError) as exc:
            # authlib puts its message in `error` or `description`, leaving the other empty.
            raise Unauthenticated(f"malformed token: {str(exc).strip(': ')}") from exc
        result: Mapping[str, object] = claims
        return result


def _read_header(token: str) -> dict[str, object]:
    # Read before verifying, only to choose the key; nothing in it is trusted yet.
    parts = token.split(".")
    if len(parts) != 3:
        raise Unauthenticated("malformed token: a signed JWT has three dot-separated parts")
    try:
        header = json.loads(_b64url_decode(parts[0]))
    except (ValueError, UnicodeDecodeError) as exc:
        raise Unauthenticated("malformed token: unreadable header") from exc
    if not isinstance(header, dict):
        raise Unauthenticated("malformed token: the header is not a JSON object")
    return header


def _b64url_decode(text: str) -> bytes:
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except binascii.Error as exc:
        raise ValueError("not base64url") from exc


def _principal(claims: Mapping[str, object]) -> Principal:
    sub = claims.get("sub")
    if "sub" not in claims:
        raise Unauthenticated("malformed token: missing 'sub' claim")
    if not isinstance(sub, str) or not sub:
        raise Unauthenticated("malformed token: 'sub' must be a non-empty string")
    raw_role = claims.get("role")
    if not isinstance(raw_role, str):
        what = "missing" if raw_role is None else "non-string"
        raise Unauthenticated(f"malformed token: {what} 'role' claim")
    try:
        role = Role(raw_role)
    except ValueError as exc:
        raise Unauthenticated(f"unknown role {str(raw_role)[:32]!r}") from exc
    name = claims.get("name", sub)
    if not isinstance(name, str):
        raise Unauthenticated("malformed token: 'name' must be a string")
    docs = claims.get("docs")
    if docs is not None and (
        not isinstance(docs, list) or not all(isinstance(d, str) and d for d in docs)
    ):
        raise Unauthenticated("malformed token: 'docs' must be a list of non-empty strings")
    exp = claims.get("exp")
    iat = claims.get("iat")
    jti = claims.get("jti")
    return Principal(
        sub=sub,
        name=name,
        role=role,
        docs=None if docs is None else tuple(docs),
        expires_at=float(exp) if isinstance(exp, int | float) else None,
        issued_at=float(iat) if isinstance(iat, int | float) else None,
        credential_id=jti if isinstance(jti, str) and jti else None,
    )


class _KeySource:
    """The signing keys of one OIDC issuer, from its JWKS, refreshed on unknown ``kid``s."""

    def __init__(self, config: OidcIssuer, monotonic: Callable[[], float]) -> None:
        self._config = config
        self._monotonic = monotonic
        self._http = httpx.AsyncClient(timeout=config.timeout_seconds)
        self._lock = anyio.Lock()
        self._jwks_uri: str | None = None
        self._keys: dict[str | None, tuple[Any, Mapping[str, object]]] = {}
        self._fetched_at: float | None = None

    async def aclose(self) -> None:
        await self._http.aclose()

    async def key_for(self, kid: object, alg: str) -> Any:
        """The key a token names; refresh once if it is unknown.

        Raises:
            Unauthenticated: the issuer has no such key, or it is not for `alg`.
            Overloaded: the issuer's keys cannot be fetched.
        """
        if kid is not None and not isinstance(kid, str):
            raise Unauthenticated("malformed token: 'kid' must be a string")
        found = self._find(kid)
        if found is None:
            async with self._lock:
                # Another task may have refreshed while this one waited.
                found = self._find(kid)
                if found is None and self._may_refresh():
                    await self._refresh()
                    found = self._find(kid)
        if found is None:
            shown = "none" if kid is None else repr(kid[:40])
            raise Unauthenticated(f"unknown signing key (kid {shown}) for {self._config.issuer}")
        key, entry = found
        if entry.get("kty") != _KEY_TYPES.get(alg) or entry.get("alg", alg) != alg:
            raise Unauthenticated(f"signing key does not match algorithm {alg}")
        return key

    def _find(self, kid: str | None) -> tuple[Any, Mapping[str, object]] | None:
        if kid is None and len(self._keys) == 1:
            return next(iter(self._keys.values()))
        return self._keys.get(kid) if kid is not None else None

    def _may_refresh(self) -> bool:
        return (
            self._fetched_at is None
            or self._monotonic() - self._fetched_at >= self._config.min_refresh_seconds
        )

    async def _refresh(self) -> None:
        # Failed attempts count too, so a down issuer is not hammered either.
        self._fetched_at = self._monotonic()
        if self._jwks_uri is None:
            url = self._config.issuer.rstrip("/") + "/.well-known/openid-configuration"
            discovery = await self._get_json(url)
            if discovery.get("issuer") not in (None, self._config.issuer):
                raise self._unavailable(f"{url} names another issuer")
            jwks_uri = discovery.get("jwks_uri")
            if not isinstance(jwks_uri, str):
                raise self._unavailable(f"{url} has no jwks_uri")
            self._jwks_uri = jwks_uri
        jwks = await self._get_json(self._jwks_uri)
        entries = jwks.get("keys")
        if not isinstance(entries, list):
            raise self._unavailable(f"{self._jwks_uri} has no 'keys' list")
        keys: dict[str | None, tuple[Any, Mapping[str, object]]] = {}
        for entry in entries:
            if not isinstance(entry, dict) or entry.get("use", "sig") != "sig":
                continue
            try:
                keys[entry.get("kid")] = (JsonWebKey.import_key(entry), entry)
            except (JoseError, ValueError, TypeError) as exc:
                log.warning("ignoring unusable key %r from %s: %s", entry.get("kid"),
                            self._jwks_uri, exc)
        self._keys = keys
        log.info("loaded %d signing keys from %s", len(keys), self._jwks_uri)

    async def _get_json(self, url: str) -> dict[str, Any]:
        try:
            response = await self._http.get(url)
            response.raise_for_status()
            body = response.json()
        except (httpx.HTTPError, ValueError) as exc:
            raise self._unavailable(f"GET {url}: {exc}") from exc
        if not isinstance(body, dict):
            raise self._unavailable(f"{url} is not a JSON object")
        return body

    def _unavailable(self, why: str) -> Overloaded:
        log.warning("identity provider %s unavailable: %s", self._config.issuer, why)
        return Overloaded("identity provider unavailable; retry later")


_LIGATURES = str.maketrans({"œ": "oe", "Œ": "oe", "æ": "ae", "Æ": "ae", "ß": "ss"})


def unique_sub(name: str) -> str:
    """A new subject for `name`: its slug and a random suffix (``elodie-lefevre-3f9a0c1d``).

    Two people with the same name (or names with the same slug) never share a subject, so
    neither can edit the other's comments. Empty when the name has no ASCII letter or digit.
    """
    slug = slugify(name)
    return f"{slug}-{secrets.token_hex(SUB_SUFFIX_BYTES)}" if slug else ""


def slugify(text: str) -> str:
    """Lowercase ASCII words joined by ``-``: ``Élodie Lefèvre`` → ``elodie-lefevre``."""
    # NFKD splits accents off their letters but leaves ligatures whole.
    decomposed = unicodedata.normalize("NFKD", text.translate(_LIGATURES))
    ascii_text = decomposed.encode("ascii", "ignore").decode("ascii").lower()
    return re.sub(r"[^a-z0-9]+", "-", ascii_text).strip("-")
