"""The annotations document: typed entries, server-peer writes, concurrent merges."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from pycrdt import Doc

from crdt.annotations import (
    AnnotationNotFound,
    Author,
    NotAuthor,
    add_annotation,
    add_reply,
    edit_body,
    get_annotation,
    list_annotations,
    set_status,
)
from crdt.errors import SchemaError

ZOE = Author(sub="zoe", name="Zoé Lefèvre")
FRANCOIS = Author(sub="francois", name="François Nguyễn")
NOON = datetime(2025, 3, 14, 12, 0, tzinfo=UTC)


def _replica(doc: Doc[Any], client_id: int) -> Doc[Any]:
    copy: Doc[Any] = Doc(client_id=client_id)
    copy.apply_update(doc.get_update())
    return copy


def _seeded() -> tuple[Doc[Any], str]:
    doc: Doc[Any] = Doc(client_id=1)
    written = add_annotation(
        doc, paragraph_id="p-2n9c-c", body="Pourquoi pas dès 16 ans ?", author=ZOE,
        stage="consultation", quote="au moins 16 ans", anchor={"type": {"client": 7}},
        annotation_id="a-1", now=NOON,
    )
    return doc, written.annotation.id


def test_add_returns_the_typed_entry_and_an_update_that_rebuilds_it() -> None:
    doc: Doc[Any] = Doc()
    written = add_annotation(doc, paragraph_id="p-1", body="Très clair, merci !", author=ZOE,
                             stage="rédaction", now=NOON, origin="serveur")
    entry = written.annotation
    assert (entry.body, entry.author, entry.status, entry.stage) == (
        "Très clair, merci !", ZOE, "open", "rédaction")
    assert entry.created_at == "2025-03-14T12:00:00+00:00" and entry.replies == ()
    other: Doc[Any] = Doc()
    other.apply_update(written.update)
    assert get_annotation(other, entry.id) == entry


def test_replies_keep_their_order_and_authors() -> None:
    doc, annotation_id = _seeded()
    add_reply(doc, annotation_id, body="D'accord avec Zoé.", author=FRANCOIS, reply_id="r-1")
    written = add_reply(doc, annotation_id, body="Précision : la loi le permet.", author=ZOE)
    assert [(r.author.name, r.body) for r in written.annotation.replies] == [
        ("François Nguyễn", "D'accord avec Zoé."), ("Zoé Lefèvre", "Précision : la loi le permet.")
    ]


def test_only_the_author_may_edit_a_body() -> None:
    doc, annotation_id = _seeded()
    with pytest.raises(NotAuthor, match="Zoé Lefèvre"):
        edit_body(doc, annotation_id, FRANCOIS.sub, "Texte réécrit")
    edited = edit_body(doc, annotation_id, ZOE.sub, "Pourquoi pas dès 15 ans ?", now=NOON)
    assert edited.annotation.body == "Pourquoi pas dès 15 ans ?"
    assert edited.annotation.updated_at == "2025-03-14T12:00:00+00:00"
    add_reply(doc, annotation_id, body="Bonne idée", author=FRANCOIS, reply_id="r-1")
    with pytest.raises(NotAuthor):
        edit_body(doc, annotation_id, ZOE.sub, "Mauvaise idée", reply_id="r-1")
    reply = edit_body(doc, annotation_id, FRANCOIS.sub, "Très bonne idée", reply_id="r-1")
    assert reply.annotation.replies[0].body == "Très bonne idée"


def test_unknown_ids_bad_status_and_empty_bodies_are_refused() -> None:
    doc, annotation_id = _seeded()
    with pytest.raises(AnnotationNotFound):
        add_reply(doc, "inconnue", body="Bonjour", author=ZOE)
    with pytest.raises(AnnotationNotFound):
        set_status(doc, annotation_id, "hidden", reply_id="inconnue")
    with pytest.raises(SchemaError, match="unknown status"):
        set_status(doc, annotation_id, "supprimée")  # type: ignore[arg-type]
    with pytest.raises(SchemaError, match="must not be empty"):
        add_annotation(doc, paragraph_id="p-1", body="  ", author=ZOE)
    with pytest.raises(SchemaError, match="already exists"):
        add_annotation(doc, paragraph_id="p-1", body="Doublon", author=ZOE,
                       annotation_id=annotation_id)


def test_list_filters_by_paragraph_status_and_stage() -> None:
    doc, first = _seeded()
    add_annotation(doc, paragraph_id="p-autre", body="Et les écoles ?", author=FRANCOIS,
                   stage="consultation", annotation_id="a-2", now=NOON)
    set_status(doc, "a-2", "resolved")
    assert [a.id for a in list_annotations(doc)] == [first, "a-2"]
    assert [a.id for a in list_annotations(doc, paragraph_id="p-autre")] == ["a-2"]
    assert [a.id for a in list_annotations(doc, status="open")] == [first]
    assert list_annotations(doc, stage="adoption") == []


def test_concurrent_edits_of_different_fields_both_survive() -> None:
    doc, annotation_id = _seeded()
    node_a, node_b = _replica(doc, 101), _replica(doc, 202)
    body = edit_body(node_a, annotation_id, ZOE.sub, "Pourquoi pas dès 15 ans ?").update
    status = set_status(node_b, annotation_id, "resolved").update
    node_a.apply_update(status)
    node_b.apply_update(body)
    for node in (node_a, node_b):
        merged = get_annotation(node, annotation_id)
        assert (merged.body, merged.status) == ("Pourquoi pas dès 15 ans ?", "resolved")
    assert get_annotation(node_a, annotation_id) == get_annotation(node_b, annotation_id)


def test_concurrent_replies_and_annotations_are_all_kept() -> None:
    doc, annotation_id = _seeded()
    node_a, node_b = _replica(doc, 101), _replica(doc, 202)
    updates_a = [add_reply(node_a, annotation_id, body="Réponse de Zoé", author=ZOE).update,
                 add_annotation(node_a, paragraph_id="p-9", body="Ajout", author=ZOE).update]
    updates_b = [add_reply(node_b, annotation_id, body="Réponse de François",
                           author=FRANCOIS).update,
                 set_status(node_b, annotation_id, "hidden").update]
    for update in updates_b:
        node_a.apply_update(update)
    for update in updates_a:
        node_b.apply_update(update)
    merged = get_annotation(node_a, annotation_id)
    assert merged == get_annotation(node_b, annotation_id)
    assert sorted(r.body for r in merged.replies) == ["Réponse de François", "Réponse de Zoé"]
    assert merged.status == "hidden"
    assert len(list_annotations(node_a)) == len(list_annotations(node_b)) == 2
