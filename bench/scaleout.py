#!/usr/bin/env python3
"""Scale-out benchmark: W1, W2 and W3 on one palabre node vs two nodes relaying over Redis.

    python3 bench/scaleout.py [--repeats 1] [--w2-rates 2,4,8,16,32,64] [--json OUT]
    python3 bench/scaleout.py --workloads w3 --repeats 3      # many documents, affinity

Every run starts fresh server processes on free ports, all on the same PostgreSQL
(``--database-url``, default the test database; unique document ids per run):

- ``one``: one node, no Redis (the reference);
- ``one+redis``: one node with ``PALABRE_REDIS_URL`` (it publishes every commit; nobody
  else listens): the Redis relay's own cost on the publishing side;
- ``two``: two nodes with Redis, the room's clients spread evenly (client i on node i mod 2).

W3 (``--workloads w3``: ``--w3-rooms`` rooms of 4 clients, one edit a second each, 10 s):
``one``; ``two-affinity``, two nodes where every client of a document connects to the node
its id hashes to (FNV-1a of the id, mod 2: what a proxy routing on the document id in the
``/ws/{doc}`` URL does, docs/deployment.md), so each document lives on one node; and
``two-spread``, its clients alternating over the nodes (every document on both). Reported:
server CPU per 1,000 deliveries summed over the nodes, and each two-node set-up's ratio to
one node's (targets: affinity ≤ 1.1×).

The nodes use a scratch database created next to ``--database-url``'s and dropped at the
end, so what the test suite leaves in the shared one (webhooks to unreachable hosts,
hundreds of MB of logs) stays out of the figures.

W1 and W2 are those of ``bench/run.py`` (same load generator, same pass rule: p99 < 100 ms,
every update delivered, texts converged). Server CPU is the sum over the node processes.
Reported: W2's highest held rate for ``one`` and ``two`` and their ratio, and CPU µs per
accepted update at W1 for ``one`` and ``one+redis`` (their difference is the cost of
publishing) and ``two`` (which also pays applying the peer's updates).
Standard library only (plus node for the load generator); palabre in ``.venv``.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from run import (
    REPO,
    cpu_seconds,
    ensure_node_modules,
    free_port,
    loadgen,
    log,
    machine_busy_s,
    palabre_bin,
    palabre_command,
    palabre_token,
    passed,
    with_checkout,
)

SETUPS = ("one", "one+redis", "two")
W3_SETUPS = ("one", "two-affinity", "two-spread")
VENV_PYTHON = REPO / ".venv" / "bin" / "python"
_EXECUTE_SQL = """import asyncio, sys, asyncpg
async def main():
    conn = await asyncpg.connect(sys.argv[1])
    await conn.execute(sys.argv[2])
    await conn.close()
asyncio.run(main())"""
DEFAULT_DB = "postgresql+asyncpg://postgres@127.0.0.1:5432/test"
DEFAULT_REDIS = "redis://127.0.0.1:6379/0"


@contextlib.contextmanager
def nodes(
    setup: str, work: Path, args: argparse.Namespace
) -> Iterator[list[tuple[int, subprocess.Popen[bytes]]]]:
    """Start the setup's nodes (one data dir for the secret); yield their (port, process)."""
    data = Path(tempfile.mkdtemp(prefix=f"{setup}-", dir=work))
    prefix = f"palabre-bench-{uuid.uuid4().hex[:8]}:"
    count = 2 if setup.startswith("two") else 1
    started: list[tuple[int, subprocess.Popen[bytes]]] = []
    try:
        for index in range(count):
            port = free_port()
            env = dict(os.environ)
            env.update(PALABRE_DATABASE_URL=args.database_url,
                       PALABRE_SOCKET_UPDATE_RATE_PER_SECOND="0",
                       PALABRE_LIMIT_SOCKETS_PER_PRINCIPAL="0",
                       PALABRE_LIMIT_AWARENESS_RATE_PER_SECOND="0",
                       PALABRE_LIMIT_SOCKET_OPENS_PER_SECOND="0",
                       # the bench's member token creates documents by connecting (y-websocket)
                       PALABRE_CREATE_ON_CONNECT="members",
                       PALABRE_NODE_ID=f"bench{index}")
            if setup != "one":
                env.update(PALABRE_REDIS_URL=args.redis_url, PALABRE_REDIS_PREFIX=prefix)
            logf = open(work / f"{setup}-{port}.log", "wb")  # noqa: SIM115
            proc = subprocess.Popen(
                [*palabre_command(REPO), "serve", "--host", "127.0.0.1", "--port", str(port),
                 "--data-dir", str(data)],
                cwd=REPO, env=with_checkout(env, REPO), stdout=logf, stderr=subprocess.STDOUT, start_new_session=True,
            )
            logf.close()
            started.append((port, proc))
        for port, proc in started:
            wait_ready(port, proc, want_redis=setup != "one")
        yield started
    finally:
        for _, proc in started:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGTERM)
        for _, proc in started:
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=10)
        shutil.rmtree(data, ignore_errors=True)


@contextlib.contextmanager
def scratch_database(url: str) -> Iterator[str]:
    """A fresh PostgreSQL database beside `url`'s (same server and role), dropped afterwards."""
    parts = urllib.parse.urlsplit(url)
    admin = parts._replace(scheme="postgresql").geturl()  # asyncpg's spelling of the URL

    def execute(sql: str) -> None:
        subprocess.run([str(VENV_PYTHON), "-c", _EXECUTE_SQL, admin, sql], check=True,
                       timeout=60)

    name = f"palabre_bench_{uuid.uuid4().hex[:10]}"
    execute(f'CREATE DATABASE "{name}"')
    try:
        yield parts._replace(path=f"/{name}").geturl()
    finally:
        execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def wait_ready(port: int, proc: subprocess.Popen[bytes], *, want_redis: bool) -> None:
    """Poll /readyz until the node is ready (joined Redis too when it has one)."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"node on {port} exited with {proc.returncode}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=1) as res:
                body = json.loads(res.read())
            if body.get("status") == "ready" and (not want_redis or "cluster" in body):
                return
        except OSError:
            pass
        time.sleep(0.05)
    raise RuntimeError(f"node on {port} not ready within 60 s")


def run_once(setup: str, work: Path, args: argparse.Namespace, *, rate: float,
             duration: float, drain: float, rooms: int = 1) -> dict[str, Any]:
    """One edit workload against fresh nodes of `setup`: one room of ``--clients``
    clients, or `rooms` rooms of 4 (W3)."""
    stem = f"scale-{setup.replace('+', '-')}-{uuid.uuid4().hex[:8]}"
    specs = ([{"docId": stem, "clients": args.clients, "editors": args.clients}] if rooms == 1
             else [{"docId": f"{stem}-{i}", "clients": 4, "editors": 4} for i in range(rooms)])
    try:
        ctx = nodes(setup, work, args)
        started = ctx.__enter__()
    except RuntimeError as err:
        return {"ok": False, "error": f"start: {err}"}
    try:
        data_dir = Path(str(started[0][1].args[-1]))  # the --data-dir the nodes share
        token = palabre_token(data_dir)
        pids = [proc.pid for _, proc in started]
        cpu0 = sum(cpu_seconds(pid) for pid in pids)
        busy0 = machine_busy_s()
        t0 = time.monotonic()
        urls = [f"ws://127.0.0.1:{port}/ws" for port, _ in started]
        cfg = {
            "mode": "edit", "protocol": "yws", "baseUrl": urls[0], "baseUrls": urls,
            "token": token, "rooms": specs, "affinity": setup == "two-affinity",
            "rate": rate, "duration": duration, "drainTimeout": drain,
            "workers": args.loadgen_workers, "connectTimeout": 120,
        }
        res = loadgen(cfg, work, timeout=duration + drain + 240)
        wall = time.monotonic() - t0
        cpu = sum(cpu_seconds(pid) for pid in pids) - cpu0
        busy = machine_busy_s() - busy0
        alive = all(proc.poll() is None for _, proc in started)
    finally:
        ctx.__exit__(None, None, None)
    res.pop("config", None)
    sent = sum(spec["editors"] for spec in specs) * round(rate * duration)
    res.update(setup=setup, rate=rate, server_cpu_s=cpu, server_wall_s=wall, server_alive=alive,
               updates_sent=sent, cpu_us_per_update=cpu * 1e6 / sent if sent else None)
    deliveries = res.get("deliveries") or 0
    res["cpu_ms_per_1k"] = cpu * 1e6 / deliveries if deliveries else None
    if res.get("loadgenCpuS") is not None:
        res["other_cores"] = max(0.0, busy - cpu - res["loadgenCpuS"]) / max(wall, 1e-9)
    return res


def brief(res: dict[str, Any]) -> str:
    keys = ("ok", "p50Ms", "p99Ms", "deliveries", "expectedDeliveries", "converged",
            "server_cpu_s", "cpu_us_per_update", "cpu_ms_per_1k", "other_cores", "error")
    return json.dumps({k: res[k] for k in keys if res.get(k) is not None})[:500]


def main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--database-url", default=os.environ.get("PALABRE_BENCH_DATABASE_URL", DEFAULT_DB))
    p.add_argument("--redis-url", default=os.environ.get("PALABRE_BENCH_REDIS_URL", DEFAULT_REDIS))
    p.add_argument("--repeats", type=int, default=1)
    p.add_argument("--clients", type=int, default=50)
    p.add_argument("--w1-duration", type=float, default=15)
    p.add_argument("--w2-rates", default="2,4,8,16,32,64,128")
    p.add_argument("--w2-duration", type=float, default=15)
    p.add_argument("--w2-drain", type=float, default=5)
    p.add_argument("--loadgen-workers", type=int, default=2)
    p.add_argument("--workloads", default="w1,w2", help="comma-separated: w1, w2, w3")
    p.add_argument("--w3-rooms", type=int, default=500)
    p.add_argument("--json", type=Path, default=None, help="write raw results here")
    p.add_argument("--render", type=Path, default=None, help="print the tables of a --json file")
    args = p.parse_args(argv)
    if args.render:
        print(render(json.loads(args.render.read_text())))
        return 0
    if not palabre_bin(REPO).exists():
        raise SystemExit(f"{palabre_bin(REPO)} not found: run `make .venv/.installed` first")
    ensure_node_modules()
    work = Path(tempfile.mkdtemp(prefix="bench-scaleout-"))
    log(f"logs in {work}")
    # Stopped with SIGTERM: unwind like Ctrl-C, so the nodes stop and the database goes.
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    with scratch_database(args.database_url) as url:
        log(f"scratch database {url}")
        raw = measure(argparse.Namespace(**{**vars(args), "database_url": url}), work, argv)
    print(render(raw))
    return 0


def measure(args: argparse.Namespace, work: Path, argv: list[str]) -> dict[str, Any]:
    """Every W1 and W2 run of every repeat (written to ``--json`` after each repeat)."""
    raw: dict[str, Any] = {"command": "python3 bench/scaleout.py " + " ".join(argv),
                           "w1": {s: [] for s in SETUPS}, "w2": {"one": [], "two": []},
                           "w3": {s: [] for s in W3_SETUPS}}
    workloads = set(args.workloads.split(","))
    for rep in range(args.repeats):
        for setup in W3_SETUPS if "w3" in workloads else ():
            log(f"w3 {setup} run {rep + 1}/{args.repeats}")
            res = run_once(setup, work, args, rate=1, duration=10, drain=10,
                           rooms=args.w3_rooms)
            raw["w3"][setup].append(res)
            log(f"  {brief(res)}")
        for setup in SETUPS if "w1" in workloads else ():
            log(f"w1 {setup} run {rep + 1}/{args.repeats}")
            res = run_once(setup, work, args, rate=4, duration=args.w1_duration, drain=10)
            raw["w1"][setup].append(res)
            log(f"  {brief(res)}")
        for setup in ("one", "two") if "w2" in workloads else ():
            held = None
            steps = []
            for rate in [float(r) for r in args.w2_rates.split(",")]:
                log(f"w2 {setup} {rate:g}/s run {rep + 1}/{args.repeats}")
                res = run_once(setup, work, args, rate=rate, duration=args.w2_duration,
                               drain=args.w2_drain)
                res["held"] = passed(res, 100.0)
                steps.append(res)
                log(f"  held={res['held']} {brief(res)}")
                if not res["held"]:
                    break
                held = rate
            raw["w2"][setup].append({"sustained_rate": held, "steps": steps})
        if args.json:
            args.json.write_text(json.dumps(raw, indent=1))
    return raw


def _median(xs: list[Any]) -> float | None:
    ys = sorted(float(x) for x in xs if x is not None)
    if not ys:
        return None
    middle = len(ys) // 2
    return ys[middle] if len(ys) % 2 else (ys[middle - 1] + ys[middle]) / 2


def render(raw: dict[str, Any]) -> str:
    """The results as Markdown tables."""
    out = [f"Command: `{raw['command']}`", ""]
    if any(raw.get("w3", {}).values()):
        out += render_w3(raw["w3"]) + [""]
    if any(raw["w1"].values()) or any(raw["w2"].values()):
        out += render_w1_w2(raw)
    return "\n".join(out)


def render_w3(w3: dict[str, list[dict[str, Any]]]) -> list[str]:
    """W3's table: CPU per 1,000 deliveries summed over the nodes, and the ratio to one."""
    one = _median([r.get("cpu_ms_per_1k") for r in w3.get("one", [])])
    out = ["| W3 (rooms of 4 clients, 1 edit/s each, 10 s) | p50 ms | p99 ms | delivered "
           "| server CPU s | CPU ms / 1k deliveries (per run) | ÷ one node |",
           "|---|---|---|---|---|---|---|"]
    for setup, runs in w3.items():
        if not runs:
            continue
        cpu = _median([r.get("cpu_ms_per_1k") for r in runs])
        delivered = sum(1 for r in runs
                        if r.get("deliveries") and r.get("deliveries") == r.get("expectedDeliveries"))
        out.append("| {} | {} | {} | {}/{} | {} | {} ({}) | {} |".format(
            setup, _fmt(_median([r.get("p50Ms") for r in runs])),
            _fmt(_median([r.get("p99Ms") for r in runs])), delivered, len(runs),
            _fmt(_median([r.get("server_cpu_s") for r in runs]), 2), _fmt(cpu),
            ", ".join(_fmt(r.get("cpu_ms_per_1k")) for r in runs),
            f"{cpu / one:.2f}×" if cpu and one else "–"))
    return out


def render_w1_w2(raw: dict[str, Any]) -> list[str]:
    """W1's and W2's tables."""
    out = [
           "| W1 (50 clients, 4 edits/s each, 15 s) | p50 ms | p99 ms | converged "
           "| server CPU s | CPU µs / update | CPU ms / 1k deliveries | other cores |",
           "|---|---|---|---|---|---|---|---|"]
    cost: dict[str, float | None] = {}
    for setup, runs in raw["w1"].items():
        if not runs:
            continue
        per_update = _median([r.get("cpu_us_per_update") for r in runs])
        cost[setup] = per_update
        out.append("| {} | {} | {} | {} | {} | {} | {} | {} |".format(
            setup, _fmt(_median([r.get("p50Ms") for r in runs])),
            _fmt(_median([r.get("p99Ms") for r in runs])),
            all(r.get("converged") for r in runs),
            _fmt(_median([r.get("server_cpu_s") for r in runs]), 2), _fmt(per_update, 0),
            _fmt(_median([r.get("cpu_ms_per_1k") for r in runs]), 2),
            _fmt(_median([r.get("other_cores") for r in runs]), 2)))
    if cost.get("one") and cost.get("one+redis"):
        out += ["", f"Redis relay cost (publishing side): {cost['one+redis'] - cost['one']:.0f} "
                "µs of server CPU per accepted update (one+redis − one)."]
    out += ["", "| W2 step (edits/s per client), repeat | one: p99 ms / delivered / held (cores) "
            "| two: p99 ms / delivered / held (cores) |", "|---|---|---|"]
    # each cell also shows the cores the servers, the load generator and the rest took
    by_step: dict[tuple[float, int], dict[str, str]] = {}
    for setup in ("one", "two"):
        for rep, run in enumerate(raw["w2"][setup]):
            for step in run["steps"]:
                share = (step.get("deliveries") or 0) / max(1, step.get("expectedDeliveries") or 1)
                wall = step.get("server_wall_s") or 0.0
                loadgen_cores = (step.get("loadgenCpuS") or 0.0) / wall if wall else None
                server_cores = (step.get("server_cpu_s") or 0.0) / wall if wall else None
                by_step.setdefault((step["rate"], rep), {})[setup] = (
                    f"{_fmt(step.get('p99Ms'))} / {share:.1%} / {'yes' if step['held'] else 'no'}"
                    f" (server {_fmt(server_cores, 2)}, load generator {_fmt(loadgen_cores, 2)},"
                    f" other {_fmt(step.get('other_cores'), 2)})")
    for (rate, rep), cells in sorted(by_step.items()):
        out.append(f"| {rate:g}, #{rep + 1} | {cells.get('one', '–')} | {cells.get('two', '–')} |")
    # A repeat that held no step counts as 0/s.
    one = _median([r["sustained_rate"] or 0.0 for r in raw["w2"]["one"]])
    two = _median([r["sustained_rate"] or 0.0 for r in raw["w2"]["two"]])
    ratio = f"{two / one:.2f}×" if one and two else "n/a"
    per_run = ", ".join(
        f"{setup}: " + " / ".join(_fmt(r["sustained_rate"] or 0.0, 0) for r in raw["w2"][setup])
        for setup in ("one", "two"))
    out += ["", f"W2 sustained rate (median of repeats; per repeat {per_run}): one node "
            f"{_fmt(one, 0)}/s, two nodes {_fmt(two, 0)}/s per client: ratio {ratio} "
            "(target ≥ 1.6×)."]
    return out


def _fmt(x: float | None, digits: int = 1) -> str:
    return "–" if x is None else f"{x:.{digits}f}"


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
