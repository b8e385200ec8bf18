"""The socket-independent half of a session: the Doc, our awareness, the outbox, and what
each message from the server does to them.

The connection loop in `client.session` feeds it frames and drains its outbox; nothing
here touches a socket, so one `Replica` outlives every reconnection.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import anyio
from pycrdt import Doc, TransactionEvent

from client._outbox import Outbox
from client.presence import Presence
from crdt.awareness import decode_awareness_update
from crdt.document import apply
from crdt.errors import InvalidUpdate, ProtocolError
from crdt.protocol import (
    AuthMessage,
    AwarenessMessage,
    CloseCode,
    QueryAwarenessMessage,
    SyncMessage,
    SyncStep,
    decode_message,
    encode_sync_step1,
    encode_sync_step2,
)

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class RemoteOrigin:
    """Transaction origin of the updates a session applies from its server."""

    doc_id: str


class ServerFault(Exception):
    """The server sent something we cannot process; the socket must close with `code`."""

    def __init__(self, code: CloseCode, reason: str) -> None:
        super().__init__(reason)
        self.code = code
        self.reason = reason


class Replica:
    """A Doc, our awareness and the outbound buffer, driven by the frames of a server."""

    def __init__(
        self, doc: Doc[Any], doc_id: str, *, on_denied: Callable[[str], None] | None
    ) -> None:
        self.doc = doc
        self.doc_id = doc_id
        self.origin = RemoteOrigin(doc_id)
        self.presence = Presence(doc.client_id)
        self.outbox = Outbox(max_replies=64)
        self.denials: list[str] = []
        self.is_synced = False
        self.has_synced = False
        self._on_denied = on_denied
        self._changed = anyio.Event()
        self._is_applying_remote = False
        self._subscription = doc.observe(self._on_transaction)

    @property
    def changed(self) -> anyio.Event:
        """An event set at the next change of the Doc, peers, denials or connection."""
        return self._changed

    def notify(self) -> None:
        """Wake everyone waiting on `changed`."""
        self._changed.set()
        self._changed = anyio.Event()

    def detach(self) -> None:
        """Stop observing the Doc (the session is over)."""
        self.doc.unobserve(self._subscription)

    async def open(self) -> None:
        """Prepare the outbox for a new socket: step 1 first, then our awareness."""
        self.outbox.reset_connection()
        self.is_synced = False
        self.has_synced = False
        await self.outbox.put_reply(encode_sync_step1(self.doc.get_state()))
        announce = self.presence.announce()
        if announce is not None:
            self.outbox.set_awareness(announce)
        self.notify()

    def close(self) -> None:
        """The socket is gone: we are no longer synced and know no peers."""
        self.is_synced = False
        self.presence.forget_peers()
        self.notify()

    def request_close(self) -> None:
        """Send our awareness removal and everything buffered, then close the socket."""
        message = self.presence.leave()
        if message is not None:
            self.outbox.set_awareness(message)
        self.outbox.request_close()

    async def handle(self, frame: bytes | str) -> None:
        """Process one frame from the server, queueing any reply.

        Raises:
            ServerFault: a text frame, a malformed message or an invalid update.
        """
        if isinstance(frame, str):
            raise ServerFault(CloseCode.UNSUPPORTED_DATA, "server sent a text frame")
        try:
            message = decode_message(frame)
            if isinstance(message, AwarenessMessage):
                entries = decode_awareness_update(message.update)
        except ProtocolError as exc:
            raise ServerFault(CloseCode.MALFORMED, f"server sent {exc}") from exc
        if isinstance(message, SyncMessage):
            await self._handle_sync(message)
        elif isinstance(message, AwarenessMessage):
            changed, reassert = self.presence.apply(entries)
            if reassert is not None:
                self.outbox.set_awareness(reassert)
            if changed:
                self.notify()
        elif isinstance(message, AuthMessage):
            log.warning("permission denied on %s: %s", self.doc_id, message.reason)
            self.denials.append(message.reason)
            if self._on_denied is not None:
                self._on_denied(message.reason)
            self.notify()
        elif isinstance(message, QueryAwarenessMessage):
            current = self.presence.current()
            if current is not None:
                self.outbox.set_awareness(current)

    async def _handle_sync(self, message: SyncMessage) -> None:
        if message.step == SyncStep.STEP1:
            try:
                missing = self.doc.get_update(message.payload)
            except ValueError as exc:
                raise ServerFault(CloseCode.MALFORMED, "server sent a bad state vector") from exc
            await self.outbox.put_reply(encode_sync_step2(missing))
            return
        self._apply_remote(message.payload)
        if message.step == SyncStep.STEP2:
            self.is_synced = True
            self.has_synced = True
            self.notify()

    def _apply_remote(self, update: bytes) -> None:
        # The observer runs while the transaction commits, inside this flag's lifetime;
        # the origin is for the application's own observers (an undo manager, a bot).
        self._is_applying_remote = True
        try:
            with self.doc.transaction(origin=self.origin):
                apply(self.doc, update)
        except InvalidUpdate as exc:
            raise ServerFault(CloseCode.INVALID_UPDATE, "server sent an invalid update") from exc
        finally:
            self._is_applying_remote = False

    def _on_transaction(self, event: TransactionEvent) -> None:
        if not self._is_applying_remote:
            self.outbox.add_update(event.update)
        self.notify()
