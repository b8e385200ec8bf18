"""Hidden comments: their words are sealed out of the document every reader syncs."""

from __future__ import annotations

from typing import Any

from pycrdt import Doc

from crdt.annotations import (
    SEALED,
    Author,
    add_annotation,
    add_reply,
    annotations_map,
    edit_body,
    get_annotation,
    set_status,
)
from server.access.seal import SecretSeal

WORDS = "Propos injurieux envers Élodie"
SEAL = SecretSeal(b"k" * 32)
ZOE = Author(sub="zoe", name="Zoé")


def _commented() -> tuple[Doc[Any], str]:
    doc: Doc[Any] = Doc(client_id=1)
    made = add_annotation(doc, paragraph_id="p-1", body=WORDS, author=ZOE)
    return doc, made.annotation.id


def _reader_copy(doc: Doc[Any]) -> Doc[Any]:
    """What a client gets when it syncs the document from scratch."""
    copy: Doc[Any] = Doc()
    copy.apply_update(doc.get_update())
    return copy


def test_hiding_seals_the_words_out_of_what_readers_sync() -> None:
    doc, annotation_id = _commented()
    hidden = set_status(doc, annotation_id, "hidden", seal=SEAL)
    assert hidden.annotation.body == WORDS  # the server, holding the seal, still reads them
    assert WORDS.encode() not in hidden.update
    assert WORDS.encode() not in doc.get_update()
    reader = _reader_copy(doc)
    entry = annotations_map(reader)[annotation_id]
    assert entry["body"] == "" and entry["status"] == "hidden"
    assert WORDS not in str(entry[SEALED])
    assert get_annotation(reader, annotation_id).body == ""
    assert get_annotation(reader, annotation_id, seal=SEAL).body == WORDS


def test_reopening_unseals_the_words_into_the_body() -> None:
    doc, annotation_id = _commented()
    set_status(doc, annotation_id, "hidden", seal=SEAL)
    reopened = set_status(doc, annotation_id, "resolved", seal=SEAL)
    assert reopened.annotation.body == WORDS
    entry = annotations_map(doc)[annotation_id]
    assert entry["body"] == WORDS and SEALED not in entry


def test_the_author_edit_of_a_hidden_comment_stays_sealed() -> None:
    doc, annotation_id = _commented()
    set_status(doc, annotation_id, "hidden", seal=SEAL)
    edited = edit_body(doc, annotation_id, "zoe", "Autres propos", seal=SEAL)
    assert edited.annotation.body == "Autres propos"
    assert b"Autres propos" not in doc.get_update()
    assert set_status(doc, annotation_id, "open", seal=SEAL).annotation.body == "Autres propos"


def test_a_hidden_reply_is_sealed_too() -> None:
    doc, annotation_id = _commented()
    reply = add_reply(doc, annotation_id, body="Réponse hors sujet", author=ZOE).annotation
    reply_id = reply.replies[0].id
    set_status(doc, annotation_id, "hidden", reply_id=reply_id, seal=SEAL)
    assert "Réponse hors sujet".encode() not in doc.get_update()
    assert get_annotation(doc, annotation_id).replies[0].body == ""
    assert get_annotation(doc, annotation_id, seal=SEAL).replies[0].body == "Réponse hors sujet"


def test_words_sealed_under_another_secret_are_not_opened() -> None:
    doc, annotation_id = _commented()
    set_status(doc, annotation_id, "hidden", seal=SEAL)
    other = SecretSeal(b"z" * 32)
    assert get_annotation(doc, annotation_id, seal=other).body == ""
    assert other.open("v1:" + "A" * 40) is None and other.open("en clair") is None
    # Reopening with the wrong seal keeps the words sealed rather than losing them.
    set_status(doc, annotation_id, "open", seal=other)
    assert set_status(doc, annotation_id, "open", seal=SEAL).annotation.body == WORDS
