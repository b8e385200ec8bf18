"""A client's awareness update, judged against the document's registry and the bounds.

Kept apart from `server.rooms.room` so that the room relays and this module decides.
Cost per message: one decode (varints and slices, and one ``json.loads`` of each state to
refuse one that is not JSON; its size is the slice's length), one dict lookup per state,
and a re-encode only when part of the update is stale.
"""

from __future__ import annotations

from crdt.awareness import (
    AwarenessBounds,
    AwarenessFull,
    AwarenessRefused,
    AwarenessRegistry,
    StateTooLarge,
    decode_awareness_update,
    encode_awareness_update,
)
from crdt.errors import ProtocolError
from crdt.protocol import encode_permission_denied
from server.errors import Forbidden, MalformedMessage, MessageTooBig
from server.rooms.client import Client


def apply_client_awareness(
    registry: AwarenessRegistry,
    sender: Client,
    update: bytes,
    *,
    principal: str,
    bounds: AwarenessBounds,
) -> bytes | None:
    """Record `sender`'s update in `registry`; return what to relay (``None``: nothing).

    The update is checked whole before anything of it is recorded: a refused one changes
    nothing and is not relayed. When the document's awareness is full (no fault of the
    sender), the sender is told with ``permission-denied`` and its socket stays.

    Raises:
        MalformedMessage: undecodable.
        MessageTooBig: a state larger than `bounds.state_bytes`, or the principal's states
            in this document past `bounds.principal_bytes` (1009).
        Forbidden: another principal's client id, or more than `bounds.clients` ids (4403).
    """
    try:
        entries = decode_awareness_update(update, bounds)
        fresh = registry.apply(
            sender.connection_id, entries, principal=principal, bounds=bounds
        )
    except AwarenessFull as exc:
        sender.send(encode_permission_denied(str(exc)))
        return None
    except ProtocolError as exc:
        raise MalformedMessage(f"bad awareness update: {exc}") from exc
    except StateTooLarge as exc:
        raise MessageTooBig(str(exc)) from exc
    except AwarenessRefused as exc:
        raise Forbidden(str(exc)) from exc
    if not fresh:
        return None
    return update if len(fresh) == len(entries) else encode_awareness_update(fresh)


def apply_peer_awareness(registry: AwarenessRegistry, owner: str, update: bytes) -> bytes | None:
    """Record states a peer node relayed (trusted: ids move to it); return what to relay.

    Raises:
        ProtocolError: the update does not decode.
    """
    fresh = registry.apply(owner, decode_awareness_update(update))
    return encode_awareness_update(fresh) if fresh else None
