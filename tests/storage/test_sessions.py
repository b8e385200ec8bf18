"""Sessions (`Sessions`) on every store: one open per document, presence, minutes chained."""

from __future__ import annotations

import dataclasses
import json
import time

import anyio
import pytest
from sqlalchemy import update

from crdt.protocol import EMPTY_UPDATE
from storage.base import LogEntry
from storage.memory import MemoryDocumentStore
from storage.models import SessionRow
from storage.sessions import (
    Departure,
    PresenceInterval,
    Quorum,
    SessionConflict,
    SessionNotFound,
    Sessions,
)
from tests.storage.conftest import SqlStoreFactory, StoreFactory
from tests.storage.test_archive import editing_database


async def open_one(store: Sessions, doc_id: str, title: str = "Séance plénière") -> str:
    record = await store.open_session(
        doc_id=doc_id, title=title, kind="work", planned_start=None, planned_end=None,
        by="facilitatrice", by_name="Élodie Brassens", at=time.time())
    return record.session_id


def seat(session_id: str, connection: str, sub: str, *, at: float, node: str = "n1"
         ) -> PresenceInterval:
    return PresenceInterval(session_id=session_id, connection_id=connection, node_id=node,
                            sub=sub, name=sub.title(), role="member", joined_at=at,
                            left_at=None, seen_at=at)


async def test_one_open_session_per_document_numbered_in_order(
    make_store: StoreFactory, doc_id: str
) -> None:
    async with make_store() as store:
        first = await open_one(store, doc_id)
        with pytest.raises(SessionConflict):
            await open_one(store, doc_id, "Deuxième")
        await store.close_session(doc_id=doc_id, session_id=first, by="f", by_name="F",
                                  at=time.time(), minutes="{}", stale_before=0)
        with pytest.raises(SessionConflict):
            await store.close_session(doc_id=doc_id, session_id=first, by="f", by_name="F",
                                      at=time.time(), minutes="{}", stale_before=0)
        second = await open_one(store, doc_id, "Deuxième séance")
        listed = await store.list_sessions(doc_id)
        assert [(s.number, s.title, s.is_open) for s in listed] == [
            (1, "Séance plénière", False), (2, "Deuxième séance", True)]
        assert (await store.get_session(doc_id, "2")).session_id == second
        assert (await store.get_session(doc_id, first)).number == 1
        assert [s.session_id for s in await store.open_sessions()
                if s.doc_id == doc_id] == [second]
        with pytest.raises(SessionNotFound):
            await store.get_session(doc_id, "7")


async def test_concurrent_opens_leave_exactly_one_open(
    make_store: StoreFactory, doc_id: str
) -> None:
    async with make_store() as store:
        outcomes: list[str] = []

        async def try_open(n: int) -> None:
            try:
                outcomes.append(await open_one(store, doc_id, f"séance {n}"))
            except SessionConflict:
                outcomes.append("conflict")

        async with anyio.create_task_group() as tg:
            for n in range(4):
                tg.start_soon(try_open, n)
        assert len([o for o in outcomes if o != "conflict"]) == 1
        assert len(await store.list_sessions(doc_id)) == 1


async def test_presence_is_recorded_refreshed_and_closed_with_the_session(
    make_store: StoreFactory, doc_id: str
) -> None:
    async with make_store() as store:
        session = await open_one(store, doc_id)
        start = time.time()
        await store.record_joined([seat(session, "c1", "amelie", at=start),
                                   seat(session, "c2", "bruno", at=start + 1, node="n2")])
        await store.record_joined([seat(session, "c1", "amelie", at=start + 50)])  # again
        await store.record_left([Departure(session_id=session, connection_id="c1",
                                           at=start + 10)])
        await store.record_joined([seat(session, "c3", "amelie", at=start + 20)])
        await store.heartbeat("n1", [session], at=start + 30)
        found = {i.connection_id: i for i in await store.list_presence(session)}
        assert set(found) == {"c1", "c2", "c3"}
        assert found["c1"].joined_at == start and found["c1"].left_at == start + 10
        assert found["c3"].seen_at == start + 30 and found["c3"].left_at is None
        assert found["c2"].seen_at == start + 1  # another node's: not refreshed by n1
        await store.close_session(doc_id=doc_id, session_id=session, by="f", by_name="F",
                                  at=start + 40, minutes="{}", stale_before=start + 5)
        ended = {i.connection_id: i.left_at for i in await store.list_presence(session)}
        # n2 stopped refreshing c2 (it died): its interval ends at its last refresh.
        assert ended == {"c1": start + 10, "c2": start + 1, "c3": start + 40}


async def test_quorum_is_set_and_cleared(make_store: StoreFactory, doc_id: str) -> None:
    async with make_store() as store:
        assert not (await store.get_quorum(doc_id)).is_set
        await store.set_quorum(doc_id, Quorum(fraction=0.5))
        assert await store.get_quorum(doc_id) == Quorum(fraction=0.5)
        await store.set_quorum(doc_id, Quorum(members=12))
        assert await store.get_quorum(doc_id) == Quorum(members=12)
        await store.set_quorum(doc_id, Quorum())
        assert not (await store.get_quorum(doc_id)).is_set


async def test_window_log_holds_the_edits_received_in_it(
    make_store: StoreFactory, doc_id: str
) -> None:
    async with make_store() as store:
        now = time.time()
        await store.append(doc_id, [
            LogEntry(update=EMPTY_UPDATE, received_at=now - 100, principal="avant"),
            LogEntry(update=EMPTY_UPDATE, received_at=now, principal="pendant")])
        window = await store.window_log(doc_id, since=now - 10, until=now + 10)
        assert [e.principal for e in window.entries] == ["pendant"]


async def test_closed_sessions_chain_and_memory_tampering_is_detected(doc_id: str) -> None:
    async with MemoryDocumentStore() as store:
        for n in range(3):
            session = await open_one(store, doc_id, f"séance {n}")
            await store.close_session(doc_id=doc_id, session_id=session, by="f", by_name="F",
                                      at=time.time(), minutes=json.dumps({"n": n}),
                                      stale_before=0)
        report = await store.verify_sessions(doc_id)
        assert report.ok and report.checked == 3
        second = (await store.list_sessions(doc_id))[1]
        store.tamper_session(dataclasses.replace(second, minutes='{"n": 99}'))
        report = await store.verify_sessions(doc_id)
        assert not report.ok and report.first_broken == 2, report


async def test_sql_tampering_with_a_stored_session_breaks_the_chain(
    make_sql_store: SqlStoreFactory, doc_id: str
) -> None:
    async with make_sql_store() as store:
        for n in range(2):
            session = await open_one(store, doc_id, f"séance {n}")
            await store.close_session(doc_id=doc_id, session_id=session, by="f", by_name="F",
                                      at=time.time(), minutes=json.dumps({"n": n}),
                                      stale_before=0)
        assert (await store.verify_sessions(doc_id)).ok
        async with editing_database(store) as conn:
            await conn.execute(update(SessionRow).where(
                SessionRow.doc_id == doc_id, SessionRow.number == 1).values(title="autre"))
        report = await store.verify_sessions(doc_id)
        assert not report.ok and report.first_broken == 1, report
