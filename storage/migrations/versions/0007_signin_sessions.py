"""Sign-in sessions: server-side web sessions (the cookie holds an id, the table its hash).

Revision ID: 0007
Revises: 0006
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision: str | None = "0006"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    """Create the signin_sessions table."""
    op.create_table(
        "signin_sessions",
        sa.Column("key", sa.String(64), primary_key=True),
        sa.Column("sub", sa.String(255), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("role", sa.String(32), nullable=False),
        sa.Column("docs", sa.Text(), nullable=True),
        sa.Column("via", sa.String(32), nullable=False),
        sa.Column("created_at", sa.Double(), nullable=False),
        sa.Column("last_seen", sa.Double(), nullable=False),
        sa.Column("expires_at", sa.Double(), nullable=False),
    )
    op.create_index("ix_signin_sessions_sub", "signin_sessions", ["sub"])


def downgrade() -> None:
    """Drop the signin_sessions table."""
    op.drop_index("ix_signin_sessions_sub", table_name="signin_sessions")
    op.drop_table("signin_sessions")
