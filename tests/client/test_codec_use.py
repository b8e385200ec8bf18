"""The client builds its awareness messages with palabre's codec: UTF-8 byte lengths,
y-protocols clock rules, and socket URLs built from a server base."""

from __future__ import annotations

import json

import pytest

from client._url import redact, socket_url
from client.presence import JsonObject, Presence, decode_state, encode_state
from crdt.awareness import AwarenessEntry, decode_awareness_update, encode_awareness_update
from crdt.protocol import AwarenessMessage, decode_message

ELODIE: JsonObject = {"user": {"name": "Élodie", "color": "#d9480f"}, "cursor": {"paragraph": "§1"}}


def entries_of(message: bytes) -> list[AwarenessEntry]:
    decoded = decode_message(message)
    assert isinstance(decoded, AwarenessMessage)
    return decode_awareness_update(decoded.update)


def peer_entry(client_id: int, clock: int, state: object) -> AwarenessEntry:
    raw = json.dumps(state, ensure_ascii=False).encode("utf-8")
    return AwarenessEntry(client_id, clock, raw)


def test_accented_state_round_trips_with_its_utf8_byte_length() -> None:
    presence = Presence(client_id=7)
    message = presence.set_local({"user": {"name": "François Zoé Élodie"}})
    (entry,) = entries_of(message)
    assert entry.client_id == 7
    assert entry.clock == 0
    assert decode_state(entry.state) == {"user": {"name": "François Zoé Élodie"}}
    text = '{"user":{"name":"François Zoé Élodie"}}'
    # The length prefix counted bytes: each accented letter takes two.
    assert entry.state == text.encode("utf-8")
    assert len(entry.state) == len(text) + 3


def test_each_local_state_advances_the_clock() -> None:
    presence = Presence(client_id=7)
    clocks = [entries_of(presence.set_local({"n": i}))[0].clock for i in range(3)]
    assert clocks == [0, 1, 2]


def test_local_state_is_copied_so_later_mutation_is_not_sent() -> None:
    presence = Presence(client_id=7)
    state: JsonObject = {"user": {"name": "Zoé"}}
    presence.set_local(state)
    state["user"] = "modifié"
    assert presence.local == {"user": {"name": "Zoé"}}


def test_leave_sends_null_at_the_next_clock_and_keeps_the_state() -> None:
    presence = Presence(client_id=7)
    presence.set_local(ELODIE)
    message = presence.leave()
    assert message is not None
    (entry,) = entries_of(message)
    assert entry.is_removal
    assert entry.clock == 1
    assert presence.local == ELODIE


def test_clear_forgets_the_state_and_leave_without_state_sends_nothing() -> None:
    presence = Presence(client_id=7)
    assert presence.leave() is None
    presence.set_local({"user": {"name": "Zoé"}})
    assert presence.clear_local() is not None
    assert presence.local is None
    assert presence.announce() is None


def test_announce_steps_over_the_servers_removal_clock() -> None:
    presence = Presence(client_id=7)
    presence.set_local({"user": {"name": "Zoé"}})
    # The server announced our old socket's removal at clock 1 to everyone.
    message = presence.announce()
    assert message is not None
    assert entries_of(message)[0].clock > 1


def test_peer_states_follow_clock_rules() -> None:
    presence = Presence(client_id=1)
    assert presence.apply([peer_entry(2, 3, {"user": {"name": "François"}})]) == (True, None)
    stale = presence.apply([peer_entry(2, 2, {"user": {"name": "ancien"}})])
    assert stale == (False, None)
    assert presence.peers[2] == {"user": {"name": "François"}}
    assert presence.apply([AwarenessEntry(2, 3, b"null")]) == (True, None)
    assert 2 not in presence.peers


def test_removal_of_an_unknown_peer_changes_nothing() -> None:
    presence = Presence(client_id=1)
    assert presence.apply([AwarenessEntry(9, 4, b"null")]) == (False, None)


def test_malformed_peer_state_is_ignored_without_failing() -> None:
    presence = Presence(client_id=1)
    changed, _ = presence.apply([AwarenessEntry(2, 0, b"{pas du json"), peer_entry(3, 0, [1])])
    assert not changed
    assert dict(presence.peers) == {}


def test_server_removing_our_state_makes_us_reassert_it_with_a_higher_clock() -> None:
    presence = Presence(client_id=1)
    presence.set_local({"user": {"name": "Zoé"}})
    changed, reassert = presence.apply([AwarenessEntry(1, 5, b"null")])
    assert not changed
    assert reassert is not None
    (entry,) = entries_of(reassert)
    assert entry.clock > 5
    assert decode_state(entry.state) == {"user": {"name": "Zoé"}}


def test_forgetting_peers_accepts_the_next_snapshot_at_any_clock() -> None:
    presence = Presence(client_id=1)
    presence.apply([peer_entry(2, 4, {"user": {"name": "Élodie"}})])
    assert presence.forget_peers()
    presence.apply([peer_entry(2, 4, {"user": {"name": "Élodie"}})])
    assert presence.peers[2] == {"user": {"name": "Élodie"}}


def test_current_repeats_our_state_without_advancing_the_clock() -> None:
    presence = Presence(client_id=1)
    assert presence.current() is None
    presence.set_local({"user": {"name": "François"}})
    message = presence.current()
    assert message is not None
    assert entries_of(message)[0].clock == 0


def test_encoded_state_is_compact_utf8_json() -> None:
    assert encode_state({"nom": "Zoé"}) == '{"nom":"Zoé"}'.encode()
    assert encode_state(None) == b"null"
    assert encode_awareness_update([AwarenessEntry(1, 0, encode_state({"nom": "Zoé"}))])


def test_decode_state_refuses_json_that_is_not_an_object() -> None:
    with pytest.raises(ValueError):
        decode_state(b"[1, 2]")


@pytest.mark.parametrize(
    ("base", "expected"),
    [
        ("http://127.0.0.1:8000", "ws://127.0.0.1:8000/ws/charte"),
        ("https://palabre.example/", "wss://palabre.example/ws/charte"),
        ("ws://h:1/prefix/", "ws://h:1/prefix/ws/charte"),
        ("WSS://h", "wss://h/ws/charte"),
    ],
)
def test_socket_url_maps_http_to_ws(base: str, expected: str) -> None:
    assert socket_url(base, "charte") == expected


def test_socket_url_carries_the_token_and_redact_hides_it() -> None:
    url = socket_url("http://h:8000", "charte.annotations", "a.b+c/é")
    assert url == "ws://h:8000/ws/charte.annotations?token=a.b%2Bc%2F%C3%A9"
    assert redact(url) == "ws://h:8000/ws/charte.annotations"


def test_socket_url_refuses_other_schemes() -> None:
    with pytest.raises(ValueError):
        socket_url("ftp://h", "charte")
