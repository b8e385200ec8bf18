"""Tokens this node has already verified, remembered until they expire.

A client that opens sockets in a loop, or a page that calls the API, presents the same
token again and again; checking its signature and claims each time costs the event loop
more than the rest of a refusal. A verified token is remembered (the token itself as
the key: it is what was signed) with the principal its claims make, until its ``exp``
plus the leeway, as the verification would have judged it. Nothing else in a signed
token can change: a subject removed later, or a role a facilitator changed, is applied
by the roster on every use, after this memo.

The memo is bounded (`size` tokens, the oldest forgotten first): only tokens whose
signature verified enter it, so a client cannot fill it with tokens it made up.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable

from server.access.auth import Principal

DEFAULT_SIZE = 4096
"""Tokens remembered at most (one per connected person, roughly)."""


class VerifiedTokens:
    """token → the principal its verified claims make, until it expires."""

    __slots__ = ("_clock", "_leeway", "_size", "_tokens")

    def __init__(
        self, *, clock: Callable[[], float], leeway: float, size: int = DEFAULT_SIZE
    ) -> None:
        self._clock = clock
        self._leeway = leeway
        self._size = size
        self._tokens: OrderedDict[str, Principal] = OrderedDict()

    def get(self, token: str) -> Principal | None:
        """The principal of `token` if it was verified here and has not expired since."""
        principal = self._tokens.get(token)
        if principal is None:
            return None
        expires_at = principal.expires_at
        if expires_at is None or self._clock() > expires_at + self._leeway:
            del self._tokens[token]
            return None
        return principal

    def remember(self, token: str, principal: Principal) -> None:
        """Remember a token whose signature and claims were just verified."""
        if principal.expires_at is None or self._size <= 0:
            return
        self._tokens[token] = principal
        while len(self._tokens) > self._size:
            self._tokens.popitem(last=False)

    def __len__(self) -> int:
        return len(self._tokens)
