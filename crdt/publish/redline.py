"""Redline: the changes between two versions, paragraph by paragraph with word marks.

The changes are `crdt.diff`'s (blocks matched by stable id, words inside a changed block).
HTML and PDF show them with ``<ins>``/``<del>`` (underlined green, struck red); DOCX
writes them as Word tracked changes: ``w:ins`` and ``w:del`` runs by the author
"palabre", so "Accept all" in Word or LibreOffice gives the newer version and "Reject
all" the older one (an added paragraph's mark is itself inserted, a removed one's deleted).
"""

from __future__ import annotations

import html
import io
from datetime import UTC, datetime
from typing import Any

from crdt.diff import BlockDiff, Status, TextDiff, WordChange, diff_docs, diff_html
from crdt.errors import SchemaError
from crdt.publish.edition import Edition, xml_safe

REDLINE_FORMATS = ("html", "docx", "pdf")
AUTHOR = "palabre"
_CSS = """
body { font-family: "DejaVu Serif", Georgia, serif; max-width: 46rem; margin: 2rem auto;
       padding: 0 1rem; line-height: 1.5; color: #1b1b1b; }
ins { color: #0a6b2b; background: #e3f5e8; text-decoration: underline; }
del { color: #a4161a; background: #fbe4e4; text-decoration: line-through; }
.block.moved::before { content: "déplacé"; font: 8pt "DejaVu Sans", sans-serif;
  color: #555; float: right; }
.summary { font-family: "DejaVu Sans", sans-serif; font-size: .9em; color: #333; }
.hash { font-family: "DejaVu Sans Mono", monospace; font-size: .75em; word-break: break-all; }
"""
_PRINT_CSS = """
@page { size: A4; margin: 22mm 18mm;
  @top-left { content: "Modifications — " string(doctitle); font-size: 8pt; color: #555;
              font-family: "DejaVu Sans", sans-serif; }
  @bottom-center { content: "Page " counter(page) " sur " counter(pages); font-size: 8pt;
                   font-family: "DejaVu Sans", sans-serif; } }
body { margin: 0; max-width: none; font-size: 10.5pt; }
h1.title { string-set: doctitle content(); }
"""


def redline(before: Edition, after: Edition, fmt: str) -> bytes:
    """The changes from `before` to `after` as ``html``, ``docx`` or ``pdf``.

    Raises:
        SchemaError: an unknown format.
        InvalidUpdate: a state does not decode.
    """
    if fmt not in REDLINE_FORMATS:
        raise SchemaError(f"unknown format {fmt!r}; expected one of {', '.join(REDLINE_FORMATS)}")
    diff = diff_docs(before.doc(), after.doc())
    if fmt == "docx":
        return redline_docx(before, after, diff)
    page = redline_html(before, after, diff, print_css=fmt == "pdf")
    if fmt == "html":
        return page.encode("utf-8")
    from weasyprint import HTML

    pdf: bytes = HTML(string=page).write_pdf()
    return pdf


def heading(before: Edition, after: Edition) -> str:
    """``Version 1 → version 2`` (``texte en cours`` for the live text)."""
    return f"{before.version_name.capitalize()} → {after.version_name}"


def redline_html(before: Edition, after: Edition, diff: TextDiff, *,
                 print_css: bool = False) -> str:
    """A standalone HTML page of the changes."""
    esc = _esc
    named: tuple[tuple[Status, str], ...] = (
        ("changed", "modifiés"), ("added", "ajoutés"), ("removed", "supprimés"),
        ("moved", "déplacés"))
    counts = ", ".join(f"{diff.count(status)} {name}" for status, name in named)
    hashes = "".join(
        f"<dd class=\"hash\">{esc(e.version_name)} : {esc(e.content_hash)}</dd>"
        for e in (before, after) if e.content_hash)
    css = _CSS + (_PRINT_CSS if print_css else "")
    return (
        "<!DOCTYPE html>\n"
        f'<html lang="fr"><head><meta charset="utf-8"><title>{esc(after.title)} — '
        f"{esc(heading(before, after))}</title><style>{css}</style></head><body>"
        f'<header><h1 class="title">{esc(after.title)}</h1>'
        f"<p><strong>{esc(heading(before, after))}</strong></p>"
        f'<p class="summary">Paragraphes : {esc(counts)}. '
        "<ins>Texte ajouté</ins>, <del>texte supprimé</del>.</p>"
        f"<dl>{hashes}</dl></header><main>{diff_html(diff)}</main></body></html>\n"
    )


def redline_docx(before: Edition, after: Edition, diff: TextDiff) -> bytes:
    """A Word document whose changes are tracked (``w:ins``/``w:del``)."""
    from docx import Document

    document = Document()
    document.core_properties.title = xml_safe(f"{after.title} — {heading(before, after)}")[:255]
    document.sections[0].header.paragraphs[0].text = xml_safe(heading(before, after))
    date = datetime.fromtimestamp(after.created_at, UTC) if after.created_at is not None \
        else datetime.now(UTC)
    marks = _Marks(date.strftime("%Y-%m-%dT%H:%M:%SZ"))
    for block in diff.blocks:
        if block.type == "heading" and block.level:
            paragraph = document.add_heading(level=min(9, block.level))
        else:
            paragraph = document.add_paragraph()
        for word in _words(block):
            marks.append(paragraph._p, word)
        if block.status in ("added", "removed"):
            marks.mark_paragraph(paragraph._p, "ins" if block.status == "added" else "del")
    out = io.BytesIO()
    document.save(out)
    return out.getvalue()


def _words(block: BlockDiff) -> tuple[WordChange, ...]:
    if block.status == "added":
        return (WordChange(op="insert", text=block.after or ""),)
    if block.status == "removed":
        return (WordChange(op="delete", text=block.before or ""),)
    if block.status == "changed":
        return block.words
    return (WordChange(op="equal", text=block.after or ""),)


class _Marks:
    """Writes runs and tracked-change marks, each with its own revision id."""

    def __init__(self, date: str) -> None:
        self.date = date
        self.next_id = 1

    def _mark(self, tag: str) -> Any:
        from docx.oxml import OxmlElement
        from docx.oxml.ns import qn

        element = OxmlElement(tag)
        element.set(qn("w:id"), str(self.next_id))
        element.set(qn("w:author"), AUTHOR)
        element.set(qn("w:date"), self.date)
        self.next_id += 1
        return element

    def append(self, p: Any, word: WordChange) -> None:
        from docx.oxml import OxmlElement
        from docx.oxml.ns import qn

        text = xml_safe(word.text)
        if not text:
            return
        run = OxmlElement("w:r")
        for index, line in enumerate(text.split("\n")):
            if index:
                run.append(OxmlElement("w:br"))
            t = OxmlElement("w:delText" if word.op == "delete" else "w:t")
            t.set(qn("xml:space"), "preserve")
            t.text = line
            run.append(t)
        if word.op == "equal":
            p.append(run)
            return
        wrapper = self._mark("w:ins" if word.op == "insert" else "w:del")
        wrapper.append(run)
        p.append(wrapper)

    def mark_paragraph(self, p: Any, kind: str) -> None:
        """Mark the paragraph's own mark inserted or deleted (the paragraph comes or goes)."""
        from docx.oxml import OxmlElement

        ppr = p.get_or_add_pPr()
        rpr = ppr.find("{http://schemas.openxmlformats.org/wordprocessingml/2006/main}rPr")
        if rpr is None:
            rpr = OxmlElement("w:rPr")
            ppr.append(rpr)
        rpr.append(self._mark(f"w:{kind}"))


def _esc(text: str | None) -> str:
    return html.escape(text or "", quote=True)
