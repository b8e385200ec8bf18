"""``palabre verify-archive`` run as a process against a database someone tampered with."""

from __future__ import annotations

import sys
import uuid
from pathlib import Path

import anyio
import pytest
from sqlalchemy import update

from storage.engine import create_engine, database_url_for
from storage.models import SnapshotRow
from storage.sql import SqlDocumentStore
from tests.conftest import postgres_or_skip


async def verify(*args: str) -> tuple[int, str, str]:
    done = await anyio.run_process(
        [sys.executable, "-m", "server", "verify-archive", *args], check=False
    )
    return done.returncode, done.stdout.decode(), done.stderr.decode()


async def archive_three(url: str, doc_id: str) -> None:
    async with SqlDocumentStore(url) as store:
        for n, stage in enumerate(["premier jet", "auditions", "texte final"], start=1):
            await store.add_snapshot(
                doc_id=doc_id, stage=stage, label=f"Étape {n}", created_by="loic-menard",
                created_by_name="Loïc Ménard", state=b"\x00\x00", markdown=f"# Étape {n}\n",
                html=f"<h1>Étape {n}</h1>", annotations_state=b"\x00\x00",
            )


async def tamper(url: str, doc_id: str, number: int) -> None:
    engine = create_engine(url)
    try:
        async with engine.begin() as conn:
            await conn.execute(
                update(SnapshotRow)
                .where(SnapshotRow.doc_id == doc_id, SnapshotRow.number == number)
                .values(markdown="# Étape falsifiée\n")
            )
    finally:
        await engine.dispose()


@pytest.mark.parametrize(
    "backend", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
)
async def test_verify_archive_passes_then_names_the_first_altered_snapshot(
    tmp_path: Path, backend: str
) -> None:
    doc_id = f"charte-{uuid.uuid4().hex[:8]}"
    if backend == "sqlite":
        url = database_url_for(tmp_path)
        target = ["--data-dir", str(tmp_path)]
    else:
        url = await postgres_or_skip()
        target = ["--database-url", url]
    await archive_three(url, doc_id)

    code, out, err = await verify(doc_id, *target)
    assert code == 0, err
    lines = out.splitlines()
    assert [line.split()[:2] for line in lines[:3]] == [["#1", "ok"], ["#2", "ok"], ["#3", "ok"]]
    assert "auditions | Étape 2" in lines[1] and "chain intact" in lines[3]

    await tamper(url, doc_id, 2)
    code, out, err = await verify(doc_id, *target)
    assert code != 0
    assert [line.split()[:2] for line in out.splitlines()] == [
        ["#1", "ok"], ["#2", "BROKEN"], ["#3", "unverified"]
    ]
    assert "chain broken at snapshot #2" in err


async def test_verify_archive_refuses_a_data_dir_without_a_database(tmp_path: Path) -> None:
    code, _, err = await verify("charte", "--data-dir", str(tmp_path / "vide"))
    assert code != 0 and "no palabre.db" in err
    assert not (tmp_path / "vide").exists()
