"""The Hocuspocus codec: name prefix, auth, sync status, strictness, UTF-8 byte lengths."""

from __future__ import annotations

import pytest

from crdt.errors import ProtocolError
from crdt.hocuspocus import (
    PONG,
    AuthScope,
    CloseMessage,
    Frame,
    PongMessage,
    StatelessMessage,
    TokenMessage,
    decode_frame,
    encode_authenticated,
    encode_close,
    encode_permission_denied,
    encode_stateless,
    encode_sync_status,
    prefix,
)
from crdt.protocol import (
    AwarenessMessage,
    QueryAwarenessMessage,
    Reader,
    SyncMessage,
    SyncStep,
    encode_awareness,
    encode_query_awareness,
    encode_sync_step1,
    encode_sync_update,
    encode_varstring,
)

NAME = "charte-égalité"


def test_y_messages_are_the_y_websocket_message_after_the_name() -> None:
    for y_message, expected in (
        (encode_sync_update(b"\x00\x00"), SyncMessage(SyncStep.UPDATE, b"\x00\x00")),
        (encode_awareness(b"\x00"), AwarenessMessage(b"\x00")),
        (encode_query_awareness(), QueryAwarenessMessage()),
    ):
        frame = prefix(NAME) + y_message
        decoded = decode_frame(frame)
        assert decoded == Frame(NAME, expected, y_message)


def test_a_sync_reply_is_read_as_a_sync_message() -> None:
    # @hocuspocus/server accepts type 4 from clients as sync: a step 1 answered with step 2.
    step1 = encode_sync_step1(b"\x00")
    decoded = decode_frame(prefix(NAME) + b"\x04" + step1[1:])
    assert decoded == Frame(NAME, SyncMessage(SyncStep.STEP1, b"\x00"), step1)


def test_token_with_and_without_the_provider_version() -> None:
    token = prefix(NAME) + b"\x02\x00" + encode_varstring("jeton-é")
    assert decode_frame(token + encode_varstring("4.8.0")) == Frame(
        NAME, TokenMessage("jeton-é", "4.8.0")
    )
    assert decode_frame(token) == Frame(NAME, TokenMessage("jeton-é", ""))


def test_stateless_close_and_pong() -> None:
    stateless = prefix(NAME) + b"\x05" + encode_varstring("«salut»")
    assert decode_frame(stateless) == Frame(NAME, StatelessMessage("«salut»"))
    assert decode_frame(prefix(NAME) + b"\x07") == Frame(NAME, CloseMessage())
    assert decode_frame(PONG) == PongMessage()


def test_server_messages_use_utf8_byte_lengths() -> None:
    reader = Reader(encode_authenticated(NAME, AuthScope.READ_ONLY))
    assert reader.varstring() == NAME
    assert (reader.varuint(), reader.varuint(), reader.varstring()) == (2, 2, "readonly")
    reader.expect_end()
    reader = Reader(encode_permission_denied(NAME, "refusé"))
    assert (reader.varstring(), reader.varuint(), reader.varuint()) == (NAME, 2, 1)
    assert reader.varstring() == "refusé"
    assert encode_sync_status(prefix(NAME), True) == prefix(NAME) + b"\x08\x01"
    assert encode_sync_status(prefix(NAME), False) == prefix(NAME) + b"\x08\x00"
    assert encode_stateless(NAME, "é") == prefix(NAME) + b"\x05\x02\xc3\xa9"
    assert encode_close(NAME, "") == prefix(NAME) + b"\x07\x00"


@pytest.mark.parametrize(
    "frame",
    [
        b"",
        b"\x05abc",  # name shorter than its length
        b"\x02\xc3",  # truncated UTF-8 name
        b"\x01a",  # no type
        b"\x01a\x06",  # unknown type
        b"\x01a\x08\x01",  # sync status is sent by the server only
        b"\x01a\x02\x02\x00",  # authenticated is sent by the server only
        b"\x01a\x02\x00",  # token missing
        b"\x01a\x05\x01",  # stateless shorter than its length
        b"\x01a\x07\x00",  # trailing byte
        b"\x01a\x00\x03\x00",  # unknown sync step
        b"\x01a\x00\x02\x02\x00\x00\x00",  # trailing byte after the update
        b"\x01a\x02\x00\x00\x00\x00",  # trailing byte after the version
    ],
)
def test_malformed_frames_raise(frame: bytes) -> None:
    with pytest.raises(ProtocolError):
        decode_frame(frame)
