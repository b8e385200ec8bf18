"""Web sign-in sessions: the page's cookie → `Principal`, expiry, sign-out, CSRF tokens.

The cookie holds an opaque random id; the database (shared by every node) holds its hash,
who signed in, with which role, and the session's times. A session ends when its owner
signs out (here or everywhere), is removed by a facilitator, leaves it unused for
``idle_seconds`` or reaches ``absolute_seconds`` after sign-in. A fresh id is drawn at
every sign-in and the previous one ended, so an id planted before sign-in is never
promoted (no fixation).

Unsafe requests authenticated by the cookie carry a CSRF token: an HMAC of the session id
under the server's secret, handed to the page by ``GET /auth/session``; a cross-site page
can neither read it nor compute it.
"""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import hmac
import logging
import re
import secrets
import time
from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from contextlib import asynccontextmanager

import anyio
from starlette.requests import cookie_parser

from server.access.auth import Principal, Role
from server.errors import Unauthenticated
from storage.base import StorageUnavailable
from storage.signin import SigninSession, SigninSessionNotFound, SigninSessions

log = logging.getLogger("palabre.signin")

COOKIE = "palabre_session"
"""The cookie's name over plain HTTP (development on loopback)."""
SECURE_COOKIE = "__Host-palabre_session"
"""The cookie's name over HTTPS: the ``__Host-`` prefix binds it to this exact host
(``Secure``, ``Path=/``, no ``Domain``), so a sibling subdomain cannot plant one."""
CSRF_HEADER = "X-CSRF-Token"
"""The header carrying the CSRF token on unsafe cookie-authenticated requests."""

SESSION_CREDENTIAL = "session:"
"""How the credential id of a principal signed in by a session begins."""

_ID = re.compile(r"[A-Za-z0-9_-]{43}")
"""A session id: 32 random bytes, base64url without padding."""
_TOUCH_FRACTION = 0.1
"""A session's ``last_seen`` is written at most once per this fraction of the idle time."""
_PURGE_SECONDS = 3600.0
"""How often ended sessions' rows are deleted."""
CACHE_SECONDS = 1.0
"""How long a session read from the database is reused by this node (a request reads it
twice: the rate limit, then the endpoint). A sign-out on another node reaches this node's
HTTP requests within it (and its sockets at once, through the relay)."""
_CACHED = 10_000
"""Sessions cached at most; past it the cache starts again."""


def cookie_name(*, is_https: bool) -> str:
    """The session cookie's name for a request over HTTPS or not."""
    return SECURE_COOKIE if is_https else COOKIE


def session_id_in(cookie_header: str | None, *, is_https: bool) -> str | None:
    """The session id the ``Cookie`` header carries (``None``: none).

    Over HTTPS only the ``__Host-`` cookie counts; a plain one there may have been planted.
    """
    if not cookie_header:
        return None
    return cookie_parser(cookie_header).get(cookie_name(is_https=is_https)) or None


def cookie_header_of(headers: Iterable[tuple[bytes, bytes]]) -> str | None:
    """The ``Cookie`` header of raw ASGI headers (several are joined)."""
    found = [v.decode("latin-1") for k, v in headers if k == b"cookie"]
    return "; ".join(found) if found else None


def _key(session_id: str) -> str:
    return hashlib.sha256(session_id.encode("ascii")).hexdigest()


class WebSessions:
    """Opens, checks and ends sign-in sessions in the shared database."""

    def __init__(
        self, store: SigninSessions, secret: bytes, *, idle_seconds: float,
        absolute_seconds: float, clock: Callable[[], float] = time.time,
    ) -> None:
        self._store = store
        self._csrf_key = hmac.new(secret, b"palabre csrf", hashlib.sha256).digest()
        self.idle_seconds = idle_seconds
        self.absolute_seconds = absolute_seconds
        self._clock = clock
        self._touch = idle_seconds * _TOUCH_FRACTION
        self._cache: dict[str, tuple[float, SigninSession]] = {}
        self.reads = 0
        """Sessions read from the database (not from the cache) so far."""

    async def open(
        self, *, sub: str, name: str, role: Role, docs: Sequence[str] | None, via: str,
        not_after: float | None = None, replacing: str | None = None,
    ) -> tuple[str, SigninSession]:
        """A new session for `sub` (ending at `not_after` at the latest): its id and record.

        `replacing` (the id the browser held before, if any) is ended first.

        Raises:
            StorageUnavailable: the database failed.
        """
        if replacing is not None:
            await self.end(replacing)
        now = self._clock()
        expires_at = now + self.absolute_seconds
        if not_after is not None:
            expires_at = min(expires_at, not_after)
        session_id = secrets.token_urlsafe(32)
        session = SigninSession(
            key=_key(session_id), sub=sub, name=name, role=str(role),
            docs=None if docs is None else tuple(docs), via=via,
            created_at=now, last_seen=now, expires_at=expires_at,
        )
        await self._store.open_signin_session(session)
        self._remember(session.key, now, session)  # the page's first socket reads no row
        log.info("signed in %r as %s (%s)", sub, role, via)
        return session_id, session

    def _remember(self, key: str, now: float, session: SigninSession) -> None:
        if len(self._cache) >= _CACHED:
            self._cache.clear()
        self._cache[key] = (now, session)

    def is_cached(self, session_id: str) -> bool:
        """Whether `find` would answer `session_id` without reading the database."""
        cached = self._cache.get(_key(session_id)) if _ID.fullmatch(session_id) else None
        return cached is not None and self._clock() - cached[0] < CACHE_SECONDS

    async def find(self, session_id: str) -> SigninSession:
        """The live session `session_id` names (touched when due).

        Raises:
            Unauthenticated: unknown, ended or expired (an expired one is ended here).
            StorageUnavailable: the database failed.
        """
        if not _ID.fullmatch(session_id):
            raise Unauthenticated("malformed sign-in session cookie")
        key = _key(session_id)
        now = self._clock()
        cached = self._cache.get(key)
        if cached is not None and now - cached[0] < CACHE_SECONDS:
            session = cached[1]
        else:
            self.reads += 1
            try:
                session = await self._store.get_signin_session(key)
            except SigninSessionNotFound as exc:
                self._cache.pop(key, None)
                raise Unauthenticated("signed out or session ended: sign in again") from exc
            self._remember(key, now, session)
        if now >= session.expires_at or now - session.last_seen > self.idle_seconds:
            self._cache.pop(key, None)
            await self._store.end_signin_session(key)
            raise Unauthenticated("sign-in session expired: sign in again")
        if now - session.last_seen >= self._touch:
            await self._store.touch_signin_session(key, at=now)
            session = dataclasses.replace(session, last_seen=now)
            self._cache[key] = (self._cache.get(key, (now, session))[0], session)
        return session

    async def principal(self, session_id: str) -> Principal:
        """Who the session `session_id` signed in.

        Raises:
            Unauthenticated: unknown, ended, expired or not a role.
            StorageUnavailable: the database failed.
        """
        session = await self.find(session_id)
        try:
            role = Role(session.role)
        except ValueError as exc:
            raise Unauthenticated("sign-in session with an unknown role") from exc
        return Principal(
            sub=session.sub, name=session.name, role=role, docs=session.docs,
            expires_at=session.expires_at, issued_at=session.created_at,
            credential_id=f"{SESSION_CREDENTIAL}{session.key[:16]}",
        )

    async def end(self, session_id: str) -> bool:
        """Sign out: end the session `session_id`; whether it was open.

        Raises:
            StorageUnavailable: the database failed.
        """
        if not _ID.fullmatch(session_id):
            return False
        self._cache.pop(_key(session_id), None)
        return await self._store.end_signin_session(_key(session_id))

    async def end_all(self, sub: str) -> int:
        """Sign `sub` out everywhere: end all their sessions; how many.

        Raises:
            StorageUnavailable: the database failed.
        """
        for key in [k for k, (_, s) in self._cache.items() if s.sub == sub]:
            del self._cache[key]
        ended = await self._store.end_signin_sessions_of(sub)
        log.info("ended %d sign-in session(s) of %r", ended, sub)
        return ended

    def credential_id(self, session_id: str) -> str:
        """The credential id of the principals the session `session_id` signs in."""
        return f"{SESSION_CREDENTIAL}{_key(session_id)[:16]}"

    def csrf_token(self, session_id: str) -> str:
        """The CSRF token of the session `session_id`."""
        mac = hmac.new(self._csrf_key, session_id.encode("ascii"), hashlib.sha256).digest()
        return base64.urlsafe_b64encode(mac).rstrip(b"=").decode("ascii")

    def is_csrf_token(self, session_id: str, token: str | None) -> bool:
        """Whether `token` is the CSRF token of `session_id` (constant time)."""
        return token is not None and hmac.compare_digest(
            self.csrf_token(session_id).encode("ascii"), token.encode("utf-8", "replace"))

    @asynccontextmanager
    async def running(self) -> AsyncIterator[None]:
        """Delete ended sessions' rows every hour while the app runs."""
        async with anyio.create_task_group() as tg:
            tg.start_soon(self._purge_forever)
            try:
                yield
            finally:
                tg.cancel_scope.cancel()

    async def _purge_forever(self) -> None:
        while True:
            await anyio.sleep(_PURGE_SECONDS)
            now = self._clock()
            try:
                await self._store.purge_signin_sessions(
                    idle_before=now - self.idle_seconds, now=now)
            except StorageUnavailable as exc:
                log.warning("sign-in sessions not purged: %s", exc)
