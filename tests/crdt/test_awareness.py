"""Awareness codec and the registry of client states owned by connections."""

from __future__ import annotations

import pytest

from crdt.awareness import (
    NULL_STATE,
    AwarenessEntry,
    AwarenessRegistry,
    decode_awareness_update,
    encode_awareness_update,
)
from crdt.errors import ProtocolError

ZOE = AwarenessEntry(11, 1, '{"user":{"name":"Zoé","color":"#e66"}}'.encode())
FRANCOIS = AwarenessEntry(22, 3, '{"user":{"name":"François"}}'.encode())


def test_update_round_trips_with_accented_names() -> None:
    assert decode_awareness_update(encode_awareness_update([ZOE, FRANCOIS])) == [ZOE, FRANCOIS]


def test_truncated_update_raises() -> None:
    with pytest.raises(ProtocolError):
        decode_awareness_update(encode_awareness_update([ZOE])[:-2])


def test_removing_an_owner_yields_null_states_with_a_higher_clock() -> None:
    registry = AwarenessRegistry()
    assert registry.apply("conn-a", [ZOE]) == [ZOE]
    registry.apply("conn-b", [FRANCOIS])
    assert registry.remove_owner("conn-a") == [AwarenessEntry(11, 2, NULL_STATE)]
    assert registry.snapshot() == [FRANCOIS]


def test_stale_clock_is_not_relayed() -> None:
    registry = AwarenessRegistry()
    registry.apply("conn-a", [AwarenessEntry(11, 5, b"{}")])
    assert registry.apply("conn-a", [AwarenessEntry(11, 4, b'{"x":1}')]) == []


def test_a_reconnecting_client_id_moves_to_its_new_connection() -> None:
    registry = AwarenessRegistry()
    registry.apply("old-socket", [ZOE])
    assert registry.apply("new-socket", [ZOE]) == [ZOE]
    assert registry.remove_owner("old-socket") == []
    assert registry.remove_owner("new-socket") == [AwarenessEntry(11, 2, NULL_STATE)]


def test_explicit_removal_forgets_the_owner() -> None:
    registry = AwarenessRegistry()
    registry.apply("conn-a", [ZOE])
    removal = AwarenessEntry(11, 2, NULL_STATE)
    assert registry.apply("conn-a", [removal]) == [removal]
    assert registry.remove_owner("conn-a") == []
    assert len(registry) == 0
