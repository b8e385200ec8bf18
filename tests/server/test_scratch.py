"""`Hub.transform` on a large document: the update it writes is what it changed (not the
document's whole delete set), its kept copy follows the edits made between transforms,
and a copy left behind or failed on is made again."""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

import anyio
import pytest
from pycrdt import Doc, Text

from server.metrics import Metrics
from server.rooms.hooks import RoomHooks
from server.rooms.hub import Hub
from server.rooms.room import Room
from server.rooms.scratch import KEPT_SCRATCH_BYTES
from server.settings import Settings
from storage.memory import MemoryDocumentStore


def text_of(doc: Doc[Any]) -> Text:
    text: Text = doc.get("texte", type=Text)
    return text


async def edit_elsewhere(room: Room, change: Any) -> None:
    """An edit made on another replica (as a client's), written through the room."""
    replica: Doc[Any] = Doc()
    replica.apply_update(room.doc.get_update())
    before = replica.get_state()
    change(text_of(replica))
    await room.write(replica.get_update(before), principal="alice")


async def test_transforms_on_a_large_document_write_only_their_change_and_follow_edits(
    tmp_path: Path,
) -> None:
    store = MemoryDocumentStore()
    hub = Hub(Settings(data_dir=tmp_path), store, Metrics(), hooks=RoomHooks())
    written: list[int] = []
    async with store, hub.running():
        with anyio.fail_after(60):
            # A large text with a fragmented delete set (every other character deleted).
            await hub.transform("charte", lambda doc: text_of(doc).insert(
                0, "ab" * (KEPT_SCRATCH_BYTES // 2)), principal="boss")
            room = hub.loaded_room("charte")
            assert room is not None
            for start in range(0, 4000, 400):
                await edit_elsewhere(room, lambda text, s=start: [
                    text.__delitem__(slice(i, i + 1)) for i in range(s, s + 200)])
            expected = str(text_of(room.doc))
            room_write = room.write

            async def recording(update: bytes, *, principal: str | None) -> None:
                written.append(len(update))
                await room_write(update, principal=principal)

            room.write = recording  # type: ignore[method-assign]
            for step in range(6):
                await hub.transform("charte", functools.partial(prepend, f"[{step}]"),
                                    principal="boss")
                expected = f"[{step}]" + expected
                await edit_elsewhere(room, lambda text, n=step: text.insert(
                    len(text), f"<{n}>"))
                expected += f"<{step}>"
                assert str(text_of(room.doc)) == expected
            # Edits nobody transformed in between, more than a kept copy follows.
            for number in range(1100):
                await edit_elsewhere(room, lambda text, n=number: text.insert(0, "x"))
            expected = "x" * 1100 + expected
            await hub.transform("charte", lambda doc: text_of(doc).insert(0, "!"),
                                principal="boss")
            assert str(text_of(room.doc)) == "!" + expected
            # Edits let in while a transform's update is being committed: the next transform
            # sees them (its copy follows the live document through the commit too).
            async with anyio.create_task_group() as tg:
                tg.start_soon(functools.partial(hub.transform, "charte",
                                                functools.partial(prepend, "&"),
                                                principal="boss"))
                for number in range(20):
                    await edit_elsewhere(room, lambda text, n=number: text.insert(
                        len(text), f"({n})"))
            expected = str(text_of(room.doc))
            assert await hub.transform("charte", read_text, principal="boss") == expected
            assert expected.startswith("&!") and expected.endswith("(19)")
            expected = expected.removeprefix("&")
            # A transform that fails writes nothing; the next starts from the live text.
            with pytest.raises(RuntimeError):
                await hub.transform("charte", failing, principal="boss")
            await hub.transform("charte", lambda doc: text_of(doc).insert(0, "?"),
                                principal="boss")
            assert str(text_of(room.doc)) == "?&" + expected
    # The transforms' own updates: a few bytes each, not the 2,000 deleted ranges.
    assert max(written[0::2][:6]) < 100, written[:12]


def prepend(words: str, doc: Doc[Any]) -> None:
    text_of(doc).insert(0, words)


def read_text(doc: Doc[Any]) -> str:
    return str(text_of(doc))


def failing(doc: Doc[Any]) -> None:
    text_of(doc).insert(0, "jamais")
    raise RuntimeError("a mutate that fails half-way")
