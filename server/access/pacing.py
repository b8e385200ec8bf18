"""Refusals answered at the pace they ask the client to keep.

A client refused for asking too fast (a ``429``: a handshake past its openings, a request
past its rate, a stream past its count) is told ``Retry-After``. An honest client waits;
a hostile one asks again at once, and answering each refusal at once lets it loop on
them as fast as it can open connections: every refusal is a parse, a token check and an
answer on the event loop every room shares (about 0.3-0.6 ms each, thousands a second).

So a refusal is held `Limits.refusal_delay` seconds before it is answered, reading
nothing more meanwhile: a client looping on refusals makes one attempt per held
connection per delay, whatever its speed. Held refusals cost a timer and an open
connection each, so they are bounded: `Limits.refusals_held_per_key` per principal (or
address) and `Limits.refusals_held` on the node; past either, a refusal is answered at
once, as before. An honest client loses nothing: it was told to wait that long anyway.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from server.limits import Limits


class RefusalPacer:
    """Holds refusals for their delay, within the bounds, and answers them all on shutdown."""

    __slots__ = ("_delay", "_held", "_pending", "_per_key", "_total")

    def __init__(self, delay: float, *, per_key: int, total: int) -> None:
        self._delay = delay
        self._per_key = per_key
        self._total = total
        self._held: dict[str, int] = {}
        self._pending: dict[object, tuple[asyncio.TimerHandle, Callable[[], None]]] = {}

    @classmethod
    def from_limits(cls, limits: Limits) -> RefusalPacer:
        """The pacer of `limits` (`refusal_delay`, `refusals_held_per_key`, `refusals_held`)."""
        return cls(limits.refusal_delay, per_key=limits.refusals_held_per_key,
                   total=limits.refusals_held)

    @property
    def held(self) -> int:
        """Refusals held now, on this node."""
        return len(self._pending)

    def later(self, key: str, answer: Callable[[], None]) -> bool:
        """Call `answer` after the delay of a refusal of `key` and return True, or return
        False when the delay is off or the bounds are full (the caller answers now)."""
        if self._delay <= 0 or len(self._pending) >= self._total:
            return False
        held = self._held.get(key, 0)
        if held >= self._per_key:
            return False
        self._held[key] = held + 1
        token = object()

        def answer_and_release() -> None:
            if self._pending.pop(token, None) is None:
                return
            self._release(key)
            answer()

        handle = asyncio.get_running_loop().call_later(self._delay, answer_and_release)
        self._pending[token] = (handle, answer_and_release)
        return True

    async def pause(self, key: str) -> None:
        """Wait the delay of a refusal of `key` (none when the bounds are full)."""
        done = asyncio.get_running_loop().create_future()

        def wake() -> None:
            if not done.done():
                done.set_result(None)

        if not self.later(key, wake):
            return
        try:
            await done
        finally:
            wake()  # cancelled: the pacer is told at its time, as for a connection gone

    def answer_all(self) -> None:
        """Answer every held refusal now (the node is shutting down)."""
        for handle, answer in list(self._pending.values()):
            handle.cancel()
            answer()

    def _release(self, key: str) -> None:
        held = self._held.get(key, 0)
        if held <= 1:
            self._held.pop(key, None)
        else:
            self._held[key] = held - 1
