"""People: every subject the server has seen, their role overrides and removals.

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision: str | None = "0003"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    """Create the people table."""
    op.create_table(
        "people",
        sa.Column("sub", sa.String(255), primary_key=True),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("role", sa.String(32), nullable=False),
        sa.Column("first_seen", sa.Double(), nullable=False),
        sa.Column("last_seen", sa.Double(), nullable=False),
        sa.Column("role_override", sa.String(32), nullable=True),
        sa.Column("removed_at", sa.Double(), nullable=True),
    )
    op.create_index("ix_people_last_seen", "people", ["last_seen"])


def downgrade() -> None:
    """Drop the people table."""
    op.drop_index("ix_people_last_seen", table_name="people")
    op.drop_table("people")
