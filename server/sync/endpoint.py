"""The ``/ws/{doc_id}`` WebSocket endpoint: a raw ASGI app adapting the socket to a Connection.

Raw ASGI rather than starlette's ``WebSocket`` keeps the per-message path short: the hub
relays every keystroke of every client.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, MutableMapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlsplit

from starlette.types import Receive, Scope, Send

from crdt.protocol import CloseCode
from server.access.auth import PUBLIC, Principal
from server.access.gate import Access
from server.access.permissions import Action, is_allowed
from server.access.ratelimit import RateLimiter, principal_key
from server.access.websession import cookie_header_of, session_id_in
from server.errors import (
    Forbidden,
    MessageTooBig,
    Overloaded,
    PalabreError,
    RateLimited,
    UnsupportedData,
    checked_doc_id,
)
from server.logs import LogThrottle
from server.rooms.hub import Hub
from server.settings import Settings
from server.sync.admission import Admission
from server.sync.connection import Connection
from server.sync.fastsocket import EXTENSION
from server.sync.link import SocketLink, bound_messages
from server.sync.quota import SocketQuota

log = logging.getLogger("palabre.endpoint")

Message = MutableMapping[str, Any]


class AsgiTransport:
    """`Transport` over an accepted ASGI WebSocket."""

    __slots__ = ("_closed", "_max_bytes", "_receive", "_send", "disconnect_code")

    def __init__(self, receive: Receive, send: Send, *, max_bytes: int) -> None:
        self._receive = receive
        self._send = send
        self._max_bytes = max_bytes
        self._closed = False
        self.disconnect_code: int | None = None
        """The close code the socket ended with, once the client has gone (our frame
        parser's 1002 or 1009 when it refused what the client sent)."""

    async def receive(self) -> bytes | None:
        """Next binary message, ``None`` once the client has gone.

        Raises:
            UnsupportedData: a text frame.
            MessageTooBig: a message over the configured limit.
        """
        message: Message = await self._receive()
        if message["type"] == "websocket.disconnect":
            self._closed = True
            self.disconnect_code = int(message.get("code", 1005))  # 1005: no status
            return None
        data = message.get("bytes")
        if data is None:
            raise UnsupportedData("text frames are not part of the protocol; send binary")
        if len(data) > self._max_bytes:
            raise MessageTooBig(f"message of {len(data)} bytes exceeds {self._max_bytes}")
        return bytes(data)

    async def send(self, message: bytes) -> None:
        """Send one binary message; a client already gone is not an error here."""
        if self._closed:
            return
        try:
            await self._send({"type": "websocket.send", "bytes": message})
        except OSError:
            # uvicorn raises ClientDisconnected (an OSError); the reader sees the disconnect.
            self._closed = True

    async def close(self, code: int, reason: str) -> None:
        """Close with `code` unless the client has already gone."""
        if self._closed:
            return
        self._closed = True
        try:
            await self._send({"type": "websocket.close", "code": code, "reason": reason})
        except OSError:
            pass  # Already disconnected: nothing left to tell the client.


def token_of(scope: Scope) -> str | None:
    """The ``token`` query parameter (browsers cannot set headers on a WebSocket)."""
    return token_in(scope.get("query_string", b"").decode("latin-1"))


def token_in(query: str) -> str | None:
    """The ``token`` parameter of a query string."""
    values = parse_qs(query).get("token")
    return values[0] if values else None


ABUSE_CODES = frozenset({
    CloseCode.MALFORMED, CloseCode.UNSUPPORTED_DATA, CloseCode.INVALID_UPDATE,
    CloseCode.TOO_BIG, CloseCode.FORBIDDEN,
})
"""Close codes refusing what a client sent (`Limits.refused_socket_cost`): a malformed,
text, invalid, oversized or forbidden message; and 1013 when it sent past a rate
(`RateLimited`). Not a slow reader or a storage failure (1013 too), 4401 (an expired
token) or a revocation (a room closing its sockets is not the client's doing)."""


def is_refused_for_what_it_sent(link: SocketLink, transport: AsgiTransport) -> bool:
    """Whether a served socket ended because the server refused what its client sent."""
    failure = link.failure
    if failure is not None and (
        isinstance(failure, RateLimited) or failure.close_code in ABUSE_CODES
    ):
        return True
    return transport.disconnect_code in (CloseCode.MALFORMED, CloseCode.TOO_BIG)


async def principal_of(services: SocketServices, scope: Scope, token: str | None) -> Principal:
    """Who opens this socket: `token` when given, else the page's sign-in cookie (from
    this server's own origin only), else the public.

    Raises:
        Unauthenticated: the token is invalid, or the cookie's session ended.
        Forbidden: a cookie-authenticated socket from another origin.
        Overloaded: the OIDC issuer or the database cannot be reached, or the token or
            the cookie would take I/O to check for an address past its openings.
    """
    if token:
        if services.access.identify(token) is None:
            # An OIDC token this node has not verified: verifying it may take I/O, and
            # made-up ones in a loop would each cost it. The address pays first.
            check_address_openings(services, scope)
        return await services.access.authenticate(token)
    headers = scope.get("headers", ())
    session_id = session_id_in(cookie_header_of(headers), is_https=scope.get("scheme") == "wss")
    if session_id is None:
        return await services.access.authenticate(None)
    check_cookie_origin(services.settings, headers)
    if services.access.needs_a_read(session_id):
        # Made-up cookies in a loop would cost a database read each: the address pays
        # first (the opening is counted for the session's subject next, if any).
        check_address_openings(services, scope)
    return await services.access.authenticate_session(session_id)


def check_address_openings(services: SocketServices, scope: Scope) -> None:
    """Refuse a caller whose principal takes I/O to know while its address has no
    openings left (nothing is counted: the endpoint counts the opening once it knows who).

    Raises:
        Overloaded: the address opens sockets too fast.
    """
    refused = services.quota.opening_refusal(principal_key(PUBLIC, address_of(scope)))
    if refused is not None:
        raise refused


def check_cookie_origin(settings: Settings, headers: Iterable[tuple[bytes, bytes]]) -> None:
    """Refuse a socket authenticated by cookie whose ``Origin`` is not this server's host (or
    an allowed origin): another site's page must not open a socket as its visitor.

    Raises:
        Forbidden: no ``Origin``, or another host's.
    """
    found = dict((k, v.decode("latin-1")) for k, v in headers if k in (b"origin", b"host"))
    origin, host = found.get(b"origin"), found.get(b"host")
    if origin is not None and (origin in settings.origins or (
        host is not None and urlsplit(origin).netloc == host
    )):
        return
    raise Forbidden("cross-site socket refused: sign-in cookies work on this server's pages")


def address_of(scope: Scope) -> str | None:
    client = scope.get("client")
    return str(client[0]) if client else None


def check_origin(settings: Settings, scope: Scope) -> None:
    """Refuse a browser socket from an origin outside the allow-list (when one is set).

    Raises:
        Forbidden: the ``Origin`` header is not allowed.
    """
    allowed = settings.origins
    if not allowed:
        return
    for name, value in scope.get("headers", ()):
        if name == b"origin":
            if value.decode("latin-1") not in allowed:
                raise Forbidden("origin not allowed")
            return


def new_link(settings: Settings, scope: Scope, *, one_document: bool = True) -> SocketLink:
    """The `SocketLink` of a socket just accepted, per the settings; for `one_document`
    (a ``/ws`` socket, not a Hocuspocus one: its documents' rights differ), bounding its
    messages by what the client may do."""
    return SocketLink(
        direct=scope.get("extensions", {}).get(EXTENSION),
        outbound_queue=settings.outbound_queue,
        outbound_limit_bytes=settings.outbound_buffer_bytes,
        token_leeway=settings.token_leeway_seconds,
        message_bytes=message_bytes(settings) if one_document else (0, 0),
    )


def message_bytes(settings: Settings) -> tuple[int, int]:
    """The largest message of an editor's ``/ws`` socket, and of a reader's."""
    reader = settings.limits.reader_message_bytes
    most = settings.max_message_bytes
    return most, min(reader, most) if reader > 0 else most


@dataclass(frozen=True, slots=True)
class SocketServices:
    """What every socket lane needs: the hub, the settings, the token check, the rates."""

    hub: Hub
    settings: Settings
    access: Access
    update_limiter: RateLimiter | None = None
    quota: SocketQuota = field(kw_only=True)
    """Sockets per principal and awareness bounds, one per node over both lanes."""
    admission: Admission = field(kw_only=True)
    """The catalogue check (and creation on connect) of every socket's document."""

    refusals: LogThrottle = field(default_factory=LogThrottle, kw_only=True)
    """One logged refusal per principal every 10 s (a loop of refusals costs no log)."""

    async def admit(self, principal: Principal, key: str, doc_id: str) -> None:
        """Check `doc_id` in the catalogue for `principal` (keyed `key`), one of the
        principal's few turns at a time; a document it may not open costs it
        `Limits.refused_socket_cost` openings.

        Raises:
            Overloaded: `key` owes openings (refused meanwhile), or the catalogue is down.
            Forbidden: `Admission.admit` refuses the document.
        """
        async with self.quota.admitting(key):
            self.quota.check_not_in_debt(key)
            try:
                await self.admission.admit(principal, doc_id)
            except Forbidden:
                self.quota.penalise(key)
                raise

    def log_refusal(self, key: str, exc: PalabreError, doc_id: str) -> None:
        """Log a refused socket, at most once per principal every 10 s."""
        skipped = self.refusals.allow(key)
        if skipped is None:
            return
        more = f" ({skipped} more refused since the last line)" if skipped else ""
        log.warning("refused socket: %s%s", exc.detail, more, extra={"doc_id": doc_id[:128]})

    async def deny(
        self, scope: Scope, receive: Receive, send: Send, status: int, detail: str
    ) -> None:
        """Refuse the handshake with an HTTP answer (403 where the server cannot send one)."""
        first: Message = await receive()
        if first["type"] != "websocket.connect":
            return
        if "websocket.http.response" not in scope.get("extensions", {}):
            await send({"type": "websocket.close", "code": CloseCode.OVERLOADED})
            return
        body = json.dumps({"error": "rate_limited", "detail": detail}).encode()
        await send({"type": "websocket.http.response.start", "status": status,
                    "headers": [(b"content-type", b"application/json"),
                                (b"retry-after", b"1")]})
        await send({"type": "websocket.http.response.body", "body": body})

    async def accept(self, scope: Scope, receive: Receive, send: Send) -> AsgiTransport | None:
        """Complete the handshake of a browser-allowed socket; ``None`` when the client left
        first or its ``Origin`` is refused (then the socket is already closed)."""
        first: Message = await receive()
        if first["type"] != "websocket.connect":
            return None
        await send({"type": "websocket.accept"})
        transport = AsgiTransport(receive, send, max_bytes=self.settings.max_message_bytes)
        try:
            check_origin(self.settings, scope)
        except PalabreError as exc:
            log.warning("refused socket: %s", exc.detail)
            await transport.close(exc.close_code, exc.close_reason)
            return None
        return transport


async def close_with(transport: AsgiTransport, link: SocketLink) -> None:
    """Close the socket with the code its link decided (normal closure when none)."""
    code = link.close_code
    await transport.close(CloseCode.NORMAL if code is None else code, link.close_reason)


class SyncEndpoint:
    """ASGI app for ``/ws/{doc_id}``: check the id, join the room, serve, leave."""

    def __init__(self, services: SocketServices) -> None:
        self._services = services

    @property
    def services(self) -> SocketServices:
        """What its sockets use (the hub, the token and session checks, the rates)."""
        return self._services

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Serve one WebSocket connection."""
        services = self._services
        doc_id = str(scope.get("path_params", {}).get("doc_id", ""))
        # Who opens, known before the handshake: a loop of openings past the principal's
        # rate is refused with 429 before the socket exists (no accept, no close frames).
        try:
            principal = await principal_of(services, scope, token_of(scope))
            unauthenticated: PalabreError | None = None
        except PalabreError as exc:
            principal, unauthenticated = PUBLIC, exc
        key = principal_key(principal, address_of(scope))
        try:
            services.quota.opening(key)
        except Overloaded as exc:
            services.log_refusal(key, exc, doc_id)
            await services.access.pacer.pause(key)
            await services.deny(scope, receive, send, 429, exc.detail)
            return
        may_edit = is_allowed(principal, Action.EDIT, doc_id)
        # Before the answer, so that the client's first frame is bounded too.
        bound_messages(scope.get("extensions", {}).get(EXTENSION),
                       message_bytes(services.settings), may_edit=may_edit)
        transport = await services.accept(scope, receive, send)
        if transport is None:
            return
        try:
            checked_doc_id(doc_id)
            if unauthenticated is not None:
                raise unauthenticated
            await services.admit(principal, key, doc_id)
            link = new_link(services.settings, scope)
            connection = Connection(
                doc_id,
                link,
                principal=principal,
                may_edit=may_edit,
                rate_limiter=services.update_limiter,
                rate_key=key,
                quota=services.quota,
            )
            services.quota.acquire(principal, key)
            try:
                room = await services.hub.join(doc_id, connection)
            except BaseException:
                services.quota.release(key)
                raise
        except PalabreError as exc:
            services.log_refusal(key, exc, doc_id)
            await transport.close(exc.close_code, exc.close_reason)
            return
        try:
            await connection.serve(transport, room)
        finally:
            services.hub.leave(room, connection)
            services.quota.release(key)
        if is_refused_for_what_it_sent(link, transport):
            services.quota.penalise(key)
        await close_with(transport, link)
