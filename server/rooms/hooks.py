"""The hooks a hub hands its rooms, given once at construction: typed, ordered, isolated.

The loader (`load_guard`) is awaited when a room loads; its errors propagate (a
`StorageUnavailable` means no room is made). Observers (`after_commit`, `on_denied`) run
in the order given, after the relay, on the committing task; each must return at once
(the webhook dispatcher queues, the audit log schedules), and one that raises is logged
and counted without stopping the others or the room.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, ParamSpec

from pycrdt import Doc

from server.access.auth import Principal
from server.metrics import Metrics

log = logging.getLogger("palabre.hooks")

P = ParamSpec("P")

Guard = Callable[[Doc[Any], Principal, bytes], str | None]
"""Judges a client update against the live document: ``None`` accepts, a reason refuses.

Raises `InvalidUpdateError` for an update that does not apply."""

GuardLoader = Callable[[str], Awaitable[Guard | None]]
"""What judges a document's client updates (data documents); ``None``: nothing does."""

CommitObserver = Callable[[str, bytes], None]
"""Told a document's id and state vector after each committed batch."""

DenialObserver = Callable[[str, str | None, str], None]
"""Told the doc id, principal (``sub``) and reason of every write refused on a socket."""


@dataclass(frozen=True, slots=True, kw_only=True)
class RoomHooks:
    """Everything that extends rooms, fixed when the hub is built."""

    load_guard: GuardLoader | None = None
    after_commit: tuple[CommitObserver, ...] = ()
    on_denied: tuple[DenialObserver, ...] = ()


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
