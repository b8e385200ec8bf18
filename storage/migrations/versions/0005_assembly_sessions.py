"""Sessions of an assembly: sessions with their minutes, presence intervals, settings.

Revision ID: 0005
Revises: 0004
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision: str | None = "0004"
branch_labels: str | None = None
depends_on: str | None = None

_SEQ = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    """Create the assembly_sessions, session_presence and document_settings tables."""
    op.create_table(
        "assembly_sessions",
        sa.Column("session_id", sa.String(64), primary_key=True),
        sa.Column("doc_id", sa.String(160), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("title", sa.Text(), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("planned_start", sa.Double(), nullable=True),
        sa.Column("planned_end", sa.Double(), nullable=True),
        sa.Column("opened_at", sa.Double(), nullable=False),
        sa.Column("opened_by", sa.Text(), nullable=True),
        sa.Column("opened_by_name", sa.Text(), nullable=True),
        sa.Column("closed_at", sa.Double(), nullable=True),
        sa.Column("closed_by", sa.Text(), nullable=True),
        sa.Column("closed_by_name", sa.Text(), nullable=True),
        sa.Column("minutes", sa.Text(), nullable=True),
        sa.Column("content_hash", sa.String(64), nullable=True),
        sa.Column("previous_hash", sa.String(64), nullable=True),
        sa.Column("chain_hash", sa.String(64), nullable=True),
        sa.UniqueConstraint("doc_id", "number", name="uq_assembly_sessions_doc_id_number"),
    )
    op.create_index("ix_assembly_sessions_open", "assembly_sessions", ["doc_id"], unique=True,
                    sqlite_where=sa.text("closed_at IS NULL"),
                    postgresql_where=sa.text("closed_at IS NULL"))
    op.create_table(
        "session_presence",
        sa.Column("id", _SEQ, primary_key=True, autoincrement=True),
        sa.Column("session_id", sa.String(64), nullable=False),
        sa.Column("connection_id", sa.String(128), nullable=False),
        sa.Column("node_id", sa.String(128), nullable=False),
        sa.Column("sub", sa.String(255), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("role", sa.String(32), nullable=False),
        sa.Column("joined_at", sa.Double(), nullable=False),
        sa.Column("left_at", sa.Double(), nullable=True),
        sa.Column("seen_at", sa.Double(), nullable=False),
        sa.UniqueConstraint("session_id", "connection_id",
                            name="uq_session_presence_session_connection"),
    )
    op.create_index("ix_session_presence_node", "session_presence", ["node_id", "left_at"])
    op.create_table(
        "document_settings",
        sa.Column("doc_id", sa.String(160), primary_key=True),
        sa.Column("quorum_fraction", sa.Double(), nullable=True),
        sa.Column("quorum_members", sa.Integer(), nullable=True),
    )


def downgrade() -> None:
    """Drop the three tables."""
    op.drop_table("document_settings")
    op.drop_index("ix_session_presence_node", table_name="session_presence")
    op.drop_table("session_presence")
    op.drop_index("ix_assembly_sessions_open", table_name="assembly_sessions")
    op.drop_table("assembly_sessions")
