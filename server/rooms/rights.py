"""Rights that change under open sockets: a document deleted or made private, a person's
rights changed (removed, given another role, signed out), a document frozen or unfrozen.

The hub applies each to the rooms of this node (and tells the other nodes); these
functions say what a change does to one room's clients: who is closed (4403), who keeps
the socket with other rights, which queued updates are dropped unstored, and that the
readers without a socket (event streams) check their own right again.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

from crdt.protocol import CloseCode, encode_permission_denied
from server.access.auth import Principal
from server.access.permissions import Action, is_allowed, sees_real_names
from server.access.roster import ALL_SESSIONS, RightsChange
from server.access.websession import SESSION_CREDENTIAL
from server.rooms.room import FROZEN_NOTICE, Room

Revise = Callable[[Principal], Principal | None]
"""A client's principal after a change of rights, or ``None`` when it loses the document."""


def revoke(room: Room, may_stay: Callable[[Principal], bool], reason: str) -> None:
    """Close (4403, `reason`) every client of `room` whose principal `may_stay` refuses
    now, and wake the readers without a socket to check their own right."""
    for connection in list(room.connections):
        if not may_stay(connection.principal):
            connection.request_close(CloseCode.FORBIDDEN, reason)
    room.signal_access_changed()


def revision(change: RightsChange) -> tuple[Revise, str]:
    """What `change` makes of a principal of its person, and the close reason it gives."""
    removed_at, role, signed_out = change.removed_at, change.role, change.signed_out

    def revise(principal: Principal) -> Principal | None:
        if signed_out is not None:
            credential = principal.credential_id or ""
            ended = credential.startswith(SESSION_CREDENTIAL) and (
                signed_out in (ALL_SESSIONS, credential))
            return None if ended else principal
        if removed_at is not None:
            issued = principal.issued_at
            return principal if issued is not None and issued > removed_at else None
        if role is None or role is principal.role:
            return principal
        return dataclasses.replace(principal, role=role)

    reason = ("signed out" if signed_out is not None
              else "access revoked" if removed_at is not None else "role changed")
    return revise, reason


def change_rights(room: Room, sub: str, revise: Revise, reason: str) -> None:
    """Apply a change of `sub`'s rights to their clients in `room`: `revise` gives each
    client's new principal, or ``None`` when the client loses the document (closed with
    4403 and `reason`; its updates not yet committed are dropped, never stored)."""
    closed: set[int] = set()
    for connection in list(room.connections):
        if connection.principal.sub != sub:
            continue
        principal = revise(connection.principal)
        if principal is None or not is_allowed(principal, Action.READ, room.doc_id,
                                               doc_is_public=True):
            connection.request_close(CloseCode.FORBIDDEN, reason)
            closed.add(id(connection))
        elif room.projection is not None and (
                sees_real_names(principal) != sees_real_names(connection.principal)):
            # Its copy holds the other view of the same items: a fresh page syncs anew.
            connection.request_close(CloseCode.FORBIDDEN, f"{reason}: reload the page")
        else:
            connection.change_rights(principal, may_edit=is_allowed(
                principal, Action.EDIT, room.doc_id))
            if sees_real_names(principal):
                room.presence.blind.discard(connection)
            else:
                room.presence.blind.add(connection)  # public forms from now on
    if closed:
        room.drop_queued(lambda item: id(item.sender) in closed, "dropped_at_revocation")
    room.signal_access_changed()


def freeze(room: Room, *, frozen: bool, comments_open: bool) -> None:
    """Freeze or unfreeze `room` now: every socket's right to edit follows at once.

    Freezing drops the client updates queued and not yet committed (nothing of them is
    stored or relayed) and tells every socket with a ``permission-denied document
    frozen`` message; later writes are refused the same way. Server writes already
    queued (their callers wait on them) still go through. Await `Room.settled` next to
    wait for a commit already under way.
    """
    room.is_frozen = frozen
    room.comments_open = comments_open
    if not frozen:
        return
    for item in room.drop_queued(lambda item: item.sender is not None, "dropped_at_freeze"):
        if item.sender is not None and item.sender.frame_kind is not None:
            item.sender.acknowledge(False)
    notice = encode_permission_denied(FROZEN_NOTICE)
    for connection in list(room.connections):
        connection.send(notice)
    room.release_waiters()
