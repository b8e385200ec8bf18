"""Per-principal bounds shared by the socket lanes of one node: open sockets, awareness.

A principal is keyed as for rate limits (`server.access.ratelimit.principal_key`): its
token's ``sub``, or ``public@<address>`` without a token. One unit is a ``/ws`` socket or
one document joined over a Hocuspocus socket (a Hocuspocus socket with many documents
holds as much as that many ``/ws`` sockets), so both lanes share one count:

- an authenticated principal holds at most `Limits.sockets_per_principal` units;
- public clients of one address at most `Limits.public_sockets_per_address` (a hall of
  readers may share one address);
- past it a ``/ws`` socket is closed with 1013 (retry later), a Hocuspocus document gets
  permission-denied (the socket and its other documents stay).

Openings are rate-limited per principal key too (`Limits.socket_opens_per_second`,
`Limits.socket_opens_burst`), before the catalogue is read: a loop opening sockets on
unknown ids costs its handshakes only. A socket refused for what its client asked or
sent charges its principal `Limits.refused_socket_cost` more openings (`penalise`): a
principal refused in a loop owes openings, is refused at the handshake
(`server.sync.handshake`) until it has waited its debt out, and its sockets still
waiting for their catalogue check are refused too (`check_not_in_debt`). The catalogue
checks of one principal run `Limits.admissions_per_principal` at a time (`admitting`).

Awareness updates of a principal share one token bucket over all its sockets
(`Limits.awareness_rate_per_second`, `Limits.awareness_burst`), one token per client state
or per started KiB (`server.sync.connection`): opening more sockets, or sending larger
states, does not multiply what it may make every other client receive.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass

import anyio

from crdt.awareness import AwarenessBounds
from server.access.auth import Principal, Role
from server.access.ratelimit import RateLimiter
from server.errors import Overloaded
from server.limits import Limits


class SocketQuota:
    """Open sockets per principal, and the awareness bounds and rate of every connection."""

    __slots__ = (
        "_admitting", "_limits", "_open", "_opening", "awareness_bounds", "awareness_limiter",
    )

    def __init__(self, limits: Limits, *, clock: Callable[[], float] = time.monotonic) -> None:
        self._limits = limits
        self._open: dict[str, int] = {}
        self.awareness_bounds = AwarenessBounds(
            state_bytes=limits.awareness_state_bytes,
            clients=limits.awareness_clients_per_connection,
            principal_bytes=limits.awareness_principal_bytes,
            document_bytes=limits.awareness_document_bytes,
        )
        """What one connection may put in a document's awareness."""
        self.awareness_limiter = RateLimiter(
            limits.awareness_rate_per_second, limits.awareness_burst, clock=clock
        )
        """Awareness tokens (states, or KiB) a second, per principal key."""
        self._opening = RateLimiter(
            limits.socket_opens_per_second, limits.socket_opens_burst, clock=clock
        )
        self._admitting: dict[str, _Turns] = {}

    def opening(self, key: str) -> None:
        """Count one socket (or Hocuspocus document) being opened under `key`.

        Raises:
            Overloaded: the key opens them faster than `Limits.socket_opens_per_second`.
        """
        wait = self._opening.take(key)
        if wait > 0:
            raise self._too_fast(wait)

    def opening_refusal(self, key: str) -> Overloaded | None:
        """The refusal `opening` would raise for `key` now, without counting an opening
        (``None``: it would be let through). For the handshake gate, which refuses early
        and leaves the counting to `opening` on the way in.
        """
        wait = self._opening.wait(key)
        return None if wait <= 0 else self._too_fast(wait)

    def penalise(self, key: str) -> None:
        """Charge `key` `Limits.refused_socket_cost` openings: one of its sockets was refused
        for what its client asked or sent."""
        self._opening.charge(key, self._limits.refused_socket_cost)

    def check_not_in_debt(self, key: str) -> None:
        """Refuse a socket of a principal charged more openings than it had (`penalise`),
        until it has waited the debt out.

        Raises:
            Overloaded: `key` owes openings.
        """
        if self._opening.is_in_debt(key):
            raise self._too_fast(self._opening.wait(key))

    @asynccontextmanager
    async def admitting(self, key: str) -> AsyncIterator[None]:
        """Hold one of the `Limits.admissions_per_principal` turns of `key` at checking a
        document in the catalogue (waiting for one if they are all taken)."""
        if self._limits.admissions_per_principal <= 0:
            yield
            return
        turns = self._admitting.get(key)
        if turns is None:
            turns = self._admitting[key] = _Turns(
                anyio.Semaphore(self._limits.admissions_per_principal))
        turns.users += 1
        try:
            async with turns.semaphore:
                yield
        finally:
            turns.users -= 1
            if turns.users == 0:
                del self._admitting[key]

    def _too_fast(self, wait: float) -> Overloaded:
        return Overloaded(
            f"opening sockets too fast: at most {self._limits.socket_opens_per_second:g} "
            f"a second; retry in {max(1, round(wait))} s"
        )

    def acquire(self, principal: Principal, key: str) -> None:
        """Count one more socket (or Hocuspocus document) of `principal`, keyed `key`.

        Raises:
            Overloaded: the principal already holds as many as it may on this node.
        """
        if principal.role == Role.PUBLIC:
            limit, whose = self._limits.public_sockets_per_address, "this address"
        else:
            limit, whose = self._limits.sockets_per_principal, "this token's subject"
        held = self._open.get(key, 0)
        if limit > 0 and held >= limit:
            raise Overloaded(
                f"too many open sockets for {whose}: at most {limit} on this node; "
                "close one and retry"
            )
        self._open[key] = held + 1

    def release(self, key: str) -> None:
        """Forget one socket (or document) counted by `acquire`."""
        held = self._open.get(key, 0) - 1
        if held > 0:
            self._open[key] = held
        else:
            self._open.pop(key, None)

    def held(self, key: str) -> int:
        """Sockets (and Hocuspocus documents) open under `key` on this node."""
        return self._open.get(key, 0)


@dataclass(slots=True)
class _Turns:
    """The catalogue-check turns of one principal, and who holds or awaits them."""

    semaphore: anyio.Semaphore
    users: int = 0
