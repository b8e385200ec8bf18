"""Who wrote which words of a version of a text: the server's authorship record applied
to the version's state (`crdt.provenance`), in a worker thread.

The record is the update log's principals (``storage.authorship``): what the server
accepted from each authenticated socket, never what a client claims. A snapshot's words
are attributed the same way as the live text's, since Yjs items keep their ids forever.
"""

from __future__ import annotations

from collections.abc import Sequence

import anyio.to_thread

from crdt.errors import InvalidUpdate
from crdt.provenance import BlockProvenance, Insertion, provenance
from storage.authorship import Authorship
from storage.base import StorageUnavailable


class Provenance:
    """Attributes the words of a document's versions to who inserted them."""

    def __init__(self, authorship: Authorship) -> None:
        self._authorship = authorship

    async def of_state(self, doc_id: str, state: bytes) -> Sequence[BlockProvenance]:
        """The text blocks of `state` (a version of `doc_id`) with their words' authors.

        Raises:
            StorageUnavailable: the store failed, or the version does not decode.
        """
        ranges = await self._authorship.authorship(doc_id)
        insertions = [
            Insertion(client_id=r.client_id, clock_start=r.clock_start, clock_end=r.clock_end,
                      author=r.principal, first_at=r.first_at, last_at=r.last_at)
            for r in ranges
        ]
        try:
            return await anyio.to_thread.run_sync(provenance, state, insertions)
        except InvalidUpdate as exc:
            raise StorageUnavailable(f"a stored version of {doc_id!r} does not decode") from exc
