"""Webhook rules without I/O: events, signatures, URLs, back-off, debounce and the queue.

Verifying a delivery, on the receiver's side::

    timestamp = request.headers["Palabre-Timestamp"]      # Unix seconds
    expected = "sha256=" + hmac.new(
        secret.encode(), f"{timestamp}.".encode() + raw_body, hashlib.sha256
    ).hexdigest()
    ok = hmac.compare_digest(expected, request.headers["Palabre-Signature"])
    fresh = abs(time.time() - int(timestamp)) <= 300       # reject replays after 5 minutes

Sign the raw body bytes as received (never re-serialised JSON), compare in constant
time, refuse stale timestamps, and use ``Palabre-Delivery`` (the event id, the same
on every retry) to ignore an event already handled. `verify_signature` does all but
the last.
"""

from __future__ import annotations

import email.utils
import hashlib
import hmac
import json
import math
import random
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Final
from urllib.parse import urlsplit

REPLAY_WINDOW_SECONDS: Final = 300.0
"""How old a signed timestamp a receiver should accept."""


class WebhookEvent(StrEnum):
    """What a webhook can subscribe to."""

    DOCUMENT_CHANGED = "document.changed"
    """Debounced: the latest state after a burst of commits."""
    ANNOTATION_CREATED = "annotation.created"
    ANNOTATION_UPDATED = "annotation.updated"
    SNAPSHOT_CREATED = "snapshot.created"
    DOCUMENT_FROZEN = "document.frozen"
    AMENDMENT_SUBMITTED = "amendment.submitted"
    AMENDMENT_WITHDRAWN = "amendment.withdrawn"
    AMENDMENT_EVALUATING = "amendment.evaluating"
    """Put to a vote."""
    AMENDMENT_ACCEPTED = "amendment.accepted"
    """Accepted, and its wording written into the live text."""
    AMENDMENT_REJECTED = "amendment.rejected"
    AMENDMENT_REBASED = "amendment.rebased"
    VOTE_OPENED = "vote.opened"
    """A vote on amendments opened in a session (they are ``evaluating``)."""
    VOTE_CLOSED = "vote.closed"
    """With each amendment's counts and result."""
    SESSION_OPENED = "session.opened"
    SESSION_CLOSED = "session.closed"
    """With ``minutes_url``, where the session's minutes are read."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Outgoing:
    """One event waiting to be delivered to every webhook that wants it."""

    event_id: str
    event: WebhookEvent
    doc_id: str
    created_at: float
    data: dict[str, object] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Outcome:
    """How one try went: the HTTP status, or ``None`` and an error when none came."""

    status: int | None
    error: str | None
    retry_after: float | None = None
    is_refused: bool = False
    """The outbound policy refused every address of the receiver: no request was sent."""

    @property
    def is_success(self) -> bool:
        """A 2xx answer."""
        return self.status is not None and 200 <= self.status < 300

    @property
    def is_retryable(self) -> bool:
        """No answer (unless refused by policy), a 5xx or a 429; other answers (3xx, 4xx)
        are final."""
        if self.is_refused:
            return False
        return self.status is None or self.status >= 500 or self.status == 429


def encode_body(item: Outgoing) -> bytes:
    """The JSON body; ``created_at`` in Unix seconds, as everywhere in the API."""
    payload = {
        "id": item.event_id, "event": item.event.value, "doc_id": item.doc_id,
        "created_at": item.created_at, "data": item.data,
    }
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode()


def state_vector_etag(state_vector: bytes) -> str:
    """An entity tag for a document state: a digest of its state vector."""
    return '"' + hashlib.sha256(state_vector).hexdigest()[:32] + '"'


def sign(secret: str, timestamp: int, body: bytes) -> str:
    """The ``Palabre-Signature`` value: ``sha256=`` + HMAC-SHA256 of ``"<timestamp>.<body>"``."""
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return "sha256=" + mac.hexdigest()


def verify_signature(
    secret: str,
    timestamp: str,
    body: bytes,
    signature: str,
    *,
    now: float,
    tolerance: float = REPLAY_WINDOW_SECONDS,
) -> bool:
    """Whether a delivery is authentic and fresh: what a receiver checks (see above)."""
    try:
        sent_at = int(timestamp)
    except ValueError:
        return False
    if abs(now - sent_at) > tolerance:
        return False
    return hmac.compare_digest(sign(secret, sent_at, body), signature)


def url_problem(url: str) -> str | None:
    """Why `url` cannot receive webhooks, or ``None`` when it can (absolute http(s), no
    credentials)."""
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 -- raises ValueError on a port out of range
    except ValueError as exc:
        return f"not a URL: {exc}"
    if parts.scheme not in {"http", "https"}:
        return "only http and https URLs receive webhooks"
    if not parts.hostname:
        return "the URL has no host"
    if parts.username is not None or parts.password is not None:
        return "the URL must not carry credentials; authenticate with the signature"
    return None


def backoff_delay(
    failures: int, *, base: float, cap: float, rng: Callable[[], float] = random.random
) -> float:
    """Wait after `failures` failed tries: ``base * 2**(failures-1)``, capped, then jittered
    to between half and all of it (so receivers coming back are not hit all at once)."""
    ceiling = min(cap, base * 2.0 ** max(failures - 1, 0))
    return ceiling / 2 + rng() * ceiling / 2


def retry_after_seconds(value: str | None, *, now: float, cap: float) -> float | None:
    """A ``Retry-After`` header (seconds or HTTP date) as a wait capped at `cap`."""
    if value is None:
        return None
    value = value.strip()
    if value.isdigit():
        return min(float(value), cap)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        return None
    return min(max(when.timestamp() - now, 0.0), cap)


class Debouncer:
    """At most one ``document.changed`` per document per `interval`, with the latest state.

    The first commit of a quiet document opens a window of `interval`; commits inside
    it only replace the state vector; at its end one event carries the latest. Since the
    next window opens only with a later commit, two events are `interval` apart at least.

    Windows are kept in the order they opened, which is the order they end (one interval,
    a clock that does not go back): the earliest is the first, and the due ones are a
    prefix, so a server with 500 open windows finds the due ones without looking at all.
    """

    def __init__(self, interval: float) -> None:
        self._interval = interval
        self._latest: dict[str, bytes] = {}
        self._due: dict[str, float] = {}

    def commit(self, doc_id: str, state_vector: bytes, now: float) -> bool:
        """Record a commit; ``True`` when it opened a new window."""
        self._latest[doc_id] = state_vector
        if doc_id in self._due:
            return False
        self._due[doc_id] = now + self._interval
        return True

    def defer(self, doc_id: str, state_vector: bytes, now: float) -> None:
        """Put a popped document back for one more window, unless a newer commit did."""
        if doc_id not in self._due:
            self.commit(doc_id, state_vector, now)

    def pop_due(self, now: float) -> list[tuple[str, bytes]]:
        """The documents whose window has ended, with their latest state vector."""
        ready: list[str] = []
        for doc_id, due in self._due.items():
            if due > now:
                break
            ready.append(doc_id)
        return [(doc_id, self._pop(doc_id)) for doc_id in ready]

    def pop_all(self) -> list[tuple[str, bytes]]:
        """Every pending document at once (shutdown)."""
        return [(doc_id, self._pop(doc_id)) for doc_id in list(self._due)]

    def next_due(self) -> float:
        """When the earliest window ends (``inf`` if none is open)."""
        return next(iter(self._due.values()), math.inf)

    def __len__(self) -> int:
        """How many windows are open."""
        return len(self._due)

    def _pop(self, doc_id: str) -> bytes:
        del self._due[doc_id]
        return self._latest.pop(doc_id)


class EventQueue:
    """A bounded FIFO that never blocks the producer.

    When full, the oldest ``document.changed`` goes first (a later one supersedes it
    anyway), and only if there is none the oldest event of any kind.
    """

    def __init__(self, size: int) -> None:
        if size < 1:
            raise ValueError("a webhook queue holds one event at least")
        self._size = size
        self._items: deque[Outgoing] = deque()

    def put(self, item: Outgoing) -> Outgoing | None:
        """Append `item`; return the event dropped to make room, if any."""
        dropped = None
        if len(self._items) >= self._size:
            dropped = next(
                (e for e in self._items if e.event is WebhookEvent.DOCUMENT_CHANGED),
                self._items[0],
            )
            self._items.remove(dropped)
        self._items.append(item)
        return dropped

    def get(self) -> Outgoing | None:
        """The oldest event, or ``None`` when empty."""
        return self._items.popleft() if self._items else None

    def __len__(self) -> int:
        return len(self._items)
