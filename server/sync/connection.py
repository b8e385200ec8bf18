"""One document of one WebSocket: how its y-websocket messages are read and dispatched.

A connection knows the y-websocket protocol but not starlette. It decodes, validates and
rate-limits what its client sends, then routes it to the room, which decides (the write
policy lives in `Room.receive_update`). What it writes goes through its socket's
`SocketLink` (the direct lane of our uvicorn protocol, or a bounded queue on any ASGI
server), shared with the other documents of a Hocuspocus socket.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import ClassVar
from uuid import uuid4

from crdt.document import update_state_vector
from crdt.errors import InvalidUpdate, ProtocolError
from crdt.protocol import (
    AuthMessage,
    AwarenessMessage,
    QueryAwarenessMessage,
    Reader,
    SyncMessage,
    SyncStep,
    decode_message,
    encode_permission_denied,
)
from server.access.auth import Principal
from server.access.ratelimit import RateLimiter
from server.errors import InvalidUpdateError, MalformedMessage, PalabreError, RateLimited
from server.limits import Limits
from server.rooms.room import Room
from server.sync.link import SocketLink, Transport
from server.sync.quota import SocketQuota

log = logging.getLogger("palabre.connection")

READ_ONLY_NOTICE = "role changed: read-only, edits are refused"
"""What a client that just lost the right to edit is told (the page turns read-only)."""


class Connection:
    """A client of one room (a `server.rooms.client.Client`)."""

    frame_kind: ClassVar[str | None] = None
    """How a room frames its broadcasts for this client: ``None`` is y-websocket's frame,
    shared by every such client; another kind gets one frame per room made by `wrap`."""

    __slots__ = (
        "_quota",
        "_rate_limiter",
        "connection_id",
        "doc_id",
        "link",
        "may_edit",
        "principal",
        "principal_key",
        "room",
        "send_frame",
    )

    send_frame: Callable[[bytes, bytes], None]
    """Send a broadcast: `frame` is `message` already framed once for every recipient.

    The link's own method, bound once: a room calls it for every recipient of every relay."""

    def __init__(
        self,
        doc_id: str,
        link: SocketLink,
        *,
        principal: Principal,
        may_edit: bool,
        rate_limiter: RateLimiter | None = None,
        rate_key: str = "",
        quota: SocketQuota | None = None,
    ) -> None:
        self.connection_id = uuid4().hex[:12]
        self.doc_id = doc_id
        self.link = link
        self.send_frame = link.send_frame
        self.principal = principal
        self.may_edit = may_edit
        """What the principal's role and token allow on this document (frozen or not)."""
        self._rate_limiter = rate_limiter
        self.principal_key = rate_key
        """Who the client counts as for rates and bounds (``sub``, or public by address)."""
        self._quota = quota if quota is not None else SocketQuota(Limits())
        self.room: Room | None = None

    # -- outbound ------------------------------------------------------------------------

    def send(self, message: bytes) -> None:
        """Send a message to this client only, without waiting."""
        self.link.send(message)

    def wrap(self, message: bytes) -> bytes:
        """`message` (y-websocket) as this client's protocol sends it (used with `frame_kind`)."""
        return message

    def acknowledge(self, stored: bool) -> None:
        """One update of this client was stored, or will never be (only called when
        `frame_kind` is not None: y-websocket has no acknowledgement)."""

    def send_stateless(self, payload: str) -> None:
        """Send a stateless message about this document (y-websocket has none: dropped)."""

    def change_rights(self, principal: Principal, *, may_edit: bool) -> None:
        """Be `principal` from now on; a client that loses the right to edit is told with a
        ``permission-denied`` message (its later writes are refused the same way)."""
        lost_edit = self.may_edit and not may_edit
        self.principal = principal
        self.may_edit = may_edit
        self.link.bound_messages(may_edit=may_edit)
        if lost_edit:
            self.send(encode_permission_denied(READ_ONLY_NOTICE))

    def request_close(self, code: int, reason: str) -> None:
        """Ask for the socket to be closed with `code` (the first request wins)."""
        self.link.request_close(code, reason)

    def pause_reading(self) -> None:
        """Stop taking messages from this client until `resume_reading`."""
        self.link.pause_reading(self)

    def resume_reading(self) -> None:
        """Take messages from this client again."""
        self.link.resume_reading(self)

    # -- inbound -------------------------------------------------------------------------

    def receive(self, frame: bytes) -> None:
        """Decode, validate and rate-limit one received message, then route it to the room.

        Raises:
            MalformedMessage: the frame breaks the protocol.
            InvalidUpdateError: a sync payload is not a Yjs update.
            RateLimited: the client sends updates faster than allowed.
        """
        room = self.room
        if room is None or self.link.close_code is not None:
            return  # Closing: what arrives after the close decision is refused with it.
        hot = room.metrics.hot
        hot.bytes_in += len(frame)
        try:
            message = decode_message(frame)
        except ProtocolError as exc:
            raise MalformedMessage(f"malformed message: {exc}") from exc
        if isinstance(message, SyncMessage):
            if message.step == SyncStep.STEP1:
                # Its answer is the whole document: it costs like an update.
                self._take_update()
                self.send(room.sync_step2_for(message.payload, self))
                return
            try:
                update_state_vector(message.payload)
            except InvalidUpdate as exc:
                raise InvalidUpdateError(f"invalid Yjs update: {exc}") from exc
            hot.updates_in += 1
            self._take_update()
            room.receive_update(message.payload, self)
        elif isinstance(message, AwarenessMessage):
            hot.awareness_in += 1
            self._take_awareness(_awareness_cost(message.update))
            room.presence.receive(self, message.update, principal=self.principal_key,
                                  bounds=self._quota.awareness_bounds)
        elif isinstance(message, QueryAwarenessMessage):
            self._take_awareness(1)  # Its answer can be large: it costs like an update.
            self.send(room.presence.message_for(self))
        elif isinstance(message, AuthMessage):
            raise MalformedMessage("auth messages are sent by the server only")

    def _take_update(self) -> None:
        """Charge one update to the principal.

        Raises:
            RateLimited: the principal sends updates (or sync requests) faster than allowed.
        """
        if self._rate_limiter is not None and self._rate_limiter.take(self.principal_key) > 0:
            raise RateLimited("too many updates: slow down, then reconnect")

    def _take_awareness(self, cost: int) -> None:
        """Charge `cost` awareness tokens to the principal (at most what the largest
        acceptable update costs: a larger one is refused further on anyway).

        Raises:
            RateLimited: the principal sends awareness faster than allowed.
        """
        bounds = self._quota.awareness_bounds
        most = bounds.clients * (1 + bounds.state_bytes // _COST_BYTES)
        limiter = self._quota.awareness_limiter
        for _ in range(min(cost, most)):
            if limiter.take(self.principal_key) > 0:
                raise RateLimited("too many awareness updates: slow down, then reconnect")

    def fail(self, exc: PalabreError) -> None:
        """Close the socket with the code of `exc`, counted and logged once."""
        if self.room is not None:
            self.room.metrics.errors.labels(kind=exc.error).inc()
        self.link.fail(exc, doc_id=self.doc_id, connection_id=self.connection_id)

    def receive_guarded(self, frame: bytes) -> None:
        """`receive`, closing the socket on a protocol error (the direct lane's sink)."""
        try:
            self.receive(frame)
        except PalabreError as exc:
            self.fail(exc)

    async def serve(self, transport: Transport, room: Room) -> None:
        """Serve the client (the socket's only document) until it leaves or is closed."""
        self.room = room
        self.link.expire_at(self.principal.expires_at)
        await self.link.serve(lambda: self._read_loop(transport), self.receive_guarded,
                              transport)

    async def _read_loop(self, transport: Transport) -> None:
        try:
            while True:
                frame = await transport.receive()
                if frame is None:
                    return
                self.receive(frame)
                room = self.room
                while room is not None and room.is_congested and not self.link.is_direct:
                    await room.wait_uncongested()
        except PalabreError as exc:
            self.fail(exc)


_COST_BYTES = 1024
"""An awareness update costs one token per state, or per started KiB if that is more."""


def _awareness_cost(update: bytes) -> int:
    """Tokens an awareness update costs: a cursor move 1, an 8 KiB state 8 (an
    undecodable update costs by its size, then is refused further on)."""
    try:
        states = Reader(update).varuint()
    except ProtocolError:
        states = 1
    return max(1, states, -(-len(update) // _COST_BYTES))
