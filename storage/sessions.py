"""The sessions port: sittings of an assembly on a document, who attended, their minutes.

A session is opened and closed by a facilitator; at most one per document is open at a
time. While it is open each node records the sockets it serves as presence intervals
(`record_joined`, `record_left`) and refreshes the open ones (`heartbeat`), so that a node
that dies leaves intervals ending at its last heartbeat. Closing stores the minutes once:
their ``content_hash`` covers the session and its minutes, their ``chain_hash`` also the
previous closed session's, so altering a stored record breaks the chain
(`Sessions.verify_sessions`). Document settings (the quorum) are kept beside them.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from storage.archive import ChainReport
from storage.base import LogEntry, StorageError

SESSION_KINDS = ("training", "hearing", "work", "adoption")
"""The kinds of session."""

MINUTES_HASH_VERSION = 1
"""Version of the canonical encoding hashed by `minutes_hash`; part of what is hashed."""


class SessionNotFound(StorageError):
    """The document has no session with this id or number."""


class SessionConflict(StorageError):
    """The document already has an open session, or the session is already closed."""


@dataclass(frozen=True, slots=True, kw_only=True)
class SessionRecord:
    """One session of a document; times are Unix seconds.

    ``number`` counts 1, 2, ... per document. Once closed, ``minutes`` is the JSON text
    of its minutes, ``content_hash`` covers them and the session's fields, and
    ``chain_hash`` links it to the previous closed session's (``previous_hash``).
    """

    session_id: str
    doc_id: str
    number: int
    title: str
    kind: str
    planned_start: float | None
    planned_end: float | None
    opened_at: float
    opened_by: str | None
    opened_by_name: str | None
    closed_at: float | None = None
    closed_by: str | None = None
    closed_by_name: str | None = None
    minutes: str | None = None
    content_hash: str | None = None
    previous_hash: str | None = None
    chain_hash: str | None = None

    @property
    def is_open(self) -> bool:
        """Whether the session is still open."""
        return self.closed_at is None


@dataclass(frozen=True, slots=True, kw_only=True)
class PresenceInterval:
    """One socket of one person in one session, served by node ``node_id``.

    ``left_at`` is ``None`` while the socket is open (or its node died); ``seen_at`` is the
    node's last heartbeat for it.
    """

    session_id: str
    connection_id: str
    node_id: str
    sub: str
    name: str
    role: str
    joined_at: float
    left_at: float | None
    seen_at: float


@dataclass(frozen=True, slots=True, kw_only=True)
class Departure:
    """A socket that left a session at ``at``."""

    session_id: str
    connection_id: str
    at: float


@dataclass(frozen=True, slots=True, kw_only=True)
class Quorum:
    """A document's quorum: a fraction of its members, or a number of members."""

    fraction: float | None = None
    members: int | None = None

    @property
    def is_set(self) -> bool:
        """Whether a quorum applies."""
        return self.fraction is not None or self.members is not None


@dataclass(frozen=True, slots=True, kw_only=True)
class AuthoredRange:
    """Yjs items one principal delivered, from log rows compaction merged away."""

    principal: str | None
    clocks: int
    first_at: float
    last_at: float


@dataclass(frozen=True, slots=True, kw_only=True)
class WindowLog:
    """What the server stored of a document's edits during a time window.

    ``entries`` are the log rows received in it still in the log; ``compacted`` the
    authorship ranges first delivered in it whose rows compaction merged (their updates
    are no longer counted one by one; `storage._authorship`).
    """

    entries: Sequence[LogEntry]
    compacted: Sequence[AuthoredRange]
    before: Sequence[bytes] = ()
    """What the document held before the window: its compacted state (if any) and the log
    rows received before it, so that what the window's rows re-assert is not counted as
    new (`crdt.edit_count`)."""


class Sessions(Protocol):
    """Sessions of documents, their attendance and minutes, and document settings."""

    async def open_session(
        self, *, doc_id: str, title: str, kind: str, planned_start: float | None,
        planned_end: float | None, by: str | None, by_name: str | None, at: float,
    ) -> SessionRecord:
        """Open the document's next session (numbered in the same transaction).

        Raises:
            SessionConflict: the document already has an open session.
            StorageUnavailable: the database failed.
        """

    async def close_session(
        self, *, doc_id: str, session_id: str, by: str | None, by_name: str | None,
        at: float, minutes: str, stale_before: float,
    ) -> SessionRecord:
        """Close an open session with its minutes (JSON text), hashed and chained.

        Its intervals still open end at `at`, or at their ``seen_at`` when that is before
        `stale_before` (their node stopped refreshing them: it died).

        Raises:
            SessionNotFound: no such session.
            SessionConflict: it is already closed.
            StorageUnavailable: the database failed.
        """

    async def list_sessions(self, doc_id: str) -> Sequence[SessionRecord]:
        """Every session of the document, by number.

        Raises:
            StorageUnavailable: the database failed.
        """

    async def get_session(self, doc_id: str, session: str) -> SessionRecord:
        """One session, by id or by number (decimal text).

        Raises:
            SessionNotFound: no such session.
            StorageUnavailable: the database failed.
        """

    async def open_sessions(self) -> Sequence[SessionRecord]:
        """Every open session, of every document.

        Raises:
            StorageUnavailable: the database failed.
        """

    async def record_joined(self, intervals: Sequence[PresenceInterval]) -> None:
        """Record that sockets joined (their ``left_at`` is ignored); a second record of
        the same session and connection changes nothing.

        Raises:
            StorageUnavailable: the database failed.
        """

    async def record_left(self, departures: Sequence[Departure]) -> None:
        """End the open interval of each departure's connection (none open: no change).

        Raises:
            StorageUnavailable: the database failed.
        """

    async def heartbeat(self, node_id: str, session_ids: Sequence[str], *, at: float) -> None:
        """Set ``seen_at`` of the node's open intervals in these sessions to `at`.

        Raises:
            StorageUnavailable: the database failed.
        """

    async def list_presence(self, session_id: str) -> Sequence[PresenceInterval]:
        """Every interval of the session, by join time.

        Raises:
            StorageUnavailable: the database failed.
        """

    async def window_log(self, doc_id: str, *, since: float, until: float) -> WindowLog:
        """The document's edits stored with a time in ``[since, until]``.

        Raises:
            StorageUnavailable: the database failed.
        """

    async def get_quorum(self, doc_id: str) -> Quorum:
        """The document's quorum (none set: an empty `Quorum`).

        Raises:
            StorageUnavailable: the database failed.
        """

    async def set_quorum(self, doc_id: str, quorum: Quorum) -> Quorum:
        """Set (or with an empty `Quorum`, clear) the document's quorum.

        Raises:
            StorageUnavailable: the database failed.
        """

    async def verify_sessions(self, doc_id: str) -> ChainReport:
        """Recompute the hash and link of every closed session, naming the first broken.

        ``first_broken`` is a session number.

        Raises:
            StorageUnavailable: the database failed.
        """


def minutes_hash(record: SessionRecord) -> str:
    """SHA-256 hex of a closed session's canonical encoding (what its minutes attest).

    Canonical: a JSON object with sorted keys, no spaces, UTF-8; times as their shortest
    round-tripping decimal; the minutes as their SHA-256 hex.
    """
    def when(value: float | None) -> str | None:
        return None if value is None else repr(float(value))

    canonical = {
        "v": MINUTES_HASH_VERSION, "doc_id": record.doc_id, "number": record.number,
        "title": record.title, "kind": record.kind,
        "planned_start": when(record.planned_start), "planned_end": when(record.planned_end),
        "opened_at": when(record.opened_at), "opened_by": record.opened_by,
        "closed_at": when(record.closed_at), "closed_by": record.closed_by,
        "minutes": hashlib.sha256((record.minutes or "").encode("utf-8")).hexdigest(),
    }
    encoded = json.dumps(canonical, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(encoded.encode("utf-8")).hexdigest()


def check_sessions(doc_id: str, sessions: Sequence[SessionRecord]) -> ChainReport:
    """Verify the closed sessions of a document, read in number order."""
    previous: str | None = None
    closed = [s for s in sessions if not s.is_open]
    for checked, record in enumerate(closed, start=1):
        reason = _broken(record, previous)
        if reason is not None:
            return ChainReport(doc_id=doc_id, ok=False, checked=checked,
                               first_broken=record.number, reason=reason)
        previous = record.chain_hash
    return ChainReport(doc_id=doc_id, ok=True, checked=len(closed), first_broken=None,
                       reason=None)


def link(previous_hash: str | None, content: str) -> str:
    """The chain hash of a record: previous ``chain_hash`` (``""`` for the first) + content."""
    return hashlib.sha256(((previous_hash or "") + content).encode("ascii")).hexdigest()


def _broken(record: SessionRecord, previous: str | None) -> str | None:
    if record.content_hash != minutes_hash(record):
        return (f"session {record.number}: its record does not match its content hash "
                "(altered after closing)")
    if record.previous_hash != previous:
        return (f"session {record.number}: its previous hash is not the chain hash of the "
                "session closed before it")
    if record.chain_hash != link(previous, record.content_hash):
        return f"session {record.number}: its chain hash does not match its link"
    return None
