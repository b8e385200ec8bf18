"""The public view of ``D.annotations``: subjects and names rewritten, item for item."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pycrdt import Doc, Map

from crdt.amendments import add_amendment, change, set_support
from crdt.annotations import Author, add_annotation, add_reply
from crdt.governance import ArchivedVersion, GovernanceState, write_governance
from crdt.projection import Lens, Public, touch
from crdt.sessions import Hand, LiveSession, write_session

ALICE = Author(sub="sub-alice", name="Amélie Poulain")
BRUNO = Author(sub="sub-bruno", name="Bruno Ćosić")
ROOTS = ("annotations", "amendments", "governance", "session")
SHOWN = {"sub-alice": Public("membre-1", "Membre 1"),
         "sub-bruno": Public("membre-2", "Bruno Ćosić"),
         "sub-loic": Public("membre-3", "Membre 3")}


def changes(doc: Doc[Any], writes: list[Callable[[Doc[Any]], object]]) -> list[bytes]:
    """The update each write made, in order."""
    updates = []
    for write in writes:
        before = doc.get_state()
        write(doc)
        updates.append(doc.get_update(before))
    return updates


def projected(updates: list[bytes], names: dict[str, Public] = SHOWN) -> tuple[Doc[Any],
                                                                                list[bytes]]:
    lens = Lens()
    view: Doc[Any] = Doc()
    out = []
    for update in updates:
        reading = lens.read(update)
        result = lens.project(reading, names)
        out.append(result)
        view.apply_update(result)
    return view, out


def first(doc: Doc[Any]) -> str:
    return str(next(iter(doc.get("amendments", type=Map).keys())))


def plain(doc: Doc[Any]) -> dict[str, Any]:
    return {name: doc.get(name, type=Map).to_py() for name in ROOTS}


def writes() -> list[Callable[[Doc[Any]], object]]:
    return [
        lambda d: add_annotation(d, paragraph_id="p1", body="Qui décide ?", author=ALICE,
                                 annotation_id="c1"),
        lambda d: add_reply(d, "c1", body="Le conseil.", author=BRUNO, reply_id="r1"),
        lambda d: add_amendment(d, paragraph_id="p1", kind="replace",
                                text="Nouveau", base="Ancien", justification="Mieux",
                                author_sub="sub-alice", author_name=ALICE.name),
        lambda d: set_support(d, first(d), "sub-bruno", BRUNO.name, supported=True),
        lambda d: set_support(d, first(d), "sub-alice", ALICE.name, supported=True),
        lambda d: set_support(d, first(d), "sub-alice", ALICE.name, supported=False),
        lambda d: set_support(d, first(d), "sub-alice", ALICE.name, supported=True),
        lambda d: change(d, first(d), fields={"tally": {"ballot": "public", "ballots": [
            {"sub": "sub-alice", "name": ALICE.name, "choice": "for"}]}}),
        lambda d: write_session(d, LiveSession(open=None, hands=(
            Hand(sub="sub-alice", name=ALICE.name, at=1.5),),
            floor=Hand(sub="sub-bruno", name=BRUNO.name, at=2.0))),
        lambda d: write_governance(d, GovernanceState(
            frozen=False, comments_open=True, frozen_at=None, snapshots=[ArchivedVersion(
                id="s1", number=1, stage="draft", label="v1", created_at=1.0,
                created_by_name="Loïc Facilitateur", created_by="sub-loic", adopted=False)])),
    ]


def test_the_projection_names_people_by_their_public_name_and_handle_only() -> None:
    real: Doc[Any] = Doc()
    updates = changes(real, writes())
    view, sent = projected(updates)
    for update in sent:
        for secret in ("sub-alice", "sub-bruno", "sub-loic", "Amélie", "Loïc"):
            assert secret.encode() not in update
    shown = plain(view)
    comment = shown["annotations"]["c1"]
    assert comment["author"] == {"sub": "membre-1", "name": "Membre 1"}
    assert comment["body"] == "Qui décide ?"
    assert comment["replies"][0]["author"] == {"sub": "membre-2", "name": "Bruno Ćosić"}
    amendment = next(iter(shown["amendments"].values()))
    assert amendment["author"] == {"sub": "membre-1", "name": "Membre 1"}
    assert amendment["supports"] == {"membre-2": "Bruno Ćosić", "membre-1": "Membre 1"}
    assert amendment["tally"]["ballots"] == [
        {"sub": "membre-1", "name": "Membre 1", "choice": "for"}]
    assert shown["session"]["hands"] == [{"sub": "membre-1", "name": "Membre 1",
                                          "raised_at": 1.5}]
    assert shown["session"]["floor"]["name"] == "Bruno Ćosić"
    snapshot = shown["governance"]["snapshots"][0]
    assert (snapshot["created_by"], snapshot["created_by_name"]) == ("membre-3", "Membre 3")


def test_the_projection_of_the_whole_state_is_the_incremental_one_item_for_item() -> None:
    real: Doc[Any] = Doc()
    updates = changes(real, writes())
    incremental, _ = projected(updates)
    whole, (state,) = projected([real.get_update()])
    assert plain(whole) == plain(incremental)
    # Same ids: the one converges on the other with nothing to add.
    assert incremental.get_update(whole.get_state()) == whole.get_update(
        incremental.get_state())
    for secret in (b"sub-alice", "Amélie".encode()):
        assert secret not in state


def test_a_touch_rewrites_a_persons_values_so_a_new_naming_reaches_the_projection() -> None:
    real: Doc[Any] = Doc()
    updates = changes(real, writes())
    lens = Lens()
    view: Doc[Any] = Doc()
    for update in updates:
        view.apply_update(lens.project(lens.read(update), SHOWN))
    before = real.get_state()
    with real.transaction():
        touched = touch(real, "sub-alice", roots=ROOTS)
    assert touched == 5  # comment author, amendment author, support, tally, hands
    named = {**SHOWN, "sub-alice": Public("membre-1", ALICE.name)}
    view.apply_update(lens.project(lens.read(real.get_update(before)), named))
    shown = plain(view)
    assert shown["annotations"]["c1"]["author"]["name"] == ALICE.name
    assert next(iter(shown["amendments"].values()))["supports"]["membre-1"] == ALICE.name
    assert shown["session"]["hands"][0]["name"] == ALICE.name
    assert plain(real)["annotations"]["c1"]["author"] == {"sub": "sub-alice",
                                                          "name": ALICE.name}


def test_reading_an_update_lists_every_subject_it_names() -> None:
    real: Doc[Any] = Doc()
    updates = changes(real, writes())
    lens = Lens()
    found: set[str] = set()
    for update in updates:
        reading = lens.read(update)
        found |= reading.subjects
        lens.project(reading, SHOWN)
    assert found == {"sub-alice", "sub-bruno", "sub-loic"}
