"""A member's socket edits that would make a text document explode are refused.

Each attack gets ``permission-denied <reason>`` (the socket stays), the stored text and its
exports are unchanged, and an honest member editing at the same time keeps working.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import anyio
import pytest
from pycrdt import Doc, XmlElement, XmlText

from client.api import PalabreApi
from client.session import Session, connect
from crdt.schema import text_fragment
from server.limits import Limits
from tests.conftest import RunningServer, ServerFactory

CHARTE = "## Article premier\n\nLa commune garantit l'égalité d'accès aux services publics.\n"
FAST = {"http_rate_per_second": 0.0}


def _element(doc: Doc[Any], index: int) -> XmlElement:
    element = text_fragment(doc).children[index]
    assert isinstance(element, XmlElement)
    return element


def _text(doc: Doc[Any], index: int) -> XmlText:
    text = _element(doc, index).children[0]
    assert isinstance(text, XmlText)
    return text


def _paragraph(doc: Doc[Any]) -> str:
    """The text of the document's paragraph (empty until the document arrived)."""
    if len(text_fragment(doc).children) < 2:
        return ""
    return str(_text(doc, 1))


async def _refused(session: Session, says: str) -> None:
    await session.wait_for(lambda: any(says in denial for denial in session.denials),
                           timeout=10)


async def _honest_edit_goes_through(server: RunningServer, zoe: Session, word: str) -> None:
    """Zoé types `word` into the paragraph; a fresh member sees it."""
    text = _text(zoe.doc, 1)
    text.insert(0, word)
    async with connect(server.url, "charte", server.token("member", "Élodie")) as elodie:
        await elodie.wait_for(lambda: _paragraph(elodie.doc).startswith(word), timeout=10)


@pytest.mark.parametrize(("attack", "says"), [
    (lambda doc: _element(doc, 0).attributes.__setitem__("level", 1e9), "heading level"),
    (lambda doc: _element(doc, 0).attributes.__setitem__("style", "x" * 10_000),
     "no attribute 'style'"),
    (lambda doc: text_fragment(doc).children.append(
        XmlElement("orderedList", {"start": 1e300}, [  # type: ignore[arg-type]
            XmlElement("listItem", {}, [XmlElement("paragraph", {}, [XmlText("un")])])])),
     "ordered list"),
    (lambda doc: text_fragment(doc).children.append(XmlElement("iframe")),
     "unknown node type 'iframe'"),
])
async def test_a_bad_node_attribute_over_the_socket_is_refused_and_exports_stay_intact(
    start_server: ServerFactory, attack: Callable[[Doc[Any]], None], says: str,
) -> None:
    async with start_server(**FAST) as server, \
            PalabreApi(server.url, server.token("facilitator", "Loïc")) as loic:
        await loic.create_document("charte", "Charte", markdown=CHARTE)
        markdown = await loic.get_content("charte", "md")
        html = await loic.get_content("charte", "html")
        async with connect(server.url, "charte", server.token("member", "Mallory")) as mallory, \
                connect(server.url, "charte", server.token("member", "Zoé")) as zoe:
            await mallory.synced()
            await zoe.synced()
            attack(mallory.doc)
            await _refused(mallory, says)
            assert mallory.is_connected  # refused, not closed
            await _honest_edit_goes_through(server, zoe, "Oui : ")
        assert await loic.get_content("charte", "md") == "## Article premier\n\nOui : " + \
            markdown.split("\n\n", 1)[1]
        assert (await loic.get_content("charte", "html")).startswith(html.split("<p", 1)[0])
        async with connect(server.url, "charte", server.token("member", "Amine")) as amine:
            await amine.synced()
            assert _element(amine.doc, 0).attributes.get("level") == 2
            assert len(text_fragment(amine.doc).children) == 2


async def test_a_block_past_block_chars_is_refused(start_server: ServerFactory) -> None:
    async with start_server(limits=Limits(block_chars=100), **FAST) as server, \
            PalabreApi(server.url, server.token("facilitator", "Loïc")) as loic:
        await loic.create_document("charte", "Charte", markdown=CHARTE)
        before = await loic.get_content("charte", "md")
        async with connect(server.url, "charte", server.token("member", "Mallory")) as mallory, \
                connect(server.url, "charte", server.token("member", "Zoé")) as zoe:
            await mallory.synced()
            await zoe.synced()
            _text(mallory.doc, 1).insert(0, "é" * 60)
            await _refused(mallory, "a block holds at most 100 characters")
            await _honest_edit_goes_through(server, zoe, "Oui ")
        assert await loic.get_content("charte", "md") == before.replace("La commune",
                                                                        "Oui La commune")


async def test_growth_past_document_bytes_is_refused_and_deletions_still_pass(
    start_server: ServerFactory,
) -> None:
    async with start_server(limits=Limits(document_bytes=2_000), **FAST) as server, \
            PalabreApi(server.url, server.token("facilitator", "Loïc")) as loic:
        await loic.create_document("charte", "Charte", markdown=CHARTE)
        async with connect(server.url, "charte", server.token("member", "Mallory")) as mallory, \
                connect(server.url, "charte", server.token("member", "Zoé")) as zoe:
            await mallory.synced()
            await zoe.synced()
            with anyio.fail_after(10):
                for index in range(40):
                    text_fragment(mallory.doc).children.append(XmlElement(
                        "paragraph", {"id": f"p-m{index}"}, [XmlText("Remplissage " * 5)]))
                await _refused(mallory, "document too large: at most 2000 bytes")
            await _honest_edit_goes_through(server, zoe, "Oui ")
            del _text(zoe.doc, 1)[0:4]  # a deletion: always allowed
            async with connect(server.url, "charte", server.token("member", "Amine")) as amine:
                await amine.wait_for(lambda: _paragraph(amine.doc).startswith("La commune"),
                                     timeout=10)
        text = await loic.get_content("charte", "md")
        assert "Remplissage" not in text
        assert text.startswith("## Article premier\n\nLa commune")
