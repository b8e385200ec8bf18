"""What a document's size and a client's write cost palabre's event loop (issue 21, shape).

Three measures, each on a fresh ``palabre serve`` subprocess or in process:

- ``patch N``: fill a monitoring document with N entries (patches of 800), then time 20
  one-entry ``PATCH``es and one ``/healthz`` (the latency an honest client sees on a
  document at the limit: ``patch 4980``).
- ``flood N``: one ``PATCH`` of N new entries while ``/healthz`` is polled; prints the
  request's time and the worst ``/healthz`` answer (how long the loop was held).
- ``keystroke N``: the text document guard's cost per keystroke on N paragraphs.
- ``copies N``: 50 typists' N interleaved keystrokes into a root ``Y.Text`` (the soak's
  and the bench's shape) through the guard: the memory it adds to the live document's.

Run: ``PYTHONPATH=. .venv/bin/python bench/shape_costs.py patch 4980`` from the repository root.
"""

from __future__ import annotations

import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import anyio
import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.e2e.serverprocess import ServerProcess, server_process

MERGE_PATCH = {"Content-Type": "application/merge-patch+json"}


def _auth(server: ServerProcess, role: str, name: str) -> dict[str, str]:
    return {"Authorization": "Bearer " + server.token(role, name)}


async def _monitoring(http: httpx.AsyncClient, server: ServerProcess) -> None:
    created = await http.post("/api/documents", headers=_auth(server, "facilitator", "Awa"),
                              json={"id": "suivi", "title": "Suivi", "kind": "data",
                                    "schema": "monitoring"})
    assert created.status_code == 201, created.text


async def patch(n: int) -> None:
    """Small-patch latency on a document of `n` entries."""
    async with server_process(Path(tempfile.mkdtemp())) as server, \
            httpx.AsyncClient(base_url=server.url, timeout=120) as http:
        await _monitoring(http, server)
        citizen = {**_auth(server, "citizen", "Zoé"), **MERGE_PATCH}
        for start in range(0, n, 800):
            entries = {f"e{i}": {"body": f"Constat numéro {i}"}
                       for i in range(start, min(n, start + 800))}
            reply = await http.patch("/api/documents/suivi/data", headers=citizen,
                                     json={"entries": entries})
            assert reply.status_code == 200, reply.text[:300]
        latencies = []
        for i in range(20):
            started = time.perf_counter()
            reply = await http.patch("/api/documents/suivi/data", headers=citizen,
                                     json={"entries": {f"small{i}": {"body": "Petit"}}})
            latencies.append(time.perf_counter() - started)
            assert reply.status_code == 200, reply.text[:300]
        started = time.perf_counter()
        await http.get("/healthz")
        health = time.perf_counter() - started
        print(f"{n} entries: one-entry PATCH median {statistics.median(latencies) * 1e3:.1f} ms,"
              f" max {max(latencies) * 1e3:.1f} ms; /healthz {health * 1e3:.1f} ms")


async def flood(n: int) -> None:
    """One patch of `n` new entries, and the worst ``/healthz`` meanwhile."""
    async with server_process(Path(tempfile.mkdtemp())) as server, \
            httpx.AsyncClient(base_url=server.url, timeout=120) as http:
        await _monitoring(http, server)
        body = json.dumps({"entries": {f"e{i}": {"body": f"Constat {i}"}
                                       for i in range(n)}}).encode()
        worst = 0.0
        done = False

        async def poll() -> None:
            nonlocal worst
            while not done:
                started = time.perf_counter()
                await http.get("/healthz")
                worst = max(worst, time.perf_counter() - started)

        async with anyio.create_task_group() as tg:
            tg.start_soon(poll)
            await anyio.sleep(0.2)  # a baseline of quick answers first
            started = time.perf_counter()
            reply = await http.patch("/api/documents/suivi/data", content=body,
                                     headers={**_auth(server, "citizen", "Zoé"), **MERGE_PATCH})
            took = time.perf_counter() - started
            await anyio.sleep(0.2)  # let the poll in flight answer
            done = True
        print(f"PATCH of {n} entries ({len(body)} bytes): {reply.status_code} in {took:.2f} s;"
              f" worst /healthz {worst * 1e3:.0f} ms")


def keystroke(n: int) -> None:
    """The text guard's cost per keystroke on `n` paragraphs."""
    from pycrdt import Doc, XmlElement, XmlFragment, XmlText

    from server.access.auth import Principal
    from server.access.permissions import Role
    from server.limits import Limits
    from server.rooms.hooks import RoomGuard

    live: Doc = Doc()  # type: ignore[type-arg]
    fragment = live.get("default", type=XmlFragment)
    for i in range(n):
        sentence = f"Alinéa {i} : la commune garantit l'égalité d'accès aux services. " * 3
        fragment.children.append(XmlElement("paragraph", {"id": f"p-{i}"}, [XmlText(sentence)]))
    editor: Doc = Doc()  # type: ignore[type-arg]
    editor.apply_update(live.get_update())
    paragraphs = editor.get("default", type=XmlFragment).children
    guard = RoomGuard(Limits())
    who = Principal(sub="zoe", name="Zoé", role=Role("member"))
    times = []
    for k in range(300):
        before = editor.get_state()
        text = paragraphs[k % n].children[0]  # type: ignore[union-attr]
        text.insert(0, "x")  # type: ignore[union-attr]
        update = editor.get_update(before)
        started = time.perf_counter()
        assert guard(live, who, update) is None
        times.append(time.perf_counter() - started)
        live.apply_update(update)  # committed, as the room would
    rest = sorted(times[1:])
    print(f"{n} paragraphs ({len(live.get_update())} bytes): first edit {times[0] * 1e3:.1f} ms"
          f" (document read), then median {statistics.median(rest) * 1e6:.0f} us,"
          f" p99 {rest[int(len(rest) * 0.99)] * 1e6:.0f} us per keystroke")


def _rss_mib() -> float:
    return int(Path("/proc/self/statm").read_text().split()[1]) * 4096 / 2**20


def copies(n: int) -> None:
    """What the guard holds beside the live document when 50 typists type `n` keystrokes
    into a root ``Y.Text``: the updates are made here, then applied in two fresh processes,
    to the live document alone and through the guard first; each reports its RSS growth."""
    import subprocess

    from pycrdt import Doc, Text

    editors = [Doc() for _ in range(50)]  # type: ignore[var-annotated]
    live: Doc = Doc()  # type: ignore[type-arg]
    updates = []
    for k in range(n):
        editor = editors[k % 50]
        editor.apply_update(live.get_update(editor.get_state()))
        before = editor.get_state()
        body = editor.get("body", type=Text)
        body.insert(len(body), "mot ")
        update = editor.get_update(before)
        live.apply_update(update)
        updates.append(update)
    with tempfile.NamedTemporaryFile(suffix=".json", delete=False) as out:
        out.write(json.dumps([u.hex() for u in updates]).encode())
    for mode in ("alone", "guard"):
        subprocess.run([sys.executable, __file__, "_apply", out.name, mode], check=True)


def _apply(path: str, mode: str) -> None:
    """Apply the updates in `path` to a live document, through the guard if `mode` says so."""
    from pycrdt import Doc

    from server.access.auth import Principal
    from server.access.permissions import Role
    from server.limits import Limits
    from server.rooms.hooks import RoomGuard

    updates = [bytes.fromhex(u) for u in json.loads(Path(path).read_text())]
    guard = RoomGuard(Limits()) if mode == "guard" else None
    who = Principal(sub="zoe", name="Zoé", role=Role("member"))
    live: Doc = Doc()  # type: ignore[type-arg]
    start = _rss_mib()
    for update in updates:
        if guard is not None:
            assert guard(live, who, update) is None
        live.apply_update(update)
    shadow = guard is not None and guard._shape._shadow is not None
    print(f"{len(updates)} keystrokes of 50 typists, {mode:5}: +{_rss_mib() - start:.1f} MiB RSS"
          f"{' (shadow kept)' if shadow else ''}, state {len(live.get_update())} bytes")


if __name__ == "__main__":
    what, count = sys.argv[1], int(sys.argv[2]) if sys.argv[2].isdigit() else 0
    if what == "keystroke":
        keystroke(count)
    elif what == "copies":
        copies(count)
    elif what == "_apply":
        _apply(sys.argv[2], sys.argv[3])
    else:
        anyio.run({"patch": patch, "flood": flood}[what], count)
