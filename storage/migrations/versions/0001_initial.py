"""Initial schema: documents, update log, compacted states, authorship.

Revision ID: 0001
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision: str | None = None
branch_labels: str | None = None
depends_on: str | None = None

_SEQ = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    """Create the four tables."""
    op.create_table(
        "documents",
        sa.Column("doc_id", sa.String(128), primary_key=True),
        sa.Column("kind", sa.String(32), nullable=False, server_default="text"),
        sa.Column("created_at", sa.Double(), nullable=False),
        sa.Column("updated_at", sa.Double(), nullable=False),
        sa.Column("deleted_at", sa.Double(), nullable=True),
    )
    op.create_table(
        "updates",
        sa.Column("seq", _SEQ, primary_key=True, autoincrement=True),
        sa.Column("doc_id", sa.String(128), nullable=False),
        sa.Column("update", sa.LargeBinary(), nullable=False),
        sa.Column("received_at", sa.Double(), nullable=False),
        sa.Column("connection_id", sa.Text(), nullable=True),
        sa.Column("principal", sa.Text(), nullable=True),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_updates_doc_id_seq", "updates", ["doc_id", "seq"])
    op.create_table(
        "states",
        sa.Column("doc_id", sa.String(128), primary_key=True),
        sa.Column("state", sa.LargeBinary(), nullable=False),
        sa.Column("through_seq", sa.BigInteger(), nullable=False),
        sa.Column("compacted_at", sa.Double(), nullable=False),
    )
    op.create_table(
        "authorship",
        sa.Column("id", _SEQ, primary_key=True, autoincrement=True),
        sa.Column("doc_id", sa.String(128), nullable=False),
        sa.Column("client_id", sa.BigInteger(), nullable=False),
        sa.Column("clock_start", sa.BigInteger(), nullable=False),
        sa.Column("clock_end", sa.BigInteger(), nullable=False),
        sa.Column("principal", sa.Text(), nullable=True),
        sa.Column("connection_id", sa.Text(), nullable=True),
        sa.Column("first_at", sa.Double(), nullable=False),
        sa.Column("last_at", sa.Double(), nullable=False),
    )
    op.create_index("ix_authorship_doc_id_client", "authorship", ["doc_id", "client_id"])


def downgrade() -> None:
    """Drop the four tables."""
    op.drop_table("authorship")
    op.drop_table("states")
    op.drop_index("ix_updates_doc_id_seq", table_name="updates")
    op.drop_table("updates")
    op.drop_table("documents")
