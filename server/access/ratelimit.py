"""Rate limits per principal: token buckets, and the ASGI middleware that applies them to HTTP.

A principal is the token's ``sub``; a caller without a valid token is keyed by its client
address (``public@<address>``). Limits follow principals, not addresses, because a whole
assembly hall or school shares one address.

- HTTP (``/api``): `http_rate_per_second` requests a second, bursts up to `http_burst`,
  per principal; past it the answer is 429 ``{"error": "rate_limited", ...}`` with
  ``Retry-After`` (whole seconds).
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

from starlette.types import ASGIApp, Receive, Scope, Send

from server.access.auth import Principal, Role
from server.errors import PalabreError

_PRUNE_AT = 10_000
"""Buckets kept before full (idle) ones are forgotten."""


@dataclass(slots=True)
class TokenBucket:
    """`capacity` tokens, refilled at `rate` a second; each allowed event takes one."""

    rate: float
    capacity: float
    tokens: float
    updated: float

    def take(self, now: float) -> float:
        """Take a token if there is one: 0.0; otherwise the seconds until there is one."""
        self.tokens = min(self.capacity, self.tokens + (now - self.updated) * self.rate)
        self.updated = now
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            return 0.0
        return (1.0 - self.tokens) / self.rate

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

    def take(self, key: str) -> float:
        """Count one event of `key`: 0.0 when allowed, else the seconds to wait."""
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
        return bucket.take(now)

    def _prune(self, now: float) -> None:
        for key in [key for key, bucket in self._buckets.items() if bucket.is_full(now)]:
            del self._buckets[key]


def principal_key(principal: Principal | None, address: str | None) -> str:
    """The key a caller is limited under: its ``sub``, or its address when public."""
    if principal is None or principal.role == Role.PUBLIC:
        return f"public@{address or 'unknown'}"
    return f"sub:{principal.sub}"


Authenticate = Callable[[str | None], Awaitable[Principal]]


class RateLimitMiddleware:
    """ASGI middleware: HTTP requests under `prefix` beyond their principal's rate get 429.

    The bearer token is checked once more here to find the principal (HS256: microseconds);
    an invalid one is limited by address, and the endpoint still answers 401.
    """

    def __init__(
        self, app: ASGIApp, *, limiter: RateLimiter, authenticate: Authenticate,
        prefix: str = "/api",
    ) -> None:
        self.app = app
        self._limiter = limiter
        self._authenticate = authenticate
        self._prefix = prefix

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Pass the request on, or answer 429."""
        if (
            scope["type"] != "http"
            or not self._limiter.is_enabled
            or not str(scope.get("path", "")).startswith(self._prefix)
        ):
            await self.app(scope, receive, send)
            return
        wait = self._limiter.take(await self._key(scope))
        if wait <= 0:
            await self.app(scope, receive, send)
            return
        retry_after = max(1, math.ceil(wait))
        body = json.dumps({
            "error": "rate_limited",
            "detail": f"too many requests; retry in {retry_after} s",
        }).encode()
        await send({
            "type": "http.response.start", "status": 429,
            "headers": [(b"content-type", b"application/json"),
                        (b"content-length", str(len(body)).encode()),
                        (b"retry-after", str(retry_after).encode())],
        })
        await send({"type": "http.response.body", "body": body})

    async def _key(self, scope: Scope) -> str:
        client = scope.get("client")
        address = str(client[0]) if client else None
        token: str | None = None
        for name, value in scope.get("headers", ()):
            if name == b"authorization":
                scheme, _, rest = value.decode("latin-1").partition(" ")
                if scheme.lower() == "bearer" and rest.strip():
                    token = rest.strip()
                break
        if token is None:
            return principal_key(None, address)
        try:
            return principal_key(await self._authenticate(token), address)
        except PalabreError:
            return principal_key(None, address)
