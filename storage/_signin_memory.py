"""`SigninSessions` in memory: a part of `MemoryDocumentStore`."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

from storage._memory_access import MemoryAccess
from storage.signin import SigninSession, SigninSessionNotFound


class MemorySigninSessions(MemoryAccess):
    """The sign-in sessions in a dict, with the SQL part's semantics."""

    def __init__(self) -> None:
        self._signin: dict[str, SigninSession] = {}

    async def open_signin_session(self, session: SigninSession) -> None:
        await self._enter()
        self._signin[session.key] = session

    async def get_signin_session(self, key: str) -> SigninSession:
        await self._enter()
        session = self._signin.get(key)
        if session is None:
            raise SigninSessionNotFound("no such sign-in session")
        return session

    async def touch_signin_session(self, key: str, *, at: float) -> None:
        await self._enter()
        session = self._signin.get(key)
        if session is not None and session.last_seen < at:
            self._signin[key] = dataclasses.replace(session, last_seen=at)

    async def end_signin_session(self, key: str) -> bool:
        await self._enter()
        return self._signin.pop(key, None) is not None

    async def end_signin_sessions_of(self, sub: str) -> int:
        await self._enter()
        keys = [k for k, s in self._signin.items() if s.sub == sub]
        for key in keys:
            del self._signin[key]
        return len(keys)

    async def purge_signin_sessions(self, *, idle_before: float, now: float) -> int:
        await self._enter()
        keys = [k for k, s in self._signin.items()
                if s.last_seen < idle_before or s.expires_at <= now]
        for key in keys:
            del self._signin[key]
        return len(keys)

    async def signin_sessions_of(self, sub: str) -> Sequence[SigninSession]:
        await self._enter()
        return sorted((s for s in self._signin.values() if s.sub == sub),
                      key=lambda s: -s.created_at)
