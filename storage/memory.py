"""In-memory document store with the SQL store's semantics, plus fault injection for tests."""

from __future__ import annotations

import dataclasses
import json
import time
from collections.abc import Collection, Mapping, Sequence, Set
from dataclasses import dataclass, field

import anyio

from crdt.document import merge
from crdt.erasure import Identity
from crdt.errors import InvalidUpdate
from storage._archive_memory import MemoryArchive
from storage._authorship import derive_authorship, logged_authorship
from storage._catalog_memory import MemoryCatalog
from storage._erasure_rules import (
    erased_json,
    erased_sessions,
    erased_snapshots,
    mentions,
    scrub_history,
)
from storage._group_commit import GroupCommitStore
from storage._invitations_memory import MemoryInvitations
from storage._pending import PendingAppend
from storage._people_memory import MemoryPeople
from storage._sessions_memory import MemorySessions
from storage._signin_memory import MemorySigninSessions
from storage._votes_memory import MemoryVotes
from storage.authorship import AuthorshipRange
from storage.base import LogEntry, StorageUnavailable, StoredDocument
from storage.erasure import ErasureReport, Reseal
from storage.people import handle_of
from storage.port import Storage


@dataclass(eq=False, slots=True)
class CommitGate:
    """Holds every transaction of a `MemoryDocumentStore` until `release` (a slow store)."""

    _released: anyio.Event = field(default_factory=anyio.Event)
    _reached: anyio.Event = field(default_factory=anyio.Event)

    def release(self) -> None:
        """Let the held transactions (and every later one) proceed."""
        self._released.set()

    @property
    def is_released(self) -> bool:
        """Whether `release` was called."""
        return self._released.is_set()

    async def wait_reached(self) -> None:
        """Return once a transaction is held at this gate."""
        await self._reached.wait()

    async def _pass(self) -> None:
        if not self._released.is_set():
            self._reached.set()
            await self._released.wait()


class MemoryDocumentStore(
    GroupCommitStore, MemoryCatalog, MemoryArchive, MemoryPeople, MemorySessions,
    MemorySigninSessions, MemoryInvitations, MemoryVotes, Storage,
):
    """The whole `Storage` port in memory: the same group commit, results and errors as SQL.

    Built from the same parts as `SqlDocumentStore`, with dicts for tables:
    `GroupCommitStore` (`DocumentStore`), `MemoryCatalog` (`DocumentCatalog`,
    `WebhookRegistry`) and `MemoryArchive` (`Archive`).

    Faults for tests: `fail_next_appends` and `fail_next_loads` fail the next transactions
    or loads with StorageUnavailable; ``unavailable = True`` makes `check`, `load`,
    `append`, `compact` and the catalog's calls all fail as a down database would;
    `hold_commits` holds transactions until released.
    """

    def __init__(
        self,
        *,
        commit_window: float = 0.0,
        compact_threshold: int = 0,
        close_timeout: float = 10.0,
    ) -> None:
        """Build an empty store; use it with ``async with``.

        Raises:
            ValueError: a number is negative.
        """
        GroupCommitStore.__init__(
            self,
            commit_window=commit_window,
            compact_threshold=compact_threshold,
            close_timeout=close_timeout,
        )
        self.unavailable = False
        self._failing_appends = 0
        self._failing_loads = 0
        MemoryCatalog.__init__(self)
        MemoryArchive.__init__(self)
        MemoryPeople.__init__(self)
        MemorySessions.__init__(self)
        MemorySigninSessions.__init__(self)
        MemoryInvitations.__init__(self)
        MemoryVotes.__init__(self)
        self._gates: list[CommitGate] = []
        self._logs: dict[str, list[tuple[int, LogEntry]]] = {}
        self._states: dict[str, bytes] = {}
        self._authorship: dict[str, list[AuthorshipRange]] = {}
        self._seq = 0

    def _logged(self, doc_id: str) -> Sequence[LogEntry]:
        return [entry for _, entry in self._logs.get(doc_id, [])]

    def fail_next_appends(self, n: int = 1) -> None:
        """Make the next `n` transactions fail, each failing every append batched in it."""
        self._failing_appends += n

    def fail_next_loads(self, n: int = 1) -> None:
        """Make the next `n` loads raise StorageUnavailable."""
        self._failing_loads += n

    def hold_commits(self) -> CommitGate:
        """Hold every transaction from now on until the returned gate is released."""
        gate = CommitGate()
        self._gates.append(gate)
        return gate

    async def check(self) -> None:
        """Probe the store.

        Raises:
            StorageUnavailable: ``unavailable`` is set.
        """
        self._raise_if_unavailable()

    def _raise_if_unavailable(self) -> None:
        if self.unavailable:
            raise StorageUnavailable("memory store marked unavailable")

    def _check_usable(self) -> None:
        self._check_open()
        self._raise_if_unavailable()

    def _has_content(self, doc_id: str) -> bool:
        return bool(self._logs.get(doc_id)) or doc_id in self._states

    def _erase(self, doc_ids: Collection[str]) -> None:
        for doc_id in doc_ids:
            self._logs.pop(doc_id, None)
            self._states.pop(doc_id, None)
            self._authorship.pop(doc_id, None)
        self._forget(doc_ids)

    async def _open(self) -> None:
        self._raise_if_unavailable()

    async def _close(self) -> None:
        return None

    async def _before_write(self) -> None:
        for gate in self._gates:
            await gate._pass()
        self._gates = [gate for gate in self._gates if not gate.is_released]

    async def _load(self, doc_id: str) -> StoredDocument:
        await anyio.lowlevel.checkpoint()
        self._raise_if_unavailable()
        if self._failing_loads:
            self._failing_loads -= 1
            raise StorageUnavailable("injected load failure")
        updates = [entry.update for _, entry in self._logs.get(doc_id, [])]
        state = self._states.get(doc_id)
        try:
            update = merge([state, *updates] if state is not None else updates)
        except InvalidUpdate as exc:
            raise StorageUnavailable(f"stored {doc_id!r} does not decode: {exc}") from exc
        return StoredDocument(
            doc_id=doc_id,
            update=update,
            log_rows=len(updates),
            is_new=doc_id not in self._meta,
        )

    async def _write(
        self, batch: Sequence[PendingAppend], uncounted: Set[str]
    ) -> Mapping[str, int]:
        await anyio.lowlevel.checkpoint()
        self._raise_if_unavailable()
        if self._failing_appends:
            self._failing_appends -= 1
            raise StorageUnavailable("injected append failure")
        now = time.time()
        for pending in batch:
            self._touch(pending.doc_id, now)
            log = self._logs.setdefault(pending.doc_id, [])
            for entry in pending.entries:
                self._seq += 1
                log.append((self._seq, entry))
        return {doc_id: len(self._logs[doc_id]) for doc_id in uncounted}

    async def _compact(self, doc_id: str) -> int | None:
        await anyio.lowlevel.checkpoint()
        self._raise_if_unavailable()
        log = self._logs.get(doc_id)
        if not log:
            return None
        state = self._states.get(doc_id)
        updates = [entry.update for _, entry in log]
        try:
            self._states[doc_id] = merge([state, *updates] if state is not None else updates)
        except InvalidUpdate as exc:
            raise StorageUnavailable(f"stored {doc_id!r} does not decode: {exc}") from exc
        self._authorship.setdefault(doc_id, []).extend(
            derive_authorship(state, [entry for _, entry in log]))
        del self._logs[doc_id]
        return 0

    async def authorship(self, doc_id: str) -> Sequence[AuthorshipRange]:
        """The kept ranges of `doc_id` plus those of its log.

        Raises:
            StorageUnavailable: ``unavailable`` is set, or the log does not decode.
        """
        await anyio.lowlevel.checkpoint()
        self._raise_if_unavailable()
        entries = [entry for _, entry in self._logs.get(doc_id, [])]
        logged = await logged_authorship(doc_id, self._states.get(doc_id), entries)
        return [*self._authorship.get(doc_id, []), *logged]

    async def erase_person(
        self, identity: Identity, *, at: float, annotation_docs: Sequence[str],
        subject_digest: str | None = None,
    ) -> ErasureReport:
        """`Erasure.erase_person` over the dicts (see `storage.erasure`).

        Raises:
            PersonNotFound: never seen.
            StorageUnavailable: ``unavailable`` is set, or a stored update does not decode.
        """
        await anyio.lowlevel.checkpoint()
        self._raise_if_unavailable()
        person = self._known(identity.sub)
        del self._people[identity.sub]
        self._people[identity.new_sub] = dataclasses.replace(
            person, sub=identity.new_sub, name=identity.pseudonym, erased_at=at,
            removed_at=person.removed_at or at, named_publicly=False,
            erased_digest=subject_digest)
        for doc_id, log in self._logs.items():
            self._logs[doc_id] = [
                (seq, dataclasses.replace(entry, principal=identity.new_sub)
                 if entry.principal == identity.sub else entry) for seq, entry in log]
        for ranges in self._authorship.values():
            for found in ranges:
                if found.principal == identity.sub:
                    found.principal = identity.new_sub
        for doc_id, meta in self._meta.items():
            if meta.created_by == identity.sub:
                self._meta[doc_id] = dataclasses.replace(meta, created_by=identity.new_sub)
        self._audit = [
            dataclasses.replace(
                entry, actor_sub=identity.replaced(entry.actor_sub) if entry.actor_sub else None,
                actor_name=identity.replaced(entry.actor_name) if entry.actor_name else None,
                detail=json.loads(erased_json(json.dumps(entry.detail), identity)))
            for entry in self._audit]
        for invitation_id, invitation in self._invitations.items():
            if invitation.created_by == identity.sub:
                self._invitations[invitation_id] = dataclasses.replace(
                    invitation, created_by=identity.new_sub)
        self._ballots = {
            (vote_id, amendment_id, identity.replaced(voter)): dataclasses.replace(
                ballot, voter=identity.replaced(ballot.voter),
                voter_name=identity.replaced(ballot.voter_name))
            for (vote_id, amendment_id, voter), ballot in self._ballots.items()}
        for vote_id, vote in self._votes.items():
            self._votes[vote_id] = dataclasses.replace(
                vote, opened_by=identity.replaced(vote.opened_by),
                opened_by_name=identity.replaced(vote.opened_by_name),
                closed_by=identity.replaced(vote.closed_by) if vote.closed_by else None,
                results=erased_json(vote.results, identity)
                if vote.results and mentions(identity, vote.results) else vote.results)
        for key, interval in self._presence.items():
            if interval.sub == identity.sub:
                self._presence[key] = dataclasses.replace(
                    interval, sub=identity.new_sub, name=identity.pseudonym)
        self._signin = {k: v for k, v in self._signin.items() if v.sub != identity.sub}
        reseals: list[Reseal] = []
        try:
            for doc_id, snapshots in self._snapshots.items():
                handles = {sub: handle_of(person.pseudonym)
                           for sub, person in self._people.items()}
                if identity.new_sub in handles:  # the person's row is renamed already
                    handles[identity.sub] = handles[identity.new_sub]
                changed, reseal = erased_snapshots(snapshots, identity, handles)
                by_id = {s.snapshot_id: s for s in changed}
                self._snapshots[doc_id] = [by_id.get(s.snapshot_id, s) for s in snapshots]
                reseals += [reseal] if reseal else []
            for doc_id, records in self._sessions.items():
                changed_records, reseal = erased_sessions(records, identity)
                by_session = {r.session_id: r for r in changed_records}
                self._sessions[doc_id] = [by_session.get(r.session_id, r) for r in records]
                reseals += [reseal] if reseal else []
            for doc_id in annotation_docs:
                entries = self._logs.pop(doc_id, [])
                if entries or doc_id in self._states:
                    self._states[doc_id] = scrub_history(
                        self._states.get(doc_id), [entry.update for _, entry in entries], identity)
        except InvalidUpdate as exc:
            raise StorageUnavailable(f"a stored update does not decode: {exc}") from exc
        return ErasureReport(reseals=reseals)
