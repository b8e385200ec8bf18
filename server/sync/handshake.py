"""Refuse a ``/ws`` socket opened too fast before uvicorn upgrades the connection.

A principal opening sockets in a loop past `Limits.socket_opens_per_second` is answered
429 by the endpoint (`server.sync.endpoint`), before the socket exists. Reaching the
endpoint still costs uvicorn's WebSocket upgrade: a second parse of the request by
``websockets``, the handshake's answer built, a protocol object, an ASGI scope, a task,
and the token's signature checked again. Looped thousands of times a second, that
upgrade is most of what the loop costs the node, and it is paid on the event loop every
room shares.

This gate answers the same 429 from the HTTP protocol, as soon as the request's head is
parsed (by httptools, in C), when the answer is already certain without any I/O: the
key it is counted under is known and its openings are spent. That key is the client's
address (unless a proxy forwarded another) without a credential, with a token that is
not valid, and with a credential that takes I/O to check (an OIDC token this node has
not verified, a sign-in cookie whose session it has not cached: the endpoint checks the
address the same way before that I/O); a token's subject for the tokens this node
verified before or checks now against our secret (`Access.identify`). Anything else (a
cached sign-in session, an opening within the rate) goes on to the endpoint, which checks
and counts everything as before. The 429 is answered after the refusal delay
(`server.access.pacing`), so that a client looping on refusals loops slowly.
"""

from __future__ import annotations

import asyncio
import json
from urllib.parse import unquote_to_bytes

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from server.access.auth import PUBLIC, Role
from server.access.ratelimit import principal_key
from server.access.websession import cookie_header_of, session_id_in
from server.sync.endpoint import SocketServices, token_in

SYNC_PREFIX = b"/ws/"


def refusal_answer(detail: str) -> bytes:
    """The whole HTTP answer refusing a handshake with 429 (the connection then closes)."""
    body = json.dumps({"error": "rate_limited", "detail": detail}).encode()
    return b"".join([
        b"HTTP/1.1 429 Too Many Requests\r\n",
        b"content-type: application/json\r\n",
        b"retry-after: 1\r\n",
        b"content-length: ", str(len(body)).encode("ascii"), b"\r\n",
        b"connection: close\r\n\r\n",
        body,
    ])


class HandshakeGate:
    """Decides, from a parsed request head alone, whether a ``/ws`` handshake is refused."""

    __slots__ = ("_services",)

    def __init__(self, services: SocketServices) -> None:
        self._services = services

    def refusal(
        self, target: bytes, headers: list[tuple[bytes, bytes]], address: str | None,
        *, is_https: bool,
    ) -> tuple[str, bytes] | None:
        """The key refused and the 429 answer for the request `target` (path and query)
        with `headers`, or ``None`` to let it through to the endpoint."""
        raw_path, _, query = target.partition(b"?")
        path = unquote_to_bytes(raw_path) if b"%" in raw_path else raw_path
        if not path.startswith(SYNC_PREFIX):
            return None
        services = self._services
        token = token_in(query.decode("latin-1")) if query else None
        session_id = None if token else session_id_in(cookie_header_of(headers),
                                                       is_https=is_https)
        if token:
            # An OIDC token not verified here yet is its address's until it is.
            principal = services.access.identify(token) or PUBLIC
        elif session_id is not None and not services.access.needs_a_read(session_id):
            return None  # a cached sign-in session: the endpoint counts its subject's opening
        else:
            principal = PUBLIC  # no credential, or a session to read: the address pays
        if principal.role is Role.PUBLIC and any(
            name == b"x-forwarded-for" for name, _ in headers
        ):
            return None  # the endpoint keys it by the address a trusted proxy forwarded
        key = principal_key(principal, address)
        refused = services.quota.opening_refusal(key)
        if refused is None:
            return None
        services.log_refusal(key, refused, path[len(SYNC_PREFIX):].decode("latin-1"))
        return key, refusal_answer(refused.detail)

    def answer(self, transport: asyncio.Transport, key: str, answer: bytes) -> None:
        """Write the refusal `answer` of `key` on `transport` and close it, after the
        refusal delay (`server.access.pacing`) when the bounds on held refusals allow,
        reading nothing from it meanwhile."""

        def write_and_close() -> None:
            if not transport.is_closing():
                transport.write(answer)
                transport.close()

        if self._services.access.pacer.later(key, write_and_close):
            transport.pause_reading()
        else:
            write_and_close()


def gated_http_protocol(gate: HandshakeGate) -> type[asyncio.Protocol]:
    """uvicorn's httptools protocol, with `gate` consulted before every WebSocket upgrade."""

    class GatedHttpToolsProtocol(HttpToolsProtocol):
        """`HttpToolsProtocol` answering 429 without upgrading when `gate` says so."""

        def handle_websocket_upgrade(self) -> None:
            client = self.client
            refused = gate.refusal(self.url, self.headers, client[0] if client else None,
                                   is_https=self.scheme == "https")
            if refused is None:
                super().handle_websocket_upgrade()
                return
            self.connections.discard(self)
            gate.answer(self.transport, *refused)

    return GatedHttpToolsProtocol
