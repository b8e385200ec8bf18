"""Yjs bytes that declare more clients than they hold are refused before yrs reads them.

yrs reserves room for the clients an update or a state vector declares before it reads
any: sixteen bytes declaring 100 million clients held the thread (and the GIL) 77 ms and
took 128 MB; 2^32, about 300 ms. Random 64 KiB frames hit it about once in thirty.
"""

from __future__ import annotations

import pytest
from pycrdt import Doc, Text

from crdt.document import check_declared_clients, update_state_vector
from crdt.errors import InvalidUpdate
from crdt.protocol import encode_varuint


@pytest.mark.parametrize("count", [10**8, 2**32 - 1, 2**35])
def test_an_update_declaring_more_clients_than_its_bytes_is_refused(count: int) -> None:
    with pytest.raises(InvalidUpdate, match="declares"):
        update_state_vector(encode_varuint(count) + bytes(8))
    with pytest.raises(InvalidUpdate, match="declares"):
        check_declared_clients(encode_varuint(count) + bytes(8))


def test_a_count_that_is_not_a_varint_is_refused() -> None:
    with pytest.raises(InvalidUpdate, match="no count"):
        check_declared_clients(b"\xff" * 12)


def test_honest_updates_and_state_vectors_of_many_clients_pass() -> None:
    doc: Doc[Text] = Doc()
    doc["text"] = text = Text()
    for client in range(1, 300):  # one client id per writer: a long-lived document
        writer: Doc[Text] = Doc(client_id=client)
        writer.apply_update(doc.get_update())
        writer_text = writer.get("text", type=Text)
        writer_text += f"[{client}]"
        doc.apply_update(writer.get_update(doc.get_state()))
    assert str(text).count("[") == 299
    state_vector, update = doc.get_state(), doc.get_update()
    check_declared_clients(state_vector)
    assert update_state_vector(update) == state_vector
    check_declared_clients(b"")  # an empty state vector: nothing declared
