"""Akoma Ntoso 3.0 XML of an edition: an ``act`` whose ``article``/``paragraph`` eIds are
the text's stable block ids.

Mapping: the first level-1 heading is the ``docTitle`` in the ``preface`` (else the
document's title); blocks before the first article form the ``preamble``; each level-2
heading opens an ``article`` (``eId="art_<id>"``, its ``num`` and ``heading``); every text
block or list inside it is a ``paragraph`` (``eId="art_<id>__para_<id>"``) whose
``content`` holds a ``p`` or a ``blockList`` of ``item``s; a later level-1 heading opens a
``chapter`` holding the articles after it; a heading deeper than 2 is a paragraph whose
``p`` has ``class="heading-n"``. Bold, italic, code and links are ``b``, ``i``,
``inline name="code"`` and ``a``. Left out: lifecycle, references beyond the author,
analysis, and the other document types (bill, amendment).
"""

from __future__ import annotations

import re

from lxml import etree

from crdt.convert import Node, Span
from crdt.publish.edition import Edition, is_article, iso_date, node_text, xml_safe, xml_tree
from crdt.schema import clamp_level

NS = "http://docs.oasis-open.org/legaldocml/ns/akn/3.0"
_A = f"{{{NS}}}"
_UNSAFE = re.compile(r"[^A-Za-z0-9_.-]")
_LIST_TYPES = ("bulletList", "orderedList")


def to_akn(edition: Edition) -> bytes:
    """The edition as an Akoma Ntoso 3.0 ``act`` (UTF-8 XML with its declaration)."""
    tree = xml_tree(edition)
    root = etree.Element(_A + "akomaNtoso", nsmap={None: NS})
    act = _sub(root, "act", name=_safe(edition.doc_id) or "act")
    date = iso_date(edition.created_at)
    _meta(act, edition, date)
    title_node = next((node for node in tree if node.type == "heading"
                       and clamp_level(node.attrs.get("level")) == 1), None)
    preface = _sub(act, "preface")
    p = _sub(preface, "p", **{"class": "title"})
    _sub(p, "docTitle").text = node_text(title_node) if title_node else xml_safe(edition.title)
    _Body(act, [node for node in tree if node is not title_node]).build()
    return bytes(etree.tostring(root, xml_declaration=True, encoding="UTF-8", pretty_print=True))


def element_id(prefix: str, block_id: str | None, fallback: int) -> str:
    """An eId part: ``<prefix>_<block id>`` (unsafe characters as ``-``)."""
    return f"{prefix}_{_safe(block_id) if block_id else str(fallback)}"


class _Body:
    """Builds preamble, body, chapters and articles in one pass over the blocks."""

    def __init__(self, act: etree._Element, nodes: list[Node]) -> None:
        self.act = act
        self.nodes = nodes
        self.used: set[str] = set()
        self.preamble: etree._Element | None = None
        self.body: etree._Element | None = None
        self.container: etree._Element | None = None
        self.article: etree._Element | None = None
        self.article_eid = ""
        self.count = 0

    def build(self) -> None:
        for index, node in enumerate(self.nodes):
            level = clamp_level(node.attrs.get("level")) if node.type == "heading" else None
            if level == 1:
                self._chapter(node, index)
            elif is_article(node):
                self._article(node, index)
            elif self.article is None:
                self._preamble(node)
            else:
                self._paragraph(node, index)
        if self.body is None:  # an act has a body: an empty text gets an empty article
            self._article(Node("heading", {"level": 2}), 0)

    def _unique(self, eid: str) -> str:
        candidate, n = eid, 1
        while candidate in self.used:
            n += 1
            candidate = f"{eid}-{n}"
        self.used.add(candidate)
        return candidate

    def _body(self) -> etree._Element:
        if self.body is None:
            self.body = _sub(self.act, "body")
            self.container = self.body
        return self.body

    def _chapter(self, node: Node, index: int) -> None:
        self._body()
        chapter = _sub(self.body, "chapter", eId=self._unique(element_id("chp", node.id, index)))
        _inline(_sub(chapter, "heading"), node.spans)
        self.container = chapter
        self.article = None

    def _article(self, node: Node, index: int) -> None:
        self._body()
        self.count += 1
        self.article_eid = self._unique(element_id("art", node.id, index))
        self.article = _sub(self.container, "article", eId=self.article_eid)
        title = node_text(node)
        match = re.match(r"^\s*((?:article|art\.)\s*\d+)\s*[\u2014\u2013:.-]?\s*(.*)$", title,
                         re.IGNORECASE | re.DOTALL)
        _sub(self.article, "num").text = match.group(1) if match else f"Article {self.count}"
        heading = _sub(self.article, "heading")
        if match:
            heading.text = match.group(2)
        else:
            _inline(heading, node.spans)

    def _preamble(self, node: Node) -> None:
        if self.preamble is None:
            self.preamble = _sub(self.act, "preamble")
        self._content(self.preamble, node)

    def _paragraph(self, node: Node, index: int) -> None:
        assert self.article is not None
        eid = self._unique(f"{self.article_eid}__{element_id('para', node.id, index)}")
        content = _sub(_sub(self.article, "paragraph", eId=eid), "content")
        self._content(content, node, eid)

    def _content(self, parent: etree._Element, node: Node, eid: str = "") -> None:
        if node.type in _LIST_TYPES:
            parent.append(self._list(node, eid or "list"))
            return
        p = _sub(parent, "p")
        if node.type == "heading":
            p.set("class", f"heading-{clamp_level(node.attrs.get('level'))}")
        if node.children:
            p.text = node_text(node)
        else:
            _inline(p, node.spans)

    def _list(self, node: Node, eid: str) -> etree._Element:
        block = etree.Element(_A + "blockList",
                              eId=self._unique(f"{eid}__list_{_safe(node.id or '1')}"))
        for index, item in enumerate(node.children, start=1):
            item_eid = f"{block.get('eId')}__item_{_safe(item.id or str(index))}"
            entry = _sub(block, "item", eId=self._unique(item_eid))
            for child in item.children if item.type == "listItem" else [item]:
                if child.type in _LIST_TYPES:
                    entry.append(self._list(child, str(entry.get("eId"))))
                else:
                    _inline(_sub(entry, "p"), child.spans)
        return block


def _meta(act: etree._Element, edition: Edition, date: str) -> None:
    name = _safe(edition.doc_id) or "act"
    version = f"v{edition.number}" if edition.number is not None else "live"
    work = f"/akn/fr/act/{date}/{name}"
    expression = f"{work}/fra@{version}"
    meta = _sub(act, "meta")
    ident = _sub(meta, "identification", source="#palabre")
    for tag, this, uri in (("FRBRWork", f"{work}/!main", work),
                           ("FRBRExpression", f"{expression}/!main", expression),
                           ("FRBRManifestation", f"{expression}/!main.xml", f"{expression}.xml")):
        frbr = _sub(ident, tag)
        _sub(frbr, "FRBRthis", value=this)
        _sub(frbr, "FRBRuri", value=uri)
        if tag == "FRBRExpression" and edition.content_hash:
            _sub(frbr, "FRBRalias", value=edition.content_hash, name="sha256")
        _sub(frbr, "FRBRdate", date=date, name="adoption" if edition.adopted else "archive")
        _sub(frbr, "FRBRauthor", href="#palabre")
        if tag == "FRBRWork":
            _sub(frbr, "FRBRcountry", value="fr")
            _sub(frbr, "FRBRname", value=xml_safe(edition.title))
        if tag == "FRBRExpression":
            _sub(frbr, "FRBRversionNumber", value=version)
            _sub(frbr, "FRBRlanguage", language="fra")
    references = _sub(meta, "references", source="#palabre")
    _sub(references, "TLCOrganization", eId="palabre", href="/ontology/organization/palabre",
         showAs="palabre")


def _inline(parent: etree._Element, spans: list[Span]) -> None:
    last: etree._Element | None = None
    for span in spans:
        if span.is_break:
            last = etree.SubElement(parent, _A + "br")
            continue
        if not span.marks and span.href is None:
            _append_text(parent, last, span.text)
            continue
        target = parent
        outer: etree._Element | None = None
        for mark in ("bold", "italic", "code"):
            if mark in span.marks:
                tag, attrs = {"bold": ("b", {}), "italic": ("i", {}),
                              "code": ("inline", {"name": "code"})}[mark]
                element = etree.SubElement(target, _A + tag, **attrs)
                outer = outer if outer is not None else element
                target = element
        if span.href is not None:
            element = etree.SubElement(target, _A + "a", href=span.href)
            outer = outer if outer is not None else element
            target = element
        target.text = span.text
        last = outer


def _append_text(parent: etree._Element, last: etree._Element | None, text: str) -> None:
    if last is None:
        parent.text = (parent.text or "") + text
    else:
        last.tail = (last.tail or "") + text


def _sub(parent: etree._Element | None, tag: str, **attrs: str) -> etree._Element:
    assert parent is not None
    return etree.SubElement(parent, _A + tag, **attrs)


def _safe(value: str) -> str:
    return _UNSAFE.sub("-", value)
