"""`crdt.provenance`: every character goes to the insertion that holds its item, whoever
edits where, with non-ASCII text, formatting and several paragraphs."""

from __future__ import annotations

from collections import Counter
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st
from pycrdt import Doc, XmlElement, XmlFragment, XmlText

from crdt.document import decode_state_vector
from crdt.provenance import WORD, Insertion, provenance

WRITERS = ("zoé", "yann", "xavier")
PIECES = st.sampled_from(["la ", "commune ", "élue ", "😀", "aujourd'hui ", "x", " "])
EDIT = st.tuples(
    st.integers(0, 2),  # writer
    st.integers(0, 1),  # paragraph
    st.booleans(),      # insert (else delete)
    st.integers(0, 1000),  # where, modulo the length
    PIECES,
    st.integers(1, 6),  # how much to delete
    st.booleans(),      # bold what was inserted
)


def texts(doc: Doc[Any]) -> list[XmlText]:
    fragment = doc.get("default", type=XmlFragment)
    found = []
    for block in fragment.children:
        assert isinstance(block, XmlElement)
        text = block.children[0]
        assert isinstance(text, XmlText)
        found.append(text)
    return found


def plain(text: XmlText) -> str:
    return "".join(chunk for chunk, _ in text.diff() if isinstance(chunk, str))


@settings(max_examples=80, deadline=None)
@given(st.lists(EDIT, min_size=1, max_size=40))
def test_each_word_goes_to_the_writer_of_most_of_its_characters(edits: list[Any]) -> None:
    docs: list[Doc[Any]] = [Doc() for _ in WRITERS]
    fragment = docs[0].get("default", type=XmlFragment)
    for number in range(2):
        fragment.children.append(XmlElement("paragraph", {"id": f"p{number}"})).children \
            .append(XmlText())
    owners: list[list[int]] = [[], []]  # the model: who typed each character
    insertions: list[Insertion] = []
    for writer, block, is_insert, where, piece, size, bold in edits:
        doc = docs[writer]
        for other in docs:
            doc.apply_update(other.get_update(doc.get_state()))
        text = texts(doc)[block]
        chars = plain(text)
        at = where % (len(chars) + 1)
        offset = len(chars[:at].encode())
        if is_insert:
            start = decode_state_vector(doc.get_state()).get(doc.client_id, 0)
            text.insert(offset, piece, {"bold": True} if bold else None)
            end = decode_state_vector(doc.get_state()).get(doc.client_id, 0)
            insertions.append(Insertion(client_id=doc.client_id, clock_start=start,
                                        clock_end=end, author=WRITERS[writer],
                                        first_at=len(insertions), last_at=len(insertions)))
            owners[block][at:at] = [writer] * len(piece)
        elif chars:
            gone = chars[at:at + size]
            del text[offset:offset + len(gone.encode())]
            del owners[block][at:at + len(gone)]
    final = docs[0]
    for other in docs:
        final.apply_update(other.get_update(final.get_state()))
    found = provenance(final.get_update(), insertions)
    assert [b.id for b in found] == ["p0", "p1"]
    for block, model in zip(found, owners, strict=True):
        assert block.text == plain(texts(final)[int((block.id or '')[1:])])
        assert len(model) == len(block.text)
        expected = []
        for match in WORD.finditer(block.text):
            counts = Counter(model[match.start():match.end()])
            top = max(counts.values())
            expected.append({WRITERS[w] for w, c in counts.items() if c == top})
        got = [w.insertion.author if w.insertion else None for w in block.words]
        assert len(got) == len(expected)
        assert all(author in allowed for author, allowed in zip(got, expected, strict=True)), (
            block.text, got, expected, model)


def test_items_nobody_recorded_stay_unattributed() -> None:
    doc: Doc[Any] = Doc()
    block = doc.get("default", type=XmlFragment).children.append(
        XmlElement("heading", {"id": "h1", "level": "2"}))
    block.children.append(XmlText("Article premier"))
    (found,) = provenance(doc.get_update(), [])
    assert (found.id, found.type, [w.text for w in found.words]) == (
        "h1", "heading", ["Article", "premier"])
    assert found.shares() == [(None, 2)]
