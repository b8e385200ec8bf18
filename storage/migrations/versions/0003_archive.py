"""The archive: immutable snapshots, freeze states and the audit log.

Snapshot rows are only ever inserted; nothing in palabre updates them (tampering is what
`storage.archive` detects). Freeze states get a table of their own rather than columns on
``documents``, so the append hot path that upserts ``documents`` is untouched and SQLite
needs no table copy.

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision: str | None = "0002"
branch_labels: str | None = None
depends_on: str | None = None

_SEQ = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
_DOC_ID = sa.String(160)
_HASH = sa.String(64)


def upgrade() -> None:
    """Create the snapshots, freezes and audit tables."""
    op.create_table(
        "snapshots",
        sa.Column("snapshot_id", sa.String(64), primary_key=True),
        sa.Column("doc_id", _DOC_ID, nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("stage", sa.Text(), nullable=False),
        sa.Column("label", sa.Text(), nullable=False),
        sa.Column("created_at", sa.Double(), nullable=False),
        sa.Column("created_by", sa.Text(), nullable=True),
        sa.Column("created_by_name", sa.Text(), nullable=True),
        sa.Column("state", sa.LargeBinary(), nullable=False),
        sa.Column("markdown", sa.Text(), nullable=False),
        sa.Column("html", sa.Text(), nullable=False),
        sa.Column("annotations_state", sa.LargeBinary(), nullable=False),
        sa.Column("content_hash", _HASH, nullable=False),
        sa.Column("previous_hash", _HASH, nullable=True),
        sa.Column("chain_hash", _HASH, nullable=False),
        sa.Column("adopted", sa.Boolean(), nullable=False, server_default=sa.false()),
        sa.UniqueConstraint("doc_id", "number", name="uq_snapshots_doc_id_number"),
    )
    op.create_table(
        "freezes",
        sa.Column("doc_id", _DOC_ID, primary_key=True),
        sa.Column("frozen", sa.Boolean(), nullable=False),
        sa.Column("frozen_at", sa.Double(), nullable=True),
        sa.Column("frozen_by", sa.Text(), nullable=True),
        sa.Column("comments_open", sa.Boolean(), nullable=False, server_default=sa.false()),
        sa.Column("updated_at", sa.Double(), nullable=False),
    )
    op.create_table(
        "audit",
        sa.Column("entry_id", _SEQ, primary_key=True, autoincrement=True),
        sa.Column("doc_id", _DOC_ID, nullable=True),
        sa.Column("action", sa.String(64), nullable=False),
        sa.Column("actor_sub", sa.Text(), nullable=True),
        sa.Column("actor_name", sa.Text(), nullable=True),
        sa.Column("at", sa.Double(), nullable=False),
        sa.Column("detail", sa.Text(), nullable=False),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_audit_doc_id_entry_id", "audit", ["doc_id", "entry_id"])


def downgrade() -> None:
    """Drop the three tables (and with them the archive)."""
    op.drop_index("ix_audit_doc_id_entry_id", table_name="audit")
    op.drop_table("audit")
    op.drop_table("freezes")
    op.drop_table("snapshots")
