"""One hostile citizen against a running palabre, for `bench/hostile.py`.

Runs under palabre's own venv (it mints tokens with the server's secret and speaks the
wire protocol with palabre's codec)::

    .venv/bin/python bench/hostile_attacker.py tokens --data-dir D --count 50
    .venv/bin/python bench/hostile_attacker.py attack KIND --url http://127.0.0.1:P \\
        --data-dir D --doc W1DOC --duration 20

``tokens`` prints a JSON list of member tokens (one principal per honest client;
``--role citizen`` for citizens).
``attack`` runs one attack for `--duration` seconds with a citizen token (the role
handed to strangers in a public consultation) and prints one JSON line of what it did,
how the server answered and its own CPU time. `bench/hostile.py` runs it at ``nice 19``:
on this shared machine an attacker elsewhere would not take the server's cores. The attacks:

- ``awareness``: 8 concurrent sockets on the honest clients' document, each sending
  awareness states as fast as the socket takes them: oversized states, many client ids,
  forged removals of other clients' ids; reconnecting whenever closed.
- ``patch``: the largest data patches the server accepts from a citizen (40 proposed
  actors on a public actors map, just under the 500 values a citizen's write may carry),
  then ones past it (400 actors) and oversized bodies (5,000 and 20,000), from 5 tasks.
- ``documents``: sockets opened on unknown document ids and Hocuspocus sockets loading
  as many documents as they can, in a loop.
- ``handshakes``: raw WebSocket handshakes on unknown ids from 96 connections at once
  (more than the refusals a node holds per principal), each answer read.
- ``streams``: event streams opened on a data document as fast as they are refused.
- ``frames``: oversized and malformed frames on the honest document, reconnecting.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import resource
import sys
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx
import websockets

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from client.api import PalabreApi
from client.examples import create_example
from crdt.awareness import AwarenessEntry, encode_awareness_update
from crdt.protocol import (
    encode_awareness,
    encode_sync_step1,
    encode_sync_update,
    encode_varstring,
)
from server.access.auth import Role, mint_token
from server.access.secret import load_or_create_secret
from server.limits import Limits

ACTORS_DOC = "hostile-actors"


def mint(data_dir: Path, role: Role, name: str, sub: str) -> str:
    """A token for `sub` signed with the server's secret."""
    return mint_token(load_or_create_secret(data_dir), sub=sub, name=name, role=role,
                      ttl=3600)


class Tally:
    """What the attack sent and how the server answered."""

    def __init__(self) -> None:
        self.counts: Counter[str] = Counter()

    def add(self, what: str, n: int = 1) -> None:
        self.counts[what] += n


async def until(deadline: float, step: Callable[[], Awaitable[None]], tally: Tally) -> None:
    """Run `step` again and again until `deadline`, counting its failures by kind."""
    while time.monotonic() < deadline:
        try:
            await step()
        except websockets.ConnectionClosed as exc:
            code = exc.rcvd.code if exc.rcvd is not None else "none"
            tally.add(f"closed {code}")
        except (OSError, websockets.InvalidStatus, websockets.InvalidHandshake) as exc:
            tally.add(f"refused {type(exc).__name__}")
        except httpx.HTTPError as exc:
            tally.add(f"http error {type(exc).__name__}")
        except AttributeError as exc:
            # websockets 17 aborting a send on a transport the server already closed
            # (a frame refused from its header) fails with this: the attack goes on.
            tally.add(f"client error {type(exc).__name__}")
        await asyncio.sleep(0)


def ws_url(base: str, doc: str, token: str) -> str:
    return base.replace("http", "ws", 1) + f"/ws/{doc}?token={token}"


async def awareness(base: str, doc: str, token: str, deadline: float, tally: Tally) -> None:
    big = json.dumps({"user": {"name": "x" * 64 * 1024}}).encode()
    normal = json.dumps({"user": {"name": "Intrus", "color": "#f00"}}).encode()

    async def one_socket(seed: int) -> None:
        async with websockets.connect(ws_url(base, doc, token), max_size=None,
                                      open_timeout=10) as sock:
            tally.add("sockets")
            clock = 0
            while time.monotonic() < deadline:
                clock += 1
                shape = clock % 4
                if shape == 0:  # oversized state
                    entries = [AwarenessEntry(seed * 1000 + 1, clock, big)]
                elif shape == 1:  # many client ids
                    entries = [AwarenessEntry(seed * 1000 + i, clock, normal) for i in range(200)]
                elif shape == 2:  # someone else's id removed
                    entries = [AwarenessEntry(1 + clock % 10_000, clock, b"null")]
                else:  # a flood of honest-looking moves
                    entries = [AwarenessEntry(seed * 1000 + 1, clock, normal)]
                await sock.send(encode_awareness(encode_awareness_update(entries)))
                tally.add("awareness sent")

    async def loop(seed: int) -> None:
        await until(deadline, lambda: one_socket(seed), tally)

    await asyncio.gather(*(loop(seed) for seed in range(1, 9)))


def proposals(count: int, start: int) -> dict[str, Any]:
    """`count` proposed actors (about 10 values each)."""
    return {"actors": {f"intrus-{start + i}": {
        "name": f"Intrus {start + i}", "kind": "shop", "address": "1 rue du Flot",
        "position": {"type": "Point", "coordinates": [4.8 + i * 1e-5, 45.7]},
        "tags": ["flood"], "description": "z" * 200,
    } for i in range(count)}}


async def patch(base: str, token: str, deadline: float, tally: Tally) -> None:
    async with httpx.AsyncClient(base_url=base, timeout=30,
                                 headers={"Authorization": f"Bearer {token}"}) as http:
        # Bodies made once (the attacker's own CPU is not what is measured); the largest
        # accepted size gets fresh ids each time, as it would to grow the map.
        made = {size: json.dumps(proposals(size, 0)).encode() for size in (5_000, 20_000)}
        counter = iter(range(10**9))
        headers = {"Content-Type": "application/merge-patch+json"}

        async def one(size: int) -> None:
            body = made.get(size) or json.dumps(proposals(size, next(counter) * 1000)).encode()
            response = await http.patch(f"/api/documents/{ACTORS_DOC}/data", content=body,
                                        headers=headers)
            tally.add(f"patch {size} -> {response.status_code}")

        async def loop(size: int) -> None:
            await until(deadline, lambda: one(size), tally)

        # The largest write a citizen may make (each proposal is 12 values, the patch's
        # two objects 2 more), twice; ten times as large (refused); and bodies past the
        # citizen's body bound.
        largest = (Limits().citizen_values_per_write - 2) // 12
        await asyncio.gather(loop(largest), loop(largest), loop(10 * largest), loop(5_000),
                             loop(20_000))


async def documents(base: str, token: str, deadline: float, tally: Tally) -> None:
    counter = iter(range(10**9))

    async def unknown() -> None:
        async with websockets.connect(ws_url(base, f"inconnu-{next(counter)}", token),
                                      open_timeout=10) as sock:
            tally.add("unknown opened")
            await sock.recv()

    async def hocuspocus() -> None:
        url = base.replace("http", "ws", 1) + "/hocuspocus"
        async with websockets.connect(url, open_timeout=10) as sock:
            tally.add("hocuspocus sockets")
            for _ in range(200):
                name = f"flood-{next(counter)}"
                auth = encode_varstring(name) + b"\x02\x00" + encode_varstring(token)
                await sock.send(auth)
                await sock.send(encode_varstring(name) + encode_sync_step1(b"\x00"))
                tally.add("hocuspocus documents asked")
            await sock.recv()

    async def loop(step: Callable[[], Awaitable[None]]) -> None:
        await until(deadline, step, tally)

    await asyncio.gather(*(loop(unknown) for _ in range(6)), loop(hocuspocus), loop(hocuspocus))


async def handshakes(base: str, token: str, deadline: float, tally: Tally,
                     width: int = 96) -> None:
    """WebSocket handshakes on unknown ids from `width` connections at once, each reading
    its answer and opening the next at once: more at once than the refusals a node holds
    for one principal (32), so that the rest are answered as fast as they come."""
    host, port = base.removeprefix("http://").split(":")
    counter = iter(range(10**9))

    async def one() -> None:
        reader, writer = await asyncio.open_connection(host, int(port))
        try:
            writer.write((f"GET /ws/inconnu-{next(counter)}?token={token} HTTP/1.1\r\n"
                          f"Host: {host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                          "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                          "Sec-WebSocket-Version: 13\r\n\r\n").encode())
            head = await reader.read(64)
            tally.add(f"answered {head[9:12].decode(errors='replace') or 'nothing'}")
        finally:
            writer.close()

    await asyncio.gather(*(until(deadline, one, tally) for _ in range(width)))


async def streams(base: str, token: str, deadline: float, tally: Tally) -> None:
    async with httpx.AsyncClient(base_url=base, timeout=httpx.Timeout(30, read=None),
                                 headers={"Authorization": f"Bearer {token}"}) as http:
        opened: list[Any] = []

        async def one() -> None:
            request = http.build_request("GET", f"/api/documents/{ACTORS_DOC}/data/events")
            response = await http.send(request, stream=True)
            tally.add(f"stream {response.status_code}")
            if response.status_code == 200:
                opened.append(response)
            else:
                await response.aclose()

        try:
            await asyncio.gather(*(until(deadline, one, tally) for _ in range(4)))
        finally:
            for response in opened:
                with contextlib.suppress(httpx.HTTPError):
                    await response.aclose()


async def frames(base: str, doc: str, token: str, deadline: float, tally: Tally) -> None:
    junk = os.urandom(64 * 1024)

    async def one(shape: int) -> None:
        async with websockets.connect(ws_url(base, doc, token), max_size=None,
                                      open_timeout=10) as sock:
            tally.add("sockets")
            while time.monotonic() < deadline:
                if shape == 0:
                    await sock.send(b"\x00\x02" + b"\xff" * 9)  # a length past the frame
                elif shape == 1:
                    await sock.send(encode_sync_update(junk))  # a write a citizen may not make
                else:
                    await sock.send(os.urandom(4 * 1024 * 1024))  # past the frame bound
                tally.add("frames sent")

    await asyncio.gather(*(until(deadline, lambda s=s: one(s), tally) for s in range(3)))


async def setup(base: str, data_dir: Path) -> None:
    """The public actors map the data attacks aim at (made by a facilitator)."""
    token = mint(data_dir, Role.FACILITATOR, "Facilitation", "bench-facilitation")
    async with PalabreApi(base, token) as api:
        with contextlib.suppress(Exception):
            await create_example(api, "actors", ACTORS_DOC, is_public=True)


async def attack(args: argparse.Namespace) -> dict[str, Any]:
    await setup(args.url, args.data_dir)
    token = mint(args.data_dir, Role.CITIZEN, "Intrus", "bench-intrus")
    tally = Tally()
    deadline = time.monotonic() + args.duration
    started = time.monotonic()
    if args.kind == "awareness":
        await awareness(args.url, args.doc, token, deadline, tally)
    elif args.kind == "patch":
        await patch(args.url, token, deadline, tally)
    elif args.kind == "documents":
        await documents(args.url, token, deadline, tally)
    elif args.kind == "handshakes":
        await handshakes(args.url, token, deadline, tally)
    elif args.kind == "streams":
        await streams(args.url, token, deadline, tally)
    elif args.kind == "frames":
        await frames(args.url, args.doc, token, deadline, tally)
    else:
        raise SystemExit(f"unknown attack {args.kind!r}")
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return {"attack": args.kind, "seconds": time.monotonic() - started,
            "cpu_s": usage.ru_utime + usage.ru_stime, "counts": dict(tally.counts.most_common())}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    tokens = sub.add_parser("tokens")
    tokens.add_argument("--data-dir", type=Path, required=True)
    tokens.add_argument("--count", type=int, default=50)
    tokens.add_argument("--role", choices=["member", "citizen"], default="member")
    hit = sub.add_parser("attack")
    hit.add_argument("kind", choices=["awareness", "patch", "documents", "handshakes", "streams",
                                      "frames"])
    hit.add_argument("--url", required=True)
    hit.add_argument("--data-dir", type=Path, required=True)
    hit.add_argument("--doc", required=True)
    hit.add_argument("--duration", type=float, default=20)
    args = parser.parse_args()
    if args.command == "tokens":
        role = Role(args.role)
        print(json.dumps([mint(args.data_dir, role, f"{role} {i}", f"bench-{role}-{i}")
                          for i in range(args.count)]))
        return
    print(json.dumps(asyncio.run(attack(args))), flush=True)


if __name__ == "__main__":
    main()
