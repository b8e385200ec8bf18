"""An HTTP read of the content during live socket editing is a state the writers produced."""

from __future__ import annotations

import json

import anyio
import httpx
from pycrdt import XmlText

from client.session import connect
from crdt.schema import find_element, plain_text
from tests.conftest import ServerFactory
from tests.e2e.api import charter_served

SENTENCES = [f" Phrase n°{n} ajoutée en séance, « à vérifier »." for n in range(40)]


async def test_content_read_while_a_client_appends_sentences_is_always_a_prefix(
    start_server: ServerFactory,
) -> None:
    async with charter_served(start_server) as (server, api):
        first = json.loads(await api.get_content("charte", "json"))["blocks"]
        expected_ids = [block["id"] for block in first]
        async with (
            connect(server.url, "charte", server.token(name="Zoé Lefèvre")) as zoe,
            connect(server.url, "charte", server.token("citizen", "Élodie")) as watcher,
            httpx.AsyncClient(
                base_url=server.url, timeout=30,
                headers={"Authorization": f"Bearer {server.token('citizen', 'Anaïs')}"},
            ) as reader,
        ):
            await zoe.synced()
            await watcher.synced()
            # A paragraph without marks: its one XmlText holds all its words.
            target = next(
                block["id"] for block in first
                if block["type"] == "paragraph"
                and (element := find_element(zoe.doc, block["id"])) is not None
                and len(element.children) == 1 and "<" not in str(element.children[0])
            )
            element = find_element(zoe.doc, target)
            assert element is not None
            base = plain_text(element)
            text = element.children[0]
            assert isinstance(text, XmlText)
            states = [base + "".join(SENTENCES[:k]) for k in range(len(SENTENCES) + 1)]
            seen: list[int] = []
            writing = True

            read_done = anyio.Event()

            async def write() -> None:
                nonlocal writing, read_done
                for index, sentence in enumerate(SENTENCES):
                    # pycrdt's XmlText indices are UTF-8 byte offsets (« » and é are 2 bytes).
                    text.insert(len(plain_text(element).encode()), sentence)
                    await zoe.flushed()
                    if index % 4 == 3:
                        # Bursts of four, each overlapping at least one read in flight.
                        await read_done.wait()
                        read_done = anyio.Event()
                writing = False

            async def read() -> None:
                while writing:
                    answer = await reader.get("/api/documents/charte/content?format=json")
                    assert answer.status_code == 200
                    blocks = answer.json()["blocks"]
                    assert [block["id"] for block in blocks] == expected_ids
                    [block] = [block for block in blocks if block["id"] == target]
                    assert block["text"] in states, block["text"]
                    seen.append(states.index(block["text"]))
                    read_done.set()

            with anyio.fail_after(60):
                async with anyio.create_task_group() as tg:
                    tg.start_soon(read)
                    tg.start_soon(write)
                # The watcher saw the last sentence relayed: the server applied it before.
                await watcher.wait_for(
                    lambda: any(
                        plain_text(el) == states[-1]
                        for el in [find_element(watcher.doc, target)] if el is not None
                    ),
                )
            final = (await reader.get("/api/documents/charte/content?format=json")).json()
            [block] = [block for block in final["blocks"] if block["id"] == target]
            assert block["text"] == states[-1]
            assert len(set(seen)) >= 5, "the reads did not interleave with the writes"
            assert seen == sorted(seen), "a later read showed an earlier state"
