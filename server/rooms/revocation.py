"""Rights a document's open channels lose at once: it was deleted, or made private.

`Hub.revoke` applies one to the document and its companion on this node and has the
other nodes of a cluster do the same (`Fanout.publish_access`): the sockets that lose
their right are closed with 4403 and the reason below; event streams, which follow a
room without a socket, are woken and check their own right again.
"""

from __future__ import annotations

from enum import StrEnum

from server.access.auth import Principal
from server.access.permissions import Action, is_allowed


class Revocation(StrEnum):
    """What happened to a document; its value travels between nodes."""

    DELETED = "deleted"
    MADE_PRIVATE = "private"

    @property
    def reason(self) -> str:
        """The close reason of the sockets it closes (with 4403)."""
        return "document deleted" if self is Revocation.DELETED else "document made private"

    def may_stay(self, principal: Principal, doc_id: str) -> bool:
        """Whether a socket of `principal` on `doc_id` keeps its right after this change."""
        if self is Revocation.DELETED:
            return False
        return is_allowed(principal, Action.READ, doc_id, doc_is_public=False)
