"""Document sync through a real server: concurrent edits converge, late joiners get the
whole state, rooms are isolated, and an overloaded close loses no offline edit."""

from __future__ import annotations

from typing import Any

import anyio
from pycrdt import Doc, Text, XmlFragment

import client
from crdt.protocol import CloseCode
from storage.memory import MemoryDocumentStore
from tests.client.crowd import (
    FAST_BACKOFF,
    NAMES,
    add_paragraph,
    contents,
    crowd,
    recorded,
    text_of,
    wait_all,
    wait_converged,
)
from tests.conftest import ServerFactory

ARTICLE = "Article 1 — La commune garantit l'égalité"


def utf8_len(text: str) -> int:
    """pycrdt's index of the end of `text` (it counts UTF-8 bytes)."""
    return len(text.encode("utf-8"))


async def test_two_clients_converge_on_concurrent_text_edits(start_server: ServerFactory) -> None:
    async with (
        start_server() as server,
        crowd(server.url, "charte", 2, token=server.token()) as (zoe, elodie),
    ):
        with anyio.fail_after(10):
            zoe.doc.get("texte", type=Text).insert(0, ARTICLE)
            await wait_converged([zoe, elodie])
            # Both edit the same sentence without waiting for each other.
            zoe_text = zoe.doc.get("texte", type=Text)
            elodie_text = elodie.doc.get("texte", type=Text)
            # pycrdt indexes Y.Text by UTF-8 bytes: len() of the Text, not of the str.
            zoe_text.insert(len(zoe_text), " des habitantes")
            elodie_text.insert(len(elodie_text), " et des habitants")
            zoe_text.insert(0, "Zoé : ")
            del elodie_text[utf8_len("Article 1 ") : utf8_len("Article 1 — ")]
            text, _ = await wait_converged([zoe, elodie])
    assert text.startswith("Zoé : Article 1 La commune garantit l'égalité")
    assert " des habitantes" in text
    assert " et des habitants" in text
    assert "—" not in text


async def test_two_clients_converge_on_concurrent_xml_paragraph_edits(
    start_server: ServerFactory,
) -> None:
    async with (
        start_server() as server,
        crowd(server.url, "charte", 2, token=server.token()) as (zoe, elodie),
    ):
        with anyio.fail_after(10):
            add_paragraph(zoe, 0, ARTICLE, paragraph_id="p-1")
            await wait_converged([zoe, elodie])
            add_paragraph(zoe, 1, "Zoé propose l'article 2", paragraph_id="p-zoe")
            add_paragraph(elodie, 1, "Élodie propose l'article 3", paragraph_id="p-elodie")
            first = elodie.doc.get("default", type=XmlFragment).children[0]
            first.children[0].insert(utf8_len(ARTICLE), " d'accès aux services")
            _, xml = await wait_converged([zoe, elodie])
    assert xml.startswith(f'<paragraph id="p-1">{ARTICLE} d\'accès aux services</paragraph>')
    assert '<paragraph id="p-zoe">Zoé propose l\'article 2</paragraph>' in xml
    assert '<paragraph id="p-elodie">Élodie propose l\'article 3</paragraph>' in xml


async def test_ten_clients_converge_on_concurrent_text_and_xml_edits(
    start_server: ServerFactory,
) -> None:
    reference: Doc[Any] = Doc()
    async with (
        start_server() as server,
        crowd(server.url, "charte", 10, token=server.token()) as sessions,
    ):
        with anyio.fail_after(20):
            for round_number in range(3):
                for name, session in zip(NAMES, sessions, strict=True):
                    with recorded(session, reference):
                        text = session.doc.get("texte", type=Text)
                        text.insert(0, f"{name} ({round_number}) ; ")
                        paragraph_id = f"{name}-{round_number}"
                        amendment = f"{name} amende l'article {round_number}"
                        add_paragraph(session, 0, amendment, paragraph_id=paragraph_id)
            text, xml = await wait_converged(sessions)
    assert text == str(reference.get("texte", type=Text))
    assert xml == str(reference.get("default", type=XmlFragment))
    for name in NAMES:
        for round_number in range(3):
            assert f"{name} ({round_number}) ; " in text
            assert f"{name} amende l'article {round_number}" in xml


async def test_late_joiner_gets_full_state_from_the_live_room(start_server: ServerFactory) -> None:
    async with start_server() as server:
        async with crowd(server.url, "charte", 2, token=server.token()) as (zoe, francois):
            with anyio.fail_after(10):
                zoe.doc.get("texte", type=Text).insert(0, ARTICLE)
                add_paragraph(francois, 0, "François : préambule", paragraph_id="p-0")
                expected = await wait_converged([zoe, francois])
                async with client.connect(server.url, "charte", server.token()) as late:
                    await late.synced()
                    assert contents(late) == expected


async def test_late_joiner_gets_full_state_after_the_room_was_evicted(
    start_server: ServerFactory,
) -> None:
    async with start_server(room_grace_seconds=0.0) as server:
        async with crowd(server.url, "charte", 2, token=server.token()) as (zoe, elodie):
            with anyio.fail_after(10):
                zoe.doc.get("texte", type=Text).insert(0, ARTICLE)
                add_paragraph(elodie, 0, "Élodie : préambule", paragraph_id="p-0")
                expected = await wait_converged([zoe, elodie])
        with anyio.fail_after(10):
            await server.app.state.hub.wait_unloaded("charte")
            async with client.connect(server.url, "charte", server.token()) as late:
                await late.synced()
                assert contents(late) == expected


async def test_rooms_are_isolated(start_server: ServerFactory) -> None:
    async with (
        start_server() as server,
        crowd(server.url, "charte", 2, token=server.token()) as (zoe, elodie),
        crowd(server.url, "charte-bis", 2, token=server.token()) as (francois, anais),
        crowd(server.url, "charte.annotations", 1, token=server.token()) as (loic,),
    ):
        with anyio.fail_after(10):
            zoe.doc.get("texte", type=Text).insert(0, "Secret de la charte : égalité")
            await elodie.wait_for(lambda: "Secret" in text_of(elodie))
            francois.doc.get("texte", type=Text).insert(0, "Charte bis : fraternité")
            await anais.wait_for(lambda: text_of(anais) == "Charte bis : fraternité")
            for doc_id, expected in [
                ("charte", "Secret de la charte : égalité"),
                ("charte-bis", "Charte bis : fraternité"),
                ("charte.annotations", ""),
            ]:
                async with client.connect(server.url, doc_id, server.token()) as late:
                    await late.synced()
                    assert text_of(late) == expected
    assert text_of(francois) == text_of(anais) == "Charte bis : fraternité"
    assert text_of(zoe) == text_of(elodie) == "Secret de la charte : égalité"
    # Loïc only reads the companion annotations document: nothing of the charte reaches him.
    assert contents(loic) == ("", "")


async def test_client_closed_with_1013_resends_its_offline_edits_and_converges(
    start_server: ServerFactory,
) -> None:
    store = MemoryDocumentStore()
    patient = client.Backoff(initial=0.2, maximum=0.5)
    async with (
        start_server(store=store) as server,
        client.connect(server.url, "charte", server.token(), backoff=patient) as zoe,
        client.connect(server.url, "charte", server.token()) as elodie,
    ):
        with anyio.fail_after(10):
            await zoe.synced()
            await elodie.synced()
            zoe_text = zoe.doc.get("texte", type=Text)
            zoe_text.insert(0, ARTICLE)
            await elodie.wait_for(lambda: text_of(elodie) == ARTICLE)
            store.fail_next_appends(1)
            zoe_text += " — amendement perdu ?"
            await zoe.wait_for(lambda: not zoe.is_connected)
            assert zoe.last_close is not None
            assert zoe.last_close[0] == CloseCode.OVERLOADED
            # Written while the socket is down: it must go out with the resync.
            zoe_text.insert(0, "Zoé, hors ligne : ")
            assert not zoe.is_connected
            expected = f"Zoé, hors ligne : {ARTICLE} — amendement perdu ?"
            await zoe.synced()
            await elodie.wait_for(lambda: text_of(elodie) == expected)
            async with client.connect(server.url, "charte", server.token()) as late:
                await late.synced()
                assert text_of(late) == expected
    assert elodie.error is None


async def test_local_edits_made_before_connecting_are_sent(start_server: ServerFactory) -> None:
    doc: Doc[Any] = Doc()
    doc.get("texte", type=Text).insert(0, "Brouillon de François — ")
    async with start_server() as server:
        async with client.connect(
            server.url, "charte", server.token(), doc=doc, backoff=FAST_BACKOFF
        ) as francois:
            with anyio.fail_after(10):
                await francois.synced()
                async with client.connect(server.url, "charte", server.token()) as reader:
                    await reader.synced()
                    await wait_all([reader], lambda: text_of(reader) == "Brouillon de François — ")
