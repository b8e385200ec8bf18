"""Pseudonyms: every person gets a stable number (shown as "Membre N" in public) and a
choice to be named in public instead.

Revision ID: 0006
Revises: 0005
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision: str | None = "0005"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    """Add people.pseudonym (numbered by first sighting) and people.named_publicly."""
    with op.batch_alter_table("people") as batch:
        batch.add_column(sa.Column("pseudonym", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("named_publicly", sa.Boolean(), nullable=False,
                                   server_default=sa.false()))
        batch.add_column(sa.Column("erased_at", sa.Double(), nullable=True))
    people = sa.table("people", sa.column("sub", sa.String()), sa.column("first_seen"),
                      sa.column("pseudonym", sa.Integer()))
    connection = op.get_bind()
    subs = connection.execute(
        sa.select(people.c.sub).order_by(people.c.first_seen, people.c.sub)).scalars().all()
    for number, sub in enumerate(subs, start=1):
        connection.execute(people.update().where(people.c.sub == sub).values(pseudonym=number))
    op.create_index("ix_people_pseudonym", "people", ["pseudonym"], unique=True)


def downgrade() -> None:
    """Drop the columns."""
    op.drop_index("ix_people_pseudonym", table_name="people")
    with op.batch_alter_table("people") as batch:
        batch.drop_column("erased_at")
        batch.drop_column("named_publicly")
        batch.drop_column("pseudonym")
