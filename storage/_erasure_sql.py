"""`Erasure` on SQLAlchemy Core: a part of `SqlDocumentStore`, one write transaction."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import delete, func, insert, or_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from crdt.erasure import Identity
from crdt.errors import InvalidUpdate
from storage._archive_sql import snapshot_from_row
from storage._erasure_rules import (
    erased_json,
    erased_sessions,
    erased_snapshots,
    scrub_history,
)
from storage._sql_connections import SqlConnections
from storage.base import StorageUnavailable
from storage.erasure import ErasureReport, Reseal
from storage.models import (
    AuditRow,
    AuthorshipRow,
    BallotRow,
    DocumentRow,
    FreezeRow,
    InvitationRow,
    LogRow,
    PersonRow,
    PresenceRow,
    SessionRow,
    SigninSessionRow,
    SnapshotRow,
    StateRow,
    VoteRow,
    WebhookRow,
)
from storage.people import PersonNotFound, handle_of
from storage.sessions import SessionRecord

_SUB_COLUMNS: tuple[tuple[type[Any], str], ...] = (
    (LogRow, "principal"), (AuthorshipRow, "principal"), (DocumentRow, "created_by"),
    (WebhookRow, "created_by"), (FreezeRow, "frozen_by"), (InvitationRow, "created_by"),
    (VoteRow, "opened_by"), (VoteRow, "closed_by"),
)
"""Columns holding a subject, rewritten by plain equality."""
_SESSION_COLUMNS = tuple(SessionRow.__table__.columns)


class SqlErasure(SqlConnections):
    """Erases a person's identity from every table in one transaction."""

    async def erase_person(
        self, identity: Identity, *, at: float, annotation_docs: Sequence[str],
        subject_digest: str | None = None,
    ) -> ErasureReport:
        try:
            return await self._erase(identity, at, annotation_docs, subject_digest)
        except InvalidUpdate as exc:  # the transaction was rolled back
            raise StorageUnavailable(f"a stored update does not decode: {exc}") from exc

    async def _erase(
        self, identity: Identity, at: float, annotation_docs: Sequence[str],
        subject_digest: str | None,
    ) -> ErasureReport:
        rows: dict[str, int] = {}
        reseals: list[Reseal] = []
        async with self._writing(f"erase {identity.sub!r}") as conn:
            found = await conn.execute(
                update(PersonRow).where(PersonRow.sub == identity.sub).values(
                    sub=identity.new_sub, name=identity.pseudonym, erased_at=at,
                    removed_at=func.coalesce(PersonRow.removed_at, at), named_publicly=False,
                    erased_digest=subject_digest))
            if found.rowcount == 0:
                raise PersonNotFound(f"nobody with subject {identity.sub!r} was ever seen")
            for table, name in _SUB_COLUMNS:
                column = getattr(table, name)
                done = await conn.execute(update(table).where(column == identity.sub)
                                          .values({name: identity.new_sub}))
                rows[f"{table.__tablename__}.{name}"] = done.rowcount
            rows["audit"] = await _audit(conn, identity)
            rows["session_presence"] = (await conn.execute(
                update(PresenceRow).where(PresenceRow.sub == identity.sub)
                .values(sub=identity.new_sub, name=identity.pseudonym))).rowcount
            rows["ballots"] = (await conn.execute(
                update(BallotRow).where(BallotRow.voter == identity.sub)
                .values(voter=identity.new_sub, voter_name=identity.pseudonym))).rowcount
            rows["votes"] = await _votes(conn, identity)
            rows["signin_sessions"] = (await conn.execute(
                delete(SigninSessionRow).where(SigninSessionRow.sub == identity.sub))).rowcount
            reseals += await _snapshots(conn, identity, rows)
            reseals += await _sessions(conn, identity, rows)
            for doc_id in annotation_docs:
                rows[f"history:{doc_id}"] = await _scrub(conn, doc_id, identity, at)
        return ErasureReport(rows=rows, reseals=reseals)


async def _audit(conn: AsyncConnection, identity: Identity) -> int:
    words = (identity.sub, *identity.names)
    query = select(AuditRow.entry_id, AuditRow.actor_sub, AuditRow.actor_name,
                   AuditRow.detail).where(or_(
                       AuditRow.actor_sub == identity.sub,
                       AuditRow.actor_name.in_(identity.names),
                       *(AuditRow.detail.contains(word, autoescape=True) for word in words)))
    count = 0
    for row in (await conn.execute(query)).all():
        await conn.execute(update(AuditRow).where(AuditRow.entry_id == row.entry_id).values(
            actor_sub=identity.replaced(row.actor_sub) if row.actor_sub else None,
            actor_name=identity.replaced(row.actor_name) if row.actor_name else None,
            detail=erased_json(row.detail, identity)))
        count += 1
    return count


async def _votes(conn: AsyncConnection, identity: Identity) -> int:
    """Votes opened by the person (by name) or whose results name them."""
    words = (identity.sub, *identity.names)
    query = select(VoteRow.vote_id, VoteRow.opened_by_name, VoteRow.results).where(or_(
        VoteRow.opened_by_name.in_(identity.names),
        *(VoteRow.results.contains(word, autoescape=True) for word in words)))
    count = 0
    for row in (await conn.execute(query)).all():
        await conn.execute(update(VoteRow).where(VoteRow.vote_id == row.vote_id).values(
            opened_by_name=identity.replaced(row.opened_by_name),
            results=erased_json(row.results, identity) if row.results else None))
        count += 1
    return count


async def _snapshots(conn: AsyncConnection, identity: Identity,
                     rows: dict[str, int]) -> list[Reseal]:
    reseals = []
    doc_ids = (await conn.execute(select(SnapshotRow.doc_id).distinct())).scalars().all()
    for doc_id in doc_ids:
        snapshots = [snapshot_from_row(row) for row in (await conn.execute(
            select(*SnapshotRow.__table__.columns).where(SnapshotRow.doc_id == doc_id)
            .order_by(SnapshotRow.number))).all()]
        creators = {s.created_by for s in snapshots if s.created_by} | {identity.new_sub}
        found = (await conn.execute(
            select(PersonRow.sub, PersonRow.pseudonym).where(PersonRow.sub.in_(creators)))
        ).all()
        handles = {row.sub: handle_of(row.pseudonym) for row in found
                   if row.pseudonym is not None}
        if identity.new_sub in handles:  # the person's row is renamed already
            handles[identity.sub] = handles[identity.new_sub]
        changed, reseal = erased_snapshots(snapshots, identity, handles)
        for snapshot in changed:
            await conn.execute(update(SnapshotRow)
                               .where(SnapshotRow.snapshot_id == snapshot.snapshot_id)
                               .values(created_by=snapshot.created_by,
                                       created_by_name=snapshot.created_by_name,
                                       annotations_state=snapshot.annotations_state,
                                       content_hash=snapshot.content_hash,
                                       previous_hash=snapshot.previous_hash,
                                       chain_hash=snapshot.chain_hash))
        rows["snapshots"] = rows.get("snapshots", 0) + len(changed)
        if reseal is not None:
            reseals.append(reseal)
    return reseals


async def _sessions(conn: AsyncConnection, identity: Identity,
                    rows: dict[str, int]) -> list[Reseal]:
    reseals = []
    doc_ids = (await conn.execute(select(SessionRow.doc_id).distinct())).scalars().all()
    for doc_id in doc_ids:
        records = [SessionRecord(**row._asdict()) for row in (await conn.execute(
            select(*_SESSION_COLUMNS).where(SessionRow.doc_id == doc_id)
            .order_by(SessionRow.number))).all()]
        changed, reseal = erased_sessions(records, identity)
        for record in changed:
            await conn.execute(update(SessionRow)
                               .where(SessionRow.session_id == record.session_id)
                               .values({c.name: getattr(record, c.name)
                                        for c in _SESSION_COLUMNS}))
        rows["assembly_sessions"] = rows.get("assembly_sessions", 0) + len(changed)
        if reseal is not None:
            reseals.append(reseal)
    return reseals


async def _scrub(conn: AsyncConnection, doc_id: str, identity: Identity, at: float) -> int:
    """Re-encode a document's state and log as one state without deleted content."""
    log = (await conn.execute(select(LogRow.seq, LogRow.update).where(LogRow.doc_id == doc_id)
                              .order_by(LogRow.seq))).all()
    previous = (await conn.execute(select(StateRow.state, StateRow.through_seq)
                                   .where(StateRow.doc_id == doc_id))).first()
    if previous is None and not log:
        return 0
    base = previous.state if previous is not None else None
    state = scrub_history(base, [row.update for row in log], identity)
    through = max([row.seq for row in log] + [previous.through_seq if previous else 0])
    if previous is None:
        await conn.execute(insert(StateRow).values(
            doc_id=doc_id, state=state, through_seq=through, compacted_at=at))
    else:
        await conn.execute(update(StateRow).where(StateRow.doc_id == doc_id)
                           .values(state=state, through_seq=through, compacted_at=at))
    if log:
        await conn.execute(delete(LogRow).where(LogRow.seq.in_([row.seq for row in log])))
    return len(log)

