"""The outbox coalesces local updates, keeps them until a send succeeded, and bounds the
replies the reader may queue."""

from __future__ import annotations

import anyio
from anyio import wait_all_tasks_blocked
from pycrdt import Doc, Text

from client._outbox import Outbox
from crdt.document import doc_from_update
from crdt.protocol import SyncMessage, SyncStep, decode_message


def local_updates(*pieces: str) -> tuple[Doc[Text], list[bytes]]:
    doc: Doc[Text] = Doc()
    updates: list[bytes] = []
    doc.observe(lambda event: updates.append(event.update))
    text = doc.get("texte", type=Text)
    for piece in pieces:
        text += piece
    return doc, updates


async def test_updates_go_out_merged_in_one_sync_update() -> None:
    doc, updates = local_updates("Article 1 — ", "La commune garantit l'égalité")
    outbox = Outbox(max_replies=4)
    for update in updates:
        outbox.add_update(update)
    with anyio.fail_after(1):
        messages, count, is_closing = await outbox.next_batch()
    assert (count, is_closing) == (2, False)
    (message,) = messages
    decoded = decode_message(message)
    assert isinstance(decoded, SyncMessage)
    assert decoded.step == SyncStep.UPDATE
    replica = doc_from_update(decoded.payload)
    assert str(replica.get("texte", type=Text)) == str(doc.get("texte", type=Text))


async def test_updates_stay_until_acknowledged_and_new_ones_are_kept() -> None:
    _, updates = local_updates("Zoé", " et Élodie", " et François")
    outbox = Outbox(max_replies=4)
    outbox.add_update(updates[0])
    outbox.add_update(updates[1])
    with anyio.fail_after(1):
        _, count, _ = await outbox.next_batch()
    outbox.add_update(updates[2])
    assert outbox.has_updates
    outbox.ack_updates(count)
    assert outbox.has_updates
    with anyio.fail_after(1):
        _, count, _ = await outbox.next_batch()
    assert count == 1
    outbox.ack_updates(count)
    assert not outbox.has_updates


async def test_unacknowledged_updates_survive_a_new_connection() -> None:
    _, updates = local_updates("hors ligne")
    outbox = Outbox(max_replies=4)
    outbox.add_update(updates[0])
    await outbox.put_reply(b"reply for the old socket")
    outbox.request_close()
    outbox.reset_connection()
    with anyio.fail_after(1):
        messages, count, is_closing = await outbox.next_batch()
    assert count == 1
    assert not is_closing
    assert b"reply for the old socket" not in messages


async def test_replies_come_first_then_updates_then_awareness() -> None:
    _, updates = local_updates("é")
    outbox = Outbox(max_replies=4)
    outbox.set_awareness(b"awareness 1")
    outbox.set_awareness(b"awareness 2")
    outbox.add_update(updates[0])
    await outbox.put_reply(b"step 1")
    with anyio.fail_after(1):
        messages, _, _ = await outbox.next_batch()
    assert messages[0] == b"step 1"
    assert messages[-1] == b"awareness 2"
    assert len(messages) == 3


async def test_full_reply_queue_makes_the_reader_wait_until_the_writer_drains() -> None:
    outbox = Outbox(max_replies=2)
    await outbox.put_reply(b"1")
    await outbox.put_reply(b"2")
    queued = anyio.Event()

    async def third() -> None:
        await outbox.put_reply(b"3")
        queued.set()

    with anyio.fail_after(2):
        async with anyio.create_task_group() as tg:
            tg.start_soon(third)
            await wait_all_tasks_blocked()
            assert not queued.is_set()
            first, _, _ = await outbox.next_batch()
            await queued.wait()
    second, _, _ = await outbox.next_batch()
    assert first + second == [b"1", b"2", b"3"]


async def test_writer_waits_until_there_is_something_to_send() -> None:
    outbox = Outbox(max_replies=2)
    batches: list[tuple[list[bytes], int, bool]] = []

    async def writer() -> None:
        batches.append(await outbox.next_batch())

    with anyio.fail_after(2):
        async with anyio.create_task_group() as tg:
            tg.start_soon(writer)
            await wait_all_tasks_blocked()
            assert batches == []
            outbox.request_close()
    assert batches == [([], 0, True)]
