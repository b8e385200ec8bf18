"""The catalogue's document metadata as sockets read it, remembered for a moment.

Every socket is admitted by its document's catalogue entry (`server.sync.admission`) and
every room that loads reads it again (whether a data document's rules judge its writes).
Four clients opening one document, or a thousand opening many, would make as many
catalogue reads. `KnownDocuments` keeps what it read (or what a socket just created) for
`ttl` seconds, so a document's sockets opened together cost one read.

What it keeps can only be too permissive for as long as a revocation has not reached this
node: `Hub.revoke_here` (this node's revocations and every other node's, as their frames
arrive) forgets the document first, so a socket opened after its document was deleted or
made private, here or on another node, reads the catalogue again. A title or a document
made public elsewhere is seen within `ttl`. Only sockets read through it: the API reads
the catalogue itself (its answers carry ``updated_at``, which appends change).
"""

from __future__ import annotations

import time

from storage.base import DocumentNotFound
from storage.catalog import DocumentCatalog, DocumentMeta

KNOWN_SECONDS = 2.0
KNOWN_DOCUMENTS = 10_000


class KnownDocuments:
    """Catalogue entries read (or created) in the last `ttl` seconds, at most `size`."""

    def __init__(self, catalog: DocumentCatalog, *, ttl: float = KNOWN_SECONDS,
                 size: int = KNOWN_DOCUMENTS) -> None:
        self._catalog = catalog
        self._ttl = ttl
        self._size = size
        self._known: dict[str, tuple[float, DocumentMeta]] = {}
        self._forgets = 0
        """Forgets so far: a read that one overtook is not kept (it may be the old entry)."""
        self.reads = 0
        """Catalogue reads made (for tests and benchmarks)."""

    async def get_document(self, doc_id: str, *, include_deleted: bool = False) -> DocumentMeta:
        """`DocumentCatalog.get_document`, from memory when read in the last `ttl` seconds.

        Raises:
            DocumentNotFound: no such document (or deleted, unless `include_deleted`).
            StorageUnavailable: the catalogue cannot be read.
        """
        known = self._known.get(doc_id)
        if known is not None and known[0] > time.monotonic():
            meta = known[1]
        else:
            self.reads += 1
            forgets = self._forgets
            meta = await self._catalog.get_document(doc_id, include_deleted=True)
            if forgets == self._forgets:
                self.remember(meta)
        if meta.deleted_at is not None and not include_deleted:
            raise DocumentNotFound(f"no document {doc_id!r}")
        return meta

    def remember(self, meta: DocumentMeta) -> None:
        """Keep `meta` (just read or created) for `ttl` seconds."""
        now = time.monotonic()
        if len(self._known) >= self._size and meta.doc_id not in self._known:
            self._known = {doc_id: known for doc_id, known in self._known.items()
                           if known[0] > now}
            if len(self._known) >= self._size:
                self._known.clear()
        self._known[meta.doc_id] = (now + self._ttl, meta)

    def forget(self, doc_id: str) -> None:
        """Read `doc_id` from the catalogue next time (it changed)."""
        self._forgets += 1
        self._known.pop(doc_id, None)
