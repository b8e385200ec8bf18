"""The CPU part of compaction, run in a child process of the server.

Merging a long log and deriving its authorship take up to seconds of CPU. In a thread
of the server's process that CPU holds the GIL, and the event loop waits for it after
every system call (a convoy): each relay to each client could wait a switch interval,
so one compaction stalled every room of the node for up to a second under load. In a
child process the event loop never waits for it; only bytes cross the pipe.

The child is ``python -m storage._compaction_worker``: it imports only `crdt` and the
authorship code (not the server, unlike a `multiprocessing` or anyio worker, which load
the parent's main module again), is started by the first compaction and lives as long
as the store. Requests and answers are pickles behind an 8-byte length. A child that
cannot start or dies is replaced at the next compaction; meanwhile the merge runs in a
thread.
"""

from __future__ import annotations

import logging
import pickle
import signal
import subprocess
import sys
from collections.abc import Sequence
from typing import Any, BinaryIO

import anyio
from anyio.abc import Process
from anyio.streams.buffered import BufferedByteReceiveStream

from crdt.document import merge
from crdt.errors import InvalidUpdate
from storage._authorship import derive_authorship
from storage.authorship import AuthorshipRange
from storage.base import LogEntry, StorageUnavailable

log = logging.getLogger("palabre.storage")

LogRowFields = tuple[bytes, float, str | None, str | None]
"""A log row as it crosses to the child: update, received_at, connection_id, principal.

(Plain tuples: pickling 10,000 `LogEntry` objects took 36 ms of the event loop, tuples 2.)
"""
Merged = tuple[bytes, list[AuthorshipRange]]

_LENGTH_BYTES = 8
_ANSWER, _FAILURE = b"A", b"F"


class MergeWorker:
    """The child process that merges logs for one store (started on first use)."""

    def __init__(self) -> None:
        self._process: Process | None = None
        self._stdout: BufferedByteReceiveStream | None = None
        self._lock = anyio.Lock()

    async def merge_log(
        self, doc_id: str, base: bytes | None, rows: Sequence[LogRowFields]
    ) -> Merged:
        """`merge_log` in the child process (in a thread if the child fails).

        Raises:
            StorageUnavailable: a stored update does not decode.
        """
        request = pickle.dumps((doc_id, base, list(rows)), protocol=pickle.HIGHEST_PROTOCOL)
        async with self._lock:
            try:
                answer = await self._ask(request)
            except (OSError, anyio.EndOfStream, anyio.IncompleteRead, anyio.BrokenResourceError,
                    pickle.PickleError, ValueError) as exc:
                # A child killed mid-answer: IncompleteRead (not an EndOfStream) on the read.
                log.warning("compaction worker failed (%r): merging in a thread", exc)
                await self.aclose()
                return await anyio.to_thread.run_sync(merge_log, doc_id, base, rows)
        if isinstance(answer, BaseException):
            raise answer
        merged: Merged = answer
        return merged

    async def aclose(self) -> None:
        """Stop the child, if one runs."""
        process, self._process, self._stdout = self._process, None, None
        if process is None:
            return
        with anyio.CancelScope(shield=True):
            if process.returncode is None:
                process.kill()
            await process.aclose()

    async def _ask(self, request: bytes) -> Any:
        if self._process is None:
            self._process = await anyio.open_process(
                [sys.executable, "-m", __name__],
                stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=None,
            )
            assert self._process.stdout is not None
            self._stdout = BufferedByteReceiveStream(self._process.stdout)
        process, stdout = self._process, self._stdout
        assert process.stdin is not None and stdout is not None
        try:
            await process.stdin.send(len(request).to_bytes(_LENGTH_BYTES, "big") + request)
            kind = await stdout.receive_exactly(1)
            length = int.from_bytes(await stdout.receive_exactly(_LENGTH_BYTES), "big")
            payload = await stdout.receive_exactly(length)
        except BaseException:
            # Cancelled or broken mid-exchange: the pipe is out of step, start afresh.
            await self.aclose()
            raise
        if kind not in (_ANSWER, _FAILURE):
            await self.aclose()
            raise ValueError(f"compaction worker answered {kind!r}")
        return pickle.loads(payload)


def merge_log(doc_id: str, base: bytes | None, rows: Sequence[LogRowFields]) -> Merged:
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


def _serve(requests: BinaryIO, answers: BinaryIO) -> None:
    """The child's loop: answer each request until the parent closes the pipe."""
    while header := requests.read(_LENGTH_BYTES):
        doc_id, base, rows = pickle.loads(requests.read(int.from_bytes(header, "big")))
        try:
            kind, payload = _ANSWER, pickle.dumps(merge_log(doc_id, base, rows))
        except Exception as exc:  # sent back to be raised in the server
            failure = exc if isinstance(exc, StorageUnavailable) else StorageUnavailable(
                f"compaction of {doc_id!r} failed: {exc!r}"
            )
            kind, payload = _FAILURE, pickle.dumps(failure)
        answers.write(kind + len(payload).to_bytes(_LENGTH_BYTES, "big") + payload)
        answers.flush()


if __name__ == "__main__":
    # Ctrl-C in a terminal reaches the whole process group: the server stops the child.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _serve(sys.stdin.buffer, sys.stdout.buffer)
