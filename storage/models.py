"""SQLAlchemy 2 tables of the document store: documents, update log, states, authorship,
webhooks and their delivery attempts, snapshots, freeze states and the audit log.

Times are float seconds since the epoch (UTC), the unit `LogEntry.received_at` already
uses, so that SQLite and PostgreSQL store and compare them the same way. The log is
ordered by its integer `seq`, never by wall clock.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Double,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
    false,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from storage.base import STORED_DOC_ID_LENGTH

_DOC_ID = String(STORED_DOC_ID_LENGTH)

_SEQ = BigInteger().with_variant(Integer(), "sqlite")
"""`seq` type: BIGINT on PostgreSQL; INTEGER on SQLite, where only an INTEGER primary key
can be declared AUTOINCREMENT (so that a seq is never reused after compaction)."""


class Base(DeclarativeBase):
    """Declarative base holding the store's metadata (used by the migrations)."""


class DocumentRow(Base):
    """One document's metadata; created by `create_document` or by the first append.

    The append hot path (`storage._batch_writer`) inserts only doc_id, kind and times: every
    other column must keep a server default or be nullable.
    """

    __tablename__ = "documents"

    doc_id: Mapped[str] = mapped_column(_DOC_ID, primary_key=True)
    kind: Mapped[str] = mapped_column(String(32), default="text", server_default="text")
    created_at: Mapped[float] = mapped_column(Double)
    updated_at: Mapped[float] = mapped_column(Double)
    deleted_at: Mapped[float | None] = mapped_column(Double, default=None)
    title: Mapped[str] = mapped_column(Text, default="", server_default="")
    is_public: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    created_by: Mapped[str | None] = mapped_column(Text, default=None)
    schema: Mapped[str | None] = mapped_column(Text, default=None)


class LogRow(Base):
    """One accepted Yjs update in a document's log, in commit order of `seq`."""

    __tablename__ = "updates"
    __table_args__ = (
        Index("ix_updates_doc_id_seq", "doc_id", "seq"),
        {"sqlite_autoincrement": True},
    )

    seq: Mapped[int] = mapped_column(_SEQ, primary_key=True, autoincrement=True)
    doc_id: Mapped[str] = mapped_column(_DOC_ID)
    update: Mapped[bytes] = mapped_column(LargeBinary)
    received_at: Mapped[float] = mapped_column(Double)
    connection_id: Mapped[str | None] = mapped_column(Text, default=None)
    principal: Mapped[str | None] = mapped_column(Text, default=None)


class StateRow(Base):
    """The compacted document: one Yjs update merging the log rows compacted so far.

    `through_seq` is the highest seq merged. On PostgreSQL a row with a lower seq can
    commit after a compaction read the log; it stays in the log, and loading merges it
    (merging an update twice is harmless).
    """

    __tablename__ = "states"

    doc_id: Mapped[str] = mapped_column(_DOC_ID, primary_key=True)
    state: Mapped[bytes] = mapped_column(LargeBinary)
    through_seq: Mapped[int] = mapped_column(BigInteger)
    compacted_at: Mapped[float] = mapped_column(Double)


class AuthorshipRow(Base):
    """Who delivered the Yjs items ``(client_id, clock)`` for clock in [clock_start, clock_end).

    Written by compaction, so that authorship survives the deletion of the log rows.
    """

    __tablename__ = "authorship"
    __table_args__ = (Index("ix_authorship_doc_id_client", "doc_id", "client_id"),)

    id: Mapped[int] = mapped_column(_SEQ, primary_key=True, autoincrement=True)
    doc_id: Mapped[str] = mapped_column(_DOC_ID)
    client_id: Mapped[int] = mapped_column(BigInteger)
    clock_start: Mapped[int] = mapped_column(BigInteger)
    clock_end: Mapped[int] = mapped_column(BigInteger)
    principal: Mapped[str | None] = mapped_column(Text, default=None)
    connection_id: Mapped[str | None] = mapped_column(Text, default=None)
    first_at: Mapped[float] = mapped_column(Double)
    last_at: Mapped[float] = mapped_column(Double)


class WebhookRow(Base):
    """A registered webhook; ``doc_id`` NULL fires for every document.

    ``events`` is a JSON array of event names.
    """

    __tablename__ = "webhooks"
    __table_args__ = (Index("ix_webhooks_doc_id", "doc_id"),)

    webhook_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    url: Mapped[str] = mapped_column(Text)
    secret: Mapped[str] = mapped_column(Text)
    events: Mapped[str] = mapped_column(Text)
    doc_id: Mapped[str | None] = mapped_column(_DOC_ID, default=None)
    created_at: Mapped[float] = mapped_column(Double)
    created_by: Mapped[str | None] = mapped_column(Text, default=None)


class DeliveryRow(Base):
    """One attempt at delivering one event to one webhook."""

    __tablename__ = "webhook_deliveries"
    __table_args__ = (Index("ix_webhook_deliveries_webhook_id_at", "webhook_id", "at"),)

    id: Mapped[int] = mapped_column(_SEQ, primary_key=True, autoincrement=True)
    webhook_id: Mapped[str] = mapped_column(String(64))
    event_id: Mapped[str] = mapped_column(Text)
    event: Mapped[str] = mapped_column(String(64))
    attempt: Mapped[int] = mapped_column(Integer)
    at: Mapped[float] = mapped_column(Double)
    status: Mapped[int | None] = mapped_column(Integer, default=None)
    error: Mapped[str | None] = mapped_column(Text, default=None)


class SnapshotRow(Base):
    """One archived snapshot: written once, never updated (see `storage.archive`)."""

    __tablename__ = "snapshots"
    __table_args__ = (UniqueConstraint("doc_id", "number", name="uq_snapshots_doc_id_number"),)

    snapshot_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    doc_id: Mapped[str] = mapped_column(_DOC_ID)
    number: Mapped[int] = mapped_column(Integer)
    stage: Mapped[str] = mapped_column(Text)
    label: Mapped[str] = mapped_column(Text)
    created_at: Mapped[float] = mapped_column(Double)
    created_by: Mapped[str | None] = mapped_column(Text, default=None)
    created_by_name: Mapped[str | None] = mapped_column(Text, default=None)
    state: Mapped[bytes] = mapped_column(LargeBinary)
    markdown: Mapped[str] = mapped_column(Text)
    html: Mapped[str] = mapped_column(Text)
    annotations_state: Mapped[bytes] = mapped_column(LargeBinary)
    content_hash: Mapped[str] = mapped_column(String(64))
    previous_hash: Mapped[str | None] = mapped_column(String(64), default=None)
    chain_hash: Mapped[str] = mapped_column(String(64))
    adopted: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())


class FreezeRow(Base):
    """A document's freeze state; no row means never frozen.

    A table of its own, so the append hot path (which upserts ``documents``) is untouched.
    """

    __tablename__ = "freezes"

    doc_id: Mapped[str] = mapped_column(_DOC_ID, primary_key=True)
    frozen: Mapped[bool] = mapped_column(Boolean)
    frozen_at: Mapped[float | None] = mapped_column(Double, default=None)
    frozen_by: Mapped[str | None] = mapped_column(Text, default=None)
    comments_open: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    updated_at: Mapped[float] = mapped_column(Double)


class AuditRow(Base):
    """One governance action; ``detail`` is a JSON object."""

    __tablename__ = "audit"
    __table_args__ = (
        Index("ix_audit_doc_id_entry_id", "doc_id", "entry_id"),
        {"sqlite_autoincrement": True},
    )

    entry_id: Mapped[int] = mapped_column(_SEQ, primary_key=True, autoincrement=True)
    doc_id: Mapped[str | None] = mapped_column(_DOC_ID, default=None)
    action: Mapped[str] = mapped_column(String(64))
    actor_sub: Mapped[str | None] = mapped_column(Text, default=None)
    actor_name: Mapped[str | None] = mapped_column(Text, default=None)
    at: Mapped[float] = mapped_column(Double)
    detail: Mapped[str] = mapped_column(Text)


class PersonRow(Base):
    """A subject the server has seen, with the rights facilitators changed (`storage.people`)."""

    __tablename__ = "people"
    __table_args__ = (Index("ix_people_last_seen", "last_seen"),
                      Index("ix_people_pseudonym", "pseudonym", unique=True))

    sub: Mapped[str] = mapped_column(String(255), primary_key=True)
    name: Mapped[str] = mapped_column(Text)
    role: Mapped[str] = mapped_column(String(32))
    first_seen: Mapped[float] = mapped_column(Double)
    last_seen: Mapped[float] = mapped_column(Double)
    role_override: Mapped[str | None] = mapped_column(String(32), default=None)
    removed_at: Mapped[float | None] = mapped_column(Double, default=None)
    pseudonym: Mapped[int | None] = mapped_column(Integer, default=None)
    named_publicly: Mapped[bool] = mapped_column(Boolean, default=False)
    erased_at: Mapped[float | None] = mapped_column(Double, default=None)
    erased_digest: Mapped[str | None] = mapped_column(String(64), default=None)


class SessionRow(Base):
    """One session of a document (`storage.sessions`); minutes written once, at close."""

    __tablename__ = "assembly_sessions"
    __table_args__ = (
        UniqueConstraint("doc_id", "number", name="uq_assembly_sessions_doc_id_number"),
        Index("ix_assembly_sessions_open", "doc_id", unique=True,
              sqlite_where=text("closed_at IS NULL"), postgresql_where=text("closed_at IS NULL")),
    )

    session_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    doc_id: Mapped[str] = mapped_column(_DOC_ID)
    number: Mapped[int] = mapped_column(Integer)
    title: Mapped[str] = mapped_column(Text)
    kind: Mapped[str] = mapped_column(String(16))
    planned_start: Mapped[float | None] = mapped_column(Double, default=None)
    planned_end: Mapped[float | None] = mapped_column(Double, default=None)
    opened_at: Mapped[float] = mapped_column(Double)
    opened_by: Mapped[str | None] = mapped_column(Text, default=None)
    opened_by_name: Mapped[str | None] = mapped_column(Text, default=None)
    closed_at: Mapped[float | None] = mapped_column(Double, default=None)
    closed_by: Mapped[str | None] = mapped_column(Text, default=None)
    closed_by_name: Mapped[str | None] = mapped_column(Text, default=None)
    minutes: Mapped[str | None] = mapped_column(Text, default=None)
    content_hash: Mapped[str | None] = mapped_column(String(64), default=None)
    previous_hash: Mapped[str | None] = mapped_column(String(64), default=None)
    chain_hash: Mapped[str | None] = mapped_column(String(64), default=None)


class PresenceRow(Base):
    """One socket's presence in one session (`storage.sessions.PresenceInterval`)."""

    __tablename__ = "session_presence"
    __table_args__ = (
        UniqueConstraint("session_id", "connection_id",
                         name="uq_session_presence_session_connection"),
        Index("ix_session_presence_node", "node_id", "left_at"),
    )

    id: Mapped[int] = mapped_column(_SEQ, primary_key=True, autoincrement=True)
    session_id: Mapped[str] = mapped_column(String(64))
    connection_id: Mapped[str] = mapped_column(String(128))
    node_id: Mapped[str] = mapped_column(String(128))
    sub: Mapped[str] = mapped_column(String(255))
    name: Mapped[str] = mapped_column(Text)
    role: Mapped[str] = mapped_column(String(32))
    joined_at: Mapped[float] = mapped_column(Double)
    left_at: Mapped[float | None] = mapped_column(Double, default=None)
    seen_at: Mapped[float] = mapped_column(Double)


class DocumentSettingsRow(Base):
    """A document's settings beyond its metadata: the quorum (`storage.sessions.Quorum`)."""

    __tablename__ = "document_settings"

    doc_id: Mapped[str] = mapped_column(_DOC_ID, primary_key=True)
    quorum_fraction: Mapped[float | None] = mapped_column(Double, default=None)
    quorum_members: Mapped[int | None] = mapped_column(Integer, default=None)


class SigninSessionRow(Base):
    """A web sign-in session (`storage.signin`): the cookie holds an id whose hash is `key`."""

    __tablename__ = "signin_sessions"
    __table_args__ = (Index("ix_signin_sessions_sub", "sub"),)

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    sub: Mapped[str] = mapped_column(String(255))
    name: Mapped[str] = mapped_column(Text)
    role: Mapped[str] = mapped_column(String(32))
    docs: Mapped[str | None] = mapped_column(Text, default=None)
    via: Mapped[str] = mapped_column(String(32))
    created_at: Mapped[float] = mapped_column(Double)
    last_seen: Mapped[float] = mapped_column(Double)
    expires_at: Mapped[float] = mapped_column(Double)


class InvitationRow(Base):
    """An invitation link (`storage.invitations`): a role, optional documents, limits."""

    __tablename__ = "invitations"
    __table_args__ = (Index("ix_invitations_created_at", "created_at"),)

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    role: Mapped[str] = mapped_column(String(32))
    docs: Mapped[str | None] = mapped_column(Text, default=None)
    note: Mapped[str] = mapped_column(Text)
    created_by: Mapped[str] = mapped_column(String(255))
    created_at: Mapped[float] = mapped_column(Double)
    expires_at: Mapped[float] = mapped_column(Double)
    max_uses: Mapped[int] = mapped_column(Integer)
    uses: Mapped[int] = mapped_column(Integer)
    revoked_at: Mapped[float | None] = mapped_column(Double, default=None)


class VoteRow(Base):
    """A vote of a session on amendments (`storage.votes`); results written once, at close."""

    __tablename__ = "votes"
    __table_args__ = (Index("ix_votes_doc_id_opened_at", "doc_id", "opened_at"),)

    vote_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    doc_id: Mapped[str] = mapped_column(_DOC_ID)
    session_id: Mapped[str] = mapped_column(String(64))
    amendment_ids: Mapped[str] = mapped_column(Text)
    ballot: Mapped[str] = mapped_column(String(16))
    rule: Mapped[str] = mapped_column(String(16))
    opened_by: Mapped[str] = mapped_column(Text)
    opened_by_name: Mapped[str] = mapped_column(Text)
    opened_at: Mapped[float] = mapped_column(Double)
    closed_by: Mapped[str | None] = mapped_column(Text, default=None)
    closed_at: Mapped[float | None] = mapped_column(Double, default=None)
    results: Mapped[str | None] = mapped_column(Text, default=None)


class VoteCountRow(Base):
    """The running count of one amendment's ballots in a vote (all a secret ballot keeps)."""

    __tablename__ = "vote_counts"

    vote_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    amendment_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    position: Mapped[int] = mapped_column(Integer)
    for_count: Mapped[int] = mapped_column(Integer)
    against_count: Mapped[int] = mapped_column(Integer)
    abstain_count: Mapped[int] = mapped_column(Integer)


class BallotRow(Base):
    """Who voted on which amendment of a vote; `choice` stays NULL for a secret ballot."""

    __tablename__ = "ballots"

    vote_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    amendment_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    voter: Mapped[str] = mapped_column(String(255), primary_key=True)
    voter_name: Mapped[str] = mapped_column(Text)
    choice: Mapped[str | None] = mapped_column(String(16), default=None)
    cast_at: Mapped[float] = mapped_column(Double)
