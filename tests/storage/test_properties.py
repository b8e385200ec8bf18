"""Properties: load(append*) equals a Doc fed every update; compaction changes nothing."""

from __future__ import annotations

import uuid
from typing import Any

import anyio
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pycrdt import Doc, Text

from crdt.document import apply, decode_state_vector, doc_from_update
from tests.storage.conftest import AnyStore, StoreFactory
from tests.storage.editors import Editor, text_of

ALPHABET = "abc é—«»çœΩ📊"
OPERATIONS = st.lists(
    st.tuples(
        st.sampled_from(["insert", "insert", "delete", "sync", "flush", "compact"]),
        st.integers(0, 2),
        st.integers(0, 2),
        st.integers(0, 1000),
        st.text(ALPHABET, min_size=1, max_size=4),
    ),
    max_size=30,
)


class Scenario:
    """Three editors whose updates go to one store and to a reference Doc."""

    def __init__(self, store: AnyStore) -> None:
        self.store = store
        self.doc_id = f"prop-{uuid.uuid4().hex}"
        self.editors = [Editor(name) for name in ("alice", "bénédicte", "chloé")]
        self.reference: Doc[Any] = Doc()
        self.outbox: list[tuple[Editor, bytes]] = []

    def edit(self, kind: str, who: int, position: int, value: str) -> None:
        editor = self.editors[who]
        length = len(str(editor.text))
        if kind == "insert":
            self.outbox.append((editor, editor.insert(position % (length + 1), value)))
        elif length:
            start = position % length
            count = min(length - start, 1 + position % 3)
            self.outbox.append((editor, editor.delete(start, count)))

    def sync(self, source: int, target: int) -> None:
        sender, receiver = self.editors[source], self.editors[target]
        receiver.receive(sender.doc.get_update(receiver.doc.get_state()))

    async def flush(self) -> None:
        """Append the outbox concurrently (one append call per update)."""
        sent, self.outbox = self.outbox, []
        async with anyio.create_task_group() as tg:
            for editor, update in sent:
                tg.start_soon(self.store.append, self.doc_id, [editor.entry(update)])
        for _, update in sent:
            apply(self.reference, update)

    async def assert_loaded_equals_reference(self) -> None:
        stored = await self.store.load(self.doc_id)
        loaded = doc_from_update(stored.update)
        assert text_of(stored.update) == str(self.reference.get("text", type=Text))
        assert decode_state_vector(loaded.get_state()) == decode_state_vector(
            self.reference.get_state()
        )


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(operations=OPERATIONS)
async def test_load_of_appends_equals_a_doc_fed_every_update_even_across_compactions(
    make_store: StoreFactory, operations: list[tuple[str, int, int, int, str]]
) -> None:
    async with make_store(commit_window=0.001) as store:
        scenario = Scenario(store)
        for kind, first, second, position, value in operations:
            if kind in ("insert", "delete"):
                scenario.edit(kind, first, position, value)
            elif kind == "sync":
                scenario.sync(first, second)
            elif kind == "flush":
                await scenario.flush()
            else:
                await scenario.flush()
                await store.compact(scenario.doc_id)
                await scenario.assert_loaded_equals_reference()
        await scenario.flush()
        await scenario.assert_loaded_equals_reference()
