"""``palabre scenario`` and ``palabre demo`` against real servers.

A short assembly (3 sessions, 5 members, 20 citizens, sped up) runs as the CLI against a
``palabre serve`` subprocess and must pass every check; the same scenario must fail, and
exit non-zero, when the archive is tampered with in the database before the checks; the
demo loads its stages and comments once, however often it runs.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import anyio
import pytest
from sqlalchemy import update

from client.scenario import ScenarioConfig, run_scenario
from client.scenario._api import AssemblyApi
from client.scenario.demo import DEMO_DOC
from server.app.assembly import archive_verifier
from storage.engine import create_engine, database_url_for
from storage.models import SnapshotRow
from tests.conftest import ServerFactory, token_for
from tests.e2e.serverprocess import server_process

CHECKS = (
    "session 1: every client converged",
    "session 2: every client converged",
    "session 3: every client converged",
    "every snapshot reads back, in every format, as when taken",
    "the archive's hash chain verifies",
    "the stages list every snapshot in order",
    "the adopted text equals the last session's snapshot",
    "every comment is on the paragraph it was made on",
    "hidden comments are hidden from citizens, the others shown",
    "no update lost: each member's paragraph is archived as the member left it",
    "amendments: the vote decided as the members voted",
    "amendment sitting: every client converged",
    "amendments: accepted wording present, rejected absent",
    "amendments: words typed while they were applied are kept",
    "amendments: the competing amendment is outdated once one is applied",
    "amendments: the tallies are in the sitting's minutes",
)


async def palabre(*args: str) -> tuple[int, str, str]:
    done = await anyio.run_process([sys.executable, "-m", "server", *args], check=False)
    return done.returncode, done.stdout.decode(), done.stderr.decode()


@pytest.mark.timeout(300)  # a whole (small) assembly on a shared machine
async def test_a_short_assembly_runs_every_check_clean(tmp_path: Path) -> None:
    async with server_process(tmp_path / "data") as server:
        code, out, err = await palabre(
            "scenario", "--url", server.url, "--data-dir", str(server.data_dir),
            "--sessions", "3", "--members", "5", "--citizens", "20", "--speed", "60", "--watch",
        )
    assert code == 0, out + err
    assert f"watch it: {server.url}/d/assemblee-" in out and "?token=" in out
    for check in CHECKS:
        assert f"[ok] {check}:" in out
    assert "FAILED" not in out and out.rstrip().endswith("all checks passed")
    assert "server-side: 5 snapshot(s) verified in the database" in out
    table = {
        cells[1].strip(): cells[2].strip() for line in out.splitlines()
        if line.startswith("| ") and len(cells := line.split("|")) == 4
    }
    assert table["snapshots"] == "5" and table["comments / replies"].startswith("20 / ")
    assert int(table["edits (words typed, spans deleted)"]) > 0
    assert table["edit latency seen by members p50 / p99"].endswith("deliveries)")
    assert table["server CPU"].endswith(" s") and table["server memory (peak RSS)"].endswith("MiB")


@pytest.mark.timeout(300)
async def test_an_archive_altered_before_the_checks_fails_them(
    start_server: ServerFactory,
) -> None:
    async with start_server() as server:
        data_dir = server.settings.data_dir

        async def tamper(doc_id: str) -> None:
            engine = create_engine(database_url_for(data_dir))
            try:
                async with engine.begin() as conn:
                    await conn.execute(
                        update(SnapshotRow)
                        .where(SnapshotRow.doc_id == doc_id, SnapshotRow.number == 1)
                        .values(markdown="# Charte falsifiée\n")
                    )
            finally:
                await engine.dispose()

        def mint(role: str, name: str, sub: str) -> str:
            return token_for(data_dir, role, name, sub=sub)

        report = await run_scenario(ScenarioConfig(
            url=server.url, facilitator_token=server.token("facilitator", "Loïc Ménard"),
            mint=mint, sessions=1, members=3, citizens=4, speed=60, session_seconds=30,
            archive_verifier=archive_verifier(server.settings), before_checks=tamper,
            say=lambda line: None,
        ))
    failed = {check.name: check.detail for check in report.failed}
    assert report.exit_code == 1
    assert set(failed) == {"every snapshot reads back, in every format, as when taken",
                           "the archive's hash chain verifies"}
    assert "#1 md" in failed["every snapshot reads back, in every format, as when taken"]
    assert "chain broken at snapshot #1" in failed["the archive's hash chain verifies"]
    assert "FAILED" in report.render() and "2 check(s) failed" in report.render()


async def test_demo_loads_stages_and_comments_once(
    tmp_path: Path, start_server: ServerFactory
) -> None:
    data_dir = tmp_path / "data"
    for _ in range(2):
        code, out, err = await palabre("demo", "--data-dir", str(data_dir))
        assert code == 0, out + err
        assert f"demo: {DEMO_DOC}: 3 snapshots, 5 comments" in out
        assert "demo: data examples: /embed/exemple-catalogue, /embed/exemple-library" in out
        assert f"/d/{DEMO_DOC}?token=" in out
    async with start_server(data_dir=data_dir) as server, AssemblyApi(
        server.url, server.token("citizen", "Inès Benali")
    ) as api:
        stages = await api.list_stages(DEMO_DOC)
        comments = await api.list_annotations(DEMO_DOC)
        content = json.loads(await api.get_content(DEMO_DOC, "json"))
        catalogue = await api.get_data("exemple-catalogue")
        listed = [str(d["id"]) for d in (await api.list_documents())[0]]
    assert [(s["stage"], len(s["snapshots"])) for s in stages] == [
        ("premier jet", 1), ("auditions", 1), ("finalisation", 1)
    ]
    assert len(comments) == 5 and sum(len(c["replies"]) for c in comments) == 3
    assert [c["status"] for c in comments].count("resolved") == 1
    text = " ".join(str(block["text"]) for block in content["blocks"])
    assert text.count("garde d'enfants gratuite") == 1
    assert text.count("peuvent voter à la mairie") == 1
    assert catalogue["projects"], "the example catalogue has projects"
    assert all(f"exemple-{name}" in listed for name in ("catalogue", "library", "monitoring",
                                                          "agenda"))
