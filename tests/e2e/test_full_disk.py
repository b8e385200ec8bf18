"""A full disk under a node while clients type: writes fail cleanly, everything comes back.

The data folder is on a 16 MiB tmpfs mounted by the test (root only: elsewhere it is
skipped with the reason, except in CI, where it must run). A file filling the tmpfs plays
the other tenant of the disk.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import sqlite3
import subprocess
from collections.abc import Iterator
from functools import partial
from pathlib import Path

import anyio
import httpx
import pytest

from client.api import PalabreApi
from client.examples import create_example
from tests.conftest import ServerFactory
from tests.e2e.api import text_of
from tests.e2e.test_database_outage import (
    UNLIMITED,
    closed_with,
    pieces_in,
    typing_session,
    wait_ready,
)

MIB = 1024 * 1024
RESERVE = 4 * MIB


@contextlib.contextmanager
def small_disk(where: Path) -> Iterator[Path]:
    """A 16 MiB tmpfs at `where`, unmounted afterwards."""
    where.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=16m,mode=0700", "tmpfs", str(where)],
        capture_output=True, text=True, check=False,
    )
    if mounted.returncode != 0:
        reason = f"cannot mount a tmpfs here: {mounted.stderr.strip() or mounted.returncode}"
        if os.environ.get("CI") == "true":
            pytest.fail(reason)
        pytest.skip(reason)
    try:
        yield where
    finally:
        subprocess.run(["umount", "-l", str(where)], check=True)


def fill(disk: Path, *, leave: int) -> None:
    """Grow the filler file until at most `leave` bytes stay free (0: until ENOSPC)."""
    with (disk / "filler").open("ab") as filler:
        while True:
            free = os.statvfs(disk).f_bavail * os.statvfs(disk).f_frsize
            chunk = min(MIB, free - leave) if leave else MIB
            if chunk <= 0:
                return
            try:
                filler.write(b"\0" * chunk)
                filler.flush()
            except OSError as exc:
                if exc.errno != errno.ENOSPC:
                    raise
                return


async def test_full_disk_refuses_writes_cleanly_and_recovers(
    start_server: ServerFactory, tmp_path: Path, caplog: pytest.LogCaptureFixture,
) -> None:
    with small_disk(tmp_path / "disk") as disk:
        data_dir = disk / "data"
        async with start_server(data_dir=data_dir, min_free_disk_bytes=RESERVE,
                                **UNLIMITED) as server, \
                typing_session(server, "charte") as typist, \
                httpx.AsyncClient(base_url=server.url, timeout=15, headers={
                    "Authorization": f"Bearer {server.token('facilitator', 'Loïc')}"}) as http:
            async with PalabreApi(server.url, server.token("facilitator", "Loïc")) as loic:
                await create_example(loic, "library", "biblio", is_public=False)
                await loic.patch_data("biblio", {"resources": {"cr": {
                    "title": "Compte rendu", "kind": "guide", "tags": []}}})
            first = await http.post("/api/documents/charte/snapshots",
                                    json={"label": "avant", "stage": "premier jet"})
            assert first.status_code == 201, first.text
            stop = anyio.Event()
            async with anyio.create_task_group() as tg:
                tg.start_soon(typist.type, stop)
                await typist.observer.wait_for(partial(typist.seen, 10), timeout=20)

                # Nearly full: under the reserve. Edits still commit; snapshots and uploads
                # are refused before they write, and the node says it is not ready.
                await anyio.to_thread.run_sync(partial(fill, disk, leave=RESERVE // 2))
                low = await wait_ready(server, lambda status, _: status == 503, within=10)
                assert low["error"] == "disk_full" and "MiB free" in str(low["detail"]), low
                refused = await http.post("/api/documents/charte/snapshots",
                                          json={"label": "pendant", "stage": "auditions"})
                assert refused.status_code == 507, refused.text
                assert refused.json()["error"] == "insufficient_storage"
                upload = await http.put("/api/documents/biblio/resources/cr/file",
                                        params={"name": "cr.pdf"}, content=b"%PDF" * 1000,
                                        headers={"Content-Type": "application/pdf"})
                assert upload.status_code == 507, upload.text
                await typist.observer.wait_for(partial(typist.seen, typist.typed - 5),
                                               timeout=20)

                # Full: commits fail, the typist is told to retry, nothing is relayed.
                await anyio.to_thread.run_sync(partial(fill, disk, leave=0))
                await typist.writer.wait_for(partial(closed_with, typist.writer, 1013),
                                             timeout=20)
                stuck = len(pieces_in(text_of(typist.observer)))
                goal = typist.typed + 50
                await typist.writer.wait_for(lambda: typist.typed >= goal, timeout=10)
                assert len(pieces_in(text_of(typist.observer))) == stuck
                metrics = (await http.get("/metrics")).text
                assert "palabre_storage_writes_failing 1.0" in metrics
                assert any("appends fail" in r.getMessage() for r in caplog.records
                           if r.levelno >= logging.ERROR)
                # What is stored stays readable: the archive, and the log behind the text.
                snapshots = await http.get("/api/documents/charte/snapshots")
                assert snapshots.status_code == 200
                assert [s["label"] for s in snapshots.json()["snapshots"]] == ["avant"]

                # Space comes back: everything typed meanwhile is committed.
                (disk / "filler").unlink()
                await wait_ready(server, lambda status, body: body.get("status") == "ready",
                                 within=20)
                stop.set()
            await typist.observer.wait_for(typist.complete, timeout=30)
            assert "palabre_storage_writes_failing 0.0" in (await http.get("/metrics")).text
            again = await http.post("/api/documents/charte/snapshots",
                                    json={"label": "après", "stage": "auditions"})
            assert again.status_code == 201, again.text
        with contextlib.closing(sqlite3.connect(data_dir / "palabre.db")) as db:
            assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)
