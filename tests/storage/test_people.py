"""`People.record_person` on the SQL stores: nodes recording newcomers at the same moment
each get a pseudonym of their own, none is lost to another's number."""

from __future__ import annotations

import functools
import uuid

import anyio

from storage.sql import SqlDocumentStore
from tests.storage.conftest import SqlStoreFactory


async def test_newcomers_recorded_at_once_by_two_nodes_all_get_distinct_pseudonyms(
    make_sql_store: SqlStoreFactory,
) -> None:
    tag = uuid.uuid4().hex[:8]
    subs = [[f"node{node}-{number}-{tag}" for number in range(12)] for node in range(2)]
    async with make_sql_store() as first, make_sql_store() as second:

        async def record_all(store: SqlDocumentStore, names: list[str]) -> None:
            async with anyio.create_task_group() as tg:
                for sub in names:
                    tg.start_soon(functools.partial(
                        store.record_person, sub=sub, name=sub, role="member", at=1.0))

        async with anyio.create_task_group() as tg:
            tg.start_soon(record_all, first, subs[0])
            tg.start_soon(record_all, second, subs[1])
        people = [await first.get_person(sub) for sub in subs[0] + subs[1]]
    numbers = [person.pseudonym for person in people]
    assert all(number > 0 for number in numbers)
    assert len(set(numbers)) == len(numbers)
