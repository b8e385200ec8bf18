"""`Erasure.erase_person` on every store: identity replaced in people, log, authorship,
audit, sessions and snapshots; chains hashed again and verifying; history scrubbed."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from pycrdt import Doc

from crdt.annotations import Author, add_annotation, list_annotations
from crdt.erasure import Identity
from storage.base import LogEntry
from storage.people import PersonNotFound
from storage.sessions import PresenceInterval
from storage.votes import VoteRecord
from tests.storage.conftest import StoreFactory


async def test_identity_is_replaced_everywhere_and_chains_verify(
    make_store: StoreFactory, doc_id: str,
) -> None:
    tag = uuid.uuid4().hex[:8]
    sub, name = f"zoe-{tag}", f"Zoé {tag}"
    identity = Identity(sub=sub, names=frozenset({name}), new_sub=f"erased-{tag}",
                        pseudonym=f"Membre {tag}")
    notes: Doc[Any] = Doc()
    written = add_annotation(notes, paragraph_id="p1", body="Bonjour",
                             author=Author(sub=sub, name=name))
    async with make_store() as store:
        await store.record_person(sub=sub, name=name, role="member", at=1.0)
        await store.create_document(doc_id, title="Charte", created_by="boss")
        await store.append(doc_id, [LogEntry(update=b"\x00\x00", received_at=1.0,
                                             principal=sub)])
        await store.append(doc_id + ".annotations", [LogEntry(
            update=written.update, received_at=1.0, principal=None)])
        for number in range(3):
            await store.add_snapshot(
                doc_id=doc_id, stage="lecture", label=f"L{number}", created_by="boss",
                created_by_name="Boss", state=b"\x00\x00", markdown="# Charte\n",
                html="<h1>Charte</h1>",
                annotations_state=written.update if number else b"\x00\x00")
        await store.record_audit(doc_id=doc_id, action="x", actor_sub=sub, actor_name=name,
                                 detail={"sub": sub, "name": name})
        session = await store.open_session(doc_id=doc_id, title="S1", kind="plenary",
                                           planned_start=None, planned_end=None, by="boss",
                                           by_name="Boss", at=2.0)
        await store.record_joined([PresenceInterval(
            session_id=session.session_id, connection_id="c1", node_id="n1", sub=sub,
            name=name, role="member", joined_at=2.0, left_at=None, seen_at=2.0)])
        await store.close_session(doc_id=doc_id, session_id=session.session_id, by="boss",
                                  by_name="Boss", at=3.0, minutes=f'{{"who": "{name}"}}',
                                  stale_before=3.0)
        vote_id = f"v-{tag}"
        await store.open_vote(VoteRecord(
            vote_id=vote_id, doc_id=doc_id, session_id=session.session_id,
            amendment_ids=("a1",), ballot="public", rule="majority", opened_by="boss",
            opened_by_name="Boss", opened_at=3.0))
        await store.cast_ballot(doc_id=doc_id, vote_id=vote_id, amendment_id="a1", voter=sub,
                                voter_name=name, choice="for", at=3.5)
        before = await store.list_snapshots(doc_id)

        report = await store.erase_person(identity, at=4.0,
                                          annotation_docs=[doc_id + ".annotations"])

        assert {(r.chain, r.from_number) for r in report.reseals} == {
            ("snapshots", 2), ("sessions", 1)}
        after = await store.list_snapshots(doc_id)
        assert after[0] == before[0]  # before the first mention: untouched
        assert (await store.verify_chain(doc_id)).ok
        assert (await store.verify_sessions(doc_id)).ok
        for snapshot in after:
            assert name.encode() not in snapshot.annotations_state
        with pytest.raises(PersonNotFound):
            await store.get_person(sub)
        erased = await store.get_person(identity.new_sub)
        assert (erased.name, erased.erased_at) == (identity.pseudonym, 4.0)
        assert {r.principal for r in await store.authorship(doc_id)} <= {identity.new_sub}
        (entry,) = [e for e in await store.audit_about(identity.new_sub, limit=10)
                    if e.action == "x"]
        assert (entry.actor_name, entry.detail) == (
            identity.pseudonym, {"sub": identity.new_sub, "name": identity.pseudonym})
        (ballot,) = await store.list_ballots(vote_id)
        assert (ballot.voter, ballot.voter_name, ballot.choice) == (
            identity.new_sub, identity.pseudonym, "for")
        (counts,) = await store.vote_counts(vote_id)
        assert counts.for_ == 1
        (presence,) = await store.list_presence(session.session_id)
        assert (presence.sub, presence.name) == (identity.new_sub, identity.pseudonym)
        stored = await store.load(doc_id + ".annotations")
        assert name.encode() not in stored.update and stored.log_rows == 0
        reread: Doc[Any] = Doc()
        reread.apply_update(stored.update)
        assert list_annotations(reread)[0].author == Author(sub=identity.new_sub,
                                                            name=identity.pseudonym)
        with pytest.raises(PersonNotFound):
            await store.erase_person(identity, at=5.0, annotation_docs=[])
