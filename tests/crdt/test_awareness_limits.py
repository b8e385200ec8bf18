"""Awareness bounds and ownership: what one connection may put in a document's awareness."""

from __future__ import annotations

import pytest

from crdt.awareness import (
    NULL_STATE,
    AwarenessBounds,
    AwarenessEntry,
    AwarenessFull,
    AwarenessRegistry,
    ForeignClientId,
    StateTooLarge,
    TooManyClientIds,
    decode_awareness_update,
    encode_awareness_update,
)
from crdt.errors import ProtocolError

BOUNDS = AwarenessBounds(state_bytes=64, clients=2, principal_bytes=100, document_bytes=160)
ZOE = AwarenessEntry(11, 1, b'{"user":{"name":"Zoe"}}')
FACILITATOR = AwarenessEntry(22, 1, b'{"user":{"name":"Facilitatrice"}}')


def state(client_id: int, clock: int, size: int) -> AwarenessEntry:
    """A state of exactly `size` bytes."""
    return AwarenessEntry(client_id, clock, b'"' + b"x" * (size - 2) + b'"')


def test_a_state_over_the_bound_is_refused_while_decoding() -> None:
    update = encode_awareness_update([state(11, 1, 65)])
    with pytest.raises(StateTooLarge, match="65 bytes exceeds 64"):
        decode_awareness_update(update, BOUNDS)
    assert decode_awareness_update(encode_awareness_update([state(11, 1, 64)]), BOUNDS)


def test_an_update_with_more_entries_than_the_bound_is_refused_before_decoding() -> None:
    # Three entries claimed, none present: refused on the count alone.
    with pytest.raises(TooManyClientIds):
        decode_awareness_update(b"\x03", BOUNDS)


def test_a_connection_cannot_update_another_principals_client_id() -> None:
    registry = AwarenessRegistry()
    registry.apply("facilitator-conn", [FACILITATOR], principal="sub:fac", bounds=BOUNDS)
    forged = AwarenessEntry(22, 5, b'{"user":{"name":"Fake"}}')
    with pytest.raises(ForeignClientId):
        registry.apply("citizen-conn", [ZOE, forged], principal="sub:cit", bounds=BOUNDS)
    assert registry.snapshot() == [FACILITATOR]  # Nothing of the refused update recorded.


def test_a_connection_cannot_remove_another_principals_client_id() -> None:
    registry = AwarenessRegistry()
    registry.apply("facilitator-conn", [FACILITATOR], principal="sub:fac", bounds=BOUNDS)
    with pytest.raises(ForeignClientId):
        registry.apply("citizen-conn", [AwarenessEntry(22, 9, NULL_STATE)],
                       principal="sub:cit", bounds=BOUNDS)
    assert registry.snapshot() == [FACILITATOR]


def test_the_same_principal_takes_its_client_id_over_on_reconnect() -> None:
    registry = AwarenessRegistry()
    registry.apply("old-socket", [ZOE], principal="sub:zoe", bounds=BOUNDS)
    assert registry.apply("new-socket", [ZOE], principal="sub:zoe", bounds=BOUNDS) == [ZOE]
    assert registry.remove_owner("old-socket") == []
    assert registry.remove_owner("new-socket") == [AwarenessEntry(11, 2, NULL_STATE)]


def test_a_connection_keeps_its_client_id_after_removing_its_state() -> None:
    registry = AwarenessRegistry()
    registry.apply("zoe-conn", [ZOE], principal="sub:zoe", bounds=BOUNDS)
    registry.apply("zoe-conn", [AwarenessEntry(11, 2, NULL_STATE)],
                   principal="sub:zoe", bounds=BOUNDS)
    # With its state gone, another principal's claim on the id changes nothing.
    assert registry.apply("thief", [AwarenessEntry(11, 3, b"{}")],
                          principal="sub:x", bounds=BOUNDS) == []
    assert registry.snapshot() == []
    back = AwarenessEntry(11, 3, b'{"back":true}')
    assert registry.apply("zoe-conn", [back], principal="sub:zoe", bounds=BOUNDS) == [back]


def test_a_peer_nodes_client_id_is_not_taken_by_a_local_connection() -> None:
    registry = AwarenessRegistry()
    registry.apply("peer:node-b", [FACILITATOR])
    newer = AwarenessEntry(FACILITATOR.client_id, FACILITATOR.clock + 1, b'{"user":"x"}')
    with pytest.raises(ForeignClientId):
        registry.apply("conn", [newer], principal="sub:fac", bounds=BOUNDS)


def test_an_echo_of_another_principals_state_is_ignored_not_refused() -> None:
    # y-websocket clients send back every awareness change they apply, remote ones
    # included, and after 30 s of silence a removal at the same clock.
    registry = AwarenessRegistry()
    registry.apply("zoe-conn", [ZOE], principal="sub:zoe", bounds=BOUNDS)
    echo = AwarenessEntry(ZOE.client_id, ZOE.clock, ZOE.state)
    timed_out = AwarenessEntry(ZOE.client_id, ZOE.clock, NULL_STATE)
    assert registry.apply("bruno-conn", [echo, timed_out],
                          principal="sub:bruno", bounds=BOUNDS) == []
    assert registry.snapshot() == [ZOE]


def test_a_connection_introduces_at_most_the_bound_of_client_ids() -> None:
    registry = AwarenessRegistry()
    registry.apply("conn", [state(1, 1, 10), state(2, 1, 10)], principal="p", bounds=BOUNDS)
    with pytest.raises(TooManyClientIds):
        registry.apply("conn", [state(3, 1, 10)], principal="p", bounds=BOUNDS)
    # Its own ids stay writable.
    assert registry.apply("conn", [state(1, 2, 12)], principal="p", bounds=BOUNDS)


def test_a_principal_holds_at_most_its_share_of_a_document_over_its_connections() -> None:
    registry = AwarenessRegistry()
    registry.apply("conn-1", [state(1, 1, 60)], principal="p", bounds=BOUNDS)
    with pytest.raises(StateTooLarge, match="from one user"):
        registry.apply("conn-2", [state(2, 1, 60)], principal="p", bounds=BOUNDS)
    # Replacing a state with one of the same size does not grow the share.
    assert registry.apply("conn-1", [state(1, 2, 60)], principal="p", bounds=BOUNDS)
    assert registry.state_bytes == 60


def test_a_full_document_refuses_new_states_but_takes_smaller_ones() -> None:
    registry = AwarenessRegistry()
    registry.apply("a", [state(1, 1, 60)], principal="pa", bounds=BOUNDS)
    registry.apply("b", [state(2, 1, 60)], principal="pb", bounds=BOUNDS)
    with pytest.raises(AwarenessFull):
        registry.apply("c", [state(3, 1, 60)], principal="pc", bounds=BOUNDS)
    assert registry.apply("a", [state(1, 2, 20)], principal="pa", bounds=BOUNDS)
    assert registry.apply("c", [state(3, 1, 60)], principal="pc", bounds=BOUNDS)
    assert registry.state_bytes == 140


def test_bytes_are_given_back_when_an_owner_leaves() -> None:
    registry = AwarenessRegistry()
    registry.apply("a", [state(1, 1, 60)], principal="pa", bounds=BOUNDS)
    registry.apply("a", [AwarenessEntry(1, 2, NULL_STATE)], principal="pa", bounds=BOUNDS)
    assert registry.state_bytes == 0
    registry.apply("a", [state(1, 3, 60)], principal="pa", bounds=BOUNDS)
    registry.remove_owner("a")
    assert registry.state_bytes == 0
    assert registry.apply("b", [state(1, 4, 60)], principal="pa", bounds=BOUNDS)


def test_a_removal_of_an_unknown_client_id_is_not_relayed() -> None:
    registry = AwarenessRegistry()
    removal = AwarenessEntry(99, 1, NULL_STATE)
    assert registry.apply("conn", [removal], principal="p", bounds=BOUNDS) == []


@pytest.mark.parametrize("state", [
    b"{'user': 1}", b'{"user":', b"\xff\xfe", b"NaN", b'{"x": Infinity}', b"",
])
def test_a_clients_state_that_is_not_json_is_refused_as_malformed(state: bytes) -> None:
    # Every y-protocols client JSON.parses each state it receives (found by the fuzzer,
    # tests/e2e/test_hostile_fuzz.py): a state that throws there is never relayed.
    update = encode_awareness_update([AwarenessEntry(11, 1, state)])
    with pytest.raises(ProtocolError, match="not JSON"):
        decode_awareness_update(update, BOUNDS)
    assert decode_awareness_update(update) == [AwarenessEntry(11, 1, state)]  # peers: trusted
    assert decode_awareness_update(encode_awareness_update([ZOE, FACILITATOR]), BOUNDS)
