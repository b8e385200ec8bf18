"""What each server message does to a session's Doc, awareness and outbox (no socket)."""

from __future__ import annotations

import json
from typing import Any

import anyio
import pytest
from pycrdt import Doc, Text, TransactionEvent

from client._replica import RemoteOrigin, Replica, ServerFault
from crdt.awareness import AwarenessEntry, decode_awareness_update, encode_awareness_update
from crdt.protocol import (
    AwarenessMessage,
    CloseCode,
    SyncMessage,
    SyncStep,
    decode_message,
    encode_awareness,
    encode_permission_denied,
    encode_query_awareness,
    encode_sync_step1,
    encode_sync_step2,
    encode_sync_update,
)

ARTICLE = "Article 1 — La commune garantit l'égalité"


def server_doc_with(text: str) -> Doc[Any]:
    doc: Doc[Any] = Doc()
    doc.get("texte", type=Text).insert(0, text)
    return doc


async def drain(replica: Replica) -> list[bytes]:
    with anyio.fail_after(1):
        messages, count, _ = await replica.outbox.next_batch()
    replica.outbox.ack_updates(count)
    return messages


async def test_open_sends_step1_with_our_state_vector_first() -> None:
    doc: Doc[Any] = Doc()
    doc.get("texte", type=Text).insert(0, "Zoé")
    replica = Replica(doc, "charte", on_denied=None)
    await replica.open()
    messages = await drain(replica)
    assert messages[0] == encode_sync_step1(doc.get_state())


async def test_servers_step1_is_answered_with_what_it_lacks() -> None:
    doc: Doc[Any] = Doc()
    replica = Replica(doc, "charte", on_denied=None)
    doc.get("texte", type=Text).insert(0, ARTICLE)
    await drain(replica)
    await replica.handle(encode_sync_step1(b"\x00"))
    (reply,) = await drain(replica)
    decoded = decode_message(reply)
    assert isinstance(decoded, SyncMessage)
    assert decoded.step == SyncStep.STEP2
    assert decoded.payload == doc.get_update(b"\x00")


async def test_step2_is_applied_as_remote_and_marks_synced_without_echo() -> None:
    doc: Doc[Any] = Doc()
    origins: list[object] = []
    replica = Replica(doc, "charte", on_denied=None)
    text = doc.get("texte", type=Text)
    text.observe(lambda event: origins.append(event.transaction.origin))
    server = server_doc_with(ARTICLE)
    await replica.handle(encode_sync_step2(server.get_update()))
    assert str(text) == ARTICLE
    assert replica.is_synced
    assert replica.has_synced
    assert origins == [RemoteOrigin("charte")]
    assert not replica.outbox.has_updates


async def test_remote_update_is_not_echoed_but_local_edits_are_sent() -> None:
    doc: Doc[Any] = Doc()
    replica = Replica(doc, "charte", on_denied=None)
    server = server_doc_with("Élodie")
    await replica.handle(encode_sync_update(server.get_update()))
    assert not replica.outbox.has_updates
    doc.get("texte", type=Text).insert(0, "François, ")
    assert replica.outbox.has_updates
    (message,) = await drain(replica)
    decoded = decode_message(message)
    assert isinstance(decoded, SyncMessage)
    assert decoded.step == SyncStep.UPDATE


async def test_every_change_wakes_waiters() -> None:
    doc: Doc[Any] = Doc()
    replica = Replica(doc, "charte", on_denied=None)
    changed = replica.changed
    doc.get("texte", type=Text).insert(0, "é")
    assert changed.is_set()
    assert not replica.changed.is_set()


async def test_awareness_from_peers_is_recorded_by_client_id() -> None:
    replica = Replica(Doc(), "charte", on_denied=None)
    state = json.dumps({"user": {"name": "François"}}, ensure_ascii=False).encode()
    update = encode_awareness_update([AwarenessEntry(42, 1, state)])
    await replica.handle(encode_awareness(update))
    assert replica.presence.peers == {42: {"user": {"name": "François"}}}
    removal = encode_awareness_update([AwarenessEntry(42, 2, b"null")])
    await replica.handle(encode_awareness(removal))
    assert replica.presence.peers == {}


async def test_permission_denied_is_recorded_and_reported() -> None:
    reasons: list[str] = []
    replica = Replica(Doc(), "charte", on_denied=reasons.append)
    await replica.handle(encode_permission_denied("lecture seule : la charte est gelée"))
    assert replica.denials == ["lecture seule : la charte est gelée"]
    assert reasons == replica.denials


async def test_query_awareness_is_answered_with_our_state() -> None:
    replica = Replica(Doc(), "charte", on_denied=None)
    await replica.handle(encode_query_awareness())
    assert replica.outbox.has_updates is False
    replica.outbox.set_awareness(replica.presence.set_local({"user": {"name": "Zoé"}}))
    await drain(replica)
    await replica.handle(encode_query_awareness())
    (message,) = await drain(replica)
    decoded = decode_message(message)
    assert isinstance(decoded, AwarenessMessage)
    (entry,) = decode_awareness_update(decoded.update)
    assert entry.state == '{"user":{"name":"Zoé"}}'.encode()


async def test_close_forgets_peers_and_sync() -> None:
    replica = Replica(Doc(), "charte", on_denied=None)
    await replica.handle(encode_sync_step2(b"\x00\x00"))
    state = b'{"user":{"name":"Zo\xc3\xa9"}}'
    await replica.handle(encode_awareness(encode_awareness_update([AwarenessEntry(5, 0, state)])))
    replica.close()
    assert not replica.is_synced
    assert replica.presence.peers == {}


@pytest.mark.parametrize(
    ("frame", "code"),
    [
        ("texte", CloseCode.UNSUPPORTED_DATA),
        (b"\x07", CloseCode.MALFORMED),
        (b"\x00\x02\x05ab", CloseCode.MALFORMED),
        (b"\x01\x03\x01\x01", CloseCode.MALFORMED),
        (encode_sync_update(b"\x05\x01\x02\x03"), CloseCode.INVALID_UPDATE),
    ],
)
async def test_bad_frames_from_the_server_are_faults_with_a_close_code(
    frame: bytes | str, code: CloseCode
) -> None:
    replica = Replica(Doc(), "charte", on_denied=None)
    with pytest.raises(ServerFault) as caught:
        await replica.handle(frame)
    assert caught.value.code == code


async def test_request_close_sends_our_removal_then_closes() -> None:
    replica = Replica(Doc(), "charte", on_denied=None)
    replica.outbox.set_awareness(replica.presence.set_local({"user": {"name": "Élodie"}}))
    await drain(replica)
    replica.request_close()
    with anyio.fail_after(1):
        (message,), _, is_closing = await replica.outbox.next_batch()
    assert is_closing
    decoded = decode_message(message)
    assert isinstance(decoded, AwarenessMessage)
    assert decode_awareness_update(decoded.update)[0].is_removal


def test_detach_stops_collecting_local_edits() -> None:
    doc: Doc[Any] = Doc()
    replica = Replica(doc, "charte", on_denied=None)
    replica.detach()
    seen: list[TransactionEvent] = []
    doc.observe(seen.append)
    doc.get("texte", type=Text).insert(0, "é")
    assert seen
    assert not replica.outbox.has_updates
