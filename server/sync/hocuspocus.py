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
from collections import deque
from collections.abc import Awaitable

import anyio
import anyio.abc
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
from crdt.protocol import AuthMessage, decode_message
from server.access.auth import Principal
from server.access.permissions import Action, is_allowed
from server.access.ratelimit import RateLimiter, principal_key
from server.errors import (
    BadDocId,
    Forbidden,
    MalformedMessage,
    Overloaded,
    PalabreError,
    Unauthenticated,
    checked_doc_id,
)
from server.rooms.room import Room
from server.sync.connection import Connection
from server.sync.endpoint import (
    AsgiTransport,
    SocketServices,
    address_of,
    close_with,
    new_link,
    principal_of,
)
from server.sync.link import SocketLink
from server.sync.quota import SocketQuota
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

    __slots__ = ("_prefix",)

    frame_kind = "hocuspocus"

    def __init__(
        self,
        link: SocketLink,
        doc_id: str,
        *,
        principal: Principal,
        may_edit: bool,
        rate_limiter: RateLimiter | None,
        rate_key: str,
        quota: SocketQuota,
    ) -> None:
        super().__init__(doc_id, link, principal=principal, may_edit=may_edit,
                         rate_limiter=rate_limiter, rate_key=rate_key, quota=quota)
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
        self.link.send(self.wrap(message))

    def send_stateless(self, payload: str) -> None:
        """Send a stateless message about this document."""
        self.link.send(encode_stateless(self.doc_id, payload))

    def change_rights(self, principal: Principal, *, may_edit: bool) -> None:
        """Be `principal` from now on, and send the document's new scope (``readonly`` or
        ``read-write``), as at authentication, after the notice of a lost right."""
        changed = may_edit != self.may_edit
        super().change_rights(principal, may_edit=may_edit)
        if changed:
            scope = AuthScope.READ_WRITE if may_edit else AuthScope.READ_ONLY
            self.link.send(encode_authenticated(self.doc_id, scope))

    def acknowledge(self, stored: bool) -> None:
        """Sync status for one update: the provider counts its unsynced changes with it."""
        self.link.send(encode_sync_status(self._prefix, stored))


class HocuspocusSocket:
    """One Hocuspocus WebSocket: its documents, their authentication, its keep-alive."""

    def __init__(
        self, endpoint: HocuspocusEndpoint, transport: AsgiTransport, scope: Scope
    ) -> None:
        self._endpoint = endpoint
        self._transport = transport
        self._scope = scope
        self.documents: dict[str, tuple[HocuspocusConnection, Room]] = {}
        self.link = new_link(endpoint.services.settings, scope, one_document=False)
        self._inbox: deque[Frame] = deque()
        """Direct lane: frames waiting behind an authentication (kept in order)."""

    def _fail(self, exc: PalabreError) -> None:
        self.link.fail(exc, doc_id="", connection_id="hocuspocus")

    async def serve(self) -> None:
        """Read and dispatch until the client leaves or a close is requested."""
        try:
            await self.link.serve(self._read_loop, self._receive_direct, self._transport)
        finally:
            for name in list(self.documents):
                self._leave(name)
            self._inbox.clear()

    async def _ping_loop(self) -> None:
        while True:
            await anyio.sleep(PING_SECONDS)
            self.link.send(PING)

    async def _read_loop(self) -> None:
        self.link.start_soon(self._ping_loop)
        while True:
            frame = await self._transport.receive()
            if frame is None:
                return
            if self.link.is_direct:
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
        if self.link.close_code is not None:
            return
        try:
            decoded = _decode(frame)
            if decoded is None:
                return
            if self._inbox or isinstance(decoded.message, TokenMessage):
                # Authenticating takes I/O: it and what follows wait their turn, in order.
                self._inbox.append(decoded)
                if len(self._inbox) == 1:
                    self.link.start_soon(self._drain_inbox)
                return
            self._dispatch(decoded)
        except PalabreError as exc:
            self._fail(exc)

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
            self._fail(exc)

    def _dispatch(self, decoded: Frame) -> Room | None:
        """Handle a frame other than authentication; returns the room it went to."""
        name, message = decoded.document, decoded.message
        joined = self.documents.get(name)
        if joined is None:
            if not isinstance(message, CloseMessage):
                self.link.send(encode_permission_denied(name, "authenticate this document first"))
            return None
        connection, room = joined
        if isinstance(message, CloseMessage):
            self._leave(name)
            return None
        if isinstance(message, StatelessMessage):
            self._stateless(connection, room, message.payload)
        elif self.link.close_code is None:
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
            name, sender.principal.sub, sender.may_edit, payload, sender.send_stateless, broadcast,
            sender.principal,
        )
        try:
            result = hook(event)
        except Exception:
            log.exception("stateless hook failed", extra={"doc_id": name})
            return
        if inspect.isawaitable(result):
            self.link.start_soon(_await_hook, result, name)

    async def _authenticate(self, name: str, token: str) -> None:
        services = self._endpoint.services
        joined = self.documents.get(name)
        if joined is not None:
            # A second token for a joined document (a refresh): same answer as the first.
            connection = joined[0]
            scope = AuthScope.READ_WRITE if connection.may_edit else AuthScope.READ_ONLY
            self.link.send(encode_authenticated(name, scope))
            return
        key = principal_key(None, address_of(self._scope))
        try:
            checked_doc_id(name, "document name")
            principal = await principal_of(services, self._scope, token or None)
            key = principal_key(principal, address_of(self._scope))
            services.quota.opening(key)
            await services.admit(principal, key, name)
        except (BadDocId, Unauthenticated, Forbidden, Overloaded) as exc:
            # Logged at most once per principal every 10 s: refusals come in loops.
            services.log_refusal(key, exc, name)
            self.link.send(encode_permission_denied(name, exc.close_reason or exc.error))
            return
        limit = services.settings.limits.documents_per_socket
        if limit > 0 and len(self.documents) >= limit:
            log.info("hocuspocus document refused: socket holds %d documents", limit,
                     extra={"doc_id": name})
            self.link.send(encode_permission_denied(
                name, f"too many documents on this socket: at most {limit}"))
            return
        try:
            services.quota.acquire(principal, key)
        except Overloaded as exc:
            log.info("hocuspocus document refused: %s", exc.detail, extra={"doc_id": name})
            self.link.send(encode_permission_denied(name, exc.close_reason))
            return
        may_edit = is_allowed(principal, Action.EDIT, name)
        connection = HocuspocusConnection(
            self.link,
            name,
            principal=principal,
            may_edit=may_edit,
            rate_limiter=services.update_limiter,
            rate_key=key,
            quota=services.quota,
        )
        scope = AuthScope.READ_WRITE if may_edit else AuthScope.READ_ONLY
        self.link.send(encode_authenticated(name, scope))
        try:
            room = await services.hub.join(name, connection)
        except PalabreError as exc:
            services.quota.release(key)
            self.link.send(encode_permission_denied(name, exc.close_reason or exc.error))
            return
        except BaseException:
            services.quota.release(key)
            raise
        connection.room = room
        self.documents[name] = (connection, room)
        self.link.expire_at(principal.expires_at)

    def _leave(self, name: str) -> None:
        connection, room = self.documents.pop(name)
        services = self._endpoint.services
        services.hub.leave(room, connection)
        services.quota.release(connection.principal_key)


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
        self, services: SocketServices, on_stateless: StatelessHook | None = None
    ) -> None:
        self.services = services
        self.on_stateless = on_stateless

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Serve one WebSocket connection."""
        transport = await self.services.accept(scope, receive, send)
        if transport is None:
            return
        socket = HocuspocusSocket(self, transport, scope)
        await socket.serve()
        await close_with(transport, socket.link)
