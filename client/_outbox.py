"""The outbound buffer of a session, filled by the reader and by local edits, drained by
the one writer task of the current socket.

Local updates are coalesced rather than queued: a Doc observer cannot await, and dropping
an update is never acceptable, so they accumulate (they live in the Doc anyway) and the
writer sends them merged in one sync update. They stay here until a send succeeded, so the
edits made offline, or in flight when a socket died, go out on the next connection. Replies
to the server (step 2, query-awareness answers) are connection-bound and bounded: the
reader waits for room, which is the back-pressure on a server that floods us.
"""

from __future__ import annotations

from collections import deque

import anyio

from crdt.document import merge
from crdt.protocol import encode_sync_update


class Outbox:
    """Coalescing outbound buffer shared by the reader, the Doc observer and the writer."""

    def __init__(self, *, max_replies: int) -> None:
        self._max_replies = max_replies
        self._replies: deque[bytes] = deque()
        self._updates: list[bytes] = []
        self._awareness: bytes | None = None
        self._is_closing = False
        self._wake = anyio.Event()
        self._room = anyio.Event()

    @property
    def has_updates(self) -> bool:
        """Whether local updates are still waiting to be sent."""
        return bool(self._updates)

    def add_update(self, update: bytes) -> None:
        """Queue a local update (called from the Doc observer, so it never blocks)."""
        self._updates.append(update)
        self._wake.set()

    def set_awareness(self, message: bytes) -> None:
        """Send this awareness message next; it supersedes any not yet sent."""
        self._awareness = message
        self._wake.set()

    def request_close(self) -> None:
        """Ask the writer to close the socket once everything buffered is sent."""
        self._is_closing = True
        self._wake.set()

    async def put_reply(self, message: bytes) -> None:
        """Queue a reply for the current socket, waiting while the reply queue is full."""
        while len(self._replies) >= self._max_replies:
            if self._room.is_set():
                self._room = anyio.Event()
            await self._room.wait()
        self._replies.append(message)
        self._wake.set()

    def reset_connection(self) -> None:
        """Forget what belonged to the socket that closed (replies, a close request).

        Updates stay for the next socket; so does an awareness message not yet sent.
        """
        self._replies.clear()
        self._is_closing = False
        self._room.set()

    async def next_batch(self) -> tuple[list[bytes], int, bool]:
        """Wait for something to send.

        Returns the messages to send in order, how many buffered updates they cover (to
        pass to `ack_updates` once sent), and whether the writer must then close.
        """
        while not (self._replies or self._updates or self._awareness or self._is_closing):
            if self._wake.is_set():
                self._wake = anyio.Event()
            await self._wake.wait()
        messages = list(self._replies)
        self._replies.clear()
        self._room.set()
        count = len(self._updates)
        if count:
            messages.append(encode_sync_update(merge(self._updates)))
        if self._awareness is not None:
            messages.append(self._awareness)
            self._awareness = None
        return messages, count, self._is_closing

    def ack_updates(self, count: int) -> None:
        """Drop the first `count` buffered updates: they were handed to the socket."""
        del self._updates[:count]
