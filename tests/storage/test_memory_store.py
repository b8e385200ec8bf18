"""The in-memory store's fault injection, and what a failed transaction leaves behind."""

from __future__ import annotations

import anyio
import pytest

from storage.base import StorageUnavailable
from storage.memory import MemoryDocumentStore
from tests.storage.conftest import wait_until
from tests.storage.editors import Editor, text_of


async def test_failed_transaction_fails_every_append_in_it_and_stores_none() -> None:
    editors = [Editor(f"membre-{n}") for n in range(3)]
    failures: list[StorageUnavailable] = []

    async def send(n: int) -> None:
        editor = editors[n]
        try:
            await store.append(f"doc-{n}", [editor.entry(editor.insert(0, "délibéré"))])
        except StorageUnavailable as exc:
            failures.append(exc)

    # A long window keeps the three appends queued; closing commits them in one transaction.
    store = MemoryDocumentStore(commit_window=60)
    store.fail_next_appends(1)
    async with anyio.create_task_group() as tg:
        async with store:
            for n in range(3):
                tg.start_soon(send, n)
            await wait_until(store.stats, lambda stats: stats.queued == 3)
    async with store:
        loaded = [await store.load(f"doc-{n}") for n in range(3)]
    assert len(failures) == 3
    assert store.stats.failed_transactions == 1
    assert all(stored.is_new and stored.log_rows == 0 for stored in loaded)


async def test_held_commits_wait_for_release() -> None:
    alice = Editor("alice")
    async with MemoryDocumentStore() as store:
        gate = store.hold_commits()
        async with anyio.create_task_group() as tg:
            tg.start_soon(store.append, "doc", [alice.entry(alice.insert(0, "è"))])
            with anyio.fail_after(5):
                await gate.wait_reached()
            assert store.stats.transactions == 0
            assert (await store.load("doc")).is_new
            gate.release()
        stored = await store.load("doc")
    assert text_of(stored.update) == "è"
    assert store.stats.transactions == 1


async def test_injected_load_failures_then_recovery() -> None:
    async with MemoryDocumentStore() as store:
        store.fail_next_loads(2)
        for _ in range(2):
            with pytest.raises(StorageUnavailable):
                await store.load("doc")
        assert (await store.load("doc")).is_new


async def test_unavailable_store_fails_check_load_append_and_compact() -> None:
    alice = Editor("alice")
    async with MemoryDocumentStore() as store:
        await store.append("doc", [alice.entry(alice.insert(0, "ô"))])
        store.unavailable = True
        with pytest.raises(StorageUnavailable):
            await store.check()
        with pytest.raises(StorageUnavailable):
            await store.load("doc")
        with pytest.raises(StorageUnavailable):
            await store.append("doc", [alice.entry(alice.insert(0, "â"))])
        with pytest.raises(StorageUnavailable):
            await store.compact("doc")
        store.unavailable = False
        await store.check()
        stored = await store.load("doc")
    assert text_of(stored.update) == "ô"


async def test_catalog_fails_like_a_down_database_when_unavailable() -> None:
    async with MemoryDocumentStore() as store:
        await store.create_document("charte", title="Charte")
        store.unavailable = True
        with pytest.raises(StorageUnavailable):
            await store.get_document("charte")
        with pytest.raises(StorageUnavailable):
            await store.add_webhook(
                url="https://example.org", secret="s", events=[], doc_id=None, created_by=None
            )
        store.unavailable = False
        assert (await store.get_document("charte")).title == "Charte"
