"""Document metadata, 160-character doc_ids, webhooks and their delivery attempts.

Every ``doc_id`` column widens from 128 to 160 characters so that the companion
``D.annotations`` of a 128-character id fits. PostgreSQL widens a varchar in place (no
table rewrite). SQLite cannot alter a column: the batch operations copy each table into a
new one (SQLite does not enforce the length, but the declared schema stays truthful).
The copy keeps ``updates``'s AUTOINCREMENT and its sequence, so a seq is never reused.

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision: str | None = "0001"
branch_labels: str | None = None
depends_on: str | None = None

_SEQ = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
_OLD_DOC_ID = sa.String(128)
_NEW_DOC_ID = sa.String(160)
_TABLES = ("documents", "updates", "states", "authorship")


def upgrade() -> None:
    """Add the metadata columns, widen doc_ids, create the webhook tables."""
    is_sqlite = op.get_bind().dialect.name == "sqlite"
    last_seq = _sqlite_sequence("updates") if is_sqlite else None
    with op.batch_alter_table("documents") as batch:
        batch.add_column(sa.Column("title", sa.Text(), nullable=False, server_default=""))
        batch.add_column(
            sa.Column("is_public", sa.Boolean(), nullable=False, server_default=sa.false())
        )
        batch.add_column(sa.Column("created_by", sa.Text(), nullable=True))
        batch.add_column(sa.Column("schema", sa.Text(), nullable=True))
    for table in _TABLES:
        _alter_doc_id(table, _OLD_DOC_ID, _NEW_DOC_ID)
    if last_seq is not None:
        _restore_sqlite_sequence("updates", last_seq)
    op.create_table(
        "webhooks",
        sa.Column("webhook_id", sa.String(64), primary_key=True),
        sa.Column("url", sa.Text(), nullable=False),
        sa.Column("secret", sa.Text(), nullable=False),
        sa.Column("events", sa.Text(), nullable=False),
        sa.Column("doc_id", _NEW_DOC_ID, nullable=True),
        sa.Column("created_at", sa.Double(), nullable=False),
        sa.Column("created_by", sa.Text(), nullable=True),
    )
    op.create_index("ix_webhooks_doc_id", "webhooks", ["doc_id"])
    op.create_table(
        "webhook_deliveries",
        sa.Column("id", _SEQ, primary_key=True, autoincrement=True),
        sa.Column("webhook_id", sa.String(64), nullable=False),
        sa.Column("event_id", sa.Text(), nullable=False),
        sa.Column("event", sa.String(64), nullable=False),
        sa.Column("attempt", sa.Integer(), nullable=False),
        sa.Column("at", sa.Double(), nullable=False),
        sa.Column("status", sa.Integer(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
    )
    op.create_index(
        "ix_webhook_deliveries_webhook_id_at", "webhook_deliveries", ["webhook_id", "at"]
    )


def downgrade() -> None:
    """Drop the webhook tables and metadata columns; doc_ids narrow back to 128.

    Narrowing fails on PostgreSQL while a doc_id is longer than 128 characters.
    """
    is_sqlite = op.get_bind().dialect.name == "sqlite"
    last_seq = _sqlite_sequence("updates") if is_sqlite else None
    op.drop_index("ix_webhook_deliveries_webhook_id_at", table_name="webhook_deliveries")
    op.drop_table("webhook_deliveries")
    op.drop_index("ix_webhooks_doc_id", table_name="webhooks")
    op.drop_table("webhooks")
    for table in _TABLES:
        _alter_doc_id(table, _NEW_DOC_ID, _OLD_DOC_ID)
    if last_seq is not None:
        _restore_sqlite_sequence("updates", last_seq)
    with op.batch_alter_table("documents") as batch:
        for column in ("schema", "created_by", "is_public", "title"):
            batch.drop_column(column)


def _alter_doc_id(table: str, old: sa.String, new: sa.String) -> None:
    # `updates` was created with AUTOINCREMENT; SQLite's reflection does not report it,
    # so the copy made by the batch operation must be told again.
    table_kwargs = {"sqlite_autoincrement": True} if table == "updates" else {}
    with op.batch_alter_table(table, table_kwargs=table_kwargs) as batch:
        batch.alter_column("doc_id", existing_type=old, type_=new, existing_nullable=False)


def _sqlite_sequence(table: str) -> int | None:
    found = op.get_bind().execute(
        sa.text("SELECT seq FROM sqlite_sequence WHERE name = :name"), {"name": table}
    )
    return found.scalar()


def _restore_sqlite_sequence(table: str, last_seq: int) -> None:
    # The copy restarts the sequence at the highest seq copied; compacted rows may have
    # held higher ones.
    bind = op.get_bind()
    params = {"name": table, "seq": last_seq}
    updated = bind.execute(
        sa.text("UPDATE sqlite_sequence SET seq = max(seq, :seq) WHERE name = :name"), params
    )
    if updated.rowcount == 0:
        insert = "INSERT INTO sqlite_sequence (name, seq) VALUES (:name, :seq)"
        bind.execute(sa.text(insert), params)
