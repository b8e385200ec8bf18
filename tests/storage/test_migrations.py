"""Alembic revisions: a database made by an older version upgrades with its data."""

from __future__ import annotations

from pathlib import Path

import pytest
from alembic import command
from alembic.config import Config
from sqlalchemy import Connection, text
from sqlalchemy.ext.asyncio import AsyncConnection

import storage.migrations
from storage.base import ANNOTATIONS_SUFFIX, DOC_ID_LENGTH, STORED_DOC_ID_LENGTH
from storage.engine import create_engine, database_url_for, write_engine
from storage.sql import SqlDocumentStore
from tests.storage.editors import Editor, text_of


def _upgrade_to(connection: Connection, revision: str) -> None:
    config = Config()
    script_location = Path(storage.migrations.__file__).resolve().parent
    config.set_main_option("script_location", str(script_location).replace("%", "%%"))
    config.attributes["connection"] = connection
    command.upgrade(config, revision)


async def _document_at_0001(conn: AsyncConnection, doc_id: str) -> None:
    """Migrate an empty database to 0001 and add the document's row (created 1.0, updated 2.0)."""
    await conn.run_sync(_upgrade_to, "0001")
    await conn.execute(
        text("INSERT INTO documents (doc_id, created_at, updated_at) VALUES (:doc_id, 1.0, 2.0)"),
        {"doc_id": doc_id},
    )


async def test_sqlite_database_at_0001_upgrades_to_0002_keeping_its_data(tmp_path: Path) -> None:
    url = database_url_for(tmp_path)
    alice = Editor("alice")
    updates = [alice.insert(n, c) for n, c in enumerate("Préambule")]
    doc_id = "charte-" + "é" * 100  # 107 characters, within the old columns
    engine = create_engine(url)
    try:
        async with write_engine(engine).begin() as conn:
            await _document_at_0001(conn, doc_id)
            for n, update in enumerate(updates):
                await conn.execute(
                    text(
                        'INSERT INTO updates (doc_id, "update", received_at, principal) '
                        "VALUES (:doc_id, :update, :at, 'alice')"
                    ),
                    {"doc_id": doc_id, "update": update, "at": float(n)},
                )
            # The highest seqs went away (as compaction does): they must never come back.
            await conn.execute(text("DELETE FROM updates WHERE seq > 6"))
            await conn.execute(
                text(
                    "INSERT INTO states (doc_id, state, through_seq, compacted_at) "
                    "VALUES (:doc_id, :state, 9, 3.0)"
                ),
                {"doc_id": doc_id, "state": alice.doc.get_update()},
            )
            await conn.execute(
                text(
                    "INSERT INTO authorship (doc_id, client_id, clock_start, clock_end, "
                    "principal, first_at, last_at) VALUES (:doc_id, 7, 0, 9, 'alice', 0, 8)"
                ),
                {"doc_id": doc_id},
            )
    finally:
        await engine.dispose()

    async with SqlDocumentStore(url) as store:
        meta = await store.get_document(doc_id)
        stored = await store.load(doc_id)
        await store.append(doc_id, [alice.entry(alice.insert(0, "« "))])
        await store.append(doc_id + ".annotations", [alice.entry(alice.insert(0, "»"))])

    engine = create_engine(url)
    try:
        async with engine.connect() as conn:
            version = await conn.scalar(text("SELECT version_num FROM alembic_version"))
            seqs = list(
                (await conn.execute(text("SELECT seq FROM updates ORDER BY seq"))).scalars()
            )
            authorship = await conn.scalar(text("SELECT count(*) FROM authorship"))
            schema = await conn.scalar(
                text("SELECT sql FROM sqlite_master WHERE type = 'table' AND name = 'updates'")
            )
            indexes = set(
                (await conn.execute(text("SELECT name FROM sqlite_master WHERE type = 'index'")))
                .scalars()
                .all()
            )
    finally:
        await engine.dispose()
    assert version == "0010"
    assert (meta.title, meta.is_public, meta.created_by, meta.schema) == ("", False, None, None)
    assert (meta.created_at, meta.updated_at) == (1.0, 2.0)
    assert text_of(stored.update) == "Préambule"
    assert stored.log_rows == 6
    assert seqs == [1, 2, 3, 4, 5, 6, 10, 11]
    assert authorship == 1
    assert "AUTOINCREMENT" in schema and "VARCHAR(160)" in schema
    assert {"ix_updates_doc_id_seq", "ix_authorship_doc_id_client"} <= indexes


@pytest.mark.postgres
async def test_postgresql_database_at_0001_upgrades_to_0002_keeping_its_data(
    scratch_postgres_url: str,
) -> None:
    alice = Editor("alice")
    doc_id = "p" * DOC_ID_LENGTH
    engine = create_engine(scratch_postgres_url)
    try:
        async with engine.begin() as conn:
            await _document_at_0001(conn, doc_id)
            await conn.execute(
                text(
                    'INSERT INTO updates (doc_id, "update", received_at) '
                    "VALUES (:doc_id, :update, 1.0)"
                ),
                {"doc_id": doc_id, "update": alice.insert(0, "Délibéré")},
            )
    finally:
        await engine.dispose()

    async with SqlDocumentStore(scratch_postgres_url) as store:
        meta = await store.get_document(doc_id)
        stored = await store.load(doc_id)
        companion = doc_id + ANNOTATIONS_SUFFIX
        await store.append(companion, [alice.entry(alice.insert(0, "«"))])
        listed = await store.list_documents()

    engine = create_engine(scratch_postgres_url)
    try:
        async with engine.connect() as conn:
            widths = await conn.execute(
                text(
                    "SELECT table_name, character_maximum_length FROM information_schema.columns "
                    "WHERE column_name = 'doc_id' AND table_schema = current_schema()"
                )
            )
            by_table = {table: width for table, width in widths}
    finally:
        await engine.dispose()
    assert (meta.title, meta.is_public, meta.created_at) == ("", False, 1.0)
    assert text_of(stored.update) == "Délibéré"
    assert listed == [meta]
    assert by_table == dict.fromkeys(
        ["documents", "updates", "states", "authorship", "webhooks", "snapshots", "freezes",
         "audit", "assembly_sessions", "document_settings", "votes"],
        STORED_DOC_ID_LENGTH,
    )
