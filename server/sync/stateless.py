"""Stateless messages: what a Hocuspocus client sends besides the document, and its hook.

``provider.sendStateless(payload)`` carries an application string that is not part of the
document and is never stored. palabre hands each one to *the stateless hook*, a callable
configured with ``--stateless-hook module:attribute`` (``PALABRE_STATELESS_HOOK``) or
given to ``create_app(on_stateless=...)``. With no hook, stateless messages are dropped.

The hook is called with a `StatelessEvent` for every stateless message of an
authenticated document. It may be a plain function or a coroutine function (run in the
socket's task group, so the socket keeps reading meanwhile); what it raises is logged,
and the socket stays open. Through the event it can answer the sender (`reply`) or send
a payload to the document's other Hocuspocus clients (`broadcast`), on every node of a
cluster (the Redis relay carries it; `server/cluster.py`).

Built in: ``server.sync.stateless:relay`` relays every stateless message to the document's
other Hocuspocus clients (as Hocuspocus's ``broadcastStateless`` would from a hook);
readers may relay too, since nothing is written.
"""

from __future__ import annotations

import importlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from server.access.auth import Principal


@dataclass(frozen=True, slots=True)
class StatelessEvent:
    """One stateless message, with the means to answer it."""

    document: str
    principal: str | None
    """The sender's ``sub`` (``None`` when auth is off)."""
    can_edit: bool
    """Whether the sender may edit the document (a reader may still send stateless)."""
    payload: str
    reply: Callable[[str], None]
    """Send a stateless payload back to the sender, about this document."""
    broadcast: Callable[[str], None]
    """Send a stateless payload to the document's other Hocuspocus clients (every node)."""
    sender: Principal | None = None
    """Who sent it, whole (name and role too): hooks that act for the sender check rights."""


StatelessHook = Callable[[StatelessEvent], Awaitable[None] | None]


def relay(event: StatelessEvent) -> None:
    """The built-in hook: relay each stateless message to the document's other clients."""
    event.broadcast(event.payload)


_RENAMED = {"server.stateless:relay": "server.sync.stateless:relay"}
"""Specs that name a hook by the module it lived in before `server/` had layers."""


def load_hook(spec: str) -> StatelessHook:
    """The callable named by ``package.module:attribute`` (older names still accepted).

    Raises:
        ValueError: the spec is malformed, the module cannot be imported, or the
            attribute is missing or not callable.
    """
    module_name, sep, attribute = _RENAMED.get(spec, spec).partition(":")
    if not sep or not module_name or not attribute:
        raise ValueError(f"stateless hook {spec!r} must be 'package.module:attribute'")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise ValueError(f"stateless hook {spec!r}: cannot import {module_name!r}: {exc}") from exc
    hook = getattr(module, attribute, None)
    if not callable(hook):
        raise ValueError(f"stateless hook {spec!r}: {attribute!r} is not a callable of "
                         f"{module_name!r}")
    return hook  # type: ignore[no-any-return]
