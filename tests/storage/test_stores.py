"""Behaviour every store shares (memory, SQLite, PostgreSQL): appends, loads, compaction."""

from __future__ import annotations

import anyio
import anyio.lowlevel
import pytest

from crdt.document import merge
from storage.base import STORED_DOC_ID_LENGTH, LogEntry, StorageUnavailable
from tests.storage.conftest import StoreFactory, wait_until
from tests.storage.editors import Editor, text_of


async def test_new_document_loads_empty_and_new(make_store: StoreFactory, doc_id: str) -> None:
    async with make_store() as store:
        stored = await store.load(doc_id)
    assert stored.is_new
    assert stored.log_rows == 0
    assert text_of(stored.update) == ""


async def test_append_then_load_returns_the_merged_french_text(
    make_store: StoreFactory, doc_id: str
) -> None:
    alice = Editor("alice")
    updates = [
        alice.insert(0, "Article premier : la commune délibère."),
        alice.insert(0, "Préambule — "),
        alice.delete(0, 3),
        alice.insert(0, "«Constitución» "),
    ]
    async with make_store() as store:
        results = [await store.append(doc_id, [alice.entry(u)]) for u in updates]
        stored = await store.load(doc_id)
    assert [r.log_rows for r in results] == [1, 2, 3, 4]
    assert not stored.is_new
    assert stored.log_rows == 4
    assert text_of(stored.update) == str(alice.text)
    assert text_of(stored.update) == text_of(merge(updates))
    assert text_of(stored.update).startswith("«Constitución» ")


async def test_concurrent_appends_share_transactions(make_store: StoreFactory, doc_id: str) -> None:
    editors = [Editor(f"membre-{n}") for n in range(10)]
    other_doc = f"{doc_id}-other"
    sent = [(e, e.insert(0, f"é{n}"), n % 2 == 0) for n, e in enumerate(editors * 5)]

    async def send(editor: Editor, update: bytes, is_first_doc: bool) -> None:
        await store.append(doc_id if is_first_doc else other_doc, [editor.entry(update)])

    async with make_store() as store:
        async with anyio.create_task_group() as tg:
            for editor, update, is_first_doc in sent:
                tg.start_soon(send, editor, update, is_first_doc)
        first, second = await store.load(doc_id), await store.load(other_doc)
    assert store.stats.appends == len(sent) == 50
    assert store.stats.transactions < store.stats.appends / 5
    expected_first = merge([u for _, u, is_first in sent if is_first])
    expected_second = merge([u for _, u, is_first in sent if not is_first])
    assert text_of(first.update) == text_of(expected_first)
    assert text_of(second.update) == text_of(expected_second)
    assert first.log_rows == second.log_rows == 25


async def test_compaction_changes_nothing_of_the_loaded_state(
    make_store: StoreFactory, doc_id: str
) -> None:
    alice, bob = Editor("alice"), Editor("bob")
    async with make_store() as store:
        for n in range(6):
            update = alice.insert(n, "àé"[n % 2])
            bob.receive(update)
            await store.append(doc_id, [alice.entry(update)])
            reply = bob.insert(0, "ç")
            alice.receive(reply)
            await store.append(doc_id, [bob.entry(reply)])
            if n == 2:
                await store.compact(doc_id)
        before = await store.load(doc_id)
        expected = str(alice.text)
        await store.compact(doc_id)
        after = await store.load(doc_id)
        await store.compact(doc_id)  # nothing left: a no-op
        result = await store.append(doc_id, [alice.entry(alice.delete(0, 1))])
    assert text_of(before.update) == text_of(after.update) == expected == str(bob.text)
    assert expected.startswith("çççççç")
    assert before.log_rows == 6
    assert after.log_rows == 0
    assert result.log_rows == 1
    assert store.stats.compactions == 2


async def test_appends_concurrent_with_compaction_are_kept(
    make_store: StoreFactory, doc_id: str
) -> None:
    editors = [Editor(f"membre-{n}") for n in range(4)]
    sent: list[bytes] = []
    is_done = False

    async def edit(editor: Editor) -> None:
        for n in range(15):
            update = editor.insert(0, f"{editor.principal}:{n}é ")
            sent.append(update)
            await store.append(doc_id, [editor.entry(update)])

    async def compact_until_done() -> None:
        while not is_done:
            await store.compact(doc_id)
            await anyio.lowlevel.checkpoint()  # let appends interleave with compactions

    async with make_store(commit_window=0.001) as store:
        async with anyio.create_task_group() as compactor:
            compactor.start_soon(compact_until_done)
            async with anyio.create_task_group() as editing:
                for editor in editors:
                    editing.start_soon(edit, editor)
            is_done = True
        await store.compact(doc_id)
        stored = await store.load(doc_id)
    assert text_of(stored.update) == text_of(merge(sent))
    assert len(sent) == 60
    assert store.stats.compactions >= 1


async def test_store_compacts_by_itself_past_the_threshold(
    make_store: StoreFactory, doc_id: str
) -> None:
    alice = Editor("alice")
    async with make_store(compact_threshold=3) as store:
        for n in range(4):
            await store.append(doc_id, [alice.entry(alice.insert(n, "ü"))])
        await wait_until(store.stats, lambda stats: stats.compactions >= 1)
        stored = await store.load(doc_id)
    assert text_of(stored.update) == "üüüü"
    assert stored.log_rows < 3


async def test_close_commits_every_queued_append(make_store: StoreFactory, doc_id: str) -> None:
    alice = Editor("alice")
    updates = [alice.insert(n, "è") for n in range(5)]
    store = make_store(commit_window=60)
    async with anyio.create_task_group() as tg:
        async with store:
            for update in updates:
                tg.start_soon(store.append, doc_id, [alice.entry(update)])
            await wait_until(store.stats, lambda stats: stats.queued == len(updates))
        # leaving the store did not wait for the 60 s window
    assert store.stats.appends == 5
    async with store:
        stored = await store.load(doc_id)
    assert text_of(stored.update) == "èèèèè"


async def test_append_to_a_closed_store_raises_storage_unavailable(
    make_store: StoreFactory, doc_id: str
) -> None:
    store = make_store()
    entry = LogEntry(update=Editor("alice").insert(0, "x"), received_at=0.0)
    with pytest.raises(StorageUnavailable):
        await store.append(doc_id, [entry])
    async with store:
        pass
    with pytest.raises(StorageUnavailable):
        await store.append(doc_id, [entry])
    with pytest.raises(StorageUnavailable):
        await store.load(doc_id)


async def test_overlong_doc_id_is_refused_before_queueing(make_store: StoreFactory) -> None:
    entry = LogEntry(update=Editor("alice").insert(0, "x"), received_at=0.0)
    async with make_store() as store:
        with pytest.raises(ValueError, match="doc_id"):
            await store.append("d" * (STORED_DOC_ID_LENGTH + 1), [entry])
        await store.check()
    assert store.stats.transactions == 0
