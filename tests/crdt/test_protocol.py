"""The y-protocols codec: round trips, strictness, UTF-8 byte lengths."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from crdt.errors import ProtocolError
from crdt.protocol import (
    AuthKind,
    AuthMessage,
    AwarenessMessage,
    QueryAwarenessMessage,
    Reader,
    SyncMessage,
    SyncStep,
    decode_message,
    encode_awareness,
    encode_permission_denied,
    encode_query_awareness,
    encode_sync_step1,
    encode_sync_step2,
    encode_sync_update,
    encode_varstring,
    encode_varuint,
)


@given(st.integers(min_value=0, max_value=2**53 - 1))
def test_varuint_round_trips(value: int) -> None:
    assert Reader(encode_varuint(value)).varuint() == value


@given(st.binary(max_size=300))
def test_sync_messages_round_trip(payload: bytes) -> None:
    assert decode_message(encode_sync_step1(payload)) == SyncMessage(SyncStep.STEP1, payload)
    assert decode_message(encode_sync_step2(payload)) == SyncMessage(SyncStep.STEP2, payload)
    assert decode_message(encode_sync_update(payload)) == SyncMessage(SyncStep.UPDATE, payload)
    assert decode_message(encode_awareness(payload)) == AwarenessMessage(payload)


def test_permission_denied_reason_is_length_prefixed_in_utf8_bytes() -> None:
    reason = "lecture seule : la constitución est gelée"
    frame = encode_permission_denied(reason)
    assert frame[2] == len(reason.encode("utf-8"))
    assert decode_message(frame) == AuthMessage(AuthKind.PERMISSION_DENIED, reason)


def test_varstring_uses_byte_length_not_character_count() -> None:
    encoded = encode_varstring("Zoé")
    assert encoded == b"\x04Zo\xc3\xa9"


def test_query_awareness_is_one_byte() -> None:
    assert decode_message(encode_query_awareness()) == QueryAwarenessMessage()


@pytest.mark.parametrize(
    "frame",
    [
        b"",
        b"\x00",
        b"\x00\x02",
        b"\x00\x02\x05abc",
        b"\x00\x02\xff",
        b"\x00\x02" + b"\xff" * 9,
        b"\x07",
        b"\x00\x03\x00",
        b"\x03\x00",
        b"\x02\x01\x00",
        b"\x02\x00\x02\xc3\x28",
    ],
)
def test_malformed_frames_raise_protocol_error(frame: bytes) -> None:
    with pytest.raises(ProtocolError):
        decode_message(frame)


@given(st.binary(max_size=20_000), st.sampled_from([SyncStep.STEP2, SyncStep.UPDATE]))
def test_fast_path_checks_lengths_like_the_general_path(payload: bytes, step: SyncStep) -> None:
    frame = encode_sync_step2(payload) if step == SyncStep.STEP2 else encode_sync_update(payload)
    assert decode_message(frame) == SyncMessage(step, payload)
    with pytest.raises(ProtocolError):
        decode_message(frame[:-1] if payload else frame + b"\x00")
    with pytest.raises(ProtocolError):
        decode_message(frame + b"\x00")
