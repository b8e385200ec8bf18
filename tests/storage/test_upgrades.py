"""Rolling upgrades: migrations only expand the schema, and an older node runs on a newer one.

During a rolling upgrade the first node of the new release migrates the database while
nodes of the previous release still serve (and may restart). That is safe only if each
migration *expands* the schema — new tables, new columns that are nullable or have a server
default, indexes, wider types — and never drops, renames or narrows what the previous
release reads or writes (docs/operations.md, "Upgrades"). The first test holds every
migration to that rule; the second runs this code on a database a newer release migrated.
"""

from __future__ import annotations

import ast
import logging
from pathlib import Path

import pytest
from sqlalchemy import text

import storage.migrations
from storage.engine import create_engine, database_url_for
from storage.sql import SqlDocumentStore
from tests.storage.editors import Editor, text_of

VERSIONS = Path(storage.migrations.__file__).resolve().parent / "versions"
CONTRACTING = {"drop_table", "drop_column", "rename_table", "drop_constraint", "alter_column"}
REVIEWED = {
    ("0002_catalog_and_webhooks.py", "alter_column"):
        "widens the doc_id columns (128 to 160 characters): every value the older release "
        "writes still fits",
}
"""Contracting-looking calls checked by hand, and why they keep older code working."""


def _upgrade_calls(path: Path) -> list[tuple[str, ast.Call]]:
    """Every ``x.name(...)`` call of the module, except inside ``downgrade``."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    calls = []
    for node in tree.body:
        if isinstance(node, ast.FunctionDef) and node.name == "downgrade":
            continue
        for call in ast.walk(node):
            if isinstance(call, ast.Call) and isinstance(call.func, ast.Attribute):
                calls.append((call.func.attr, call))
    return calls


def _is_required_without_default(column: ast.Call) -> bool:
    keywords = {k.arg: k.value for k in column.keywords}
    nullable = keywords.get("nullable")
    is_required = isinstance(nullable, ast.Constant) and nullable.value is False
    return is_required and "server_default" not in keywords


@pytest.mark.parametrize("path", sorted(VERSIONS.glob("0*.py")), ids=lambda p: p.stem)
def test_every_migration_only_expands_the_schema(path: Path) -> None:
    for name, call in _upgrade_calls(path):
        if name in CONTRACTING:
            assert (path.name, name) in REVIEWED, (
                f"{path.name} calls {name}: the previous release may still run on this "
                "database; expand now, contract in a later release (docs/operations.md)"
            )
        if name == "add_column":
            for column in call.args:
                if isinstance(column, ast.Call):
                    assert not _is_required_without_default(column), (
                        f"{path.name} adds a NOT NULL column without a server default: the "
                        "previous release's inserts would fail"
                    )


async def test_this_code_runs_on_a_database_a_newer_release_migrated(
    tmp_path: Path, caplog: pytest.LogCaptureFixture,
) -> None:
    url = database_url_for(tmp_path)
    alice = Editor("alice")
    async with SqlDocumentStore(url) as store:
        await store.append("charte", [alice.entry(alice.insert(0, "Préambule"))])
    # What the next release's migration might do: expand, and stamp its own revision.
    engine = create_engine(url)
    try:
        async with engine.begin() as conn:
            await conn.execute(text("ALTER TABLE documents ADD COLUMN summary TEXT"))
            await conn.execute(text("CREATE TABLE future_things (id INTEGER PRIMARY KEY)"))
            await conn.execute(text("UPDATE alembic_version SET version_num = '9999'"))
    finally:
        await engine.dispose()

    with caplog.at_level(logging.WARNING, logger="palabre.storage"):
        async with SqlDocumentStore(url) as store:
            await store.append("charte", [alice.entry(alice.insert(9, " de la charte"))])
            await store.compact("charte")
            stored = await store.load("charte")
            await store.create_document("statuts", title="Statuts", created_by="alice")
    assert text_of(stored.update) == "Préambule de la charte"
    assert any("newer than this palabre knows" in r.getMessage() for r in caplog.records)
    engine = create_engine(url)
    try:
        async with engine.connect() as conn:
            revision = await conn.scalar(text("SELECT version_num FROM alembic_version"))
    finally:
        await engine.dispose()
    assert revision == "9999", "an older node must never touch a newer schema's revision"
