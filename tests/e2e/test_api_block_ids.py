"""Server-assigned block ids: blocks that arrive over a socket without a unique id get one."""

from __future__ import annotations

from typing import Any

from pycrdt import Doc, XmlElement, XmlText

from client.session import connect
from crdt.schema import block_id, text_fragment, walk
from tests.conftest import ServerFactory
from tests.e2e.api import charter_served


def ids_of(doc: Doc[Any]) -> list[str | None]:
    return [block_id(element) for element, _, _, _ in walk(doc)]


async def test_a_copied_id_and_a_new_list_get_ids_of_their_own(
    start_server: ServerFactory,
) -> None:
    async with charter_served(start_server) as (server, _):
        async with (
            connect(server.url, "charte", server.token(name="Zoé")) as zoe,
            connect(server.url, "charte", server.token("citizen", "Élodie")) as elodie,
        ):
            await zoe.synced()
            fragment = text_fragment(zoe.doc)
            taken = block_id(next(el for el, _, _, _ in walk(zoe.doc) if el.tag == "paragraph"))
            assert taken is not None
            # What Tiptap does when it splits a paragraph: both halves keep the attrs.
            fragment.children.append(
                XmlElement("paragraph", {"id": taken}, [XmlText("Seconde moitié.")])
            )
            fragment.children.append(XmlElement("bulletList", {}, [
                XmlElement("listItem", {}, [XmlElement("paragraph", {}, [XmlText("Un point")])]),
            ]))

            def settled() -> bool:
                ids = ids_of(elodie.doc)
                return len(ids) > 3 and all(ids) and len(set(ids)) == len(ids)

            # Élodie, a reader, sees the ids the server wrote: they went through the log.
            await elodie.wait_for(settled, timeout=10)
            await zoe.wait_for(lambda: ids_of(zoe.doc) == ids_of(elodie.doc), timeout=10)
            first = next(el for el, _, _, _ in walk(zoe.doc) if block_id(el) == taken)
            assert "Seconde moitié." not in str(first)
