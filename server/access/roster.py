"""The rights facilitators changed, kept in memory on every node: role overrides, removals.

Every accepted credential goes through `Roster.admit`: a subject removed by a facilitator
is refused for every credential issued until the removal (``iat``; a credential without
one is refused too), whatever issued it (the CLI, an OIDC issuer, a session); a subject
whose role a facilitator changed gets that role, whatever the credential claims. This
is a dict lookup on the socket path: the table is loaded at start, updated at once on the
node that makes a change and through the cluster relay on the others, and read again from
the database every `refresh_seconds` in case a relay frame was lost.

`admit` also notes, at most once per `touch_seconds` per subject, that the subject was
seen: the people routes work for anyone who ever authenticated. The note goes through a
bounded queue written by a background task, so authentication never waits on the
database (a full queue drops the note; the subject's next request notes it again).
"""

from __future__ import annotations

import dataclasses
import hashlib
import hmac
import logging
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

import anyio
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream

from server.access.auth import PUBLIC, Principal, Role
from server.errors import Unauthenticated
from storage.base import StorageUnavailable
from storage.people import People

log = logging.getLogger("palabre.people")

REMOVED = "removed"
"""The change a relay frame carries when a person is removed (else a role, or ``""``)."""
SIGNED_OUT = "signed-out"
"""The change a relay frame carries when sign-in sessions end (sign-out, here or everywhere)."""
ALL_SESSIONS = "*"
"""`RightsChange.signed_out` for every sign-in session of the subject."""

_REMEMBERED = 10_000
"""Subjects remembered as recently recorded; past it the memory starts again."""

_NOTE_QUEUE = 1_000
"""Sightings waiting to be written; past it a sighting is dropped (and noted again later)."""


@dataclasses.dataclass(frozen=True, slots=True)
class _Sighting:
    sub: str
    name: str
    role: Role
    at: float


@dataclasses.dataclass(frozen=True, slots=True)
class RightsChange:
    """What happened to one subject's rights: a new role (``None``: theirs), a removal, or
    the end of sign-in sessions (their sockets close; nothing else changes)."""

    sub: str
    role: Role | None = None
    removed_at: float | None = None
    signed_out: str | None = None
    """The credential id of the sign-in session that ended, or `ALL_SESSIONS`."""

    def encode(self) -> str:
        """The change as the cluster relay carries it."""
        if self.signed_out is not None:
            return f"{self.sub}\n{SIGNED_OUT}\n{self.signed_out}"
        if self.removed_at is not None:
            return f"{self.sub}\n{REMOVED}\n{self.removed_at!r}"
        return f"{self.sub}\n{self.role or ''}\n"

    @classmethod
    def decode(cls, text: str) -> RightsChange:
        """The change `encode` made.

        Raises:
            ValueError: not such a change.
        """
        sub, what, at = text.split("\n")
        if not sub:
            raise ValueError("a change needs a subject")
        if what == REMOVED:
            return cls(sub, removed_at=float(at))
        if what == SIGNED_OUT:
            if not at:
                raise ValueError("a sign-out names its session")
            return cls(sub, signed_out=at)
        return cls(sub, role=Role(what) if what else None)


class Roster:
    """Overrides and removals in memory, and the record of subjects seen."""

    def __init__(
        self, people: People | None, *, refresh_seconds: float = 30.0,
        touch_seconds: float = 300.0, clock: Callable[[], float] = time.time,
        monotonic: Callable[[], float] = time.monotonic, subject_key: bytes = b"",
    ) -> None:
        self._people = people
        self._subject_key = subject_key
        self._erased: dict[str, float] = {}
        self._refresh = refresh_seconds
        self._touch = touch_seconds
        self._clock = clock
        self._monotonic = monotonic
        self._roles: dict[str, Role] = {}
        self._removed: dict[str, float] = {}
        self._recorded: dict[str, tuple[float, str, Role]] = {}
        self._send: MemoryObjectSendStream[_Sighting] | None = None

    def resolve(self, principal: Principal) -> Principal:
        """`principal` with the role a facilitator gave it.

        Raises:
            Unauthenticated: the subject was removed after this credential was issued.
        """
        if principal is PUBLIC:
            return principal
        removed_at = self._removed.get(principal.sub)
        if removed_at is None and self._erased:
            removed_at = self._erased.get(self.subject_digest(principal.sub))
        if removed_at is not None and (
            principal.issued_at is None or principal.issued_at <= removed_at
        ):
            raise Unauthenticated("credential revoked: this person was removed")
        role = self._roles.get(principal.sub)
        if role is None or role is principal.role:
            return principal
        return dataclasses.replace(principal, role=role)

    def admit(self, principal: Principal) -> Principal:
        """`resolve`, and record the subject as seen (at most once per `touch_seconds`).

        Raises:
            Unauthenticated: the subject was removed after this credential was issued.
        """
        resolved = self.resolve(principal)
        if principal is not PUBLIC and self._people is not None:
            self._note(principal)
        return resolved

    def subject_digest(self, sub: str) -> str:
        """The keyed digest an erased person's row keeps of their old subject (HMAC-SHA256
        under the server's secret: the subject cannot be guessed back from it)."""
        return hmac.new(self._subject_key, sub.encode(), hashlib.sha256).hexdigest()

    def role_of(self, sub: str) -> Role | None:
        """The role a facilitator gave `sub`, if any."""
        return self._roles.get(sub)

    def apply(self, change: RightsChange) -> None:
        """Take a change made here or on another node."""
        if change.signed_out is not None:
            return  # the sessions' rows are gone: their cookies are refused already
        if change.removed_at is not None:
            self._removed[change.sub] = max(change.removed_at, self._removed.get(change.sub, 0))
        elif change.role is None:
            self._roles.pop(change.sub, None)
        else:
            self._roles[change.sub] = change.role

    async def load(self) -> None:
        """Read every override and removal from the database.

        Raises:
            StorageUnavailable: the database failed.
        """
        if self._people is None:
            return
        people = await self._people.changed_rights()
        self._roles = {p.sub: Role(p.role_override) for p in people
                       if p.role_override is not None and _is_role(p.role_override)}
        self._removed = {p.sub: p.removed_at for p in people if p.removed_at is not None}
        self._erased = {p.erased_digest: p.removed_at for p in people
                        if p.erased_digest is not None and p.removed_at is not None}

    @asynccontextmanager
    async def running(self) -> AsyncIterator[None]:
        """Load now, then refresh every `refresh_seconds` and record sightings while the
        app runs; the sightings still queued are written at exit."""
        await self.load()
        send, receive = anyio.create_memory_object_stream[_Sighting](_NOTE_QUEUE)
        self._send = send
        async with anyio.create_task_group() as tg:
            tg.start_soon(self._record_sightings, receive)
            refresher = anyio.CancelScope()

            async def refresh() -> None:
                with refresher:
                    await self._refresh_forever()

            tg.start_soon(refresh)
            try:
                yield
            finally:
                self._send = None
                send.close()
                refresher.cancel()

    async def _refresh_forever(self) -> None:
        while True:
            await anyio.sleep(self._refresh)
            try:
                await self.load()
            except StorageUnavailable as exc:
                log.warning("rights not refreshed: %s", exc)

    def _note(self, principal: Principal) -> None:
        now = self._monotonic()
        last = self._recorded.get(principal.sub)
        if last is not None and now - last[0] < self._touch and last[1:] == (
            principal.name, principal.role
        ):
            return
        if len(self._recorded) >= _REMEMBERED:
            self._recorded.clear()
        if self._send is None:
            return
        sighting = _Sighting(principal.sub[:255], principal.name, principal.role, self._clock())
        try:
            self._send.send_nowait(sighting)
        except anyio.WouldBlock:
            log.warning("person %r not recorded: too many waiting", principal.sub)
            return
        self._recorded[principal.sub] = (now, principal.name, principal.role)

    async def _record_sightings(self, receive: MemoryObjectReceiveStream[_Sighting]) -> None:
        assert self._people is not None
        async with receive:
            async for seen in receive:
                try:
                    await self._people.record_person(
                        sub=seen.sub, name=seen.name, role=str(seen.role), at=seen.at,
                    )
                except StorageUnavailable as exc:
                    # Bookkeeping only: the credential is valid; a later request notes it.
                    self._recorded.pop(seen.sub, None)
                    log.warning("person %r not recorded: %s", seen.sub, exc)


def _is_role(text: str) -> bool:
    return text in {str(role) for role in Role}
