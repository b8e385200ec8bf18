"""The cost of applying an accepted amendment to a paragraph under live editing.

Two figures:

1. **core**: `crdt.amend_text.apply_amendment` alone (word diff, three-way rebase onto
   the current wording, the edits in the paragraph's XmlText) on a 200-paragraph text
   whose target paragraph others have typed into since the amendment's base; in-process.
2. **served**: ``POST .../amendments/{id}/accept`` against a real ``palabre serve``
   (SQLite) while three socket clients type into the same paragraph (one keystroke each
   every 20 ms): the round trip, which includes the commit of the text edit, the state
   change in ``D.annotations`` (committed), the outdated refresh and the audit entry.

Run: ``.venv/bin/python bench/amend_apply.py [rounds]`` from the repository root.
"""

from __future__ import annotations

import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import anyio
import httpx
from pycrdt import Doc, XmlElement, XmlFragment, XmlText

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from client.session import Session, connect  # noqa: E402
from crdt.amend_text import apply_amendment, block_wording  # noqa: E402
from crdt.schema import find_element  # noqa: E402

PALABRE = Path(sys.executable).parent / "palabre"
WORDS = "Les élus de la commune votent le budget primitif chaque année en séance publique."


def core(rounds: int) -> list[float]:
    """Milliseconds per `apply_amendment` on a 200-paragraph text edited since the base."""
    timings = []
    for n in range(rounds):
        doc: Doc[Any] = Doc()
        fragment = doc.get("default", type=XmlFragment)
        for i in range(200):
            fragment.children.append(XmlElement("paragraph", {"id": f"p{i}"},
                                                [XmlText(f"{WORDS} ({i})")]))
        target = f"p{n % 200}"
        base = f"{WORDS} ({n % 200})"
        element = find_element(doc, target)
        assert element is not None
        text = element.children[0]
        assert isinstance(text, XmlText)
        text.insert(0, "Désormais, ")  # someone typed since the base
        text.insert(len(str(text).encode()), " Fin.")
        proposed = base.replace("chaque année", "chaque semestre").replace("élus", "citoyens")
        start = time.perf_counter()
        apply_amendment(doc, paragraph_id=target, kind="replace", base=base, text=proposed,
                        new_id="x")
        timings.append((time.perf_counter() - start) * 1000)
        assert "citoyens" in (block_wording(doc, target) or "")
    return timings


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _token(data: Path, role: str, name: str) -> str:
    return subprocess.run(
        [str(PALABRE), "token", "--role", role, "--name", name, "--data-dir", str(data)],
        capture_output=True, text=True, check=True, cwd=REPO).stdout.strip()


def _serve(work: Path, port: int) -> subprocess.Popen[bytes]:
    env = {**os.environ, "PALABRE_LIMIT_SOCKETS_PER_PRINCIPAL": "0"}
    return subprocess.Popen(
        [str(PALABRE), "serve", "--host", "127.0.0.1", "--port", str(port),
         "--data-dir", str(work)], cwd=REPO, env=env, stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL, start_new_session=True)


async def _type_in(session: Session, pid: str, at_start: bool, done: anyio.Event) -> None:
    """One keystroke every 20 ms at the start or the end of the paragraph, until `done`."""
    while not done.is_set():
        element = find_element(session.doc, pid)
        assert element is not None
        text = element.children[0]
        assert isinstance(text, XmlText)
        text.insert(0 if at_start else len(str(text).encode()), "k")
        await anyio.sleep(0.02)


async def served(rounds: int) -> list[float]:
    """Milliseconds per accept round trip while three clients type in the paragraph."""
    work = Path(tempfile.mkdtemp(prefix="palabre-amend-"))
    port = _free_port()
    proc = _serve(work, port)
    url = f"http://127.0.0.1:{port}"
    try:
        boss = _token(work, "facilitator", "Bench")
        typists = [_token(work, "member", f"Typist {i}") for i in range(3)]
        async with httpx.AsyncClient(base_url=url, timeout=30,
                                     headers={"Authorization": f"Bearer {boss}"}) as http:
            with anyio.fail_after(60):
                while True:
                    try:
                        if (await http.get("/healthz")).status_code == 200:
                            break
                    except httpx.TransportError:
                        pass
                    await anyio.sleep(0.1)
            markdown = "\n\n".join(f"{WORDS} ({i})" for i in range(rounds))
            await http.post("/api/documents", json={"id": "bench", "title": "Bench",
                                                    "markdown": markdown})
            blocks = (await http.get("/api/documents/bench/content?format=json")).json()
            ids = [b["id"] for b in blocks["blocks"] if b["type"] == "paragraph"]
            timings = []
            for i, pid in enumerate(ids):
                base = f"{WORDS} ({i})"
                made = await http.post("/api/documents/bench/amendments", json={
                    "paragraph_id": pid, "kind": "replace",
                    "text": base.replace("chaque année", "chaque semestre")})
                aid = made.json()["id"]
                async with connect(url, "bench", typists[0]) as a, \
                        connect(url, "bench", typists[1]) as b, \
                        connect(url, "bench", typists[2]) as c:
                    for session in (a, b, c):
                        await session.synced()
                    done = anyio.Event()
                    async with anyio.create_task_group() as group:
                        group.start_soon(_type_in, a, pid, True, done)
                        group.start_soon(_type_in, b, pid, False, done)
                        group.start_soon(_type_in, c, pid, False, done)
                        await anyio.sleep(0.2)  # typing under way
                        start = time.perf_counter()
                        answer = await http.post(f"/api/documents/bench/amendments/{aid}/accept")
                        timings.append((time.perf_counter() - start) * 1000)
                        done.set()
                    assert answer.status_code == 200, answer.text
            return timings
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def summary(name: str, timings: list[float]) -> str:
    ordered = sorted(timings)
    p95 = ordered[max(0, int(len(ordered) * 0.95) - 1)]
    return (f"{name}: n={len(timings)} median {statistics.median(timings):.2f} ms, "
            f"p95 {p95:.2f} ms, max {max(timings):.2f} ms")


def main() -> None:
    rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 20
    print(summary("core apply_amendment (200 paragraphs)", core(max(rounds, 50))))
    print(summary("served accept, 3 typists in the paragraph", anyio.run(served, rounds)))


if __name__ == "__main__":
    main()
