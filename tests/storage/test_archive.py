"""The archive (`Archive`) on every store: hash-chained snapshots, freeze state, audit log."""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import anyio
import pytest
from sqlalchemy import delete, text, update
from sqlalchemy.ext.asyncio import AsyncConnection

from storage.archive import (
    HASH_VERSION,
    SUBJECT_HASH_VERSION,
    Archive,
    ChainReport,
    Snapshot,
    SnapshotNotFound,
    chain_hash,
    content_hash,
)
from storage.engine import create_engine
from storage.memory import MemoryDocumentStore
from storage.models import SnapshotRow
from storage.sql import SqlDocumentStore
from tests.storage.conftest import SqlStoreFactory, StoreFactory


@asynccontextmanager
async def editing_database(store: SqlDocumentStore) -> AsyncIterator[AsyncConnection]:
    """A transaction on the store's database from outside the store, as a tamperer's."""
    engine = create_engine(store.url)
    try:
        async with engine.begin() as conn:
            yield conn
    finally:
        await engine.dispose()


async def archive(archive: Archive, doc_id: str, label: str, *, markdown: str = "") -> Snapshot:
    return await archive.add_snapshot(
        doc_id=doc_id, stage="première lecture", label=label, created_by="loic-menard",
        created_by_name="Loïc Ménard", state=b"\x01\x00" + label.encode(),
        markdown=markdown or f"# {label}\n", html=f"<h1>{label}</h1>",
        annotations_state=b"\x00\x00",
    )


async def archive_stages(store: Archive, doc_id: str, count: int) -> list[Snapshot]:
    """Archive `count` snapshots labelled ``étape 0``, ``étape 1``, ..."""
    return [await archive(store, doc_id, f"étape {n}") for n in range(count)]


async def assert_chain_broken_at(store: Archive, doc_id: str, number: int) -> ChainReport:
    """Verify the chain of `doc_id`: it must be found broken first at snapshot `number`."""
    report = await store.verify_chain(doc_id)
    assert not report.ok and report.first_broken == number, report
    return report


async def test_snapshots_are_numbered_chained_and_read_back_unchanged(
    make_store: StoreFactory, doc_id: str
) -> None:
    async with make_store() as store:
        arc: Archive = store
        first = await archive(arc, doc_id, "Avant-projet", markdown="Préambule « citoyen »\n")
        second = await archive(arc, doc_id, "Après auditions")
        listed = await arc.list_snapshots(doc_id)
        got = await arc.get_snapshot(doc_id, first.snapshot_id)
        report = await arc.verify_chain(doc_id)
        handle = (await arc.handles([first.created_by])).get(str(first.created_by))
        with pytest.raises(SnapshotNotFound):
            await arc.get_snapshot(doc_id, uuid.uuid4().hex)
        with pytest.raises(SnapshotNotFound):
            await arc.get_snapshot(doc_id + "-autre", first.snapshot_id)
        assert await arc.list_snapshots(doc_id + "-autre") == []
    assert listed == [first, second] and got == first
    assert (first.number, second.number) == (1, 2)
    assert first.previous_hash is None and second.previous_hash == first.chain_hash
    assert first.content_hash == content_hash(
        state=first.state, markdown=first.markdown, html=first.html,
        annotations_state=first.annotations_state, stage=first.stage, label=first.label,
        created_at=first.created_at, adopted=first.adopted,
        # A recorded author is covered by their handle, one never recorded by the subject.
        created_by=first.created_by if handle is None else handle,
        version=SUBJECT_HASH_VERSION if handle is None else HASH_VERSION,
    )
    assert second.chain_hash == chain_hash(first.chain_hash, second.content_hash)
    assert report.ok and report.checked == 2 and report.first_broken is None


async def test_a_snapshot_is_immutable_and_later_ones_leave_it_as_it_was(
    make_store: StoreFactory, doc_id: str
) -> None:
    async with make_store() as store:
        first = await archive(store, doc_id, "Avant-projet")
        with pytest.raises(dataclasses.FrozenInstanceError):
            first.markdown = "autre"  # type: ignore[misc]
        for n in range(3):
            await archive(store, doc_id, f"version {n}")
        assert await store.get_snapshot(doc_id, first.snapshot_id) == first


async def test_concurrent_snapshots_get_consecutive_numbers_and_one_chain(
    make_store: StoreFactory, doc_id: str
) -> None:
    async with make_store() as store:
        async with anyio.create_task_group() as tg:
            for n in range(8):
                tg.start_soon(archive, store, doc_id, f"étape {n}")
        listed = await store.list_snapshots(doc_id)
        report = await store.verify_chain(doc_id)
    assert [s.number for s in listed] == list(range(1, 9))
    assert report.ok and report.checked == 8


async def test_an_empty_archive_verifies(make_store: StoreFactory, doc_id: str) -> None:
    async with make_store() as store:
        report = await store.verify_chain(doc_id)
    assert (report.ok, report.checked, report.first_broken) == (True, 0, None)


@pytest.mark.parametrize("column", ["markdown", "state", "label", "created_at"])
async def test_a_row_altered_in_the_database_breaks_the_chain_at_its_number(
    make_sql_store: SqlStoreFactory, doc_id: str, column: str
) -> None:
    values: dict[str, object] = {
        "markdown": "# Texte falsifié\n", "state": b"\x00\x00", "label": "Faux",
        "created_at": 1.0,
    }
    async with make_sql_store() as store:
        await archive_stages(store, doc_id, 4)
        async with editing_database(store) as conn:
            await conn.execute(
                update(SnapshotRow)
                .where(SnapshotRow.doc_id == doc_id, SnapshotRow.number == 3)
                .values({column: values[column]})
            )
        report = await assert_chain_broken_at(store, doc_id, 3)
    assert report.reason


async def test_a_rehashed_row_still_breaks_the_link_to_the_next(
    make_sql_store: SqlStoreFactory, doc_id: str
) -> None:
    async with make_sql_store() as store:
        snapshots = await archive_stages(store, doc_id, 3)
        forged = dataclasses.replace(snapshots[0], markdown="# Faux\n")
        forged_hash = content_hash(
            state=forged.state, markdown=forged.markdown, html=forged.html,
            annotations_state=forged.annotations_state, stage=forged.stage,
            label=forged.label, created_at=forged.created_at, created_by=forged.created_by,
            adopted=forged.adopted, version=SUBJECT_HASH_VERSION,
        )
        async with editing_database(store) as conn:
            await conn.execute(
                update(SnapshotRow)
                .where(SnapshotRow.snapshot_id == forged.snapshot_id)
                .values(markdown=forged.markdown, content_hash=forged_hash,
                        chain_hash=chain_hash(None, forged_hash))
            )
        await assert_chain_broken_at(store, doc_id, 2)


async def test_a_deleted_row_breaks_the_chain_where_the_gap_is(
    make_sql_store: SqlStoreFactory, doc_id: str
) -> None:
    async with make_sql_store() as store:
        await archive_stages(store, doc_id, 3)
        async with editing_database(store) as conn:
            await conn.execute(
                delete(SnapshotRow).where(SnapshotRow.doc_id == doc_id, SnapshotRow.number == 2)
            )
            left = await conn.scalar(
                text("SELECT count(*) FROM snapshots WHERE doc_id = :d"), {"d": doc_id}
            )
        await assert_chain_broken_at(store, doc_id, 3)
    assert left == 2


async def test_the_memory_store_detects_tampering_too(doc_id: str) -> None:
    async with MemoryDocumentStore() as store:
        await archive_stages(store, doc_id, 3)
        second = (await store.list_snapshots(doc_id))[1]
        store.tamper(dataclasses.replace(second, html="<p>faux</p>"))
        await assert_chain_broken_at(store, doc_id, 2)


async def test_freeze_state_defaults_to_unfrozen_and_follows_set_freeze(
    make_store: StoreFactory, doc_id: str
) -> None:
    async with make_store() as store:
        initial = await store.get_freeze(doc_id)
        frozen = await store.set_freeze(doc_id, frozen=True, by="loic", comments_open=True)
        read = await store.get_freeze(doc_id)
        thawed = await store.set_freeze(doc_id, frozen=False, by="loic", comments_open=False)
        other = await store.get_freeze(doc_id + "-autre")
    assert (initial.frozen, initial.frozen_at, initial.frozen_by) == (False, None, None)
    assert frozen == read and frozen.frozen and frozen.comments_open
    assert frozen.frozen_by == "loic" and frozen.frozen_at is not None
    assert (thawed.frozen, thawed.frozen_at, thawed.frozen_by) == (False, None, None)
    assert not other.frozen


async def test_audit_entries_list_newest_first_by_document_with_paging(
    make_store: StoreFactory, doc_id: str
) -> None:
    async with make_store() as store:
        made = [
            await store.record_audit(
                doc_id=doc_id, action="snapshot.created", actor_sub="loic",
                actor_name="Loïc Ménard", detail={"number": n, "label": "étape"},
            )
            for n in range(5)
        ]
        await store.record_audit(doc_id=None, action="webhook.added", actor_sub=None,
                                 actor_name=None, detail={})
        await store.record_audit(doc_id=doc_id + "-autre", action="document.frozen",
                                 actor_sub="loic", actor_name=None, detail={})
        everything = await store.list_audit(doc_id)
        page = await store.list_audit(doc_id, limit=2)
        rest = await store.list_audit(doc_id, limit=10, before=page[-1].entry_id)
        with pytest.raises(ValueError):
            await store.list_audit(doc_id, limit=0)
    assert everything == list(reversed(made))
    assert [*page, *rest] == everything
    assert everything[0].detail == {"number": 4, "label": "étape"}
    assert everything[0].actor_name == "Loïc Ménard"
