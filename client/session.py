"""The async palabre client: one pycrdt Doc kept in sync with a document on a server.

``async with connect(url, doc_id, token) as session:`` opens ``{url}/ws/{doc_id}`` and
speaks y-websocket: it sends sync step 1, answers the server's step 1 with step 2, applies
step 2 and updates with `session.origin` (a `RemoteOrigin`) so they are not echoed back,
and sends every local change of `session.doc` as a sync update. Awareness states are JSON
objects sent as UTF-8.

A lost socket is reopened with back-off and resynced; edits made meanwhile stay in the Doc
and go out with the resync. Close codes a retry cannot fix end the session with a
`SessionClosed` subclass, raised by every wait and when leaving the context; without
`reconnect`, a lost socket ends it with `ConnectionLost`, raised by waits only.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from typing import Any

import anyio
from pycrdt import Doc

from client._link import Link
from client._replica import RemoteOrigin, Replica
from client._url import socket_url
from client.backoff import Backoff
from client.errors import ConnectionLost, SessionClosed
from client.presence import JsonObject
from crdt.protocol import CloseCode

DEFAULT_MAX_MESSAGE_SIZE = 64 * 2**20


class Session:
    """A live document: `doc` in sync with the server, plus awareness and denials.

    Build it with `connect()`; use it from the event loop that runs the context. The Doc's
    observers run inside its transactions: never await inside a transaction.
    """

    def __init__(
        self,
        url: str | Sequence[str],
        doc_id: str,
        token: str | None,
        *,
        doc: Doc[Any] | None,
        reconnect: bool,
        backoff: Backoff,
        on_denied: Callable[[str], None] | None,
        open_timeout: float,
        max_message_size: int,
    ) -> None:
        self.doc_id = doc_id
        self.doc: Doc[Any] = Doc() if doc is None else doc
        self._replica = Replica(self.doc, doc_id, on_denied=on_denied)
        self._link = Link(
            [socket_url(base, doc_id, token) for base in ([url] if isinstance(url, str) else url)],
            self._replica,
            reconnect=reconnect,
            backoff=backoff,
            open_timeout=open_timeout,
            max_message_size=max_message_size,
        )

    @property
    def origin(self) -> RemoteOrigin:
        """The transaction origin of every update this session applies from the server."""
        return self._replica.origin

    @property
    def client_id(self) -> int:
        """Our Yjs client id, also our awareness client id."""
        return self.doc.client_id

    @property
    def denials(self) -> list[str]:
        """Reasons of the permission-denied messages received, oldest first."""
        return self._replica.denials

    @property
    def peers(self) -> Mapping[int, JsonObject]:
        """Awareness states of the other clients on this document, by client id."""
        return self._replica.presence.peers

    @property
    def awareness(self) -> JsonObject | None:
        """Our own awareness state."""
        return self._replica.presence.local

    @property
    def is_connected(self) -> bool:
        """Whether a socket is open right now."""
        return self._link.socket is not None

    @property
    def is_synced(self) -> bool:
        """Whether the server's step 2 was applied on the current socket."""
        return self._replica.is_synced

    @property
    def has_unsent_updates(self) -> bool:
        """Whether local edits are still waiting to be handed to a socket."""
        return self._replica.outbox.has_updates

    @property
    def last_close(self) -> tuple[int, str] | None:
        """Close code and reason of the latest socket, None before any closed."""
        return self._link.last_close

    @property
    def changed(self) -> anyio.Event:
        """An event set at the next change of the Doc, the peers, the denials or the
        connection; take it, check your condition, then wait on it (see `wait_for`)."""
        return self._replica.changed

    @property
    def error(self) -> SessionClosed | None:
        """Why the session ended on its own, if it did."""
        return self._link.error

    def set_awareness(self, state: JsonObject) -> None:
        """Publish our awareness state (a JSON object); each call advances our clock.

        Raises:
            TypeError: the state cannot be serialised as JSON.
        """
        self._replica.outbox.set_awareness(self._replica.presence.set_local(state))

    def clear_awareness(self) -> None:
        """Tell the others we have no awareness state any more."""
        message = self._replica.presence.clear_local()
        if message is not None:
            self._replica.outbox.set_awareness(message)

    async def wait_for(
        self,
        predicate: Callable[[], bool],
        *,
        # A deadline of its own keeps call sites short; the other waits use fail_after.
        timeout: float | None = None,  # noqa: ASYNC109
    ) -> None:
        """Wait until `predicate()` is true, checking it again after every change of the
        Doc, of the peers, of the denials or of the connection (no polling).

        Raises:
            SessionClosed: the session ended while the predicate was false.
            TimeoutError: `timeout` seconds passed first.
        """
        with anyio.fail_after(timeout):
            while True:
                changed = self._replica.changed
                if predicate():
                    return
                if self._link.error is not None:
                    raise self._link.error
                if self._link.is_finished:
                    raise SessionClosed(CloseCode.NORMAL, "session closed")
                await changed.wait()

    async def synced(self) -> None:
        """Wait until the server's state was applied on the current socket.

        Raises:
            SessionClosed: the session ended first.
        """
        await self.wait_for(lambda: self._replica.is_synced)

    async def wait_peers(self, predicate: Callable[[Mapping[int, JsonObject]], bool]) -> None:
        """Wait until `predicate(session.peers)` is true.

        Raises:
            SessionClosed: the session ended first.
        """
        peers = self._replica.presence.peers
        await self.wait_for(lambda: predicate(peers))

    async def flushed(self) -> None:
        """Wait until every local edit was handed to an open socket.

        Raises:
            SessionClosed: the session ended first.
        """
        await self.wait_for(lambda: not self._replica.outbox.has_updates)

    async def wait_closed(self) -> None:
        """Wait until the session ends on its own; only a terminal close ends it.

        Raises:
            SessionClosed: always, telling why the session ended.
        """
        await self.wait_for(lambda: False)

    async def disconnect(self, *, abrupt: bool = False) -> None:
        """Close the socket and stay offline until `resume()`; local edits accumulate.

        A clean disconnect sends our awareness removal and closes with 1000; an abrupt one
        drops the TCP connection without a word, as a crashed client would.
        """
        await self._link.disconnect(abrupt=abrupt)

    def resume(self) -> None:
        """Reconnect now, after `disconnect()` or during a back-off delay."""
        self._link.resume()


@asynccontextmanager
async def connect(
    url: str | Sequence[str],
    doc_id: str,
    token: str | None = None,
    *,
    reconnect: bool = True,
    doc: Doc[Any] | None = None,
    backoff: Backoff | None = None,
    on_denied: Callable[[str], None] | None = None,
    open_timeout: float = 10.0,
    close_timeout: float = 5.0,
    max_message_size: int = DEFAULT_MAX_MESSAGE_SIZE,
) -> AsyncIterator[Session]:
    """Open a session on ``{url}/ws/{doc_id}`` for the duration of the context.

    `url` is the server's base (http, https, ws or wss), or the bases of several nodes of
    one cluster: each reconnection then tries the next in turn. Entering returns once the first
    connection attempt opened a socket (or, with `reconnect`, failed in a way worth a
    retry: the session then keeps trying in the background). Leaving sends our awareness
    removal and any buffered edit, then closes with 1000. Edits that never reached a
    server stay in `session.doc`.

    Raises:
        SessionClosed: on entering, when the first attempt was refused for good (or failed
            at all without `reconnect`: `ConnectionLost`); on leaving, when the session had
            ended on a code a retry cannot fix (`ProtocolRejected`, `Unauthenticated`,
            `Forbidden`, or a malformed frame from the server). A `ConnectionLost` after
            entering is raised by waits only.
        ValueError: `url` is not an http(s) or ws(s) URL.
    """
    session = Session(
        url,
        doc_id,
        token,
        doc=doc,
        reconnect=reconnect,
        backoff=Backoff() if backoff is None else backoff,
        on_denied=on_denied,
        open_timeout=open_timeout,
        max_message_size=max_message_size,
    )
    # Exceptions must not cross the task group, which would wrap them in an ExceptionGroup:
    # the body's own exception and the session's error are raised after it has exited.
    failure: BaseException | None = None
    has_entered = False
    try:
        async with anyio.create_task_group() as tg:
            tg.start_soon(session._link.run)
            await session._link.first_attempt.wait()
            if session.error is None:
                has_entered = True
                try:
                    yield session
                except BaseException as exc:
                    failure = exc
                else:
                    with anyio.CancelScope(shield=True):
                        await session._link.stop(close_timeout)
            tg.cancel_scope.cancel()
    finally:
        session._replica.detach()
    if failure is not None:
        raise failure
    error = session.error
    if error is not None and not (has_entered and isinstance(error, ConnectionLost)):
        raise error
