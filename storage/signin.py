"""The sign-in sessions port: server-side web sessions, shared by every node.

The browser holds an opaque id in a cookie; the database holds only its hash (`key`), so
a copy of the database opens no session. A session ends when signed out, when its owner
signs out everywhere or is removed, or when it expires (idle or absolute: the server
decides, `server.access.websession`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from storage.base import StorageError


class SigninSessionNotFound(StorageError):
    """No sign-in session has this key (never opened, or ended)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class SigninSession:
    """One web session; times are Unix seconds."""

    key: str
    """The hash of the cookie's id (hex SHA-256)."""
    sub: str
    name: str
    role: str
    """The role the person signed in with (a facilitator's override still wins)."""
    docs: tuple[str, ...] | None
    """Documents the session is limited to (``None``: all)."""
    via: str
    """How the person signed in: ``token``, ``invitation``, ``oidc``."""
    created_at: float
    last_seen: float
    expires_at: float
    """The absolute expiry: past it the session ends whatever its use."""


class SigninSessions(Protocol):
    """Web sessions by key."""

    async def open_signin_session(self, session: SigninSession) -> None:
        """Store a new session.

        Raises:
            StorageUnavailable: the database failed.
        """

    async def get_signin_session(self, key: str) -> SigninSession:
        """The session `key`.

        Raises:
            SigninSessionNotFound: no such session.
            StorageUnavailable: the database failed.
        """

    async def touch_signin_session(self, key: str, *, at: float) -> None:
        """Note that the session `key` was used at `at` (no-op when it ended).

        Raises:
            StorageUnavailable: the database failed.
        """

    async def end_signin_session(self, key: str) -> bool:
        """End the session `key`; whether there was one.

        Raises:
            StorageUnavailable: the database failed.
        """

    async def end_signin_sessions_of(self, sub: str) -> int:
        """End every session of `sub`; how many there were.

        Raises:
            StorageUnavailable: the database failed.
        """

    async def purge_signin_sessions(self, *, idle_before: float, now: float) -> int:
        """Delete the sessions unused since `idle_before` or past their expiry at `now`.

        Raises:
            StorageUnavailable: the database failed.
        """

    async def signin_sessions_of(self, sub: str) -> Sequence[SigninSession]:
        """The open sessions of `sub`, the newest first.

        Raises:
            StorageUnavailable: the database failed.
        """
