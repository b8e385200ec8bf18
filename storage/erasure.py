"""The erasure port: replace a person's identity by their pseudonym in every table.

The subject and names of an erased person are replaced by ``erased-N`` and ``Membre N``
(`crdt.erasure.Identity`) in the people table, the update log's and authorship's
principals, document, webhook and freeze authors, the audit log (actors and details),
sessions (presence, openers and closers, minutes), the snapshots (author, annotations
state, scrubbed of deleted content) and the history of annotations documents (their log
and state re-encoded without deleted content); web sign-in sessions of the person end.

Hashes stay checkable: a snapshot (or closed session) whose hashed content changed is
hashed again, and every later link of its chain with it, in the same transaction; the
report lists the old and new chain heads so that the audit log keeps both. A chain
without the person is left untouched.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

from crdt.erasure import Identity


@dataclass(frozen=True, slots=True, kw_only=True)
class Reseal:
    """One chain hashed again from ``from_number`` on: its head before and after."""

    doc_id: str
    chain: str
    """``snapshots`` or ``sessions``."""
    from_number: int
    old_head: str | None
    new_head: str | None


@dataclass(frozen=True, slots=True, kw_only=True)
class ErasureReport:
    """What an erasure changed (counts of rows, chains hashed again)."""

    rows: dict[str, int] = field(default_factory=dict)
    reseals: Sequence[Reseal] = ()


class Erasure(Protocol):
    """Erases a person's identity from the store."""

    async def erase_person(
        self, identity: Identity, *, at: float, annotation_docs: Sequence[str],
        subject_digest: str | None = None,
    ) -> ErasureReport:
        """Replace `identity` everywhere, in one transaction; re-encode the history of
        each of `annotation_docs` without deleted content. The person's row keeps
        `subject_digest` (a keyed digest of the old subject), so that its credentials
        stay refused.

        Raises:
            PersonNotFound: `identity.sub` was never seen.
            StorageUnavailable: the database failed; nothing changed.
        """
