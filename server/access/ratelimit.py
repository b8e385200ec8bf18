"""Rate limits per principal: token buckets, and the ASGI middleware that applies them to HTTP.

A principal is the token's ``sub``; a caller without a valid token is keyed by its client
address (``public@<address>``). Limits follow principals, not addresses, because a whole
assembly hall or school shares one address.

- HTTP (``/api``): `http_rate_per_second` requests a second, bursts up to `http_burst`,
  per principal; past it the answer is 429 ``{"error": "rate_limited", ...}`` with
  ``Retry-After`` (whole seconds). A JSON body weighs one more request per
  `json_bytes_per_request` it carries (``PALABRE_HTTP_JSON_BYTES_PER_REQUEST``: parsing,
  checking and applying it is work on the event loop that follows its size): one large
  body is let through, and its weight is a debt the principal's next requests wait out.
  Facilitators' requests weigh one each (they are trusted with bulk imports). The 429
  is answered after the refusal delay (`server.access.pacing`). A citizen's or the
  public's JSON body past `Limits.citizen_json_bytes` is answered 413 unread.
- Sockets: `socket_update_rate_per_second` sync updates a second, bursts up to
  `socket_update_burst`, per principal over all its sockets on this node; past it the
  socket that sent is closed with 1013 (its client reconnects and resends what it kept).

A rate of 0 turns a limit off.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from server.access.auth import Principal, Role
from server.access.pacing import RefusalPacer
from server.access.websession import cookie_header_of, session_id_in
from server.errors import PalabreError

_PRUNE_AT = 10_000
"""Buckets kept before full (idle) ones are forgotten."""

_JSON_TYPES = (b"application/json", b"application/merge-patch+json", b"application/geo+json")


@dataclass(slots=True)
class TokenBucket:
    """`capacity` tokens, refilled at `rate` a second; each allowed event takes one."""

    rate: float
    capacity: float
    tokens: float
    updated: float

    def take(self, now: float, cost: float = 1.0) -> float:
        """Take `cost` tokens if there is at least one: 0.0 (past one, the rest is a debt
        later events wait out); otherwise the seconds until there is one."""
        self.tokens = min(self.capacity, self.tokens + (now - self.updated) * self.rate)
        self.updated = now
        if self.tokens >= 1.0:
            self.tokens -= cost
            return 0.0
        return (1.0 - self.tokens) / self.rate

    def available(self, now: float) -> float:
        """The tokens there are at `now` (below zero: a debt), without taking any."""
        return min(self.capacity, self.tokens + (now - self.updated) * self.rate)

    def is_full(self, now: float) -> bool:
        """Whether the bucket has refilled completely by `now` (then it can be forgotten)."""
        return self.tokens + (now - self.updated) * self.rate >= self.capacity


class RateLimiter:
    """One token bucket per key, made on first use; a rate of 0 allows everything."""

    def __init__(
        self, rate: float, burst: int, *, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.rate = rate
        self.burst = max(1, burst)
        self._clock = clock
        self._buckets: dict[str, TokenBucket] = {}

    @property
    def is_enabled(self) -> bool:
        """Whether this limiter limits anything."""
        return self.rate > 0

    def __len__(self) -> int:
        """How many keys have a bucket (idle ones are forgotten past `_PRUNE_AT`)."""
        return len(self._buckets)

    def take(self, key: str, cost: float = 1.0) -> float:
        """Count an event of `key` weighing `cost`: 0.0 when allowed, else the seconds to wait."""
        if not self.is_enabled:
            return 0.0
        now = self._clock()
        bucket = self._buckets.get(key)
        if bucket is None:
            if len(self._buckets) >= _PRUNE_AT:
                self._prune(now)
            bucket = self._buckets[key] = TokenBucket(
                rate=self.rate, capacity=float(self.burst), tokens=float(self.burst), updated=now
            )
        return bucket.take(now, cost)

    def wait(self, key: str) -> float:
        """The seconds `key` would wait if it took one now (0.0: it would be allowed), without
        taking anything."""
        bucket = self._buckets.get(key)
        if bucket is None or not self.is_enabled:
            return 0.0
        tokens = bucket.available(self._clock())
        return 0.0 if tokens >= 1.0 else (1.0 - tokens) / self.rate

    def is_in_debt(self, key: str) -> bool:
        """Whether `key` owes tokens (it was charged, or took at a cost over one, more than
        it had) and has not refilled them yet."""
        bucket = self._buckets.get(key)
        return bucket is not None and self.is_enabled and bucket.available(self._clock()) < 0

    def charge(self, key: str, cost: float) -> None:
        """Add `cost` to what `key` already took (a debt its next events wait out)."""
        bucket = self._buckets.get(key)
        if bucket is not None and self.is_enabled:
            bucket.tokens -= cost

    def _prune(self, now: float) -> None:
        for key in [key for key, bucket in self._buckets.items() if bucket.is_full(now)]:
            del self._buckets[key]


def principal_key(principal: Principal | None, address: str | None) -> str:
    """The key a caller is limited under: its ``sub``, or its address when public."""
    if principal is None or principal.role == Role.PUBLIC:
        return f"public@{address or 'unknown'}"
    return f"sub:{principal.sub}"


Authenticate = Callable[[str | None], Awaitable[Principal]]
AuthenticateSession = Callable[[str], Awaitable[Principal]]
NeedsARead = Callable[[str], bool]


class RateLimitMiddleware:
    """ASGI middleware: HTTP requests under `prefix` beyond their principal's rate get 429.

    The bearer token is checked once more here to find the principal (HS256: microseconds);
    an invalid one is limited by address, and the endpoint still answers 401. Without a
    token, a sign-in cookie is checked with `authenticate_session` (a cached read), so that
    people signed in behind one address (a town hall's network) each get their own rate;
    a cookie whose session is not cached is read only while its address has requests left
    (made-up cookies in a loop would cost a database read each).
    """

    def __init__(
        self, app: ASGIApp, *, limiter: RateLimiter, authenticate: Authenticate,
        prefix: str = "/api", json_bytes_per_request: int = 0,
        authenticate_session: AuthenticateSession | None = None,
        needs_a_read: NeedsARead | None = None, pacer: RefusalPacer | None = None,
        citizen_json_bytes: int = 0,
    ) -> None:
        self.app = app
        self._pacer = pacer
        self._citizen_json_bytes = citizen_json_bytes
        self._authenticate_session = authenticate_session
        self._needs_a_read = needs_a_read
        self._json_unit = json_bytes_per_request
        self._limiter = limiter
        self._authenticate = authenticate
        self._prefix = prefix

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Pass the request on, or answer 429 (or 413/411 for a citizen's large body)."""
        if (
            scope["type"] != "http"
            or not (self._limiter.is_enabled or self._citizen_json_bytes)
            or not str(scope.get("path", "")).startswith(self._prefix)
        ):
            await self.app(scope, receive, send)
            return
        key, principal = await self._caller(scope)
        declared, is_json = _body_of(scope)
        if is_json and self._citizen_json_bytes and (
            principal is None or principal.role in (Role.CITIZEN, Role.PUBLIC)
        ) and (declared is None or declared > self._citizen_json_bytes):
            if self._pacer is not None:  # refused unread: it could be sent again at once
                await self._pacer.pause(key)
            await _refuse(send, *_too_large(declared, self._citizen_json_bytes))
            return
        if not self._limiter.is_enabled:
            await self.app(scope, receive, send)
            return
        weighed = is_json and self._json_unit > 0 and (
            principal is None or principal.role != Role.FACILITATOR)
        weight = 1.0 + (declared / self._json_unit if weighed and declared else 0.0)
        wait = self._limiter.take(key, weight)
        if wait <= 0:
            if weighed and declared is None:
                receive = self._weighing(key, receive)
            await self.app(scope, receive, send)
            return
        retry_after = max(1, math.ceil(wait))
        if self._pacer is not None:
            await self._pacer.pause(key)
        await _refuse(send, 429, "rate_limited", f"too many requests; retry in {retry_after} s",
                      [(b"retry-after", str(retry_after).encode())])

    def _weighing(self, key: str, receive: Receive) -> Receive:
        """`receive`, charging `key` for a JSON body sent without a length as it arrives."""
        async def weighed() -> Message:
            message = await receive()
            if message["type"] == "http.request" and message.get("body"):
                self._limiter.charge(key, len(message["body"]) / self._json_unit)
            return message
        return weighed

    async def _caller(self, scope: Scope) -> tuple[str, Principal | None]:
        """The key the request is limited under, and its principal (None: no valid token)."""
        client = scope.get("client")
        address = str(client[0]) if client else None
        token: str | None = None
        for name, value in scope.get("headers", ()):
            if name == b"authorization":
                scheme, _, rest = value.decode("latin-1").partition(" ")
                if scheme.lower() == "bearer" and rest.strip():
                    token = rest.strip()
                break
        session_id = None
        if token is None and self._authenticate_session is not None:
            session_id = session_id_in(cookie_header_of(scope.get("headers", ())),
                                       is_https=scope.get("scheme") == "https")
        if token is None and session_id is None:
            return principal_key(None, address), None
        if (session_id is not None and self._needs_a_read is not None
                and self._needs_a_read(session_id)
                and self._limiter.wait(principal_key(None, address)) > 0):
            return principal_key(None, address), None  # refused next, nothing read
        try:
            if session_id is not None and self._authenticate_session is not None:
                principal = await self._authenticate_session(session_id)
            else:
                principal = await self._authenticate(token)
        except PalabreError:
            return principal_key(None, address), None
        return principal_key(principal, address), principal


def _too_large(declared: int | None, limit: int) -> tuple[int, str, str]:
    """The status, error and detail refusing a citizen's JSON body of `declared` bytes."""
    if declared is None:
        return 411, "length_required", "send a Content-Length with this JSON body"
    return 413, "payload_too_large", (
        f"body of {declared} bytes exceeds the limit of {limit} bytes for this role")


async def _refuse(
    send: Send, status: int, error: str, detail: str,
    headers: list[tuple[bytes, bytes]] | None = None,
) -> None:
    """Answer `status` with ``{"error": error, "detail": detail}`` (the body unread)."""
    body = json.dumps({"error": error, "detail": detail}).encode()
    await send({"type": "http.response.start", "status": status, "headers": [
        (b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
        *(headers or []),
    ]})
    await send({"type": "http.response.body", "body": body})


def _body_of(scope: Scope) -> tuple[int | None, bool]:
    """The declared length of the request's body (0: none; None: sent in chunks of unknown
    total) and whether it is JSON."""
    declared: int | None = 0
    is_json = False
    for name, value in scope.get("headers", ()):
        if name == b"content-length" and value.isdigit():
            declared = int(value)
        elif name == b"transfer-encoding":
            declared = None
        elif name == b"content-type":
            is_json = value.split(b";")[0].strip().lower() in _JSON_TYPES
    return declared, is_json
