"""Group commit shared by the SQL and in-memory stores: one writer task batches appends."""

from __future__ import annotations

import logging
import time
from abc import ABC, abstractmethod
from collections import deque
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence, Set
from contextlib import AsyncExitStack
from types import TracebackType
from typing import Self

import anyio
from anyio.abc import TaskGroup, TaskStatus

from storage._pending import MAX_BATCH_APPENDS, PendingAppend
from storage.base import (
    STORED_DOC_ID_LENGTH,
    AppendResult,
    DocumentStore,
    LogEntry,
    StorageUnavailable,
    StoredDocument,
)
from storage.stats import StoreStats

log = logging.getLogger("palabre.storage")


class Wakeup:
    """An event that re-arms itself: `wait` returns once `set` was called since it last did."""

    def __init__(self) -> None:
        self._event = anyio.Event()

    def set(self) -> None:
        """Wake the waiter (now, or at its next `wait`)."""
        self._event.set()

    async def wait(self) -> None:
        """Return once set, then re-arm."""
        await self._event.wait()
        self._event = anyio.Event()


class GroupCommitStore(DocumentStore, ABC):
    """`DocumentStore` up to the backend: lifecycle, group commit, log row counters, compaction.

    Subclasses provide `check` and the backend operations `_open`, `_close`, `_write`,
    `_load` and `_compact`. The writer task takes every queued append (any document),
    waits at most ``commit_window`` seconds after the first one arrived for company (0:
    none; appends queued while a transaction is in flight wait for it anyway), then
    writes them all in one transaction. With ``compact_threshold`` > 0 the store compacts a
    document by itself once its log holds that many rows; 0 leaves compaction to callers.
    """

    def __init__(
        self, *, commit_window: float, compact_threshold: int, close_timeout: float
    ) -> None:
        if commit_window < 0 or compact_threshold < 0 or close_timeout <= 0:
            raise ValueError("commit_window, compact_threshold >= 0 and close_timeout > 0")
        self.stats = StoreStats()
        self._commit_window = commit_window
        self._compact_threshold = compact_threshold
        self._close_timeout = close_timeout
        self._log_rows: dict[str, int] = {}
        self._write_error: str | None = None
        self._queue: deque[PendingAppend] = deque()
        self._compact_wanted: dict[str, None] = {}
        self._stack: AsyncExitStack | None = None
        self._reset()

    def _reset(self) -> None:
        self._is_accepting = False
        self._is_closing = False
        self._wakeup = Wakeup()
        self._flush_now = anyio.Event()
        self._compact_wakeup = Wakeup()
        self._writer_done = anyio.Event()
        self._compactor_done = anyio.Event()

    async def __aenter__(self) -> Self:
        """Open the backend (migrating it) and start the writer.

        Raises:
            StorageUnavailable: the backend cannot be opened.
        """
        if self._stack is not None:
            raise RuntimeError("store already open")
        self._reset()
        stack = AsyncExitStack()
        task_group: TaskGroup | None = None
        try:
            await self._open()
            stack.push_async_callback(self._close)
            stack.callback(self._fail_leftovers)
            task_group = await stack.enter_async_context(anyio.create_task_group())
            await task_group.start(
                self._serve, self._wakeup, lambda: bool(self._queue), self._write_next,
                self._writer_done,
            )
            await task_group.start(
                self._serve, self._compact_wakeup, lambda: bool(self._compact_wanted),
                self._compact_next, self._compactor_done,
            )
            stack.push_async_callback(self._drain, task_group)
        except BaseException:
            if task_group is not None:
                task_group.cancel_scope.cancel()
            with anyio.CancelScope(shield=True):
                await stack.aclose()
            raise
        self._stack = stack
        self._is_accepting = True
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        """Commit every queued append (shielded, within ``close_timeout``), then close."""
        stack, self._stack = self._stack, None
        if stack is not None:
            await stack.__aexit__(exc_type, exc, tb)

    @property
    def write_error(self) -> str | None:
        """Why the last append transaction failed, until one commits again; else ``None``."""
        return self._write_error

    async def append(self, doc_id: str, entries: Sequence[LogEntry]) -> AppendResult:
        """See `DocumentStore.append`; also refused once the store is closed.

        Raises:
            StorageUnavailable: the transaction failed or the store is closed; nothing of
                `entries` is stored.
            ValueError: `doc_id` is empty or longer than the tables accept.
        """
        return await self.enqueue(doc_id, entries).result()

    def enqueue(self, doc_id: str, entries: Sequence[LogEntry]) -> PendingAppend:
        """See `DocumentStore.enqueue`.

        Raises:
            StorageUnavailable: the store is closed.
            ValueError: `doc_id` is empty or longer than the tables accept.
        """
        if not 0 < len(doc_id) <= STORED_DOC_ID_LENGTH:
            raise ValueError(f"doc_id must be 1 to {STORED_DOC_ID_LENGTH} characters")
        if not self._is_accepting:
            raise StorageUnavailable("the store is not open")
        pending = PendingAppend(
            doc_id=doc_id, entries=tuple(entries), enqueued_at=anyio.current_time()
        )
        self._queue.append(pending)
        self.stats.queued += 1
        if len(self._queue) >= MAX_BATCH_APPENDS:
            self._flush_now.set()
        self._wakeup.set()
        return pending

    async def load(self, doc_id: str) -> StoredDocument:
        """Read a whole document: its state merged with every log row, in seq order.

        Raises:
            StorageUnavailable: on any I/O failure or undecodable data (never an empty
                document instead), or when the store is not open.
        """
        self._check_open()
        stored = await self._load(doc_id)
        self._log_rows[doc_id] = stored.log_rows
        return stored

    async def compact(self, doc_id: str) -> None:
        """Merge the log into the state row in one transaction, keeping authorship.

        Rows appended while it runs stay in the log. The transaction is shielded from
        cancellation: once started it commits or rolls back.

        Raises:
            StorageUnavailable: the transaction failed; the log is left as it was.
        """
        self._check_open()
        started = time.monotonic()
        try:
            with anyio.CancelScope(shield=True):
                outcome = await self._compact(doc_id)
        except StorageUnavailable:
            self.stats.failed_compactions += 1
            raise
        if outcome is not None:
            self._log_rows[doc_id] = outcome
            self.stats.compactions += 1
            log.info("compacted in %.0f ms, %d rows left in the log",
                     (time.monotonic() - started) * 1000, outcome, extra={"doc_id": doc_id})

    def _check_open(self) -> None:
        if self._stack is None:
            raise StorageUnavailable("the store is not open")

    def _forget(self, doc_ids: Iterable[str]) -> None:
        """Drop the log row counters and pending compactions of purged documents."""
        for doc_id in doc_ids:
            self._log_rows.pop(doc_id, None)
            self._compact_wanted.pop(doc_id, None)

    @abstractmethod
    async def _open(self) -> None:
        """Connect and migrate; raise StorageUnavailable when that fails."""

    @abstractmethod
    async def _close(self) -> None:
        """Release connections (called shielded, after the last transaction)."""

    @abstractmethod
    async def _load(self, doc_id: str) -> StoredDocument:
        """Read a whole document; raise StorageUnavailable on any failure."""

    @abstractmethod
    async def _write(
        self, batch: Sequence[PendingAppend], uncounted: Set[str]
    ) -> Mapping[str, int]:
        """Write the batch in one transaction; return the log rows of each `uncounted` doc."""

    @abstractmethod
    async def _compact(self, doc_id: str) -> int | None:
        """Compact; return the rows left in the log, or None when there was nothing to do."""

    async def _before_write(self) -> None:
        """Await before each transaction, unshielded (the memory store's commit gate)."""
        return None  # a hook, not an abstract method

    async def _serve(
        self,
        wakeup: Wakeup,
        has_work: Callable[[], bool],
        step: Callable[[], Awaitable[None]],
        done: anyio.Event,
        *,
        task_status: TaskStatus[None] = anyio.TASK_STATUS_IGNORED,
    ) -> None:
        """Run `step` while there is work, sleep on `wakeup` otherwise, until closing."""
        task_status.started()
        try:
            while not self._is_closing:
                if has_work():
                    await step()
                else:
                    await wakeup.wait()
        finally:
            done.set()

    async def _write_next(self) -> None:
        delay = self._queue[0].enqueued_at + self._commit_window - anyio.current_time()
        if delay > 0 and len(self._queue) < MAX_BATCH_APPENDS:
            with anyio.move_on_after(delay):
                await self._flush_now.wait()
            if self._flush_now.is_set():
                self._flush_now = anyio.Event()
        if not self._is_closing:
            await self._commit(self._take_batch())

    def _take_batch(self) -> list[PendingAppend]:
        count = min(len(self._queue), MAX_BATCH_APPENDS)
        batch = [self._queue.popleft() for _ in range(count)]
        self.stats.queued -= count
        return batch

    async def _commit(self, batch: list[PendingAppend]) -> None:
        try:
            await self._before_write()
            uncounted = {p.doc_id for p in batch} - self._log_rows.keys()
            with anyio.CancelScope(shield=True):
                counted = await self._write(batch, uncounted)
        except StorageUnavailable as exc:
            self._fail(batch, str(exc), exc)
            return
        except anyio.get_cancelled_exc_class():
            self._fail(batch, "the store closed before committing", None)
            raise
        except Exception as exc:  # the writer's boundary: it must outlive any failure
            log.exception("append transaction failed")
            self._fail(batch, f"append transaction failed: {exc!r}", exc)
            return
        self.stats.transactions += 1
        if self._write_error is not None:
            log.warning("appends commit again (they failed with: %s)", self._write_error)
            self._write_error = None
        for doc_id, rows in counted.items():
            added = sum(len(p.entries) for p in batch if p.doc_id == doc_id)
            self._log_rows[doc_id] = rows - added
        for pending in batch:
            rows = self._log_rows.get(pending.doc_id, 0) + len(pending.entries)
            self._log_rows[pending.doc_id] = rows
            self.stats.appends += 1
            self.stats.entries_appended += len(pending.entries)
            pending.resolve(AppendResult(log_rows=rows))
            if 0 < self._compact_threshold <= rows:
                self._compact_wanted[pending.doc_id] = None
                self._compact_wakeup.set()

    def _fail(self, batch: Sequence[PendingAppend], error: str, cause: Exception | None) -> None:
        if cause is not None:
            self.stats.failed_transactions += 1
            if self._write_error is None:
                log.error("appends fail, clients are told to retry (1013): %s", error)
            self._write_error = error
        for pending in batch:
            pending.fail(error, cause)

    async def _compact_next(self) -> None:
        doc_id = next(iter(self._compact_wanted))
        del self._compact_wanted[doc_id]
        try:
            await self.compact(doc_id)
        except StorageUnavailable as exc:
            log.warning("compaction of %s failed: %s", doc_id, exc)
        except Exception:  # the compactor's boundary: it must outlive any failure
            log.exception("compaction of %s failed", doc_id)

    async def _drain(self, task_group: TaskGroup) -> None:
        self._is_accepting = False
        self._is_closing = True
        self._wakeup.set()
        self._flush_now.set()
        self._compact_wakeup.set()
        with anyio.CancelScope(shield=True):
            with anyio.move_on_after(self._close_timeout) as scope:
                await self._writer_done.wait()
                while self._queue:
                    await self._commit(self._take_batch())
                await self._compactor_done.wait()
            if scope.cancelled_caught:
                log.error("store closed before flushing: %d appends fail", len(self._queue))
                task_group.cancel_scope.cancel()

    def _fail_leftovers(self) -> None:
        while self._queue:
            self._fail(self._take_batch(), "the store closed before committing", None)
        self._compact_wanted.clear()
