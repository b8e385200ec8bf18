"""SQL store specifics: restart, authorship kept by compaction, database errors."""

from __future__ import annotations

import sys
import threading
from pathlib import Path

import anyio
import pytest
from sqlalchemy import func, select, text

from crdt.document import decode_state_vector, doc_from_update
from storage.base import ANNOTATIONS_SUFFIX, StorageUnavailable
from storage.catalog import DeliveryAttempt
from storage.engine import create_engine
from storage.models import AuthorshipRow, DocumentRow, LogRow, StateRow
from storage.sql import SqlDocumentStore
from tests.storage.conftest import SqlStoreFactory, wait_until
from tests.storage.editors import Editor, text_of


async def authorship(store: SqlDocumentStore, doc_id: str) -> list[tuple[int, int, int, str]]:
    """The (client_id, clock_start, clock_end, principal) rows of a document."""
    engine = create_engine(store.url)
    try:
        async with engine.connect() as conn:
            rows = await conn.execute(
                select(
                    AuthorshipRow.client_id,
                    AuthorshipRow.clock_start,
                    AuthorshipRow.clock_end,
                    AuthorshipRow.principal,
                )
                .where(AuthorshipRow.doc_id == doc_id)
                .order_by(AuthorshipRow.client_id, AuthorshipRow.clock_start)
            )
            return [(c, s, e, p or "") for c, s, e, p in rows]
    finally:
        await engine.dispose()


def principal_of(rows: list[tuple[int, int, int, str]], client_id: int, clock: int) -> str:
    """The principal of the one row covering (client_id, clock)."""
    found = [p for c, s, e, p in rows if c == client_id and s <= clock < e]
    assert len(found) == 1, (client_id, clock, rows)
    return found[0]


async def test_restart_loads_everything(make_sql_store: SqlStoreFactory, doc_id: str) -> None:
    alice, bob = Editor("alice"), Editor("bob")
    async with make_sql_store() as store:
        for n in range(3):
            update = alice.insert(n, "œ")
            bob.receive(update)
            await store.append(doc_id, [alice.entry(update)])
        await store.compact(doc_id)
        update = bob.insert(0, "Ça commence ")
        await store.append(doc_id, [bob.entry(update)])
        await store.append(f"{doc_id}-b", [bob.entry(bob.doc.get_update())])
    async with make_sql_store() as reopened:
        stored = await reopened.load(doc_id)
        other = await reopened.load(f"{doc_id}-b")
    assert text_of(stored.update) == str(bob.text) == "Ça commence œœœ"
    assert stored.log_rows == 1
    assert text_of(other.update) == "Ça commence œœœ"


async def test_compaction_maps_every_clock_to_the_principal_that_delivered_it(
    make_sql_store: SqlStoreFactory, doc_id: str
) -> None:
    alice, bob, carol = Editor("alice"), Editor("bob"), Editor("carol")
    async with make_sql_store() as store:
        for n in range(4):
            mine = alice.insert(n, "é")
            bob.receive(mine)
            await store.append(doc_id, [alice.entry(mine)])
            # Bob's client resends his whole state: Alice's structs in it are hers already.
            bob.insert(0, "b")
            await store.append(doc_id, [bob.entry(bob.doc.get_update())])
            if n == 1:
                await store.compact(doc_id)
        # Carol's edit reaches the server only through Bob: it counts as Bob's.
        bob.receive(carol.insert(0, "ç"))
        await store.append(doc_id, [bob.entry(bob.doc.get_update())])
        await store.compact(doc_id)
        stored = await store.load(doc_id)
        rows = await authorship(store, doc_id)
    assert text_of(stored.update) == str(bob.text)
    clocks = decode_state_vector(doc_from_update(stored.update).get_state())
    assert clocks == {alice.client_id: 4, bob.client_id: 4, carol.client_id: 1}
    for clock in range(4):
        assert principal_of(rows, alice.client_id, clock) == "alice"
        assert principal_of(rows, bob.client_id, clock) == "bob"
    assert principal_of(rows, carol.client_id, 0) == "bob"


async def test_compaction_without_a_worker_process_merges_in_a_thread(
    make_sql_store: SqlStoreFactory, doc_id: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sys, "executable", "/nonexistent/python")  # the child cannot start
    alice = Editor("alice")
    async with make_sql_store() as store:
        for n in range(3):
            await store.append(doc_id, [alice.entry(alice.insert(n, "a"))])
        await store.compact(doc_id)
        stored = await store.load(doc_id)
        rows = await authorship(store, doc_id)
    assert text_of(stored.update) == "aaa"
    assert stored.log_rows == 0
    assert rows == [(alice.client_id, 0, 3, "alice")]


async def test_a_killed_compaction_worker_is_replaced(
    make_sql_store: SqlStoreFactory, doc_id: str
) -> None:
    alice = Editor("alice")
    async with make_sql_store() as store:
        children = []
        for n in range(3):
            await store.append(doc_id, [alice.entry(alice.insert(n, "a"))])
            await store.compact(doc_id)
            child = store._merge_worker._process
            children.append(child)
            if n == 0:
                assert child is not None
                child.kill()  # dies between compactions: the next one merges in a thread
        stored = await store.load(doc_id)
        rows = await authorship(store, doc_id)
    assert children[1] is None and children[2] is not None and children[2] is not children[0]
    assert text_of(stored.update) == "aaa"
    assert all(principal_of(rows, alice.client_id, clock) == "alice" for clock in range(3))


async def test_unreachable_postgresql_is_storage_unavailable(refusing_port: int) -> None:
    store = SqlDocumentStore(f"postgresql://postgres@127.0.0.1:{refusing_port}/test")
    with anyio.fail_after(30), pytest.raises(StorageUnavailable):
        async with store:
            pass


async def test_unopenable_sqlite_file_is_storage_unavailable(tmp_path: Path) -> None:
    before = set(threading.enumerate())
    store = SqlDocumentStore(f"sqlite:///{tmp_path / 'missing' / 'palabre.db'}")
    with pytest.raises(StorageUnavailable):
        async with store:
            pass
    # aiosqlite stops the worker thread of a failed connection without awaiting it: join
    # it while this test's event loop can still receive its last callback.
    for thread in set(threading.enumerate()) - before:
        await anyio.to_thread.run_sync(thread.join, 10)


async def test_database_errors_surface_as_storage_unavailable(tmp_path: Path, doc_id: str) -> None:
    alice = Editor("alice")
    async with SqlDocumentStore(f"sqlite:///{tmp_path / 'palabre.db'}") as store:
        await store.append(doc_id, [alice.entry(alice.insert(0, "à"))])
        engine = create_engine(store.url)
        async with engine.begin() as conn:
            await conn.execute(text("DROP TABLE updates"))
        await engine.dispose()
        with pytest.raises(StorageUnavailable):
            await store.load(doc_id)
        with pytest.raises(StorageUnavailable):
            await store.append(doc_id, [alice.entry(alice.insert(0, "b"))])
        with pytest.raises(StorageUnavailable):
            await store.compact(doc_id)
        await store.check()
    assert store.stats.failed_transactions == 1
    assert store.stats.failed_compactions == 1


async def test_failed_sql_transaction_stores_no_append_of_its_batch(
    tmp_path: Path, doc_id: str
) -> None:
    url = f"sqlite:///{tmp_path / 'palabre.db'}"
    editors = [Editor(f"membre-{n}") for n in range(3)]
    doc_ids = [f"{doc_id}-{n}" for n in range(3)]
    failures: list[StorageUnavailable] = []

    async def send(n: int) -> None:
        editor = editors[n]
        try:
            await store.append(doc_ids[n], [editor.entry(editor.insert(0, "élu"))])
        except StorageUnavailable as exc:
            failures.append(exc)

    # A long window keeps the three appends queued; closing commits them in one transaction,
    # which the trigger fails on the last document's row.
    store = SqlDocumentStore(url, commit_window=60)
    async with anyio.create_task_group() as tg:
        async with store:
            engine = create_engine(store.url)
            async with engine.begin() as conn:
                await conn.execute(
                    text(
                        f"CREATE TRIGGER refuse BEFORE INSERT ON updates "
                        f"WHEN NEW.doc_id = '{doc_ids[2]}' "
                        f"BEGIN SELECT RAISE(ABORT, 'refused'); END"
                    )
                )
            await engine.dispose()
            for n in range(3):
                tg.start_soon(send, n)
            await wait_until(store.stats, lambda stats: stats.queued == 3)
    async with SqlDocumentStore(url) as reopened:
        loaded = [await reopened.load(d) for d in doc_ids]
    assert len(failures) == 3
    assert all(stored.is_new and stored.log_rows == 0 for stored in loaded)


async def test_purge_deletes_every_row_of_the_document_and_its_companion(
    make_sql_store: SqlStoreFactory, doc_id: str
) -> None:
    companion = doc_id + ANNOTATIONS_SUFFIX
    kept = f"{doc_id}-kept"
    async with make_sql_store() as store:
        for target in (doc_id, companion, kept):
            alice = Editor("alice")  # one Yjs client per document: each log integrates
            await store.create_document(target, title="Tout doit partir")
            for n in range(2):
                await store.append(target, [alice.entry(alice.insert(n, "ô"))])
            await store.compact(target)
            await store.append(target, [alice.entry(alice.insert(0, "«"))])
        hook = await store.add_webhook(
            url="https://example.org/h", secret="s", events=["document.changed"],
            doc_id=doc_id, created_by=None,
        )
        await store.record_attempt(
            DeliveryAttempt(
                webhook_id=hook.webhook_id, event_id="e", event="document.changed",
                attempt=1, at=1.0, status=200,
            )
        )
        before = await row_counts(store, [doc_id, companion, kept])
        await store.delete_document(doc_id)
        await store.purge_document(doc_id)
        after = await row_counts(store, [doc_id, companion, kept])
        deliveries = await store.list_attempts(hook.webhook_id)
    assert all(before[table][d] >= 1 for table in before for d in (doc_id, companion, kept))
    assert all(after[table][d] == 0 for table in after for d in (doc_id, companion))
    assert all(after[table][kept] == before[table][kept] for table in after)
    assert deliveries == []


async def row_counts(store: SqlDocumentStore, doc_ids: list[str]) -> dict[str, dict[str, int]]:
    """Rows per table and doc_id, for the tables that hold a document's rows."""
    engine = create_engine(store.url)
    counts: dict[str, dict[str, int]] = {}
    try:
        async with engine.connect() as conn:
            for model in (DocumentRow, LogRow, StateRow, AuthorshipRow):
                found = await conn.execute(
                    select(model.doc_id, func.count())
                    .where(model.doc_id.in_(doc_ids))
                    .group_by(model.doc_id)
                )
                counts[model.__tablename__] = dict.fromkeys(doc_ids, 0) | {d: n for d, n in found}
    finally:
        await engine.dispose()
    return counts
