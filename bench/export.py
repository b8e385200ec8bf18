"""Export timings: every format of a 13-article and a 100-article text, and through HTTP.

Renders in-process (`crdt.publish`, the work a worker thread does), then asks a real
server started on a loopback port for the 100-article PDF twice: the first request
renders, the second comes from the cache (keyed by the version's chain hash).

Run: ``.venv/bin/python bench/export.py [repeats]`` from the repository root.
"""

from __future__ import annotations

import asyncio
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from crdt.convert import markdown_to_doc  # noqa: E402
from crdt.publish import FORMATS, REDLINE_FORMATS, Edition, export, redline  # noqa: E402

CHARTE = (REPO / "tests" / "fixtures" / "charte.md").read_text(encoding="utf-8")
SENTENCE = ("La commune s'engage à publier chaque avis de l'assemblée : le conseil y répond "
            "dans un délai de deux mois ; faute de réponse, la question est inscrite d'office ? ")


def hundred_articles() -> str:
    """A 100-article text: each article a heading, two paragraphs and a three-item list."""
    parts = ["# Grand règlement de la participation\n"]
    for n in range(1, 101):
        parts.append(f"## Article {n} — Disposition {n}\n\n{SENTENCE * 3}\n\n{SENTENCE * 2}\n\n"
                     "- premier point ;\n- deuxième point ;\n- troisième point.\n")
    return "\n".join(parts)


def edition(markdown: str, number: int) -> Edition:
    doc = markdown_to_doc(markdown, max_bytes=10_000_000)
    return Edition(doc_id="bench", title="Banc d'essai", state=doc.get_update(), number=number,
                   stage="adoption", label="Version adoptée", created_at=1_796_456_862.0,
                   adopted=True, content_hash="0" * 64, chain_hash=f"{number:064d}")


def timed(work: Callable[[], bytes], repeats: int) -> tuple[float, float, int]:
    """Median and max seconds of `repeats` calls, and the output's size."""
    runs = []
    size = 0
    for _ in range(repeats):
        started = time.perf_counter()
        size = len(work())
        runs.append(time.perf_counter() - started)
    return statistics.median(runs), max(runs), size


async def over_http(ed_markdown: str) -> tuple[float, float]:
    """Seconds of the first (rendering) and second (cached) HTTP request of the PDF."""
    import httpx
    import uvicorn

    from client.api import PalabreApi
    from server.access.auth import Role, mint_token
    from server.access.secret import load_or_create_secret
    from server.app.factory import create_app
    from server.settings import Settings

    with tempfile.TemporaryDirectory() as folder:
        settings = Settings(host="127.0.0.1", port=0, data_dir=Path(folder))
        app = create_app(settings)
        config = uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning")
        server = uvicorn.Server(config)
        task = asyncio.create_task(server.serve())
        while not server.started:  # noqa: ASYNC110 (uvicorn only exposes a flag)
            await asyncio.sleep(0.05)
        port = server.servers[0].sockets[0].getsockname()[1]
        url = f"http://127.0.0.1:{port}"
        token = mint_token(load_or_create_secret(Path(folder)), sub="bench", name="Bench",
                           role=Role.FACILITATOR, ttl=600)
        async with PalabreApi(url, token) as api:
            await api.create_document("bench", "Banc d'essai", markdown=ed_markdown)
        async with httpx.AsyncClient(base_url=url, timeout=120,
                                     headers={"Authorization": f"Bearer {token}"}) as client:
            made = await client.post("/api/documents/bench/snapshots",
                                     json={"label": "v1", "stage": "bench"})
            assert made.status_code == 201, made.text
            times = []
            for _ in range(2):
                started = time.perf_counter()
                response = await client.get("/api/documents/bench/export",
                                            params={"format": "pdf", "version": "1"})
                assert response.status_code == 200, response.text
                times.append(time.perf_counter() - started)
        server.should_exit = True
        await task
    return times[0], times[1]


def main() -> None:
    """Print one line per text and format."""
    repeats = int(sys.argv[1]) if len(sys.argv) > 1 else 3
    big = hundred_articles()
    for name, markdown in (("charter (13 articles)", CHARTE), ("100 articles", big)):
        ed = edition(markdown, 1)
        print(f"{name}: state {len(ed.state)} bytes")
        for fmt in FORMATS:
            median, worst, size = timed(lambda ed=ed, fmt=fmt: export(ed, fmt), repeats)
            print(f"  {fmt:8} median {median * 1000:8.1f} ms  max {worst * 1000:8.1f} ms  "
                  f"{size:9} bytes")
        later = edition(markdown.replace("deux mois", "trois mois", 40), 2)
        for fmt in REDLINE_FORMATS:
            median, worst, size = timed(lambda fmt=fmt, ed=ed, later=later: redline(ed, later, fmt),
                                          repeats)
            print(f"  redline {fmt:4} median {median * 1000:6.1f} ms  max {worst * 1000:8.1f} ms"
                  f"  {size:9} bytes")
    first, second = asyncio.run(over_http(big))
    print(f"HTTP 100-article PDF: first {first * 1000:.0f} ms (rendered), "
          f"second {second * 1000:.0f} ms (cached)")


if __name__ == "__main__":
    main()
