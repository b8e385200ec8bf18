"""The `Fanout` port: how a node shares what it accepted with the other nodes of a cluster.

A single node has none (rooms and the hub skip every call). `server/cluster.py` is the
Redis implementation.
"""

from __future__ import annotations

from contextlib import AbstractAsyncContextManager
from typing import Protocol


class Fanout(Protocol):
    """Publishes a node's updates, awareness, freezes, losses of rights and stateless
    broadcasts; follows
    loaded documents."""

    def publish_update(self, doc_id: str, update: bytes) -> None:
        """Share an update this node committed (never one received from a peer)."""

    def publish_awareness(self, doc_id: str, update: bytes) -> None:
        """Share an awareness update of this node's own clients."""

    def publish_public_awareness(self, doc_id: str, update: bytes) -> None:
        """Share the public forms of this node's clients' states (sent after the states):
        what other nodes show to their clients who may not see names."""

    def publish_freeze(self, doc_id: str, *, frozen: bool, comments_open: bool) -> None:
        """Share a freeze change this node stored and applied."""

    def publish_access(self, doc_id: str, change: str) -> None:
        """Share a loss of rights on a document (a `Revocation` value) applied on this node."""

    def publish_rights(self, change: str) -> None:
        """Share a change of a person's rights (an encoded `RightsChange`) made on this node."""

    def publish_stateless(self, doc_id: str, payload: str) -> None:
        """Share a stateless payload the stateless hook broadcast to a document's clients."""

    def watch(self, doc_id: str) -> None:
        """Start following a document this node has just loaded (then catch it up)."""

    def unwatch(self, doc_id: str) -> None:
        """Stop following a document this node has evicted."""

    def compaction_lock(self, doc_id: str) -> AbstractAsyncContextManager[bool]:
        """Hold the cluster-wide compaction lock of a document; yields whether it was taken."""
