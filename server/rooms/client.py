"""What a room needs from a client: the `Client` protocol the socket lanes implement.

Rooms never import the socket lanes (`server.sync`): a y-websocket connection and one
document of a Hocuspocus socket are both just a `Client` here.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Protocol

from server.access.auth import Principal
from server.wsframe import encode_binary_frame


class Client(Protocol):
    """One client of one room."""

    @property
    def connection_id(self) -> str:
        """Unique per socket and document; owns the client's awareness states."""

    @property
    def principal(self) -> Principal:
        """Who the client authenticated as."""

    @property
    def may_edit(self) -> bool:
        """Whether its role and token allow editing this document (frozen or not)."""

    @property
    def frame_kind(self) -> str | None:
        """How a room frames its broadcasts for this client: ``None`` is y-websocket's
        frame, shared by every such client; another kind gets one frame per room, made
        by `wrap`."""

    def change_rights(self, principal: Principal, *, may_edit: bool) -> None:
        """Take a facilitator's change of the principal's role at once: from now on the
        client is `principal` and edits only if `may_edit`; tell the client what it lost."""

    def send(self, message: bytes) -> None:
        """Send a y-websocket message to this client only, without waiting."""

    def send_frame(self, frame: bytes, message: bytes) -> None:
        """Send a broadcast: `frame` is `message` (as `wrap` made it) framed once for all."""

    def wrap(self, message: bytes) -> bytes:
        """`message` (y-websocket) as this client's protocol sends it."""

    def acknowledge(self, stored: bool) -> None:
        """One update of this client was stored, or never will be (only called when
        `frame_kind` is not None: y-websocket has no acknowledgement)."""

    def send_stateless(self, payload: str) -> None:
        """Send a stateless message about this document (y-websocket has none)."""

    def request_close(self, code: int, reason: str) -> None:
        """Close the client's socket with `code` (the first request wins)."""

    def pause_reading(self) -> None:
        """Stop taking messages from this client until `resume_reading`."""

    def resume_reading(self) -> None:
        """Take messages from this client again."""


def broadcast(message: bytes, clients: Iterable[Client]) -> None:
    """Send `message` to `clients`, framed once for all (once per other protocol)."""
    frame = encode_binary_frame(message)
    others: dict[str, tuple[bytes, bytes]] | None = None
    for connection in list(clients):
        kind = connection.frame_kind
        if kind is None:
            connection.send_frame(frame, message)
            continue
        # Another protocol (Hocuspocus): its own message and frame, made once per room.
        if others is None:
            others = {}
        framed = others.get(kind)
        if framed is None:
            wrapped = connection.wrap(message)
            framed = others[kind] = (encode_binary_frame(wrapped), wrapped)
        connection.send_frame(*framed)
