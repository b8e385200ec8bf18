"""Votes on amendments: votes, their running counts and ballots (no choice when secret).

Revision ID: 0009
Revises: 0008
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision: str | None = "0008"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    """Create the votes, vote_counts and ballots tables."""
    op.create_table(
        "votes",
        sa.Column("vote_id", sa.String(64), primary_key=True),
        sa.Column("doc_id", sa.String(160), nullable=False),
        sa.Column("session_id", sa.String(64), nullable=False),
        sa.Column("amendment_ids", sa.Text(), nullable=False),
        sa.Column("ballot", sa.String(16), nullable=False),
        sa.Column("rule", sa.String(16), nullable=False),
        sa.Column("opened_by", sa.Text(), nullable=False),
        sa.Column("opened_by_name", sa.Text(), nullable=False),
        sa.Column("opened_at", sa.Double(), nullable=False),
        sa.Column("closed_by", sa.Text(), nullable=True),
        sa.Column("closed_at", sa.Double(), nullable=True),
        sa.Column("results", sa.Text(), nullable=True),
    )
    op.create_index("ix_votes_doc_id_opened_at", "votes", ["doc_id", "opened_at"])
    op.create_table(
        "vote_counts",
        sa.Column("vote_id", sa.String(64), primary_key=True),
        sa.Column("amendment_id", sa.String(64), primary_key=True),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("for_count", sa.Integer(), nullable=False),
        sa.Column("against_count", sa.Integer(), nullable=False),
        sa.Column("abstain_count", sa.Integer(), nullable=False),
    )
    op.create_table(
        "ballots",
        sa.Column("vote_id", sa.String(64), primary_key=True),
        sa.Column("amendment_id", sa.String(64), primary_key=True),
        sa.Column("voter", sa.String(255), primary_key=True),
        sa.Column("voter_name", sa.Text(), nullable=False),
        sa.Column("choice", sa.String(16), nullable=True),
        sa.Column("cast_at", sa.Double(), nullable=False),
    )


def downgrade() -> None:
    """Drop the votes tables."""
    op.drop_table("ballots")
    op.drop_table("vote_counts")
    op.drop_index("ix_votes_doc_id_opened_at", table_name="votes")
    op.drop_table("votes")
