"""DOCX (python-docx) and ODT (odfpy) of an edition, headings as real heading styles.

The body holds the version's blocks and nothing else, so a clerk who keeps working on the
file starts from the exact text: a heading of level n is a paragraph in the word
processor's own "Heading n" style, a list item a "List Bullet"/"List Number" paragraph
(ODT: a ``text:list``), bold, italic, code and links as character formatting. The archive
details go to the file's properties and, in DOCX, to the page header.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from typing import Any

from crdt.convert import Node, Span
from crdt.publish.edition import Edition, xml_safe, xml_tree
from crdt.schema import clamp_level

LIST_TYPES = ("bulletList", "orderedList")
MAX_LIST_DEPTH = 3
"""python-docx's default template has list styles for three levels."""


def header_text(edition: Edition) -> str:
    """The running header: title, stage and version."""
    parts = [edition.title, edition.stage or "", edition.version_name]
    return xml_safe(" — ".join(part for part in parts if part))


def list_paragraphs(node: Node, depth: int = 1) -> Iterator[tuple[Node, str, int]]:
    """``(text block, list type, depth)`` for every text block inside a list, in order."""
    for item in node.children:
        for child in item.children if item.type == "listItem" else [item]:
            if child.type in LIST_TYPES:
                yield from list_paragraphs(child, depth + 1)
            elif child.children:
                yield from list_paragraphs(child, depth)
            else:
                yield child, node.type, depth


# -- DOCX ------------------------------------------------------------------------------------


def to_docx(edition: Edition) -> bytes:
    """The edition as a Word document."""
    from docx import Document

    document = Document()
    props = document.core_properties
    props.title = xml_safe(edition.title)[:255]
    props.subject = xml_safe(edition.stage or "")[:255]
    props.keywords = (edition.content_hash or "")[:255]
    props.comments = (f"{edition.version_name}; SHA-256 {edition.content_hash}"
                      if edition.content_hash else edition.version_name)[:255]
    props.language = "fr-FR"
    props.identifier = xml_safe(edition.doc_id)[:255]
    if edition.number is not None:
        props.revision = edition.number
    header = document.sections[0].header.paragraphs[0]
    header.text = header_text(edition)
    _page_number_footer(document)
    for node in xml_tree(edition):
        _docx_block(document, node)
    out = io.BytesIO()
    document.save(out)
    return out.getvalue()


def _docx_block(document: Any, node: Node) -> None:
    if node.type == "heading":
        paragraph = document.add_heading(level=min(9, clamp_level(node.attrs.get("level"))))
        add_runs(paragraph, node.spans)
    elif node.type in LIST_TYPES:
        for block, kind, depth in list_paragraphs(node):
            base = "List Number" if kind == "orderedList" else "List Bullet"
            level = min(depth, MAX_LIST_DEPTH)
            add_runs(document.add_paragraph(style=base if level == 1 else f"{base} {level}"),
                     block.spans)
    elif node.children:
        for child in node.children:
            _docx_block(document, child)
    else:
        add_runs(document.add_paragraph(), node.spans)


def add_runs(paragraph: Any, spans: list[Span]) -> list[Any]:
    """Append `spans` to a DOCX paragraph as formatted runs; return the runs."""
    from docx.shared import RGBColor

    runs = []
    for span in spans:
        run = paragraph.add_run()
        if span.is_break:
            run.add_break()
            runs.append(run)
            continue
        run.text = span.text
        run.bold = "bold" in span.marks or None
        run.italic = "italic" in span.marks or None
        if "code" in span.marks:
            run.font.name = "DejaVu Sans Mono"
        if span.href is not None:
            run.underline = True
            run.font.color.rgb = RGBColor(0x1A, 0x4E, 0x9A)
            _hyperlink(paragraph, run, span.href)
        runs.append(run)
    return runs


def _hyperlink(paragraph: Any, run: Any, href: str) -> None:
    """Move `run` into a ``w:hyperlink`` to `href` (an external relationship)."""
    from docx.opc.constants import RELATIONSHIP_TYPE
    from docx.oxml import OxmlElement
    from docx.oxml.ns import qn

    link = OxmlElement("w:hyperlink")
    link.set(qn("r:id"), paragraph.part.relate_to(href, RELATIONSHIP_TYPE.HYPERLINK,
                                                  is_external=True))
    paragraph._p.append(link)
    link.append(run._r)


def _page_number_footer(document: Any) -> None:
    from docx.oxml import OxmlElement
    from docx.oxml.ns import qn

    paragraph = document.sections[0].footer.paragraphs[0]
    paragraph.add_run("Page ")
    field = OxmlElement("w:fldSimple")
    field.set(qn("w:instr"), "PAGE")
    run = OxmlElement("w:r")
    text = OxmlElement("w:t")
    text.text = "1"
    run.append(text)
    field.append(run)
    paragraph._p.append(field)


# -- ODT -------------------------------------------------------------------------------------


def to_odt(edition: Edition) -> bytes:
    """The edition as an OpenDocument text."""
    from odf import dc
    from odf.opendocument import OpenDocumentText

    document = OpenDocumentText()
    styles = _OdtStyles(document)
    document.meta.addElement(dc.Title(text=xml_safe(edition.title)))
    document.meta.addElement(dc.Subject(text=xml_safe(edition.stage or "")))
    document.meta.addElement(dc.Description(
        text=f"{edition.version_name}; SHA-256 {edition.content_hash or '-'}"))
    document.meta.addElement(dc.Language(text="fr-FR"))
    _odt_page(document, header_text(edition))
    for node in xml_tree(edition):
        _odt_block(document.text, node, styles)
    out = io.BytesIO()
    document.write(out)
    return out.getvalue()


def _odt_page(document: Any, header: str) -> None:
    """An A4 master page whose header reads `header` and whose footer ``Page n sur N``."""
    from odf import style, text

    layout = style.PageLayout(name="palabre_page")
    layout.addElement(style.PageLayoutProperties(
        pagewidth="21cm", pageheight="29.7cm", printorientation="portrait",
        margintop="1.5cm", marginbottom="1.5cm", marginleft="2cm", marginright="2cm"))
    document.automaticstyles.addElement(layout)
    master = style.MasterPage(name="Standard", pagelayoutname=layout)
    top = style.Header()
    top.addElement(text.P(text=header))
    master.addElement(top)
    foot = style.Footer()
    line = text.P(text="Page ")
    line.addElement(text.PageNumber(selectpage="current"))
    line.addText(" sur ")
    line.addElement(text.PageCount())
    foot.addElement(line)
    master.addElement(foot)
    document.masterstyles.addElement(master)


class _OdtStyles:
    """The named styles an ODT export uses: "Heading n", body text, lists, marks."""

    def __init__(self, document: Any) -> None:
        from odf.style import ParagraphProperties, Style, TextProperties
        from odf.text import ListLevelStyleBullet, ListLevelStyleNumber, ListStyle

        def paragraph_style(name: str, display: str, **options: Any) -> Any:
            style = Style(name=name, displayname=display, family="paragraph", **options)
            document.styles.addElement(style)
            return style

        heading = paragraph_style("Heading", "Heading", nextstylename="Text_20_body")
        heading.addElement(TextProperties(fontsize="14pt", fontweight="bold"))
        heading.addElement(ParagraphProperties(margintop="0.42cm", marginbottom="0.21cm",
                                               keepwithnext="always"))
        self.body = paragraph_style("Text_20_body", "Text body")
        self.body.addElement(ParagraphProperties(marginbottom="0.25cm"))
        self.headings = {}
        for level in range(1, 7):
            style = paragraph_style(f"Heading_20_{level}", f"Heading {level}",
                                    parentstylename="Heading", defaultoutlinelevel=str(level))
            style.setAttribute("class", "text")
            style.addElement(TextProperties(fontsize=f"{max(11, 20 - 2 * level)}pt",
                                            fontweight="bold"))
            self.headings[level] = style
        self.marks = {}
        for mark, props in (("bold", {"fontweight": "bold"}), ("italic", {"fontstyle": "italic"}),
                            ("code", {"fontname": "DejaVu Sans Mono",
                                      "fontfamily": "DejaVu Sans Mono"})):
            style = Style(name=f"palabre_{mark}", family="text")
            style.addElement(TextProperties(**props))
            document.automaticstyles.addElement(style)
            self.marks[mark] = style
        self.lists = {}
        for kind in LIST_TYPES:
            list_style = ListStyle(name=f"palabre_{kind}")
            for level in range(1, 11):
                if kind == "bulletList":
                    item = ListLevelStyleBullet(level=level, bulletchar="•")
                else:
                    item = ListLevelStyleNumber(level=level, numformat="1", numsuffix=".")
                list_style.addElement(item)
            document.automaticstyles.addElement(list_style)
            self.lists[kind] = list_style


def _odt_block(parent: Any, node: Node, styles: _OdtStyles) -> None:
    from odf import text

    if node.type == "heading":
        level = clamp_level(node.attrs.get("level"))
        element = text.H(outlinelevel=level, stylename=styles.headings[level])
        _odt_spans(element, node.spans, styles)
        parent.addElement(element)
    elif node.type in LIST_TYPES:
        parent.addElement(_odt_list(node, styles))
    elif node.children:
        for child in node.children:
            _odt_block(parent, child, styles)
    else:
        element = text.P(stylename=styles.body)
        _odt_spans(element, node.spans, styles)
        parent.addElement(element)


def _odt_list(node: Node, styles: _OdtStyles) -> Any:
    from odf import text

    element = text.List(stylename=styles.lists[node.type])
    for item in node.children:
        entry = text.ListItem()
        for child in item.children if item.type == "listItem" else [item]:
            if child.type in LIST_TYPES:
                entry.addElement(_odt_list(child, styles))
            else:
                paragraph = text.P(stylename=styles.body)
                _odt_spans(paragraph, child.spans, styles)
                entry.addElement(paragraph)
        element.addElement(entry)
    return element


def _odt_spans(parent: Any, spans: list[Span], styles: _OdtStyles) -> None:
    from odf import teletype, text

    for span in spans:
        if span.is_break:
            parent.addElement(text.LineBreak())
            continue
        target = parent
        for mark in ("bold", "italic", "code"):
            if mark in span.marks:
                inner = text.Span(stylename=styles.marks[mark])
                target.addElement(inner)
                target = inner
        if span.href is not None:
            link = text.A(href=span.href, type="simple")
            target.addElement(link)
            target = link
        teletype.addTextToElement(target, span.text)
