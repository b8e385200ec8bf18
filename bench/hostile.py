#!/usr/bin/env python3
"""Hostile-neighbour benchmark: W1's honest clients with and without one attacking citizen.

Each run is W1 (one room, 50 clients each with its own member token, one edit every
250 ms for 15 s) against a fresh palabre with its default limits (only
``PALABRE_CREATE_ON_CONNECT=members``, so the honest clients open their room as
y-websocket peers do). Quiet runs have nobody else; attacked runs have one citizen
running one attack of `bench/hostile_attacker.py` for the whole run. Runs are
interleaved (quiet, then each attack, per repeat) so a noisy spell hits all of them.
Reported: the honest clients' p50/p99, deliveries (all delivered? converged?), server
CPU, and each attacked p99 as a ratio of the quiet p99 (target ≤ 1.5×, every honest
update delivered), with what the attacker did and how the server answered.

    bench/hostile.py                              # 2 repeats, every attack (~6 min)
    bench/hostile.py --attacks awareness,patch --repeats 3
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import datetime as dt
import json
import signal
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import run
from run import REPO, RESULTS, Server, edit_run, log, palabre_bin

ATTACKS = ["awareness", "patch", "documents", "handshakes", "streams", "frames"]
ATTACKER = Path(__file__).resolve().parent / "hostile_attacker.py"
PYTHON = REPO / ".venv" / "bin" / "python"
LIMITS_OFF = ("PALABRE_SOCKET_UPDATE_RATE_PER_SECOND", "PALABRE_LIMIT_SOCKETS_PER_PRINCIPAL",
              "PALABRE_LIMIT_AWARENESS_RATE_PER_SECOND", "PALABRE_LIMIT_SOCKET_OPENS_PER_SECOND")


@dataclasses.dataclass
class DefendedServer(Server):
    """palabre with every per-principal limit at its default (the honest clients are 50
    principals, as real people are)."""

    def command(self) -> tuple[list[str], Path, dict[str, str]]:
        cmd, cwd, env = super().command()
        for name in LIMITS_OFF:
            env.pop(name, None)
        return cmd, cwd, env


def defended(name: str, work: Path) -> contextlib.AbstractContextManager[Server]:
    """A fresh defended palabre (fresh data dir) for the duration of the block."""
    return run.running(name, work, DefendedServer)


def honest_tokens(srv: Server, count: int) -> list[str]:
    """One member token per honest client."""
    out = subprocess.run([str(PYTHON), str(ATTACKER), "tokens", "--data-dir", str(srv.data_dir),
                          "--count", str(count)], capture_output=True, text=True, check=True,
                         timeout=120)
    tokens: list[str] = json.loads(out.stdout)
    return tokens


def attacker(kind: str, duration: float) -> run.Beside:
    """The attacking citizen, started before the honest clients and stopped after them."""

    @contextlib.contextmanager
    def beside(srv: Server, rooms: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
        result: dict[str, Any] = {"attack": kind}
        proc = subprocess.Popen(
            ["nice", "-n", "19", str(PYTHON), str(ATTACKER), "attack", kind, "--url", f"http://127.0.0.1:{srv.port}",
             "--data-dir", str(srv.data_dir), "--doc", rooms[0]["docId"],
             "--duration", str(duration)],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )
        try:
            yield result
        finally:
            try:
                out, err = proc.communicate(timeout=duration + 60)
            except subprocess.TimeoutExpired:
                proc.send_signal(signal.SIGKILL)
                out, err = proc.communicate()
            lines = [ln for ln in out.splitlines() if ln.startswith("{")]
            result.update(json.loads(lines[-1]) if lines else
                          {"error": f"attacker rc={proc.returncode}: {err[-1500:]}"})
    return beside


def one_run(kind: str | None, work: Path, args: argparse.Namespace) -> dict[str, Any]:
    """W1 on a fresh defended server, attacked by `kind` (None: quiet)."""
    def extra(srv: Server) -> dict[str, Any]:
        return {"tokens": honest_tokens(srv, args.clients)}

    # The attack lasts the whole load: connecting, typing and the drain.
    beside = attacker(kind, args.duration + 15) if kind else None
    return edit_run("palabre", work, args,
                    rooms=[{"docId": "hostile", "clients": args.clients,
                            "editors": args.clients}],
                    rate=4, duration=args.duration, drain=10,
                    start=defended, extra=extra, beside=beside)


def render(raw: dict[str, Any]) -> str:
    """The Markdown table of a run."""
    def med(values: list[float | None]) -> float | None:
        xs = [v for v in values if v is not None]
        return statistics.median(xs) if xs else None

    quiet = raw["runs"]["quiet"]
    quiet_p99 = med([r.get("p99Ms") for r in quiet])
    lines = [f"Run {raw['stamp']} (`{raw['command']}`), {len(quiet)} repeat(s), W1 with "
             f"{raw['args']['clients']} honest clients, {raw['args']['duration']} s.", "",
             "| run | p50 ms | p99 ms | p99 ÷ quiet | delivered | converged | server CPU s "
             "| attacker CPU s | attacker: what it did → how the server answered |",
             "|---|---|---|---|---|---|---|---|---|"]
    for kind, runs in raw["runs"].items():
        p50, p99 = med([r.get("p50Ms") for r in runs]), med([r.get("p99Ms") for r in runs])
        delivered = all(r.get("allDelivered") for r in runs)
        converged = all(r.get("converged") for r in runs)
        cpu = med([r.get("server_cpu_s") for r in runs])
        ratio = f"{p99 / quiet_p99:.2f}×" if p99 and quiet_p99 else "–"
        counts = runs[-1].get("beside", {}).get("counts") or {}
        spent = med([r.get("beside", {}).get("cpu_s") for r in runs])
        attacker_cpu = f"{spent:.1f}" if spent is not None else "–"
        what = ", ".join(f"{k}: {v}" for k, v in list(counts.items())[:6]) or "–"
        lines.append(f"| {kind} | {p50 or 0:.1f} | {p99 or 0:.1f} | {ratio} | "
                     f"{'yes' if delivered else 'NO'} | {'yes' if converged else 'NO'} | "
                     f"{cpu or 0:.1f} | {attacker_cpu} | {what} |")
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--attacks", default=",".join(ATTACKS))
    p.add_argument("--repeats", type=int, default=2)
    p.add_argument("--clients", type=int, default=50)
    p.add_argument("--duration", type=float, default=15)
    p.add_argument("--loadgen-workers", type=int, default=2)
    p.add_argument("--render", metavar="RESULTS_JSON", help="only render an earlier run")
    args = p.parse_args(argv)
    if args.render:
        print(render(json.loads(Path(args.render).read_text())))
        return 0
    attacks = [a for a in args.attacks.split(",") if a]
    if unknown := set(attacks) - set(ATTACKS):
        raise SystemExit(f"unknown attacks {sorted(unknown)}")
    if not palabre_bin(REPO).exists():
        raise SystemExit(f"{palabre_bin(REPO)} not found: run `make .venv/.installed` first")
    run.ensure_node_modules()
    RESULTS.mkdir(exist_ok=True)
    stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    work = Path(tempfile.mkdtemp(prefix=f"hostile-{stamp}-"))
    raw: dict[str, Any] = {"stamp": stamp, "command": "bench/hostile.py " + " ".join(argv),
                           "args": vars(args), "machine": run.machine_info(),
                           "runs": {"quiet": [], **{a: [] for a in attacks}}}
    out = RESULTS / f"hostile-{stamp}.json"
    for rep in range(args.repeats):
        for kind in [None, *attacks]:
            log(f"{kind or 'quiet'} run {rep + 1}/{args.repeats}")
            res = one_run(kind, work, args)
            raw["runs"][kind or "quiet"].append(res)
            log("  " + json.dumps({k: res.get(k) for k in (
                "ok", "p50Ms", "p99Ms", "allDelivered", "converged", "server_cpu_s", "error")}))
            if kind:
                log("  attacker: " + json.dumps(res.get("beside"))[:600])
            out.write_text(json.dumps(raw, indent=1))
    md = render(raw)
    (RESULTS / f"hostile-{stamp}.md").write_text(md + "\n")
    print(md)
    log(f"raw results: {out}; logs in {work}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
