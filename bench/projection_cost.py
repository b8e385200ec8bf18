"""The cost of the public view of ``D.annotations`` (`crdt.projection`, `server.rooms.projection`).

Part 1, in process, side by side: an annotations document of COMMENTS comments (two
replies each) and AMENDMENTS amendments (SUPPORTERS supports each) written by PEOPLE
people; then, for each of CHANGES server writes (a comment, a reply, a support, a status),
the time of the write itself (the transaction and its update, what the server does for
every change anyway) beside the time to project that update and apply it to the view;
and the time to project the whole state (a room loading).

Part 2, end to end: a real server (``python -m server serve``, SQLite, fresh data dir),
POSTED comments through the API while a citizen's socket follows the document; the
server's own ``palabre_projection_seconds`` histogram (projection with the people read
from the database, applied, relayed) per change.

Run: ``.venv/bin/python bench/projection_cost.py`` from the repository root.
"""

from __future__ import annotations

import asyncio
import os
import re
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

import httpx  # noqa: E402
from pycrdt import Doc  # noqa: E402
from websockets.asyncio.client import connect  # noqa: E402

from crdt.amendments import add_amendment, set_support  # noqa: E402
from crdt.annotations import Author, add_annotation, add_reply, set_status  # noqa: E402
from crdt.projection import Lens, Public  # noqa: E402
from crdt.protocol import encode_sync_step1  # noqa: E402

PEOPLE, COMMENTS, AMENDMENTS, SUPPORTERS, CHANGES, POSTED = 60, 1000, 100, 10, 400, 200


def people() -> list[Author]:
    return [Author(sub=f"person-{i}", name=f"Personne Numéro {i}") for i in range(PEOPLE)]


def names() -> dict[str, Public]:
    return {a.sub: Public(f"membre-{i}", f"Membre {i}") for i, a in enumerate(people())}


def in_process() -> None:
    authors = people()
    shown = names()
    doc: Doc[Any] = Doc()
    for i in range(COMMENTS):
        add_annotation(doc, paragraph_id=f"p{i % 50}", body=f"Commentaire {i}",
                       author=authors[i % PEOPLE], annotation_id=f"c{i}")
        for j in range(2):
            add_reply(doc, f"c{i}", body=f"Réponse {j}", author=authors[(i + j + 1) % PEOPLE])
    amendment_ids = []
    for i in range(AMENDMENTS):
        written = add_amendment(doc, paragraph_id=f"p{i % 50}", kind="replace", text="Texte",
                                base="Base", justification="Pourquoi",
                                author_sub=authors[i % PEOPLE].sub,
                                author_name=authors[i % PEOPLE].name)
        amendment_ids.append(written.amendment.id)
        for j in range(SUPPORTERS):
            supporter = authors[(i + j) % PEOPLE]
            set_support(doc, written.amendment.id, supporter.sub, supporter.name,
                        supported=True)
    state = doc.get_update()
    lens = Lens()
    view: Doc[Any] = Doc()
    started = time.perf_counter()
    view.apply_update(lens.project(lens.read(state), shown))
    whole = time.perf_counter() - started

    writes, projections = [], []
    for n in range(CHANGES):
        author = authors[n % PEOPLE]
        started = time.perf_counter()
        before = doc.get_state()
        kind = n % 4
        if kind == 0:
            add_annotation(doc, paragraph_id="p1", body=f"Nouveau {n}", author=author)
        elif kind == 1:
            add_reply(doc, f"c{n}", body=f"Réponse {n}", author=author)
        elif kind == 2:
            set_support(doc, amendment_ids[n % AMENDMENTS], author.sub, author.name,
                        supported=n % 8 == 2)
        else:
            set_status(doc, f"c{n}", "resolved")
        update = doc.get_update(before)
        writes.append(time.perf_counter() - started)
        started = time.perf_counter()
        view.apply_update(lens.project(lens.read(update), shown))
        projections.append(time.perf_counter() - started)
    print(f"document: {COMMENTS} comments x 3 messages, {AMENDMENTS} amendments x "
          f"{SUPPORTERS} supports, {PEOPLE} people; state {len(state) / 1024:.0f} KiB")
    print(f"whole state projected (room load): {whole * 1000:.1f} ms")
    print(f"per change, median / p95 over {CHANGES}: write "
          f"{statistics.median(writes) * 1000:.3f} / {_p95(writes) * 1000:.3f} ms, "
          f"projection {statistics.median(projections) * 1000:.3f} / "
          f"{_p95(projections) * 1000:.3f} ms "
          f"(ratio of medians {statistics.median(projections) / statistics.median(writes):.2f})")


def _p95(values: list[float]) -> float:
    return sorted(values)[int(len(values) * 0.95)]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _token(data: str, role: str, name: str) -> str:
    return subprocess.run(
        [sys.executable, "-m", "server", "token", "--role", role, "--name", name,
         "--data-dir", data], check=True, capture_output=True, text=True, cwd=REPO,
    ).stdout.strip()


def _histogram(metrics: str) -> tuple[float, float]:
    """The sum and count of ``palabre_projection_seconds`` (0 before the first)."""
    total = re.search(r"^palabre_projection_seconds_sum (\S+)", metrics, re.M)
    count = re.search(r"^palabre_projection_seconds_count (\S+)", metrics, re.M)
    return (float(total.group(1)) if total else 0.0, float(count.group(1)) if count else 0.0)


async def end_to_end(data: str, port: int) -> None:
    url = f"http://127.0.0.1:{port}"
    async with httpx.AsyncClient(base_url=url, timeout=30) as http:
        for _ in range(200):
            try:
                if (await http.get("/healthz")).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            await asyncio.sleep(0.1)
        boss = {"Authorization": f"Bearer {_token(data, 'facilitator', 'Loïc Ménard')}"}
        made = await http.post("/api/documents", headers=boss, json={
            "id": "charte", "title": "Charte", "markdown": "# Charte\n\nUn.\n"})
        assert made.status_code == 201, made.text
        block = (await http.get("/api/documents/charte/content", headers=boss,
                                params={"format": "json"})).json()["blocks"][1]["id"]
        member = {"Authorization": f"Bearer {_token(data, 'member', 'Amélie Poulain')}"}
        citizen = _token(data, "citizen", "Carla Dupré")
        async with connect(f"ws://127.0.0.1:{port}/ws/charte.annotations?token={citizen}",
                           max_size=None) as ws:
            await ws.send(encode_sync_step1(Doc().get_state()))
            warm = await http.post("/api/documents/charte/annotations", headers=member,
                                   json={"paragraph_id": block, "body": "Premier avis"})
            assert warm.status_code == 201, warm.text  # the author is recorded by now
            before = _histogram((await http.get("/metrics")).text)
            started = time.perf_counter()
            for n in range(POSTED):
                posted = await http.post("/api/documents/charte/annotations",
                                         headers=member,
                                         json={"paragraph_id": block, "body": f"Avis {n}"})
                assert posted.status_code == 201, posted.text
            elapsed = time.perf_counter() - started
        after = _histogram((await http.get("/metrics")).text)
    total, count = after[0] - before[0], after[1] - before[1]
    print(f"end to end: {POSTED} comments posted in {elapsed:.2f} s "
          f"({elapsed / POSTED * 1000:.1f} ms per POST); projected {count:.0f} updates, "
          f"{total / count * 1000:.2f} ms each on average (people read from SQLite)")


def main() -> None:
    """Both parts, in turn."""
    in_process()
    data = tempfile.mkdtemp(prefix="palabre-projection-")
    port = _free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "server", "serve", "--port", str(port), "--data-dir", data],
        cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        env={**os.environ, "PALABRE_HTTP_RATE_PER_SECOND": "0"})
    try:
        asyncio.run(end_to_end(data, port))
    finally:
        server.terminate()
        server.wait(timeout=20)


if __name__ == "__main__":
    main()
