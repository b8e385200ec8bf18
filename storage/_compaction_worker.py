"""The CPU part of compaction, run in a worker process beside the server.

Merging a long log and deriving its authorship take up to seconds of CPU. In a thread
of the server's process that CPU holds the GIL, and the event loop waits for it after
every system call (a convoy): each relay to each client could wait a switch interval,
so one compaction stalled every room of the node for up to a second under load. In a
worker process (anyio's, started on first use and kept while compactions come) the
event loop never waits for it; only the bytes cross the pipe.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import anyio
import anyio.to_process
from anyio import BrokenWorkerProcess

from crdt.document import merge
from crdt.errors import InvalidUpdate
from storage._authorship import AuthorshipRange, derive_authorship
from storage.base import LogEntry, StorageUnavailable

log = logging.getLogger("palabre.storage")


LogRowFields = tuple[bytes, float, str | None, str | None]
"""A log row as it crosses to the worker: update, received_at, connection_id, principal.

(Plain tuples: pickling 10,000 `LogEntry` objects took 36 ms of the event loop, tuples 2.)
"""


async def merge_log_off_loop(
    doc_id: str, base: bytes | None, rows: Sequence[LogRowFields]
) -> tuple[bytes, list[AuthorshipRange]]:
    """`merge_log` in a worker process (in a thread if no process can be started).

    Raises:
        StorageUnavailable: a stored update does not decode.
    """
    try:
        return await anyio.to_process.run_sync(merge_log, doc_id, base, rows)
    except BrokenWorkerProcess as exc:
        log.warning("compaction worker process unavailable (%s): compacting in a thread", exc)
        return await anyio.to_thread.run_sync(merge_log, doc_id, base, rows)


def merge_log(
    doc_id: str, base: bytes | None, rows: Sequence[LogRowFields]
) -> tuple[bytes, list[AuthorshipRange]]:
    """The compacted state of `base` plus the log `rows`, and the authorship of the rows.

    Raises:
        StorageUnavailable: a stored update does not decode.
    """
    entries = [
        LogEntry(update=update, received_at=at, connection_id=connection, principal=principal)
        for update, at, connection, principal in rows
    ]
    updates = [entry.update for entry in entries]
    try:
        state = merge([base, *updates] if base is not None else updates)
        return state, derive_authorship(base, entries)
    except InvalidUpdate as exc:
        raise StorageUnavailable(f"stored {doc_id!r} does not decode: {exc}") from exc
