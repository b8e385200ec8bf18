"""The connection loop of a session: open a socket, run its one reader and one writer,
and reconnect with back-off until stopped or refused for good."""

from __future__ import annotations

import logging
import random
from collections.abc import Sequence

import anyio
from websockets.asyncio.client import ClientConnection
from websockets.asyncio.client import connect as ws_connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus

from client._replica import Replica, ServerFault
from client._url import redact
from client.backoff import Backoff
from client.errors import (
    ABNORMAL_CLOSURE,
    ConnectionLost,
    SessionClosed,
    fatal_close_error,
    handshake_error,
)
from crdt.protocol import CloseCode

log = logging.getLogger(__name__)


class Link:
    """Keeps a `Replica` connected to one of its socket URLs, one socket at a time.

    With several URLs (the nodes of a cluster), each reconnection tries the next one.
    """

    def __init__(
        self,
        url: str | Sequence[str],
        replica: Replica,
        *,
        reconnect: bool,
        backoff: Backoff,
        open_timeout: float,
        max_message_size: int,
    ) -> None:
        self._urls = [url] if isinstance(url, str) else list(url)
        if not self._urls:
            raise ValueError("no server URL")
        self._url_index = 0
        self._url = self._urls[0]
        self._replica = replica
        self._is_reconnecting = reconnect
        self._backoff = backoff
        self._open_timeout = open_timeout
        self._max_message_size = max_message_size
        self._rng = random.Random()
        self._is_online_wanted = anyio.Event()
        self._is_online_wanted.set()
        self._kick = anyio.Event()
        self.first_attempt = anyio.Event()
        """Set once the first attempt opened a socket or failed."""
        self.socket: ClientConnection | None = None
        self.is_finished = False
        self.error: SessionClosed | None = None
        self.last_close: tuple[int, str] | None = None
        """Close code and reason of the latest socket (1006 when it never opened)."""
        self._is_stopping = False

    async def disconnect(self, *, abrupt: bool) -> None:
        """Close the socket (cleanly or by dropping TCP) and stay offline until `resume`."""
        # Replace the event only if set: `run` may be waiting on the unset one, which the
        # next `resume` must be able to set.
        if self._is_online_wanted.is_set():
            self._is_online_wanted = anyio.Event()
        socket = self.socket
        if socket is None:
            return
        if abrupt:
            socket.transport.abort()
        else:
            self._replica.request_close()
        while self.socket is socket:
            await self._replica.changed.wait()

    def resume(self) -> None:
        """Connect now: end an offline period or a back-off delay."""
        self._is_online_wanted.set()
        self._kick.set()

    async def stop(self, deadline: float) -> None:
        """Close cleanly (awareness removal, buffered edits, then 1000) within `deadline` s."""
        self._is_stopping = True
        self.resume()
        if self.socket is None:
            return
        self._replica.request_close()
        with anyio.move_on_after(deadline):
            while not self.is_finished:
                await self._replica.changed.wait()

    async def run(self) -> None:
        """Connect, serve, and reconnect with back-off until stopped or refused for good."""
        attempt = 0
        try:
            while not self._is_stopping:
                await self._is_online_wanted.wait()
                if self._is_stopping:
                    return
                self._kick = anyio.Event()
                code, reason = await self._connect_once()
                self.last_close = (code, reason)
                self.first_attempt.set()
                if self._replica.has_synced:
                    attempt = 0
                if self._is_stopping or self.error is not None:
                    return
                fatal = fatal_close_error(code, reason)
                if fatal is not None or not self._is_reconnecting:
                    self.error = fatal or ConnectionLost(code, reason)
                    return
                if self._backoff.is_exhausted(attempt):
                    self.error = ConnectionLost(code, f"gave up after {attempt} retries: {reason}")
                    return
                log.info("%s closed with %d %s; reconnecting", redact(self._url), code, reason)
                # A node that dropped us may be gone: the next attempt goes to the next one.
                self._url_index = (self._url_index + 1) % len(self._urls)
                self._url = self._urls[self._url_index]
                if code == CloseCode.SERVICE_RESTART and attempt == 0:
                    # The node is restarting and said so: another one (or it, back) serves
                    # us now; waiting would only lengthen the interruption. Only the first
                    # retry skips the delay, so a node that keeps saying it cannot spin us.
                    attempt += 1
                    continue
                with anyio.move_on_after(self._backoff.delay(attempt, self._rng)):
                    await self._kick.wait()
                attempt += 1
        except SessionClosed as exc:
            self.error = exc
        finally:
            self.is_finished = True
            self.first_attempt.set()
            self._replica.notify()

    async def _connect_once(self) -> tuple[int, str]:
        """Open one socket and serve it until it closes; return its close code and reason.

        Raises:
            SessionClosed: the handshake was refused with a status a retry cannot fix.
        """
        try:
            socket = await ws_connect(
                self._url, open_timeout=self._open_timeout, max_size=self._max_message_size
            )
        except InvalidStatus as exc:
            status = exc.response.status_code
            error = handshake_error(status)
            if error is not None:
                raise error from exc
            return ABNORMAL_CLOSURE, f"HTTP {status} at handshake"
        except (OSError, TimeoutError, InvalidHandshake) as exc:
            return ABNORMAL_CLOSURE, f"cannot connect: {exc!r}"
        async with socket:
            await self._serve(socket)
        code = socket.close_code if socket.close_code is not None else ABNORMAL_CLOSURE
        return code, socket.close_reason or ""

    async def _serve(self, socket: ClientConnection) -> None:
        self.socket = socket
        self.first_attempt.set()
        try:
            await self._replica.open()
            if self._is_stopping or not self._is_online_wanted.is_set():
                # disconnect() or the context's exit came while the handshake was under way.
                self._replica.request_close()
            async with anyio.create_task_group() as tg:
                tg.start_soon(self._write, socket)
                await self._read(socket)
                tg.cancel_scope.cancel()
        finally:
            self.socket = None
            self._replica.close()

    async def _read(self, socket: ClientConnection) -> None:
        try:
            async for frame in socket:
                await self._replica.handle(frame)
        except ConnectionClosed:
            return
        except ServerFault as fault:
            log.error("closing %s: %s", redact(self._url), fault.reason)
            self.error = SessionClosed(fault.code, fault.reason)
            await socket.close(fault.code, fault.reason)

    async def _write(self, socket: ClientConnection) -> None:
        outbox = self._replica.outbox
        try:
            while True:
                messages, update_count, is_closing = await outbox.next_batch()
                for message in messages:
                    await socket.send(message)
                if update_count:
                    outbox.ack_updates(update_count)
                    self._replica.notify()
                if is_closing:
                    await socket.close()
                    return
        except ConnectionClosed:
            return
