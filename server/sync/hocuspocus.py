"""The ``/hocuspocus`` WebSocket endpoint: Tiptap's ``@hocuspocus/provider`` on the same rooms.

One socket carries several documents (`crdt.hocuspocus`). Each document is authenticated
by its own auth message with the same tokens and permissions as ``/ws`` (a reader gets
the ``readonly`` scope; a bad token or no read right gets permission-denied for that
document, the socket stays open), then joins the same hub room as a y-websocket client
through a `HocuspocusConnection`: a `Connection` whose messages carry the document name.
Each update is acknowledged (sync status) only once committed to storage.

Like ``/ws``, a socket takes the direct lane of our uvicorn protocol when it is there
(`server.sync.fastsocket`): frames are dispatched in the protocol callback and broadcasts are
written framed once per room. An auth message needs I/O (token keys, loading the room):
it and the frames after it wait in an inbox, in order, until it is done.

Stateless messages go to the stateless hook (`server.sync.stateless`), which may answer the
sender or relay them to the document's other Hocuspocus clients. A malformed frame
closes the whole socket with 1002; the other sockets on the same documents are
untouched. A socket closes (4401) when the earliest token it was given expires, as a
``/ws`` socket does; the provider reconnects with fresh tokens.
"""

from __future__ import annotations

import inspect
import json
import logging
import time
from collections import deque
from collections.abc import Awaitable

import anyio
import anyio.abc
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream
from starlette.types import Receive, Scope, Send

from crdt.errors import ProtocolError
from crdt.hocuspocus import (
    PING,
    AuthScope,
    CloseMessage,
    Frame,
    PongMessage,
    StatelessMessage,
    TokenMessage,
    decode_frame,
    encode_authenticated,
    encode_permission_denied,
    encode_stateless,
    encode_sync_status,
    prefix,
)
from crdt.protocol import AuthMessage, CloseCode, decode_message
from server.access.gate import Access
from server.access.permissions import Action, is_allowed, require
from server.access.ratelimit import RateLimiter, principal_key
from server.errors import (
    BadDocId,
    Forbidden,
    MalformedMessage,
    PalabreError,
    Unauthenticated,
    checked_doc_id,
    truncate_reason,
)
from server.rooms.hub import Hub
from server.rooms.room import Room
from server.settings import Settings
from server.sync.connection import Connection
from server.sync.endpoint import (
    AsgiTransport,
    Message,
    address_of,
    check_origin,
)
from server.sync.fastsocket import EXTENSION, DirectSocket, encode_binary_frame
from server.sync.stateless import StatelessEvent, StatelessHook

log = logging.getLogger("palabre.hocuspocus")

PING_SECONDS = 15.0
"""A ping this often keeps the provider from reconnecting on a quiet socket (its
``messageReconnectTimeout`` is 30 s)."""

PERMISSION_DENIED_EVENT = "palabre.permission-denied"
"""Hocuspocus has no non-fatal refusal: a refused edit or a freeze notice reaches the
client as a stateless message ``{"event": "palabre.permission-denied", "reason": ...}``."""


class HocuspocusConnection(Connection):
    """One document of a Hocuspocus socket, in that document's room."""

    __slots__ = ("_prefix", "_socket")

    frame_kind = "hocuspocus"

    def __init__(
        self,
        socket: HocuspocusSocket,
        doc_id: str,
        *,
        principal: str | None,
        can_edit: bool,
        rate_limiter: RateLimiter | None,
        rate_key: str,
    ) -> None:
        # Outbound messages go to the socket's queue; the connection's own is never used.
        super().__init__(
            doc_id,
            outbound_queue=1,
            outbound_limit_bytes=0,
            principal=principal,
            can_edit=can_edit,
            rate_limiter=rate_limiter,
            rate_key=rate_key,
        )
        self._socket = socket
        self._prefix = prefix(doc_id)

    def wrap(self, message: bytes) -> bytes:
        """A y-websocket message as a Hocuspocus one (a permission notice as stateless)."""
        if message[:1] == b"\x02":
            decoded = decode_message(message)
            reason = decoded.reason if isinstance(decoded, AuthMessage) else ""
            payload = json.dumps({"event": PERMISSION_DENIED_EVENT, "reason": reason})
            return encode_stateless(self.doc_id, payload)
        return self._prefix + message

    def send(self, message: bytes) -> None:
        """Send a y-websocket message to this client, as Hocuspocus frames it."""
        self._socket.send(self.wrap(message))

    def send_frame(self, frame: bytes, message: bytes) -> None:
        """Send a broadcast already wrapped by the room (see `Connection.frame_kind`)."""
        self._socket.send_frame(frame, message)

    def pause_reading(self) -> None:
        """The room is congested: stop reading the socket (all its documents)."""
        self._socket.pause_reading(self)

    def resume_reading(self) -> None:
        """The room has caught up: read again once no other document is congested."""
        self._socket.resume_reading(self)

    def send_stateless(self, payload: str) -> None:
        """Send a stateless message about this document."""
        self._socket.send(encode_stateless(self.doc_id, payload))

    def acknowledge(self, stored: bool) -> None:
        """Sync status for one update: the provider counts its unsynced changes with it."""
        self._socket.send(encode_sync_status(self._prefix, stored))

    def _deny(self, reason: str) -> None:
        super()._deny(reason)
        self.acknowledge(False)

    def request_close(self, code: int, reason: str) -> None:
        """Close the whole socket: its documents share it."""
        super().request_close(code, reason)
        self._socket.request_close(code, reason)


class HocuspocusSocket:
    """One Hocuspocus WebSocket: its documents, its outbound queue, its lifetime."""

    def __init__(
        self, endpoint: HocuspocusEndpoint, transport: AsgiTransport, scope: Scope
    ) -> None:
        self._endpoint = endpoint
        self._transport = transport
        self._scope = scope
        self.documents: dict[str, tuple[HocuspocusConnection, Room]] = {}
        self._send_out: MemoryObjectSendStream[bytes]
        self._receive_out: MemoryObjectReceiveStream[bytes]
        self._send_out, self._receive_out = anyio.create_memory_object_stream[bytes](
            endpoint.settings.outbound_queue
        )
        self._task_group: anyio.abc.TaskGroup | None = None
        self._cancel_scope: anyio.CancelScope | None = None
        self.close_code: int | None = None
        self.close_reason = ""
        self._direct: DirectSocket | None = scope.get("extensions", {}).get(EXTENSION)
        self._inbox: deque[Frame] = deque()
        """Direct lane: frames waiting behind an authentication (kept in order)."""
        self._paused_by: set[HocuspocusConnection] = set()

    def send(self, message: bytes) -> None:
        """Send one message without waiting (queued for the writer on the ASGI lane)."""
        if self._direct is not None:
            self.send_frame(encode_binary_frame(message), message)
            return
        try:
            self._send_out.send_nowait(message)
        except anyio.WouldBlock:
            self.request_close(CloseCode.OVERLOADED, "client too slow: outbound queue full")
        except (anyio.BrokenResourceError, anyio.ClosedResourceError):
            pass  # The writer has stopped: the socket is closing.

    def send_frame(self, frame: bytes, message: bytes) -> None:
        """Send `message`, whose WebSocket frame `frame` a room made once for many sockets."""
        direct = self._direct
        if direct is None:
            self.send(message)
        elif (
            direct.write_frame(frame)
            and direct.buffered_bytes() > self._endpoint.settings.outbound_buffer_bytes
        ):
            self.request_close(CloseCode.OVERLOADED, "client too slow: send buffer full")

    def pause_reading(self, connection: HocuspocusConnection) -> None:
        """Stop reading while `connection`'s room is congested (direct lane only)."""
        if self._direct is not None:
            self._paused_by.add(connection)
            self._direct.pause_reading()

    def resume_reading(self, connection: HocuspocusConnection) -> None:
        """Read again once no room of this socket is congested."""
        self._paused_by.discard(connection)
        if self._direct is not None and not self._paused_by:
            self._direct.resume_reading()

    def request_close(self, code: int, reason: str) -> None:
        """Close the socket with `code` (the first request wins)."""
        if self.close_code is None:
            self.close_code = code
            self.close_reason = truncate_reason(reason)
        if self._cancel_scope is not None:
            self._cancel_scope.cancel()

    async def serve(self) -> None:
        """Read and dispatch until the client leaves or a close is requested."""
        try:
            async with anyio.create_task_group() as tg:
                self._task_group = tg
                self._cancel_scope = tg.cancel_scope
                if self._direct is None:
                    tg.start_soon(self._write_loop)
                tg.start_soon(self._ping_loop)
                if self._direct is not None:
                    self._direct.attach(self._receive_direct)
                try:
                    await self._read_loop()
                except PalabreError as exc:
                    log.warning("closing hocuspocus socket: %s", exc.detail)
                    self.request_close(exc.close_code, exc.close_reason)
                tg.cancel_scope.cancel()
        finally:
            for name in list(self.documents):
                self._leave(name)
            self._inbox.clear()
            self._send_out.close()
            self._receive_out.close()

    async def _write_loop(self) -> None:
        async with self._receive_out:
            async for message in self._receive_out:
                await self._transport.send(message)

    async def _ping_loop(self) -> None:
        while True:
            await anyio.sleep(PING_SECONDS)
            self.send(PING)

    async def _close_at_expiry(self, expires_at: float) -> None:
        # As on /ws: a socket lives no longer than its tokens (plus the leeway); the
        # provider reconnects and sends fresh ones.
        leeway = self._endpoint.settings.token_leeway_seconds
        await anyio.sleep(max(0.0, expires_at + leeway - time.time()))
        self.request_close(CloseCode.UNAUTHENTICATED, "token expired")

    async def _read_loop(self) -> None:
        while True:
            frame = await self._transport.receive()
            if frame is None:
                return
            if self._direct is not None:
                # Only frames that came before `attach` (and the disconnect) arrive here.
                self._receive_direct(frame)
                continue
            decoded = _decode(frame)
            if decoded is None:
                continue
            if isinstance(decoded.message, TokenMessage):
                await self._authenticate(decoded.document, decoded.message.token)
                continue
            room = self._dispatch(decoded)
            while room is not None and room.is_congested:
                await room.wait_uncongested()

    def _receive_direct(self, frame: bytes) -> None:
        """A frame from the direct lane, inside the protocol's callback."""
        if self.close_code is not None:
            return
        try:
            decoded = _decode(frame)
            if decoded is None:
                return
            if self._inbox or isinstance(decoded.message, TokenMessage):
                # Authenticating takes I/O: it and what follows wait their turn, in order.
                self._inbox.append(decoded)
                if len(self._inbox) == 1 and self._task_group is not None:
                    self._task_group.start_soon(self._drain_inbox)
                return
            self._dispatch(decoded)
        except PalabreError as exc:
            log.warning("closing hocuspocus socket: %s", exc.detail)
            self.request_close(exc.close_code, exc.close_reason)

    async def _drain_inbox(self) -> None:
        try:
            while self._inbox:
                decoded = self._inbox[0]
                if isinstance(decoded.message, TokenMessage):
                    await self._authenticate(decoded.document, decoded.message.token)
                else:
                    self._dispatch(decoded)
                self._inbox.popleft()
        except PalabreError as exc:
            log.warning("closing hocuspocus socket: %s", exc.detail)
            self.request_close(exc.close_code, exc.close_reason)

    def _dispatch(self, decoded: Frame) -> Room | None:
        """Handle a frame other than authentication; returns the room it went to."""
        name, message = decoded.document, decoded.message
        joined = self.documents.get(name)
        if joined is None:
            if not isinstance(message, CloseMessage):
                self.send(encode_permission_denied(name, "authenticate this document first"))
            return None
        connection, room = joined
        if isinstance(message, CloseMessage):
            self._leave(name)
            return None
        if isinstance(message, StatelessMessage):
            self._stateless(connection, room, message.payload)
        elif connection.close_code is None:
            connection.receive(decoded.y_message)
        return room

    def _stateless(self, sender: HocuspocusConnection, room: Room, payload: str) -> None:
        """Hand a stateless message to the hook (`server.sync.stateless`), if one is set."""
        hook = self._endpoint.on_stateless
        if hook is None:
            return
        name = sender.doc_id

        def broadcast(answer: str) -> None:
            room.broadcast_stateless(answer, sender=sender)

        event = StatelessEvent(
            name, sender.principal, sender.may_edit, payload, sender.send_stateless, broadcast
        )
        try:
            result = hook(event)
        except Exception:
            log.exception("stateless hook failed", extra={"doc_id": name})
            return
        if inspect.isawaitable(result) and self._task_group is not None:
            self._task_group.start_soon(_await_hook, result, name)

    async def _authenticate(self, name: str, token: str) -> None:
        endpoint = self._endpoint
        joined = self.documents.get(name)
        if joined is not None:
            # A second token for a joined document (a refresh): same answer as the first.
            connection = joined[0]
            scope = AuthScope.READ_WRITE if connection.may_edit else AuthScope.READ_ONLY
            self.send(encode_authenticated(name, scope))
            return
        try:
            checked_doc_id(name, "document name")
            principal = await endpoint.access.authenticate(token or None)
            require(principal, Action.READ, name)
        except (BadDocId, Unauthenticated, Forbidden) as exc:
            log.info("hocuspocus document refused: %s", exc.detail, extra={"doc_id": name[:128]})
            self.send(encode_permission_denied(name, exc.close_reason or exc.error))
            return
        can_edit = is_allowed(principal, Action.EDIT, name)
        connection = HocuspocusConnection(
            self,
            name,
            principal=principal.sub,
            can_edit=can_edit,
            rate_limiter=endpoint.update_limiter,
            rate_key=principal_key(principal, address_of(self._scope)),
        )
        connection.role = principal.role
        scope = AuthScope.READ_WRITE if can_edit else AuthScope.READ_ONLY
        self.send(encode_authenticated(name, scope))
        try:
            room = await endpoint.hub.join(name, connection)
        except PalabreError as exc:
            connection.close_outbound()
            self.send(encode_permission_denied(name, exc.close_reason or exc.error))
            return
        connection.room = room
        self.documents[name] = (connection, room)
        if principal.expires_at is not None and self._task_group is not None:
            self._task_group.start_soon(self._close_at_expiry, principal.expires_at)

    def _leave(self, name: str) -> None:
        connection, room = self.documents.pop(name)
        self._endpoint.hub.leave(room, connection)
        connection.close_outbound()


async def _await_hook(result: Awaitable[None], doc_id: str) -> None:
    try:
        await result
    except Exception:
        log.exception("stateless hook failed", extra={"doc_id": doc_id})


def _decode(frame: bytes) -> Frame | None:
    """A client frame; ``None`` for a pong (the socket is alive, nothing to do).

    Raises:
        MalformedMessage: the frame breaks the protocol.
    """
    try:
        decoded = decode_frame(frame)
    except ProtocolError as exc:
        raise MalformedMessage(f"malformed hocuspocus message: {exc}") from exc
    return None if isinstance(decoded, PongMessage) else decoded


class HocuspocusEndpoint:
    """ASGI app for ``/hocuspocus``: accept, serve the multiplexed documents, close."""

    def __init__(
        self,
        hub: Hub,
        settings: Settings,
        access: Access,
        update_limiter: RateLimiter | None = None,
        on_stateless: StatelessHook | None = None,
    ) -> None:
        self.hub = hub
        self.settings = settings
        self.access = access
        self.update_limiter = update_limiter
        self.on_stateless = on_stateless

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Serve one WebSocket connection."""
        first: Message = await receive()
        if first["type"] != "websocket.connect":
            return
        await send({"type": "websocket.accept"})
        transport = AsgiTransport(receive, send, max_bytes=self.settings.max_message_bytes)
        try:
            check_origin(self.settings, scope)
        except PalabreError as exc:
            await transport.close(exc.close_code, exc.close_reason)
            return
        socket = HocuspocusSocket(self, transport, scope)
        await socket.serve()
        code = socket.close_code
        await transport.close(CloseCode.NORMAL if code is None else code, socket.close_reason)
