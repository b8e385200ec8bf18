"""The hooks a hub hands its rooms, given once at construction: typed, ordered, isolated.

The loaders (`load_guard`, `migrate`) run when a room loads, before anyone joins; their
errors propagate (a `StorageUnavailable` means no room is made). Observers
(`after_commit`, `on_denied`; `on_join`, `on_leave` on the socket's task) run in the order
given, after the relay, on the committing task; each must return at once (the webhook
dispatcher queues, the audit log and attendance schedule), and one that raises is logged
and counted without stopping the others or the room.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, ParamSpec

from pycrdt import Doc

from crdt.errors import InvalidUpdate
from crdt.shape import ShapeMirror, TextBounds
from crdt.struct_ranges import struct_ranges
from server.access.auth import Principal
from server.errors import InvalidUpdateError
from server.limits import Limits
from server.metrics import Metrics
from server.rooms.projection import PublicNames

log = logging.getLogger("palabre.hooks")

P = ParamSpec("P")

Guard = Callable[[Doc[Any], Principal, bytes], str | None]
"""Judges a client update against the live document: ``None`` accepts, a reason refuses.

Raises `InvalidUpdateError` for an update that does not apply."""

GuardLoader = Callable[[str], Awaitable[Guard | None]]
"""What judges a document's client updates (data documents); ``None``: the text shape's
rules do (`RoomGuard`)."""

CommitObserver = Callable[[str, bytes], None]
"""Told a document's id and state vector after each committed batch."""

Migration = Callable[[str, Doc[Any]], Callable[[Doc[Any]], object] | None]
"""Brings a document just loaded from storage up to date (sealing hidden threads).

Given the document's id and its loaded state (read only), it returns ``None`` when nothing
is to change (it runs on every load, so it must be cheap and idempotent), or a change to
make; the hub makes it as the server peer (like `Hub.transform`) and commits it before
anyone can join the room."""

DenialObserver = Callable[[str, str | None, str], None]
"""Told the doc id, principal (``sub``) and reason of every write refused on a socket."""


JoinObserver = Callable[[str, str, Principal], None]
"""Told the doc id, connection id and principal of each socket that joined a room."""

LeaveObserver = Callable[[str, str], None]
"""Told the doc id and connection id of each socket that left a room."""


@dataclass(frozen=True, slots=True, kw_only=True)
class RoomHooks:
    """Everything that extends rooms, fixed when the hub is built."""

    load_guard: GuardLoader | None = None
    migrate: Migration | None = None
    after_commit: tuple[CommitObserver, ...] = ()
    on_denied: tuple[DenialObserver, ...] = ()
    on_join: tuple[JoinObserver, ...] = ()
    on_leave: tuple[LeaveObserver, ...] = ()
    public_names: PublicNames | None = None
    """How people are shown to readers who may not see names: given, every ``D.annotations``
    room serves them its public view (`server.rooms.projection`)."""


def notify(
    observers: tuple[Callable[P, None], ...], metrics: Metrics, doc_id: str,
    *args: P.args, **kwargs: P.kwargs,
) -> None:
    """Call each observer in order; one that raises is logged and counted, the rest go on."""
    for observer in observers:
        try:
            observer(*args, **kwargs)
        except Exception:
            log.exception("room hook %s failed", getattr(observer, "__qualname__", observer),
                          extra={"doc_id": doc_id})
            metrics.errors.labels(kind="hook_failed").inc()


class RoomGuard:
    """A room's guard: the document's size bound, then its rules (a `Guard`).

    The rules are a data document's (`load_guard`), or else the text shape's
    (`crdt.shape.ShapeMirror`: node types, attributes, block length), which a document
    that becomes a data document after its room loaded trades for the data rules
    (`use_rules`).

    The size is estimated without encoding the document on every update: the last
    measured size plus the bytes accepted since. It is measured again (an encoding of the
    whole state) when the estimate would pass the limit, and after every eighth of the
    limit accepted, so that growth the guard does not see (server writes, other nodes)
    is caught up with at a cost spread over many updates.
    """

    def __init__(self, limits: Limits, rules: Guard | None = None) -> None:
        self._max_bytes = limits.document_bytes
        self._shape = ShapeMirror(TextBounds(block_chars=limits.block_chars,
                                             attribute_chars=limits.attribute_chars,
                                             depth=limits.text_depth))
        self._rules = rules
        self._measured: int | None = None
        self._accepted = 0

    @property
    def has_rules(self) -> bool:
        """Whether the document's own rules (a data document's) judge its updates."""
        return self._rules is not None

    def use_rules(self, rules: Guard) -> None:
        """Judge with `rules` instead of the text shape, unless rules already do."""
        if self._rules is None:
            self._rules = rules

    def __call__(self, live: Doc[Any], principal: Principal, update: bytes) -> str | None:
        """``None`` when `update` may be queued, else why not.

        Raises:
            InvalidUpdateError: the update does not apply.
        """
        refusal = self._size_refusal(live, update)
        if refusal is not None:
            return refusal
        if self._rules is not None:
            refusal = self._rules(live, principal, update)
        else:
            try:
                refusal = self._shape.judge(live, update)
            except InvalidUpdate as exc:
                raise InvalidUpdateError(str(exc)) from exc
        if refusal is None:
            self._accepted += len(update)
        return refusal

    def _size_refusal(self, live: Doc[Any], update: bytes) -> str | None:
        over = self._measured is not None and (
            self._measured + self._accepted + len(update) > self._max_bytes)
        # Measured again only if something was accepted since: a document at the limit
        # refuses growth without encoding itself once per refused update.
        if self._measured is None or self._accepted > self._max_bytes // 8 or (
                over and self._accepted):
            self._measured = len(live.get_update())
            self._accepted = 0
        if self._measured + self._accepted + len(update) <= self._max_bytes:
            return None
        try:
            grows = bool(struct_ranges(update))
        except InvalidUpdate as exc:
            raise InvalidUpdateError(str(exc)) from exc
        if not grows:
            return None  # deletions only: they shrink the document
        return f"document too large: at most {self._max_bytes} bytes"
