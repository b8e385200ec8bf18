from __future__ import annotations

from collections.abc import Sequence
from types import TracebackType
from typing import Self

import anyio
from pycrdt import Text

import client
from crdt.document import merge
from storage.base import AppendResult, LogEntry, StoredDocument
from tests.conftest import ServerFactory


class Mem:
    def __init__(self) -> None:
        self.logs: dict[str, list[bytes]] = {}

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, a: type[BaseException] | None, b: BaseException | None, c: TracebackType | None) -> None:
        return None

    async def check(self) -> None:
        return None

    async def load(self, doc_id: str) -> StoredDocument:
        rows = self.logs.get(doc_id, [])
        return StoredDocument(doc_id=doc_id, update=merge(rows), log_rows=len(rows), is_new=not rows)

    async def append(self, doc_id: str, entries: Sequence[LogEntry]) -> AppendResult:
        self.logs.setdefault(doc_id, []).extend(e.update for e in entries)
        return AppendResult(log_rows=len(self.logs[doc_id]))

    async def compact(self, doc_id: str) -> None:
        return None


async def test_smoke(start_server: ServerFactory) -> None:
    async with start_server() as server:
        async with client.connect(server.url, "charte") as a, client.connect(server.url, "charte") as b:
            with anyio.fail_after(5):
                await a.synced()
                await b.synced()
                ta = a.doc.get("t", type=Text)
                tb = b.doc.get("t", type=Text)
                ta += "Article 1 — La commune garantit l'égalité"
                await b.wait_for(lambda: str(tb) == str(ta))
                a.set_awareness({"user": {"name": "Zoé"}})
                await b.wait_peers(lambda p: a.client_id in p)
                print(b.peers)
                await a.disconnect()
                await b.wait_peers(lambda p: not p)
                ta += " hors ligne é"
                a.resume()
                await a.synced()
                await b.wait_for(lambda: str(tb) == str(ta))
                await b.wait_peers(lambda p: a.client_id in p)
                await a.disconnect(abrupt=True)
                await b.wait_peers(lambda p: not p)
                a.resume()
                await b.wait_peers(lambda p: a.client_id in p)
