"""The hub's hooks: given at construction, observers told in order, a failing one isolated."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import anyio
from pycrdt import Doc, Text

from server.metrics import Metrics
from server.rooms.hooks import RoomHooks
from server.rooms.hub import Hub
from server.settings import Settings
from storage.memory import MemoryDocumentStore


def _write_preamble(doc: Doc[Any]) -> None:
    doc.get("texte", type=Text).insert(0, "Préambule de la charte")


async def test_a_failing_observer_neither_stops_the_others_nor_the_commit(
    tmp_path: Path,
) -> None:
    told: list[tuple[str, str]] = []

    def failing(doc_id: str, state_vector: bytes) -> None:
        told.append(("failing", doc_id))
        raise RuntimeError("an extension's bug")

    def recording(doc_id: str, state_vector: bytes) -> None:
        told.append(("recording", doc_id))

    store = MemoryDocumentStore()
    metrics = Metrics()
    hub = Hub(Settings(data_dir=tmp_path), store, metrics,
              hooks=RoomHooks(after_commit=(failing, recording)))
    async with store, hub.running():
        with anyio.fail_after(10):
            await hub.transform("charte", _write_preamble, principal="zoé")
        room = hub.loaded_room("charte")
        assert room is not None
        assert str(room.doc.get("texte", type=Text)) == "Préambule de la charte"
    assert told == [("failing", "charte"), ("recording", "charte")]
    stored = await _reloaded_text(store)
    assert stored == "Préambule de la charte"
    assert 'palabre_errors_total{kind="hook_failed"} 1.0' in metrics.render().decode()


async def _reloaded_text(store: MemoryDocumentStore) -> str:
    async with store:
        loaded = await store.load("charte")
    doc: Doc[Any] = Doc()
    doc.apply_update(loaded.update)
    return str(doc.get("texte", type=Text))


async def test_the_guard_loader_is_asked_once_per_room_load(tmp_path: Path) -> None:
    asked: list[str] = []

    async def load_guard(doc_id: str) -> None:
        asked.append(doc_id)

    store = MemoryDocumentStore()
    hub = Hub(Settings(data_dir=tmp_path), store, Metrics(),
              hooks=RoomHooks(load_guard=load_guard))
    async with store, hub.running():
        with anyio.fail_after(10):
            await hub.room("charte")
            await hub.room("charte")
            await hub.room("charte.annotations")
    assert asked == ["charte"]
