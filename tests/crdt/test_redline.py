"""Redlines read back: Word tracked changes with python-docx, HTML marks with lxml, PDF text."""

from __future__ import annotations

import io
import re
from typing import Any

import pytest
from docx import Document
from lxml import html as lxml_html
from pycrdt import Doc
from pypdf import PdfReader

from crdt.amend_text import apply_amendment
from crdt.convert import import_markdown, markdown_to_doc
from crdt.diff import TextDiff, diff_docs
from crdt.errors import SchemaError
from crdt.publish import Edition, redline
from crdt.schema import blocks
from tests.e2e.api import CHARTE

W = "{http://schemas.openxmlformats.org/wordprocessingml/2006/main}"


def versions() -> tuple[Edition, Edition]:
    """The charter, then: words changed in article 4, article 2's intro removed, one added."""
    before = markdown_to_doc(CHARTE)
    after: Doc[Any] = Doc()
    after.apply_update(before.get_update())
    changed = next(b for b in blocks(after) if b.text.startswith("L'assemblée citoyenne réunit"))
    apply_amendment(after, paragraph_id=changed.id or "", kind="replace", base=changed.text,
                    text=changed.text.replace("quarante", "cinquante")
                    .replace("deux ans", "trois ans"), new_id="unused")
    intro = next(b for b in blocks(after) if b.text.startswith("La participation repose"))
    apply_amendment(after, paragraph_id=intro.id or "", kind="delete", base=intro.text,
                    text="", new_id="unused")
    import_markdown(after, "Le présent texte entre en vigueur dès son adoption.\n")
    return (Edition(doc_id="charte", title="Charte", state=before.get_update(), number=1),
            Edition(doc_id="charte", title="Charte", state=after.get_update(), number=2,
                    created_at=1_764_936_000.0))


def marked(diff: TextDiff, op: str) -> list[str]:
    """What the redline must mark as `op`, in order: words of changed blocks, whole blocks."""
    whole = "added" if op == "insert" else "removed"
    out: list[str] = []
    for block in diff.blocks:
        if block.status == whole:
            out.append((block.after if op == "insert" else block.before) or "")
        elif block.status == "changed":
            out.extend(word.text for word in block.words if word.op == op)
    return out


def test_docx_redline_holds_word_tracked_changes_and_nothing_else_is_marked() -> None:
    before, after = versions()
    diff = diff_docs(before.doc(), after.doc())
    assert marked(diff, "insert") == ["cinquante", "trois", "Le présent texte entre en "
                                      "vigueur dès son adoption."]
    assert marked(diff, "delete") == ["La participation repose sur les principes suivants :",
                                      "quarante", "deux"]
    document = Document(io.BytesIO(redline(before, after, "docx")))
    body = document.element.body
    inserted = ["".join(t.text for t in ins.iter(f"{W}t")) for ins in body.iter(f"{W}ins")
                if ins.find(f"{W}r") is not None]
    deleted = ["".join(t.text for t in d.iter(f"{W}delText")) for d in body.iter(f"{W}del")
               if d.find(f"{W}r") is not None]
    assert inserted == marked(diff, "insert") and deleted == marked(diff, "delete")
    for mark in (*body.iter(f"{W}ins"), *body.iter(f"{W}del")):
        assert mark.get(f"{W}author") == "palabre" and mark.get(f"{W}date")
    # "accept all" gives the newer text blocks, "reject all" the older ones
    accepted, rejected = [], []
    for p in body.iter(f"{W}p"):
        mark = p.find(f"{W}pPr/{W}rPr")
        gone = mark is not None and mark.find(f"{W}del") is not None
        new = mark is not None and mark.find(f"{W}ins") is not None
        kept = "".join(t.text for t in p.iter(f"{W}t") if not _inside(t, "del"))
        old = "".join(t.text or "" for t in p.iter(f"{W}t", f"{W}delText")
                      if not _inside(t, "ins"))
        if not gone:
            accepted.append(kept)
        if not new:
            rejected.append(old)
    texts = [b.text for b in blocks(after.doc()) if b.type in ("heading", "paragraph")]
    assert accepted == texts
    old_texts = [b.text for b in blocks(before.doc()) if b.type in ("heading", "paragraph")]
    assert sorted(rejected) == sorted(old_texts)
    headings = [p.text for p in document.paragraphs
                if p.style is not None and p.style.name == "Heading 2"]
    assert len(headings) == 13


def _inside(element: Any, tag: str) -> bool:
    parent = element.getparent()
    while parent is not None:
        if parent.tag == f"{W}{tag}":
            return True
        parent = parent.getparent()
    return False


def test_html_redline_marks_exactly_the_changed_words() -> None:
    before, after = versions()
    diff = diff_docs(before.doc(), after.doc())
    page = lxml_html.fromstring(redline(before, after, "html"))
    assert [ins.text_content() for ins in page.iter("ins")][1:] == marked(diff, "insert")
    assert [d.text_content() for d in page.iter("del")][1:] == marked(diff, "delete")
    assert "Version 1 → version 2" in page.text_content()


def test_pdf_redline_shows_both_wordings_with_page_numbers() -> None:
    before, after = versions()
    reader = PdfReader(io.BytesIO(redline(before, after, "pdf")))
    text = re.sub(r"\s+", " ", " ".join(page.extract_text() for page in reader.pages))
    assert "réunit quarantecinquante membres" in text  # both wordings, struck and new
    assert f"Page 1 sur {len(reader.pages)}" in text
    assert "Le présent texte entre en vigueur" in text


def test_a_redline_refuses_an_unknown_format() -> None:
    before, after = versions()
    with pytest.raises(SchemaError, match="html, docx, pdf"):
        redline(before, after, "odt")
