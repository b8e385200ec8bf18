#!/usr/bin/env python3
"""Side-by-side benchmark driver: palabre against the servers a user would pick instead.

Runs the same workloads, in one run, against palabre (SQLite persistence on),
pycrdt-websocket (uvicorn), @y/websocket-server 0.1.1 and @hocuspocus/server
(both in memory), each started fresh on a free loopback port for every run.
The clients are bench/loadgen.mjs (Node, yjs, worker threads). Raw results go
to bench/results/<stamp>.json; the Markdown report to bench/results/<stamp>.md
and, with --update-readme, between the markers in bench/README.md.

Standard library only, so it runs with any Python >= 3.11.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import os
import platform
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
RESULTS = BENCH / "results"
PEERS_VENV = BENCH / ".venv-peers"
TRACE = Path("/work/shared/data/editing-traces/automerge-paper.json.gz")
CLK_TCK = os.sysconf("SC_CLK_TCK")
PAGE = os.sysconf("SC_PAGE_SIZE")

ALL_SERVERS = ["palabre", "palabre-hp", "palabre-base", "pycrdt", "yws", "hocuspocus", "floor"]
PALABRE_NAMES = ("palabre", "palabre-hp", "palabre-base")
"""palabre measured through /ws (y-websocket framing) and through /hocuspocus, and another
checkout of palabre through /ws (`--baseline DIR`: the same run compares two versions)."""
PALABRE_HOMES: dict[str, Path] = {"palabre": REPO, "palabre-hp": REPO}
"""Each palabre server's checkout (with its own .venv); `--baseline` adds palabre-base."""
BASELINE_ENV: dict[str, str] = {}
"""Environment variables for palabre-base alone (`--baseline-env`)."""
LABELS = {
    "palabre": "palabre",
    "palabre-hp": "palabre /hocuspocus",
    "palabre-base": "palabre (baseline)",
    "pycrdt": "pycrdt-websocket",
    "yws": "@y/websocket-server",
    "hocuspocus": "@hocuspocus/server",
    "floor": "floor (relay only)",
}
NO_DOCUMENT = ("floor",)
"""Servers that hold no document (`peers/floor.py`): no cold join (W4) for them."""
ALL_WORKLOADS = ["w1", "w2", "w3", "w5", "w4"]
W2_RATES = [2, 4, 8, 16, 32, 64, 128, 256]


def log(msg: str) -> None:
    """Progress on stderr, with a timestamp."""
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


# ------------------------------------------------------------------ setup --


def ensure_node_modules() -> None:
    """npm ci in bench/ when node_modules is missing or older than the lock file."""
    nm = BENCH / "node_modules"
    lock = BENCH / "package-lock.json"
    stamp = nm / ".package-lock.json"
    if nm.exists() and stamp.exists() and stamp.stat().st_mtime >= lock.stat().st_mtime:
        return
    log("npm ci in bench/")
    subprocess.run(["npm", "ci", "--no-audit", "--no-fund"], cwd=BENCH, check=True, timeout=600)


def ensure_peers_venv() -> None:
    """Create bench/.venv-peers with pycrdt-websocket and uvicorn when missing."""
    py = PEERS_VENV / "bin" / "python"
    if py.exists():
        probe = subprocess.run(
            [str(py), "-c", "import pycrdt.websocket, uvicorn, websockets"],
            capture_output=True,
            timeout=60,
        )
        if probe.returncode == 0:
            return
    log("creating bench/.venv-peers (pycrdt-websocket, uvicorn[standard])")
    subprocess.run([sys.executable, "-m", "venv", str(PEERS_VENV)], check=True, timeout=300)
    subprocess.run(
        [str(py), "-m", "pip", "install", "-q", "-r", str(BENCH / "peers" / "requirements.txt")],
        check=True,
        timeout=900,
    )


def versions() -> dict[str, str]:
    """Versions of every server and client library under test."""
    out: dict[str, str] = {}
    for pkg, key in [
        ("@hocuspocus/server", "hocuspocus"),
        ("@y/websocket-server", "yws"),
        ("yjs", "yjs"),
        ("ws", "ws"),
    ]:
        with contextlib.suppress(OSError, ValueError):
            meta = json.loads((BENCH / "node_modules" / pkg / "package.json").read_text())
            out[key] = meta["version"]
    py = PEERS_VENV / "bin" / "python"
    with contextlib.suppress(OSError, subprocess.SubprocessError):
        res = subprocess.run(
            [str(py), "-c", "import importlib.metadata as m; print(m.version('pycrdt-websocket'),"
             " m.version('pycrdt'), m.version('uvicorn'))"],
            capture_output=True, text=True, timeout=60,
        )
        a, b, c = res.stdout.split()
        out["pycrdt-websocket"], out["pycrdt (peer)"], out["uvicorn (peer)"] = a, b, c
    with contextlib.suppress(OSError, subprocess.SubprocessError, ValueError):
        res = subprocess.run(
            [str(REPO / ".venv" / "bin" / "python"), "-c",
             "import importlib.metadata as m; print(m.version('palabre'), m.version('pycrdt'))"],
            capture_output=True, text=True, timeout=60,
        )
        a, b = res.stdout.split()
        out["palabre"], out["pycrdt (palabre)"] = a, b
    with contextlib.suppress(OSError, subprocess.SubprocessError):
        out["git"] = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True, text=True,
            timeout=30,
        ).stdout.strip()
    return out


def machine_info() -> dict[str, Any]:
    """CPU model, cores, memory, kernel, Node and Python versions."""
    info: dict[str, Any] = {"cores": os.cpu_count(), "kernel": platform.release()}
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                info["cpu"] = line.split(":", 1)[1].strip()
                break
    with contextlib.suppress(OSError):
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                info["memory_gib"] = round(int(line.split()[1]) / 1024 / 1024, 1)
    info["node"] = subprocess.run(["node", "--version"], capture_output=True, text=True,
                                  timeout=30).stdout.strip()
    info["python"] = platform.python_version()
    with contextlib.suppress(OSError):
        info["loadavg_at_start"] = Path("/proc/loadavg").read_text().split()[:3]
    return info


# ---------------------------------------------------------------- process --


def descendants(pid: int) -> list[int]:
    """pid and all its live descendants."""
    out = [pid]
    i = 0
    while i < len(out):
        p = out[i]
        i += 1
        with contextlib.suppress(OSError):
            for task in os.listdir(f"/proc/{p}/task"):
                with contextlib.suppress(OSError):
                    kids = Path(f"/proc/{p}/task/{task}/children").read_text().split()
                    out.extend(int(k) for k in kids)
    return out


def cpu_seconds(pid: int) -> float:
    """utime + stime of pid and its live descendants (plus their reaped children)."""
    total = 0
    for p in descendants(pid):
        with contextlib.suppress(OSError, ValueError, IndexError):
            raw = Path(f"/proc/{p}/stat").read_text()
            fields = raw[raw.rindex(")") + 2:].split()
            # fields[0] is field 3 (state): utime=14, stime=15, cutime=16, cstime=17
            total += sum(int(x) for x in fields[11:15])
    return total / CLK_TCK


def machine_busy_s() -> float:
    """CPU seconds the whole machine spent busy since boot (every process, all cores)."""
    vals = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:9]]
    # user nice system idle iowait irq softirq steal
    return (sum(vals) - vals[3] - vals[4]) / CLK_TCK


def rss_bytes(pid: int) -> int:
    """VmRSS of pid and its live descendants."""
    total = 0
    for p in descendants(pid):
        with contextlib.suppress(OSError, ValueError):
            for line in Path(f"/proc/{p}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1]) * 1024
    return total


class RssSampler:
    """Samples a process tree's RSS every `interval` s in a thread; keeps the peak."""

    def __init__(self, pid: int, interval: float = 0.25) -> None:
        self.pid = pid
        self.interval = interval
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, rss_bytes(self.pid))
            self._stop.wait(self.interval)

    def __enter__(self) -> RssSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        self.peak = max(self.peak, rss_bytes(self.pid))


def free_port() -> int:
    """An ephemeral port the kernel just handed out on 127.0.0.1."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# ---------------------------------------------------------------- servers --


@dataclass
class Server:
    """One server under test, started fresh on a free port."""

    name: str
    data_dir: Path
    log_dir: Path
    port: int = 0
    proc: subprocess.Popen[bytes] | None = None
    token: str | None = None
    starts: int = 0
    info: dict[str, Any] = field(default_factory=dict)

    @property
    def is_palabre(self) -> bool:
        return self.name in PALABRE_NAMES

    @property
    def protocol(self) -> str:
        return "hocuspocus" if self.name in ("hocuspocus", "palabre-hp") else "yws"

    @property
    def base_url(self) -> str:
        if self.name in ("palabre", "palabre-base", "floor"):
            return f"ws://127.0.0.1:{self.port}/ws"
        if self.name == "palabre-hp":
            return f"ws://127.0.0.1:{self.port}/hocuspocus"
        return f"ws://127.0.0.1:{self.port}"

    def command(self) -> tuple[list[str], Path, dict[str, str]]:
        env = dict(os.environ)
        if self.is_palabre:
            # Every simulated client carries the same bench token, i.e. one principal, and
            # palabre limits socket updates per principal (200/s, burst 400, summed over
            # its sockets): 1,000 sync step 2 answers at connect already pass that. Each
            # simulated client stays below the per-person limit (64/s at most), so the
            # limit is turned off rather than minting a token per client; so are the
            # per-principal bounds on open sockets and on awareness updates (W5 opens 1,000).
            env["PALABRE_SOCKET_UPDATE_RATE_PER_SECOND"] = "0"
            env["PALABRE_LIMIT_SOCKETS_PER_PRINCIPAL"] = "0"
            env["PALABRE_LIMIT_AWARENESS_RATE_PER_SECOND"] = "0"
            env["PALABRE_LIMIT_SOCKET_OPENS_PER_SECOND"] = "0"
            # The workloads open sockets on fresh ids with a member token, as y-websocket
            # peers expect: members create by connecting there.
            env["PALABRE_CREATE_ON_CONNECT"] = "members"
            if self.name == "palabre-base":
                env.update(BASELINE_ENV)
            home = PALABRE_HOMES[self.name]
            return (
                [*palabre_command(home), "serve", "--host", "127.0.0.1", "--port",
                 str(self.port), "--data-dir", str(self.data_dir)],
                home,
                with_checkout(env, home),
            )
        if self.name == "floor":
            # palabre's uvicorn and direct lane, from this checkout, with no document
            return ([str(REPO / ".venv" / "bin" / "python"), str(BENCH / "peers" / "floor.py"),
                     str(self.port)], REPO, with_checkout(env, REPO))
        if self.name == "pycrdt":
            return (
                [str(PEERS_VENV / "bin" / "python"), "-m", "uvicorn", "--host", "127.0.0.1",
                 "--port", str(self.port), "--log-level", "warning", "--no-access-log",
                 "pycrdt_ws_app:app"],
                BENCH / "peers",
                env,
            )
        if self.name == "yws":
            env.update(HOST="127.0.0.1", PORT=str(self.port))
            env.pop("YPERSISTENCE", None)
            return (["node", "node_modules/@y/websocket-server/src/server.js"], BENCH, env)
        if self.name == "hocuspocus":
            return (["node", "peers/hocuspocus_server.mjs", str(self.port)], BENCH, env)
        raise ValueError(self.name)

    def start(self, timeout: float = 60.0) -> None:
        """Start the server and poll until it accepts connections (and /healthz for palabre)."""
        self.port = free_port()
        cmd, cwd, env = self.command()
        self.starts += 1
        logf = open(self.log_dir / f"{self.name}-{self.port}.log", "wb")  # noqa: SIM115
        self.proc = subprocess.Popen(cmd, cwd=cwd, env=env, stdout=logf, stderr=subprocess.STDOUT,
                                     start_new_session=True)
        logf.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.name} exited with {self.proc.returncode} during start; "
                                   f"see {self.log_dir}")
            if self._ready():
                if self.is_palabre and self.token is None:
                    self.token = palabre_token(self.data_dir, PALABRE_HOMES[self.name])
                return
            time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"{self.name} not ready within {timeout}s")

    def _ready(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                pass
        except OSError:
            return False
        if not self.is_palabre:
            return True
        try:
            url = f"http://127.0.0.1:{self.port}/healthz"
            with urllib.request.urlopen(url, timeout=1) as res:
                return bool(res.status == 200)
        except OSError:
            return False

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def stop(self, timeout: float = 20.0) -> int | None:
        """SIGTERM the server's process group, SIGKILL it if it lingers; returns the exit code."""
        if self.proc is None:
            return None
        proc, self.proc = self.proc, None
        if proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=10)
        return proc.returncode


def palabre_bin(home: Path) -> Path:
    """The `palabre` command of the checkout `home`."""
    return home / ".venv" / "bin" / "palabre"


def palabre_command(home: Path) -> list[str]:
    """The palabre command line of the checkout `home`, importing that checkout's code.

    ``python -m server`` from the checkout (as the tests start it): the `palabre` script
    of a venv shared by several worktrees imports the one it was installed from.
    """
    return [str(home / ".venv" / "bin" / "python"), "-m", "server"]


def with_checkout(env: dict[str, str], home: Path) -> dict[str, str]:
    """`env` with the checkout `home` first on the import path."""
    return {**env, "PYTHONPATH": os.pathsep.join(
        p for p in (str(home), env.get("PYTHONPATH", "")) if p)}


def palabre_token(data_dir: Path, home: Path = REPO) -> str | None:
    """A member token from `palabre token`, or None when the command is not there (yet)."""
    try:
        res = subprocess.run(
            [*palabre_command(home), "token", "--role", "member", "--name", "Bench",
             "--data-dir", str(data_dir)],
            capture_output=True, text=True, timeout=60, cwd=home,
            env=with_checkout(dict(os.environ), home),
        )
    except (OSError, subprocess.SubprocessError):
        return None
    tok = res.stdout.strip()
    return tok if res.returncode == 0 and tok and "\n" not in tok else None


@contextlib.contextmanager
def running(name: str, work: Path, server_class: type[Server] = Server) -> Iterator[Server]:
    """A fresh server (fresh data dir) for the duration of the block."""
    data = Path(tempfile.mkdtemp(prefix=f"{name}-", dir=work))
    srv = server_class(name=name, data_dir=data, log_dir=work)
    srv.start()
    try:
        yield srv
    finally:
        srv.info["exit_code"] = srv.stop()
        shutil.rmtree(data, ignore_errors=True)


# ---------------------------------------------------------------- loadgen --


def loadgen(cfg: dict[str, Any], work: Path, timeout: float) -> dict[str, Any]:
    """Run bench/loadgen.mjs with cfg; returns its JSON result (ok=False on any failure)."""
    with tempfile.NamedTemporaryFile("w", suffix=".json", dir=work, delete=False) as f:
        json.dump(cfg, f)
        path = f.name
    try:
        res = subprocess.run(["node", str(BENCH / "loadgen.mjs"), path], cwd=BENCH,
                             capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return {"ok": False, "error": f"loadgen timed out after {timeout}s"}
    finally:
        os.unlink(path)
    lines = [ln for ln in res.stdout.splitlines() if ln.startswith("{")]
    if not lines:
        return {"ok": False, "error": f"loadgen rc={res.returncode}: {res.stderr[-2000:]}"}
    out: dict[str, Any] = json.loads(lines[-1])
    if res.stderr.strip():
        out["stderr"] = res.stderr[-2000:]
    return out


Beside = Callable[[Server, list[dict[str, Any]]], contextlib.AbstractContextManager[dict[str, Any]]]
"""Something run beside the load generator (`bench/hostile.py`'s attacker): given the
server and the rooms, a context whose dict holds its own result once it exits."""


def edit_run(name: str, work: Path, args: argparse.Namespace, *, rooms: list[dict[str, Any]],
             rate: float, duration: float, drain: float,
             start: Callable[[str, Path], contextlib.AbstractContextManager[Server]] | None = None,
             extra: Callable[[Server], dict[str, Any]] | None = None,
             beside: Beside | None = None) -> dict[str, Any]:
    """One edit workload against a fresh server: loadgen result plus server CPU and RSS.

    `start` starts the server (default `running`), `extra` adds to the load generator's
    configuration, `beside` runs alongside the load generator (its result in ``beside``).
    """
    stamp = f"{int(time.time() * 1000) % 10**8}"
    for r in rooms:
        r["docId"] = f"{r['docId']}-{stamp}"
    try:
        ctx = (start or running)(name, work)
        srv = ctx.__enter__()
    except RuntimeError as err:
        return {"ok": False, "error": f"server start: {err}"}
    try:
        rss0 = rss_bytes(srv.pid)
        cpu0 = cpu_seconds(srv.pid)
        busy0 = machine_busy_s()
        t0 = time.monotonic()
        cfg = {
            "mode": "edit", "protocol": srv.protocol, "baseUrl": srv.base_url, "token": srv.token,
            "rooms": rooms, "rate": rate, "duration": duration, "drainTimeout": drain,
            "workers": args.loadgen_workers, "connectTimeout": 120,
        }
        cfg.update(extra(srv) if extra else {})
        side = beside(srv, rooms) if beside else contextlib.nullcontext({})
        with RssSampler(srv.pid) as sampler, side as side_result:
            res = loadgen(cfg, work, timeout=duration + drain + 240)
            rss_end = rss_bytes(srv.pid)
        wall = time.monotonic() - t0
        cpu = cpu_seconds(srv.pid) - cpu0
        busy = machine_busy_s() - busy0
        alive = srv.proc is not None and srv.proc.poll() is None
    finally:
        ctx.__exit__(None, None, None)
    res.pop("config", None)
    if side_result:
        res["beside"] = side_result
    res.update(
        server_cpu_s=cpu,
        server_wall_s=wall,
        server_rss_start=rss0,
        server_rss_peak=sampler.peak,
        server_rss_end=rss_end,
        server_alive=alive,
        server_exit=srv.info.get("exit_code"),
    )
    dl = res.get("deliveries") or 0
    res["cpu_ms_per_1k"] = cpu * 1e6 / dl if dl else None
    if res.get("runS") and res.get("loadgenCpuS") is not None:
        res["loadgen_cores"] = res["loadgenCpuS"] / max(wall, 1e-9)
        # what the rest of the machine (other engineers' test suites...) took meanwhile
        res["other_cores"] = max(0.0, busy - cpu - res["loadgenCpuS"]) / max(wall, 1e-9)
    return res


def passed(res: dict[str, Any], p99_limit: float) -> bool:
    """A saturation step holds: p99 under the limit, every update delivered, converged."""
    return bool(
        res.get("ok")
        and res.get("allDelivered")
        and res.get("converged")
        and res.get("p99Ms") is not None
        and res["p99Ms"] < p99_limit
        and res.get("server_alive", True)
    )


# -------------------------------------------------------------- workloads --


def w1(name: str, work: Path, args: argparse.Namespace) -> dict[str, Any]:
    """W1 fan-out: one room, 50 clients, one edit every 250 ms each, 15 s."""
    return edit_run(name, work, args, rooms=[{"docId": "w1", "clients": args.w1_clients,
                                              "editors": args.w1_clients}],
                    rate=4, duration=args.w1_duration, drain=10)


def w2(name: str, work: Path, args: argparse.Namespace) -> dict[str, Any]:
    """W2 saturation: W1 at rising rates until the server fails a step."""
    steps: list[dict[str, Any]] = []
    best = 0.0
    for rate in args.w2_rates:
        log(f"  w2 {name} {rate}/s")
        res = edit_run(name, work, args, rooms=[{"docId": f"w2r{rate}", "clients": args.w1_clients,
                                                 "editors": args.w1_clients}],
                       rate=rate, duration=args.w2_duration, drain=args.w2_drain)
        res["rate"] = rate
        res["passed"] = passed(res, 100.0)
        steps.append(res)
        log(f"    -> passed={res['passed']} p99={res.get('p99Ms')} delivered="
            f"{res.get('deliveries')}/{res.get('expectedDeliveries')} conv={res.get('converged')}"
            f" cpu={res['server_cpu_s']:.1f}s loadgen={res.get('loadgenCpuS')}s "
            f"{res.get('error') or ''}")
        if not res["passed"]:
            break
        best = rate
    return {"ok": True, "sustained_rate": best, "steps": steps}


def w3(name: str, work: Path, args: argparse.Namespace) -> dict[str, Any]:
    """W3 many rooms: 500 rooms x 4 clients, one edit/s each, 10 s."""
    rooms = [{"docId": f"w3room{i}", "clients": 4, "editors": 4} for i in range(args.w3_rooms)]
    res = edit_run(name, work, args, rooms=rooms, rate=1, duration=10, drain=10)
    res["rooms"] = args.w3_rooms
    res["rss_per_room_kib"] = (res["server_rss_peak"] - res["server_rss_start"]) / 1024 / args.w3_rooms
    return res


def w5(name: str, work: Path, args: argparse.Namespace) -> dict[str, Any]:
    """W5 assembly: 1,000 connections on one document, 100 editing once a second, 20 s.

    With --w5-sample N (default 50) only N watchers keep a Y.Doc and measure
    latency with the editors; the others are light watchers (see loadgen.mjs).
    """
    room: dict[str, Any] = {"docId": "w5", "clients": args.w5_clients, "editors": args.w5_editors}
    if args.w5_sample >= 0:
        room["sample"] = args.w5_sample
    return edit_run(name, work, args, rooms=[room], rate=1, duration=20, drain=10)


def w4(name: str, work: Path, args: argparse.Namespace) -> dict[str, Any]:
    """W4 cold join: load the automerge-paper trace, time fresh clients' sync (and a reload)."""
    data = Path(tempfile.mkdtemp(prefix=f"{name}-w4-", dir=work))
    srv = Server(name=name, data_dir=data, log_dir=work)
    doc = f"w4paper{int(time.time()) % 100000}"
    out: dict[str, Any] = {"ok": False}
    try:
        srv.start()
        base = {"protocol": srv.protocol, "baseUrl": srv.base_url, "token": srv.token,
                "docId": doc, "trace": str(TRACE), "syncTimeout": 120, "connectTimeout": 60}
        cpu0 = cpu_seconds(srv.pid)
        load = loadgen({**base, "mode": "coldjoin", "batch": args.w4_batch,
                        "joins": args.w4_joins}, work, timeout=600)
        out["load"] = load
        out["server_cpu_s"] = cpu_seconds(srv.pid) - cpu0
        out["server_rss_after_load"] = rss_bytes(srv.pid)
        out["join_ms"] = load.get("joinMs")
        out["ok"] = bool(load.get("ok"))
        if not load.get("ok"):
            out["error"] = load.get("error")
        if srv.is_palabre and load.get("ok"):
            code = srv.stop()
            out["stop_exit_code"] = code
            t = time.monotonic()
            srv.start()
            out["restart_ready_s"] = time.monotonic() - t
            rss0 = rss_bytes(srv.pid)
            cpu1 = cpu_seconds(srv.pid)
            # the restarted server listens on a new free port
            base["baseUrl"], base["token"] = srv.base_url, srv.token
            rejoin = loadgen({**base, "mode": "join"}, work, timeout=300)
            out["reload"] = rejoin
            out["reload_ms"] = rejoin.get("syncMs")
            out["reload_cpu_s"] = cpu_seconds(srv.pid) - cpu1
            out["rss_after_reload"] = rss_bytes(srv.pid)
            out["rss_before_reload"] = rss0
            if not rejoin.get("ok"):
                out["ok"] = False
                out["error"] = f"reload: {rejoin.get('error')}"
    except RuntimeError as err:
        out["error"] = str(err)
    finally:
        srv.stop()
        shutil.rmtree(data, ignore_errors=True)
    return out


WORKLOADS = {"w1": w1, "w2": w2, "w3": w3, "w4": w4, "w5": w5}


# ----------------------------------------------------------------- report --


def med(xs: list[float | None]) -> float | None:
    """Median of the values that exist."""
    vals = [x for x in xs if x is not None]
    return statistics.median(vals) if vals else None


def summarize(raw: dict[str, Any]) -> dict[str, dict[str, dict[str, Any]]]:
    """Medians per workload and server."""
    summ: dict[str, dict[str, dict[str, Any]]] = {}
    for wl, per in raw["runs"].items():
        summ[wl] = {}
        for name, runs in per.items():
            s: dict[str, Any] = {"n": len(runs)}
            if wl in ("w1", "w3", "w5"):
                for k in ["p50Ms", "p99Ms", "deliveriesPerS", "server_cpu_s", "cpu_ms_per_1k",
                          "loadgen_cores", "other_cores", "server_rss_peak", "rss_per_room_kib"]:
                    s[k] = med([r.get(k) for r in runs])
                s["converged"] = sum(1 for r in runs if r.get("converged"))
                s["delivered"] = sum(1 for r in runs if r.get("allDelivered"))
                s["errors"] = sorted({str(r.get("error")) for r in runs if r.get("error")})
            elif wl == "w2":
                s["sustained_rate"] = med([r.get("sustained_rate") for r in runs])
                s["per_run"] = [r.get("sustained_rate") for r in runs]
                steps: dict[int, list[dict[str, Any]]] = {}
                for r in runs:
                    for st in r.get("steps", []):
                        steps.setdefault(st["rate"], []).append(st)
                s["steps"] = {
                    rate: {
                        "n": len(sts),
                        "passed": sum(1 for x in sts if x.get("passed")),
                        "p99Ms": med([x.get("p99Ms") for x in sts]),
                        "cpu_ms_per_1k": med([x.get("cpu_ms_per_1k") for x in sts]),
                        "server_cores": med([x["server_cpu_s"] / x["server_wall_s"]
                                             for x in sts if x.get("server_wall_s")]),
                        "loadgen_cores": med([x.get("loadgen_cores") for x in sts]),
                        "other_cores": med([x.get("other_cores") for x in sts]),
                        "deliveriesPerS": med([x.get("deliveriesPerS") for x in sts]),
                        "delivered_frac": med([
                            (x.get("deliveries") or 0) / x["expectedDeliveries"]
                            for x in sts if x.get("expectedDeliveries")]),
                        "errors": sorted({str(x.get("error")) for x in sts if x.get("error")}),
                    }
                    for rate, sts in sorted(steps.items())
                }
            elif wl == "w4":
                s["join_ms"] = med([med(r.get("join_ms") or []) for r in runs])
                s["first_join_ms"] = med([(r.get("join_ms") or [None])[0] for r in runs])
                s["reload_ms"] = med([r.get("reload_ms") for r in runs])
                s["load_cpu_s"] = med([r.get("server_cpu_s") for r in runs])
                s["rss_after_load"] = med([r.get("server_rss_after_load") for r in runs])
                s["ok"] = sum(1 for r in runs if r.get("ok"))
                s["errors"] = sorted({str(r.get("error")) for r in runs if r.get("error")})
            summ[wl][name] = s
    return summ


def fmt(x: float | None, digits: int = 1) -> str:
    if x is None:
        return "–"
    if abs(x) >= 1000:
        return f"{x:,.0f}"
    return f"{x:.{digits}f}"


def ratio(a: float | None, b: float | None) -> str:
    if a is None or b is None or b == 0:
        return "–"
    return f"{a / b:.2f}×"


def render(raw: dict[str, Any]) -> str:
    """The Markdown report: per-workload tables, palabre's ratios, targets."""
    summ = summarize(raw)
    servers = [s for s in raw["servers"]]
    peers = [s for s in servers if s not in PALABRE_NAMES]
    lines: list[str] = []
    add = lines.append
    add(f"Run `{raw['stamp']}`: `{raw['command']}`  ")
    m = raw["machine"]
    add(f"Machine: {m.get('cpu')}, {m.get('cores')} cores, {m.get('memory_gib')} GiB, "
        f"Linux {m.get('kernel')}, Node {m.get('node')}, Python {m.get('python')}; "
        f"load average at start {' '.join(m.get('loadavg_at_start', []))} (shared machine).  ")
    add("Versions: " + ", ".join(f"{k} {v}" for k, v in raw["versions"].items()) + ".  ")
    add(f"Repeats: W1/W2 {raw['args']['repeats']}, W3/W5/W4 {raw['args']['repeats_long']}; "
        "figures are medians over the repeats.")
    add("")

    def header(cols: list[str]) -> None:
        add("| " + " | ".join(cols) + " |")
        add("|" + "|".join("---" for _ in cols) + "|")

    w5_sample = raw["args"].get("w5_sample", -1)
    w5_title = "W5 assembly (1 room, 1,000 connections, 100 editing 1/s, 20 s"
    if w5_sample is not None and w5_sample >= 0:
        w5_title += (f"; latency measured by the {raw['args']['w5_editors']} editors and "
                     f"{w5_sample} sampled watchers, the other watchers light: delivery and "
                     "convergence checked on all)")
    else:
        w5_title += "; every client keeps a Y.Doc and measures latency)"
    for wl, title in [("w1", "W1 fan-out (1 room, 50 clients, 4 edits/s each, 15 s)"),
                      ("w5", w5_title),
                      ("w3", "W3 many rooms (500 rooms x 4 clients, 1 edit/s each, 10 s)")]:
        if wl not in summ:
            continue
        add(f"### {title}")
        add("")
        cols = ["server", "p50 ms", "p99 ms", "deliveries/s", "server CPU s",
                "CPU ms / 1k deliveries", "peak RSS MiB"]
        if wl == "w3":
            cols.append("RSS KiB / room")
        cols += ["converged", "loadgen cores", "other cores"]
        header(cols)
        for name in servers:
            s = summ[wl].get(name)
            if not s:
                continue
            row = [LABELS[name], fmt(s["p50Ms"]), fmt(s["p99Ms"]), fmt(s["deliveriesPerS"], 0),
                   fmt(s["server_cpu_s"], 2), fmt(s["cpu_ms_per_1k"], 2),
                   fmt((s["server_rss_peak"] or 0) / 2**20, 0)]
            if wl == "w3":
                row.append(fmt(s["rss_per_room_kib"], 1))
            row += [f"{s['converged']}/{s['n']}", fmt(s["loadgen_cores"], 2),
                    fmt(s.get("other_cores"), 2)]
            add("| " + " | ".join(row) + " |")
        for name in servers:
            s = summ[wl].get(name)
            if s and s["errors"]:
                add(f"\n{LABELS[name]} errors: " + "; ".join(e[:300] for e in s["errors"]))
        add("")

    if "w2" in summ:
        add("### W2 saturation (50 clients, edits/s per client rising; a step holds when p99 < "
            "100 ms, every update delivered, texts converged)")
        add("")
        header(["server", "sustained edits/s per client (median)", "per run"])
        for name in servers:
            s = summ["w2"].get(name)
            if s:
                add(f"| {LABELS[name]} | {fmt(s['sustained_rate'], 0)} | "
                    f"{', '.join(str(x) for x in s['per_run'])} |")
        add("")
        header(["server", "rate", "held", "p99 ms", "delivered", "deliveries/s",
                "CPU ms / 1k", "server cores", "loadgen cores", "other cores", "error"])
        for name in servers:
            s = summ["w2"].get(name)
            if not s:
                continue
            for rate, st in s["steps"].items():
                add(f"| {LABELS[name]} | {rate} | {st['passed']}/{st['n']} | {fmt(st['p99Ms'])} | "
                    f"{fmt((st['delivered_frac'] or 0) * 100, 1)}% | {fmt(st['deliveriesPerS'], 0)} | "
                    f"{fmt(st['cpu_ms_per_1k'], 2)} | {fmt(st['server_cores'], 2)} | "
                    f"{fmt(st['loadgen_cores'], 2)} | {fmt(st.get('other_cores'), 2)} | "
                    f"{'; '.join(e[:120] for e in st['errors'])} |")
        add("")

    if "w4" in summ:
        add("### W4 cold join (automerge-paper trace: 259,778 edits, 104,852 chars)")
        add("")
        header(["server", "fresh client sync ms (median of joins)", "first join ms",
                "reload after restart ms", "server CPU s to load", "RSS after load MiB", "ok"])
        for name in servers:
            s = summ["w4"].get(name)
            if s:
                add(f"| {LABELS[name]} | {fmt(s['join_ms'])} | {fmt(s['first_join_ms'])} | "
                    f"{fmt(s['reload_ms']) if name == 'palabre' else 'n/a (in memory)'} | "
                    f"{fmt(s['load_cpu_s'], 2)} | {fmt((s['rss_after_load'] or 0) / 2**20, 0)} | "
                    f"{s['ok']}/{s['n']} |")
        for name in servers:
            s = summ["w4"].get(name)
            if s and s["errors"]:
                add(f"\n{LABELS[name]} errors: " + "; ".join(e[:300] for e in s["errors"]))
        add("")

    for subject in PALABRE_NAMES:
        if subject in servers and peers:
            lines += ratio_table(summ, subject, peers)
    if "palabre-hp" in servers and "palabre" in servers:
        lines += ratio_table(summ, "palabre-hp", ["palabre"])
    if "palabre-base" in servers and "palabre" in servers:
        lines += ratio_table(summ, "palabre", ["palabre-base"])
    if "palabre" in servers and peers:
        add("")
        add("### Targets")
        add("")
        header(["target", "palabre", "reference", "verdict"])
        for row in targets(summ):
            add("| " + " | ".join(row) + " |")
        add("")
    return "\n".join(lines)


RATIO_ROWS: list[tuple[str, str, str]] = [
    ("W1 p50 latency", "w1", "p50Ms"), ("W1 p99 latency", "w1", "p99Ms"),
    ("W1 CPU / 1k deliveries", "w1", "cpu_ms_per_1k"),
    ("W1 server CPU", "w1", "server_cpu_s"), ("W1 peak RSS", "w1", "server_rss_peak"),
    ("W3 p99 latency", "w3", "p99Ms"), ("W3 RSS / room", "w3", "rss_per_room_kib"),
    ("W3 CPU / 1k deliveries", "w3", "cpu_ms_per_1k"),
    ("W5 p99 latency", "w5", "p99Ms"), ("W5 CPU / 1k deliveries", "w5", "cpu_ms_per_1k"),
    ("W5 peak RSS", "w5", "server_rss_peak"),
    ("W4 fresh-client sync", "w4", "join_ms"), ("W4 server CPU to load", "w4", "load_cpu_s"),
    ("W2 sustained rate", "w2", "sustained_rate"),
]


def ratio_table(summ: dict[str, Any], subject: str, peers: list[str]) -> list[str]:
    """`subject` as a ratio to each of `peers`, figure by figure (Markdown lines)."""
    cols = ["figure"] + [LABELS[p] for p in peers]
    lines = [
        f"### {LABELS[subject]} as a ratio to each peer ({LABELS[subject]} ÷ peer; below 1× is "
        "better for latency, CPU and memory, above 1× is better for rates)",
        "",
        "| " + " | ".join(cols) + " |",
        "|" + "|".join("---" for _ in cols) + "|",
    ]
    for label, wl, key in RATIO_ROWS:
        if wl not in summ or subject not in summ[wl]:
            continue
        pv = summ[wl][subject].get(key)
        lines.append(f"| {label} | " + " | ".join(
            ratio(pv, summ[wl].get(p, {}).get(key)) for p in peers) + " |")
    common = w2_common_step(summ)
    if common is not None and subject in summ["w2"]:
        pv = summ["w2"][subject]["steps"][common]["cpu_ms_per_1k"]
        lines.append(f"| W2 CPU / 1k deliveries at {common}/s (highest common step) | " + " | ".join(
            ratio(pv, summ["w2"].get(p, {}).get("steps", {}).get(common, {}).get("cpu_ms_per_1k"))
            for p in peers) + " |")
    lines.append("")
    return lines


def w2_common_step(summ: dict[str, Any]) -> int | None:
    """The highest W2 rate that every server held in the majority of its runs."""
    if "w2" not in summ:
        return None
    held_all: int | None = None
    for rate in W2_RATES:
        ok = True
        for s in summ["w2"].values():
            st = s["steps"].get(rate)
            if not st or st["passed"] * 2 <= st["n"]:
                ok = False
        if ok:
            held_all = rate
    return held_all


def targets(summ: dict[str, Any]) -> list[list[str]]:
    """Each target of the issue with palabre's figure, the reference and met / missed."""
    rows: list[list[str]] = []

    def get(wl: str, name: str, key: str) -> float | None:
        return summ.get(wl, {}).get(name, {}).get(key)

    def verdict(ok: bool | None) -> str:
        return "–" if ok is None else ("met" if ok else "**missed**")

    def cmp(a: float | None, b: float | None, op: str) -> bool | None:
        if a is None or b is None:
            return None
        return {"<=": a <= b, ">=": a >= b, "<": a < b}[op]

    a, b = get("w1", "palabre", "cpu_ms_per_1k"), get("w1", "hocuspocus", "cpu_ms_per_1k")
    rows.append(["W1 server CPU / 1k deliveries ≤ Hocuspocus's", fmt(a, 2), fmt(b, 2),
                 verdict(cmp(a, b, "<="))])
    common = w2_common_step(summ)
    if common is not None and "palabre" in summ.get("w2", {}) and "hocuspocus" in summ["w2"]:
        a = summ["w2"]["palabre"]["steps"][common]["cpu_ms_per_1k"]
        b = summ["w2"]["hocuspocus"]["steps"][common]["cpu_ms_per_1k"]
        rows.append([f"W2 CPU / 1k deliveries at the highest common step ({common}/s) ≤ "
                     "Hocuspocus's", fmt(a, 2), fmt(b, 2), verdict(cmp(a, b, "<="))])
    a, b = get("w2", "palabre", "sustained_rate"), get("w2", "hocuspocus", "sustained_rate")
    rows.append(["W2 sustained rate ≥ Hocuspocus's", fmt(a, 0), fmt(b, 0), verdict(cmp(a, b, ">="))])
    a = get("w5", "palabre", "p99Ms")
    rows.append(["W5 p99 < 250 ms", fmt(a), "250", verdict(cmp(a, 250.0, "<"))])
    a, b = get("w1", "palabre", "p99Ms"), get("w1", "hocuspocus", "p99Ms")
    rows.append(["W1 p99 ≤ Hocuspocus's", fmt(a), fmt(b), verdict(cmp(a, b, "<="))])
    a, b = get("w3", "palabre", "rss_per_room_kib"), get("w3", "yws", "rss_per_room_kib")
    rows.append(["W3 memory / room ≤ @y/websocket-server's (KiB)", fmt(a), fmt(b),
                 verdict(cmp(a, b, "<="))])
    a, b = get("w2", "palabre", "sustained_rate"), get("w2", "pycrdt", "sustained_rate")
    rows.append(["W2 sustained rate ≥ 3× pycrdt-websocket's", fmt(a, 0),
                 f"3 × {fmt(b, 0)}", verdict(cmp(a, None if b is None else 3 * b, ">="))])
    return rows


def update_readme(md: str) -> None:
    """Replace the block between the result markers in bench/README.md."""
    readme = BENCH / "README.md"
    text = readme.read_text()
    start, end = "<!-- results:start -->", "<!-- results:end -->"
    if start not in text or end not in text:
        raise SystemExit("bench/README.md has no result markers")
    head, rest = text.split(start, 1)
    _, tail = rest.split(end, 1)
    readme.write_text(f"{head}{start}\n{md}\n{end}{tail}")


# ------------------------------------------------------------------- main --


def parse_args(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--servers", default=",".join(ALL_SERVERS),
                   help="comma list of palabre,palabre-hp,pycrdt,yws,hocuspocus,floor (palabre is "
                        "skipped when "
                        "its CLI is missing)")
    p.add_argument("--workloads", default=",".join(ALL_WORKLOADS), help="comma list of w1..w5")
    p.add_argument("--repeats", type=int, default=3, help="repeats of W1 and W2")
    p.add_argument("--repeats-long", type=int, default=1, help="repeats of W3, W5 and W4")
    p.add_argument("--w1-clients", type=int, default=50)
    p.add_argument("--w1-duration", type=float, default=15)
    p.add_argument("--w2-rates", default=",".join(str(r) for r in W2_RATES))
    p.add_argument("--w2-duration", type=float, default=15, help="seconds per W2 step")
    p.add_argument("--w2-drain", type=float, default=5,
                   help="seconds after the last edit for every update to arrive")
    p.add_argument("--w3-rooms", type=int, default=500)
    p.add_argument("--w5-clients", type=int, default=1000)
    p.add_argument("--w5-editors", type=int, default=100)
    p.add_argument("--w5-sample", type=int, default=50,
                   help="W5 watchers that keep a Y.Doc and measure latency (with the editors);\n"
                        "the other watchers buffer updates and apply them once at the end\n"
                        "(delivery and convergence still checked). -1: every watcher keeps a Y.Doc")
    p.add_argument("--w4-batch", type=int, default=1000, help="trace transactions per update")
    p.add_argument("--w4-joins", type=int, default=3, help="fresh clients timed per W4 run")
    p.add_argument("--loadgen-workers", type=int, default=2, help="worker threads in loadgen")
    p.add_argument("--update-readme", action="store_true",
                   help="write the report between the markers in bench/README.md")
    p.add_argument("--render", metavar="RESULTS_JSON", help="only render an earlier run")
    p.add_argument("--baseline", metavar="DIR",
                   help="also run palabre from checkout DIR (with its own .venv) as palabre-base")
    p.add_argument("--baseline-env", metavar="NAME=VALUE", action="append", default=[],
                   help="an environment variable for palabre-base only (repeatable), e.g. "
                        "PALABRE_EVENT_LOOP=asyncio with --baseline on this checkout")
    args = p.parse_args(argv)
    args.w2_rates = [int(x) for x in args.w2_rates.split(",") if x]
    return args


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    if args.render:
        raw = json.loads(Path(args.render).read_text())
        md = render(raw)
        print(md)
        if args.update_readme:
            update_readme(md)
        return 0
    servers = [s for s in args.servers.split(",") if s]
    for s in servers:
        if s not in ALL_SERVERS:
            raise SystemExit(f"unknown server {s}")
    if args.baseline:
        PALABRE_HOMES["palabre-base"] = Path(args.baseline).resolve()
        BASELINE_ENV.update(item.split("=", 1) for item in args.baseline_env)
        if "palabre-base" not in servers:
            servers.insert(servers.index("palabre") + 1 if "palabre" in servers else 0,
                           "palabre-base")
    elif "palabre-base" in servers:
        raise SystemExit("palabre-base needs --baseline DIR (a checkout with its own .venv)")
    for name in [s for s in servers if s in PALABRE_HOMES]:
        if not palabre_bin(PALABRE_HOMES[name]).exists():
            log(f"{name} skipped: {palabre_bin(PALABRE_HOMES[name])} not found")
            servers.remove(name)
    workloads = [w for w in args.workloads.split(",") if w]
    ensure_node_modules()
    if "pycrdt" in servers:
        ensure_peers_venv()
    RESULTS.mkdir(exist_ok=True)
    stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    work = Path(tempfile.mkdtemp(prefix=f"bench-{stamp}-"))
    raw: dict[str, Any] = {
        "stamp": stamp,
        "command": "bench/run " + " ".join(argv),
        "args": {k: v for k, v in vars(args).items()},
        "servers": servers,
        "machine": machine_info(),
        "versions": versions(),
        "runs": {},
        "work_dir": str(work),
    }
    out_json = RESULTS / f"{stamp}.json"
    log(f"servers {servers}, workloads {workloads}; logs in {work}")
    for wl in workloads:
        reps = args.repeats if wl in ("w1", "w2") else args.repeats_long
        measured = [s for s in servers if not (wl == "w4" and s in NO_DOCUMENT)]
        raw["runs"].setdefault(wl, {s: [] for s in measured})
        for rep in range(reps):
            # interleave servers inside each repeat so a noisy spell hits all of them
            for name in measured:
                log(f"{wl} {name} run {rep + 1}/{reps}")
                res = WORKLOADS[wl](name, work, args)
                res["repeat"] = rep
                raw["runs"][wl][name].append(res)
                brief = {k: res.get(k) for k in ("ok", "p50Ms", "p99Ms", "deliveries",
                                                 "expectedDeliveries", "converged", "server_cpu_s",
                                                 "cpu_ms_per_1k", "loadgen_cores",
                                                 "sustained_rate", "join_ms", "reload_ms",
                                                 "error") if res.get(k) is not None}
                log(f"  {json.dumps(brief)[:600]}")
                out_json.write_text(json.dumps(raw, indent=1))
    raw["machine"]["loadavg_at_end"] = Path("/proc/loadavg").read_text().split()[:3]
    out_json.write_text(json.dumps(raw, indent=1))
    md = render(raw)
    (RESULTS / f"{stamp}.md").write_text(md + "\n")
    print(md)
    if args.update_readme:
        update_readme(md)
    log(f"raw results: {out_json}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
