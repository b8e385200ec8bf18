"""The storage port: what the hub needs from any document store, without SQL."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import Protocol, Self

from crdt.doc_id import ANNOTATIONS_SUFFIX as ANNOTATIONS_SUFFIX
from crdt.doc_id import DOC_ID_LENGTH as DOC_ID_LENGTH

STORED_DOC_ID_LENGTH = 160
"""Width of every ``doc_id`` column, and the longest doc_id a store accepts: room for the
companion of a `DOC_ID_LENGTH` id (128 + 12 characters) and a little more."""


class StorageError(Exception):
    """Base class of storage failures."""


class StorageUnavailable(StorageError):
    """The store could not be reached or a transaction failed: retry later, never treat as empty."""


class DocumentNotFound(StorageError):
    """The document does not exist (or was deleted)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class LogEntry:
    """One accepted update with who sent it and when it arrived.

    ``connection_id`` is the socket that sent it (``None`` for server-made writes);
    ``principal`` the authenticated subject (``None`` for anonymous); ``received_at`` is
    seconds since the epoch (UTC) when the server received it.
    """

    update: bytes
    received_at: float
    connection_id: str | None = None
    principal: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class StoredDocument:
    """What `DocumentStore.load` returns.

    ``update`` is the whole document as one Yjs update (compacted state merged with every
    log row); ``log_rows`` is the number of rows not yet compacted; ``is_new`` is true when
    nothing was ever stored for this id.
    """

    doc_id: str
    update: bytes
    log_rows: int
    is_new: bool


@dataclass(frozen=True, slots=True, kw_only=True)
class AppendResult:
    """What `DocumentStore.append` returns once the entries are committed."""

    log_rows: int
    """Rows of this document's log not yet compacted, after this append."""


class AppendTicket(Protocol):
    """An append queued by `DocumentStore.enqueue`, committed by the next transaction."""

    async def result(self) -> AppendResult:
        """Wait for the transaction.

        Raises:
            StorageUnavailable: it failed; nothing of the entries is stored.
        """


class DocumentStore(Protocol):
    """Durable storage of Yjs documents: an update log plus compacted states.

    Used as an async context manager: entering opens connections and applies migrations,
    leaving flushes every pending append and releases the engine.
    """

    async def __aenter__(self) -> Self: ...

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None: ...

    @property
    def write_error(self) -> str | None:
        """Why the last append transaction failed, until one commits again; else ``None``."""
        ...

    async def check(self) -> None:
        """Probe the store for readiness.

        Raises:
            StorageUnavailable: it cannot be reached.
        """

    async def load(self, doc_id: str) -> StoredDocument:
        """Read a whole document.

        Raises:
            StorageUnavailable: on any I/O failure (never an empty document instead).
        """

    async def append(self, doc_id: str, entries: Sequence[LogEntry]) -> AppendResult:
        """Durably commit entries to the document's log; return once committed.

        Concurrent calls (for any documents) share one transaction (group commit): the
        appends queued while a transaction is in flight go together in the next one.

        Raises:
            StorageUnavailable: the transaction failed; nothing of `entries` is stored.
        """

    def enqueue(self, doc_id: str, entries: Sequence[LogEntry]) -> AppendTicket:
        """Queue an append without waiting: `append` is this, then the ticket's result.

        Appends queued together, for any documents, go in one transaction (in order).

        Raises:
            StorageUnavailable: the store is closed.
            ValueError: `doc_id` is empty or longer than the tables accept.
        """

    async def compact(self, doc_id: str) -> None:
        """Merge the log into one state row in one transaction, keeping authorship.

        Raises:
            StorageUnavailable: the transaction failed; the log is left as it was.
        """
