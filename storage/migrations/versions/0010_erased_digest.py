"""Erased people: a keyed digest of the subject they had, so that credentials issued
before the erasure stay refused although the subject itself is gone.

Revision ID: 0010
Revises: 0009
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision: str | None = "0009"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    """Add people.erased_digest."""
    with op.batch_alter_table("people") as batch:
        batch.add_column(sa.Column("erased_digest", sa.String(64), nullable=True))


def downgrade() -> None:
    """Drop it."""
    with op.batch_alter_table("people") as batch:
        batch.drop_column("erased_digest")
