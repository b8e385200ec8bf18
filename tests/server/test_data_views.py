"""`DataViews`: each reader's view text, kept up to date item by item, always reads as
the view built from the whole document, through proposals, reviews, removals and
rewrites of whole collections; the same version asked again is the same text; the
proposals awaiting review, counted per contributor, are those of the whole document."""

from __future__ import annotations

import functools
import json
import random
from pathlib import Path
from typing import Any

import anyio
from pycrdt import Doc

from crdt.actors import awaits_review_by
from crdt.data import apply_merge_patch, read_data
from server.access.auth import Principal, Role
from server.metrics import Metrics
from server.modules.actors import view_for
from server.modules.data_documents import _fill_empty, skeleton
from server.modules.data_views import DataViews
from server.rooms.hooks import RoomHooks
from server.rooms.hub import Hub
from server.settings import Settings
from storage.memory import MemoryDocumentStore

READERS = [Principal(sub="ana", name="Ana", role=Role.CITIZEN),
           Principal(sub="ben", name="Ben", role=Role.CITIZEN),
           Principal(sub="", name="", role=Role.PUBLIC),
           Principal(sub="boss", name="Boss", role=Role.FACILITATOR)]


def actor(rng: random.Random, number: int) -> dict[str, Any]:
    return {"name": f"Acteur {number} «ü»", "kind": "shop",
            "position": {"type": "Point", "coordinates": [4.8, 45.7]},
            "state": rng.choice(["proposed", "published", "rejected"]),
            "contributed_by": {"sub": rng.choice(["ana", "ben", "zoe"]), "name": "X"},
            "history": [{"at": "2026-12-06T00:00:00Z", "state": {"old": None, "new": "x"}}]}


def a_change(rng: random.Random, known: list[str], step: int) -> dict[str, Any]:
    """A merge patch: add, change, review or remove a few actors, or rewrite many."""
    kind = rng.random()
    if kind < 0.05:  # more than a mirror re-reads item by item
        return {"actors": {f"lot-{step}-{n}": actor(rng, n) for n in range(80)}}
    if kind < 0.1:
        return {"title": f"Carte {step}"}
    changes: dict[str, Any] = {}
    for _ in range(rng.randint(1, 4)):
        if known and rng.random() < 0.5:
            key = rng.choice(known)
            changes[key] = None if rng.random() < 0.3 else {
                "state": rng.choice(["proposed", "published", "rejected"]),
                "name": f"Renommé {step}"}
        else:
            key = f"a-{step}-{rng.randint(0, 10**6)}"
            changes[key] = actor(rng, step)
            known.append(key)
    return {"actors": changes}


async def test_every_view_reads_as_the_whole_documents_view_version_after_version(
    tmp_path: Path,
) -> None:
    rng = random.Random(20261206)
    store = MemoryDocumentStore()
    hub = Hub(Settings(data_dir=tmp_path), store, Metrics(), hooks=RoomHooks())
    views = DataViews()
    known: list[str] = []
    async with store, hub.running():
        with anyio.fail_after(60):
            await hub.transform("carte", lambda doc: _fill_empty(
                doc, skeleton("actors", "Carte")), principal="boss")
            room = hub.loaded_room("carte")
            assert room is not None
            for step in range(120):
                patch = a_change(rng, known, step)

                def write(doc: Doc[Any], patch: dict[str, Any] = patch) -> None:
                    apply_merge_patch(doc, patch)

                await hub.transform("carte", write, principal="boss")
                whole = read_data(room.doc)
                actors = whole["actors"]
                assert isinstance(actors, dict)
                for sub in ("ana", "ben", "zoe"):
                    assert views.awaiting_review(room, sub) == sum(
                        awaits_review_by(item) == sub for item in actors.values())
                for reader in rng.sample(READERS, 2):
                    text = views.view_body(room, "actors", reader, "carte")
                    assert json.loads(text) == view_for("actors", reader, "carte", whole)
                    assert views.view_body(room, "actors", reader, "carte") is text
                if step == 60:  # many transactions nobody reads: caught up in one difference
                    for number in range(300):
                        await hub.transform("carte", functools.partial(
                            apply_merge_patch, patch={"title": f"Carte {number}"}),
                            principal="boss")
                    etag = views.etag(room)
                    assert views.etag(room) == etag
                    await hub.transform("carte", lambda doc: apply_merge_patch(
                        doc, {"title": "Carte"}), principal="boss")
                    assert views.etag(room) != etag
                    whole = read_data(room.doc)
                    assert json.loads(views.view_body(room, "actors", READERS[3], "carte")) \
                        == whole
                if step % 10 == 0:
                    geojson = json.loads(views.view_body(room, "actors", READERS[0], "carte",
                                                         fmt="geojson"))
                    shown = view_for("actors", READERS[0], "carte", whole)["actors"]
                    assert isinstance(shown, dict)
                    assert len(geojson["features"]) == len(shown)
