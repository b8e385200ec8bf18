"""`KnownDocuments`: a document's sockets opened together cost one catalogue read, and a
revocation (this node's or another's) is never overtaken by what was read before it."""

from __future__ import annotations

from typing import Any

import anyio
import pytest

from server.rooms.known_documents import KnownDocuments
from storage.base import DocumentNotFound
from storage.catalog import DocumentMeta
from storage.memory import MemoryDocumentStore


class SlowCatalog:
    """A catalogue whose reads wait until `release` is set (a read in flight)."""

    def __init__(self, store: MemoryDocumentStore) -> None:
        self._store = store
        self.release = anyio.Event()
        self.started = anyio.Event()

    async def get_document(self, doc_id: str, *, include_deleted: bool = False) -> DocumentMeta:
        meta = await self._store.get_document(doc_id, include_deleted=include_deleted)
        self.started.set()
        await self.release.wait()
        return meta

    def __getattr__(self, name: str) -> Any:
        return getattr(self._store, name)


async def test_reads_within_the_moment_are_one_read_and_a_forget_reads_again() -> None:
    async with MemoryDocumentStore() as store:
        await store.create_document("charte", title="Charte")
        known = KnownDocuments(store)
        for _ in range(4):
            assert (await known.get_document("charte")).title == "Charte"
        assert known.reads == 1
        await store.delete_document("charte")
        assert (await known.get_document("charte")).deleted_at is None  # within the moment
        known.forget("charte")  # what a revocation does, here or from another node's frame
        with pytest.raises(DocumentNotFound):
            await known.get_document("charte")
        assert (await known.get_document("charte", include_deleted=True)).deleted_at
        assert known.reads == 2


async def test_an_unknown_document_is_never_remembered_as_missing() -> None:
    async with MemoryDocumentStore() as store:
        known = KnownDocuments(store)
        with pytest.raises(DocumentNotFound):
            await known.get_document("nouveau")
        await store.create_document("nouveau", title="Nouveau")
        assert (await known.get_document("nouveau")).title == "Nouveau"


async def test_a_read_overtaken_by_a_forget_is_not_kept() -> None:
    """Read before a deletion, answered after it: used once, not remembered."""
    async with MemoryDocumentStore() as store:
        await store.create_document("charte", title="Charte")
        slow = SlowCatalog(store)
        known = KnownDocuments(slow)
        async with anyio.create_task_group() as tg:
            tg.start_soon(known.get_document, "charte")
            await slow.started.wait()
            await store.delete_document("charte")
            known.forget("charte")
            slow.release.set()
        known._catalog = store  # the next read answers at once
        with pytest.raises(DocumentNotFound):
            await known.get_document("charte")
        assert known.reads == 2


async def test_entries_expire_and_the_table_is_bounded() -> None:
    async with MemoryDocumentStore() as store:
        for index in range(5):
            await store.create_document(f"doc-{index}", title=f"Doc {index}")
        expired = KnownDocuments(store, ttl=0.0)
        await expired.get_document("doc-0")
        await expired.get_document("doc-0")
        assert expired.reads == 2
        small = KnownDocuments(store, size=3)
        for index in range(5):
            await small.get_document(f"doc-{index}")
        assert len(small._known) <= 3
        await small.get_document("doc-4")
        assert small.reads == 5  # the last one read is kept
