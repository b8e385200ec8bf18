"""Sessions of the assembly as transactions: open, close with minutes, hands, floor, quorum.

A facilitator opens a session of a text document (at most one open per document: a
second is a conflict) and closes it; closing makes its minutes (`server.modules.minutes`)
from what the server recorded, and stores them once, hashed and chained
(`storage.sessions`). Attendance comes from the sockets (`server.modules.attendance`).
Every action is audited (``session.*``); opening and closing are sent to webhooks. The
open session, the raised hands and who has the floor are published into the companion's
``session`` map (`crdt.sessions`) as server writes, so every open page follows them.

Quorum: a document setting (a fraction of the members, or a number of members). An
adoption inside an open session records the members present; with a quorum set, one
outside a session or below the quorum is refused (`QuorumNotMet`) unless a facilitator
forces it, which the audit log records as ``adoption.forced``.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import math
import time
from collections.abc import Callable
from typing import Any

import anyio
import anyio.to_thread
from pycrdt import Doc

from crdt.annotations import list_annotations
from crdt.doc_id import ANNOTATIONS_SUFFIX
from crdt.errors import SchemaError
from crdt.schema import JsonValue
from crdt.sessions import Hand, LiveSession, read_session, write_session
from server.access.auth import Principal, Role
from server.errors import Conflict, Invalid
from server.events import WebhookEvent
from server.modules.attendance import STALE_HEARTBEATS, Attendance
from server.modules.governance import Governance, Notify
from server.modules.minutes import MinutesInput, make_minutes, session_json
from server.rooms.hub import Hub
from storage.people import People
from storage.port import Storage
from storage.sessions import Quorum, SessionRecord

log = logging.getLogger("palabre.sessions")

MEMBER_ROLES = frozenset({Role.MEMBER, Role.FACILITATOR})
"""Roles that count as members (attendance verdicts, quorum)."""

MAX_PEOPLE = 100_000
"""People read at most to count the members of a document (quorum by fraction)."""


class QuorumNotMet(Conflict):
    """An adoption without the quorum (outside a session, or too few members present)."""

    error = "quorum_not_met"


class SessionsService:
    """Sessions of documents, through the store, the hub and the attendance tracker."""

    def __init__(
        self, store: Storage, hub: Hub, governance: Governance, attendance: Attendance, *,
        notify: Notify, min_presence_seconds: float,
    ) -> None:
        self._store = store
        self._hub = hub
        self._governance = governance
        self.attendance = attendance
        self._notify = notify
        self._min_presence = min_presence_seconds

    # -- sessions ------------------------------------------------------------------------

    async def open(
        self, doc_id: str, principal: Principal, *, title: str, kind: str,
        planned_start: float | None, planned_end: float | None,
    ) -> SessionRecord:
        """Open the document's next session; the sockets already there are recorded.

        Raises:
            SessionConflict: the document already has an open session.
        """
        record = await self._store.open_session(
            doc_id=doc_id, title=title, kind=kind, planned_start=planned_start,
            planned_end=planned_end, by=principal.sub, by_name=principal.name,
            at=time.time())
        await self.attendance.opened(record)
        detail = {"session_id": record.session_id, "number": record.number,
                  "title": title, "kind": kind}
        await self._governance.record(doc_id, "session.opened", principal, detail)
        self._notify(WebhookEvent.SESSION_OPENED, doc_id, dict(detail))
        await self._publish(doc_id, lambda live: LiveSession(open={
            "id": record.session_id, "number": record.number, "title": title, "kind": kind,
            "opened_at": record.opened_at}))
        return record

    async def close(self, doc_id: str, principal: Principal, session: str) -> SessionRecord:
        """Close an open session: its minutes are made, stored, hashed and chained.

        Raises:
            SessionNotFound: no such session.
            SessionConflict: it is already closed.
        """
        record = await self._store.get_session(doc_id, session)
        if not record.is_open:
            raise Conflict(f"session {record.number} is already closed")
        await self.attendance.closing(record)
        closed_at = time.time()
        stale_before = closed_at - STALE_HEARTBEATS * self.attendance.heartbeat_seconds
        annotations = (await self._hub.room(doc_id + ANNOTATIONS_SUFFIX)).doc
        try:
            notes = list_annotations(annotations)
        except SchemaError:
            notes = []
        minutes = await anyio.to_thread.run_sync(make_minutes, MinutesInput(
            record=dataclasses.replace(record, closed_at=closed_at, closed_by=principal.sub,
                                       closed_by_name=principal.name),
            closed_at=closed_at, presence=await self._store.list_presence(record.session_id),
            stale_before=stale_before,
            log=await self._store.window_log(doc_id, since=record.opened_at, until=closed_at),
            annotations=notes, snapshots=await self._store.list_snapshots(doc_id),
            audit=await self._store.list_audit(doc_id, limit=1000),
            min_presence_seconds=self._min_presence,
        ))  # off the event loop: the log before the session is walked once
        closed = await self._store.close_session(
            doc_id=doc_id, session_id=record.session_id, by=principal.sub,
            by_name=principal.name, at=closed_at,
            minutes=json.dumps(minutes, ensure_ascii=False, sort_keys=True),
            stale_before=stale_before)
        url = minutes_path(doc_id, closed.number)
        detail: dict[str, object] = {"session_id": closed.session_id, "number": closed.number,
                                     "hash": closed.content_hash, "minutes_url": url}
        await self._governance.record(doc_id, "session.closed", principal, detail)
        self._notify(WebhookEvent.SESSION_CLOSED, doc_id, dict(detail))
        await self._publish(doc_id, lambda live: LiveSession(open=None))
        return closed

    async def minutes(self, doc_id: str, session: str) -> tuple[SessionRecord, dict[str, Any]]:
        """A closed session and its stored minutes.

        Raises:
            SessionNotFound: no such session.
            Conflict: it is still open (no minutes yet).
        """
        record = await self._store.get_session(doc_id, session)
        if record.minutes is None:
            raise Conflict(f"session {record.number} is still open: its minutes are made "
                           "when it closes")
        loaded: dict[str, Any] = json.loads(record.minutes)
        loaded["session"] = session_json(record)
        return record, loaded

    async def open_session(self, doc_id: str, session: str) -> SessionRecord:
        """An open session of the document.

        Raises:
            SessionNotFound: no such session.
            Conflict: it is closed.
        """
        record = await self._store.get_session(doc_id, session)
        if not record.is_open:
            raise Conflict(f"session {record.number} is closed")
        return record

    async def current(self, doc_id: str) -> SessionRecord:
        """The document's open session.

        Raises:
            Conflict: none is open.
        """
        found = next((s for s in await self._store.open_sessions() if s.doc_id == doc_id), None)
        if found is None:
            raise Conflict(f"document {doc_id!r} has no open session")
        return found

    # -- hands and floor -----------------------------------------------------------------

    async def raise_hand(self, doc_id: str, principal: Principal, session: str) -> LiveSession:
        """Put the caller at the end of the speaking queue (already there: unchanged).

        Raises:
            SessionNotFound, Conflict: no such open session.
        """
        await self.open_session(doc_id, session)
        hand = Hand(sub=principal.sub, name=principal.name, at=time.time())

        def raised(live: LiveSession) -> LiveSession:
            if any(h.sub == principal.sub for h in live.hands):
                return live
            return dataclasses.replace(live, hands=(*live.hands, hand))

        state = await self._publish(doc_id, raised)
        await self._governance.record(doc_id, "session.hand_raised", principal, {})
        return state

    async def lower_hand(
        self, doc_id: str, principal: Principal, session: str, *, sub: str,
    ) -> LiveSession:
        """Take `sub`'s hand out of the queue (absent: unchanged).

        Raises:
            SessionNotFound, Conflict: no such open session.
        """
        await self.open_session(doc_id, session)
        state = await self._publish(doc_id, lambda live: dataclasses.replace(
            live, hands=tuple(h for h in live.hands if h.sub != sub)))
        await self._governance.record(doc_id, "session.hand_lowered", principal, {"sub": sub})
        return state

    async def give_floor(
        self, doc_id: str, principal: Principal, session: str, *, sub: str | None,
        clear: bool,
    ) -> LiveSession:
        """Give the floor to `sub` (``None``: the first raised hand), or `clear` the queue
        and the floor.

        Raises:
            SessionNotFound, Conflict: no such open session.
            Invalid: `sub` has no raised hand, or no hand is raised.
        """
        await self.open_session(doc_id, session)
        now = time.time()

        def given(live: LiveSession) -> LiveSession:
            if clear:
                return dataclasses.replace(live, hands=(), floor=None)
            chosen = next((h for h in live.hands if sub is None or h.sub == sub), None)
            if chosen is None:
                raise Invalid("no hand is raised" if sub is None
                              else f"{sub!r} has not raised a hand")
            return dataclasses.replace(
                live, hands=tuple(h for h in live.hands if h is not chosen),
                floor=dataclasses.replace(chosen, at=now))

        state = await self._publish(doc_id, given)
        detail: dict[str, object] = {"cleared": True} if clear else {
            "sub": state.floor.sub if state.floor else None}
        await self._governance.record(doc_id, "session.floor", principal, detail)
        return state

    async def live(self, doc_id: str) -> LiveSession:
        """The document's ``session`` map as pages see it."""
        return read_session((await self._hub.room(doc_id + ANNOTATIONS_SUFFIX)).doc)

    async def _publish(
        self, doc_id: str, change: Callable[[LiveSession], LiveSession],
    ) -> LiveSession:
        """Change the companion's ``session`` map as the server peer; return the result."""
        result: list[LiveSession] = []

        def write(doc: Doc[Any]) -> None:
            state = change(read_session(doc))
            write_session(doc, state)
            result.append(state)

        await self._hub.transform(doc_id + ANNOTATIONS_SUFFIX, write, principal=None)
        return result[0]

    async def present(self, session: SessionRecord) -> list[dict[str, str]]:
        """Who is connected to an open session now, on every node, one entry per person."""
        await self.attendance.flush()
        stale = time.time() - STALE_HEARTBEATS * self.attendance.heartbeat_seconds
        seen: dict[str, dict[str, str]] = {}
        for i in await self._store.list_presence(session.session_id):
            alive = i.left_at is None and (i.seen_at >= stale
                                           or i.node_id == self.attendance.node_id)
            if alive:
                seen.setdefault(i.sub, {"sub": i.sub, "name": i.name, "role": i.role})
        return sorted(seen.values(), key=lambda p: (p["name"], p["sub"]))

    # -- quorum --------------------------------------------------------------------------

    async def set_quorum(self, doc_id: str, principal: Principal, quorum: Quorum) -> Quorum:
        """Set or clear the document's quorum (audited)."""
        stored = await self._store.set_quorum(doc_id, quorum)
        await self._governance.record(doc_id, "document.quorum", principal,
                                      {"quorum": quorum_json(stored)})
        return stored

    async def adoption_record(
        self, doc_id: str, principal: Principal, *, force: bool,
    ) -> dict[str, object]:
        """What an adoption of `doc_id` now records: the session, members present, quorum.

        Raises:
            QuorumNotMet: a quorum is set and there is no open session or too few members
                are present, and `force` is false.
        """
        quorum = await self._store.get_quorum(doc_id)
        session = next((s for s in await self._store.open_sessions() if s.doc_id == doc_id),
                       None)
        present = [] if session is None else [
            p for p in await self.present(session) if p["role"] in MEMBER_ROLES]
        record: dict[str, object] = {
            "session_id": session.session_id if session else None,
            "session_number": session.number if session else None,
            "members_present": present, "quorum": quorum_json(quorum),
        }
        if not quorum.is_set:
            return record
        needed = await self._needed(quorum)
        record["quorum_needed"] = needed
        problem = None
        if session is None:
            problem = "a quorum is set on this document: adopt it during an open session"
        elif len(present) < needed:
            problem = (f"quorum not met: {len(present)} member(s) present, {needed} needed")
        if problem is None:
            return record
        if not force:
            raise QuorumNotMet(problem + " (a facilitator may force it with force=true)")
        record["forced"] = True
        record["forced_because"] = problem
        await self._governance.record(doc_id, "adoption.forced", principal, record)
        return record

    async def quorum_needed(self, doc_id: str) -> int | None:
        """How many members make the document's quorum (``None``: no quorum is set)."""
        quorum = await self._store.get_quorum(doc_id)
        return await self._needed(quorum) if quorum.is_set else None

    async def open_session_of(self, doc_id: str) -> SessionRecord | None:
        """The document's open session, if any."""
        return next((s for s in await self._store.open_sessions() if s.doc_id == doc_id),
                    None)

    async def _needed(self, quorum: Quorum) -> int:
        if quorum.members is not None:
            return quorum.members
        members = await count_members(self._store)
        return max(1, math.ceil((quorum.fraction or 0) * members - 1e-9))


async def count_members(people: People) -> int:
    """The members the server knows: people whose role (their own, or the one a facilitator
    gave them) is member or facilitator, and who were not removed."""
    return sum(1 for p in await people.list_people(limit=MAX_PEOPLE)
               if p.removed_at is None and (p.role_override or p.role) in MEMBER_ROLES)


def quorum_json(quorum: Quorum) -> JsonValue:
    """A quorum as the API shows it: a fraction, a number of members, or null."""
    if quorum.fraction is not None:
        return quorum.fraction
    return quorum.members


def minutes_path(doc_id: str, number: int) -> str:
    """Where a session's minutes are read."""
    return f"/api/documents/{doc_id}/sessions/{number}/minutes"
