"""Awareness codec and the registry of client states owned by connections."""

from __future__ import annotations

import json

import pytest

from crdt.awareness import (
    NULL_STATE,
    AwarenessEntry,
    AwarenessRegistry,
    decode_awareness_update,
    encode_awareness_update,
    public_state,
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


def test_the_public_form_of_a_state_keeps_the_cursor_and_colour_under_the_public_name() -> None:
    state = json.dumps({"user": {"name": "Amélie Poulain", "color": "#2b8a3e",
                                 "email": "amelie@exemple.fr"},
                        "cursor": {"anchor": 1, "head": 4}, "sub": "amelie-poulain"}).encode()
    shown = public_state(AwarenessEntry(7, 3, state), "Membre 2")
    assert (shown.client_id, shown.clock) == (7, 3)
    assert json.loads(shown.state) == {"user": {"name": "Membre 2", "color": "#2b8a3e"},
                                       "cursor": {"anchor": 1, "head": 4}}
    long_colour = json.dumps({"user": {"name": "A", "color": "x" * 33}}).encode()
    assert json.loads(public_state(AwarenessEntry(7, 4, long_colour), "Membre 2").state) == {
        "user": {"name": "Membre 2"}}
    not_an_object = AwarenessEntry(7, 5, '["Amélie"]'.encode())
    assert json.loads(public_state(not_an_object, "Membre 2").state) == {}
    removal = AwarenessEntry(7, 6, NULL_STATE)
    assert public_state(removal, "Membre 2") is removal
