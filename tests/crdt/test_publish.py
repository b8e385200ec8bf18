"""Each export of the charter opened by a real reader: python-docx, odfpy, poppler, lxml."""

from __future__ import annotations

import io
import re
import shutil
import subprocess
import zipfile
from pathlib import Path
from typing import Any

import pytest
from docx import Document
from lxml import etree
from odf import teletype
from odf import text as odftext
from odf.opendocument import load as load_odt
from pypdf import PdfReader

from crdt.convert import markdown_to_doc, to_markdown
from crdt.errors import SchemaError
from crdt.publish import FORMATS, Edition, export, file_name
from crdt.publish.edition import NBSP, NNBSP, french, french_date
from crdt.schema import Block, blocks
from tests.e2e.api import CHARTE

AKN = "{http://docs.oasis-open.org/legaldocml/ns/akn/3.0}"
SCHEMA_DIR = Path(__file__).parent.parent / "fixtures" / "akn"
ARTIFACTS = Path(__file__).parent.parent / ".artifacts" / "publish"
ADOPTED_AT = 1_764_936_000.0  # 5 December 2025, 12:00 UTC
HASH = "4f" * 32
LINKS = re.findall(r"\[([^\]]+)\]\(([^)]+)\)", CHARTE)


def edition(markdown: str = CHARTE, **overrides: Any) -> Edition:
    doc = markdown_to_doc(markdown)
    fields: dict[str, Any] = {
        "doc_id": "charte", "title": "Charte de la participation", "state": doc.get_update(),
        "number": 3, "stage": "adoption", "label": "Version adoptée", "created_at": ADOPTED_AT,
        "adopted": True, "content_hash": HASH, "chain_hash": "9a" * 32,
    }
    return Edition(**{**fields, **overrides})


def text_blocks(ed: Edition) -> list[Block]:
    return [b for b in blocks(ed.doc()) if b.type in ("heading", "paragraph")]


def squash(text: str) -> str:
    return re.sub(r"\s+", " ", text.replace(NBSP, " ").replace(NNBSP, " ")).strip()


def style(paragraph: Any) -> str:
    return str(paragraph.style.name) if paragraph.style is not None else ""


def dense(text: str) -> str:
    return re.sub(r"\s+", "", text.replace(NBSP, " ").replace(NNBSP, " "))


def test_docx_headings_are_heading_styles_and_the_body_is_the_version() -> None:
    ed = edition()
    document = Document(io.BytesIO(export(ed, "docx")))
    expected = text_blocks(ed)
    paragraphs = document.paragraphs
    assert [p.text for p in paragraphs] == [b.text for b in expected]
    for paragraph, block in zip(paragraphs, expected, strict=True):
        if block.type == "heading":
            assert style(paragraph) == f"Heading {block.level}"
        else:
            assert not style(paragraph).startswith("Heading")
    articles = [p.text for p in paragraphs if style(p) == "Heading 2"]
    assert len(articles) == 13 and articles[2] == "Article 3 — Qui peut participer ?"
    assert any(style(p) == "List Bullet 2" for p in paragraphs)  # nested list kept nested
    bold = [run.text for p in paragraphs for run in p.runs if run.bold]
    assert "assemblée citoyenne" in bold and "16 ans" in bold
    assert document.core_properties.title == ed.title
    assert document.core_properties.keywords == HASH
    header = document.sections[0].header.paragraphs[0].text
    assert header == "Charte de la participation — adoption — version 3"
    footer = document.sections[0].footer.paragraphs[0]._p.xml
    assert 'w:instr="PAGE"' in footer
    links = [link for p in paragraphs for link in p.hyperlinks]
    assert [(link.text, link.address) for link in links] == LINKS and len(LINKS) == 3


def test_odt_headings_carry_outline_levels_and_heading_styles() -> None:
    ed = edition()
    odt = load_odt(io.BytesIO(export(ed, "odt")))
    expected = text_blocks(ed)
    headings = odt.getElementsByType(odftext.H)
    assert [teletype.extractText(h) for h in headings] == [
        b.text for b in expected if b.type == "heading"]
    for element, block in zip(headings, (b for b in expected if b.type == "heading"),
                              strict=False):
        assert element.getAttribute("outlinelevel") == str(block.level)
        assert element.getAttribute("stylename") == f"Heading_20_{block.level}"
    paragraphs = [teletype.extractText(p) for p in odt.text.getElementsByType(odftext.P)]
    assert paragraphs == [b.text for b in expected if b.type == "paragraph"]
    styles = {s.getAttribute("name"): s for s in odt.styles.childNodes
              if s.qname[1] == "style"}
    assert styles["Heading_20_2"].getAttribute("displayname") == "Heading 2"
    assert len(odt.getElementsByType(odftext.List)) >= 4
    with zipfile.ZipFile(io.BytesIO(export(ed, "odt"))) as archive:
        assert archive.read("mimetype") == b"application/vnd.oasis.opendocument.text"
        page_styles = archive.read("styles.xml").decode()
    assert "Charte de la participation — adoption — version 3" in page_styles
    assert "<text:page-number" in page_styles and "<text:page-count" in page_styles
    links = odt.getElementsByType(odftext.A)
    assert [a.getAttribute("href") for a in links] == [href for _, href in LINKS]


@pytest.mark.skipif(shutil.which("pdftotext") is None, reason="needs poppler-utils")
def test_pdf_has_a_cover_numbered_pages_running_headers_and_french_typography(
    tmp_path: Path,
) -> None:
    ed = edition()
    pdf = export(ed, "pdf")
    path = tmp_path / "charte.pdf"
    path.write_bytes(pdf)
    pages = subprocess.run(["pdftotext", "-layout", str(path), "-"], check=True,
                           capture_output=True, text=True).stdout.split("\f")
    pages = [page for page in pages if page.strip()]
    cover = squash(pages[0])
    for wanted in ("Charte de la participation", "adoption", "n° 3", "Adoptée le",
                   "5 décembre 2025", HASH):
        assert wanted in cover, wanted
    assert "Page" not in cover
    for number, page in enumerate(pages[1:], start=2):
        assert f"Page {number} sur {len(pages)}" in page
        assert page.lstrip().startswith("Charte de la participation")  # running header
    # the body without running headers and feet, compared modulo layout (spaces, line ends)
    body = "".join(dense(page.strip().split("\n", 1)[1].rsplit("Page ", 1)[0])
                   for page in pages[1:])
    position = 0
    for block in text_blocks(ed):
        found = body.find(dense(block.text), position)
        assert found >= 0, block.text
        position = found
    extracted = "".join(page.extract_text() for page in PdfReader(io.BytesIO(pdf)).pages)
    assert f"participer{NNBSP}?" in extracted and f"suivants{NBSP}:" in extracted
    assert f"décisions{NNBSP};" in extracted
    if shutil.which("pdftoppm"):
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        subprocess.run(["pdftoppm", "-png", "-r", "60", "-f", "1", "-l", "2", str(path),
                        str(ARTIFACTS / "charte")], check=True)
        assert (ARTIFACTS / "charte-1.png").stat().st_size > 1000


def test_pdf_numbers_articles_that_carry_no_number() -> None:
    ed = edition("# Règlement\n\n## Objet\n\nTexte.\n\n## Champ\n\nAutre texte.\n")
    reader = PdfReader(io.BytesIO(export(ed, "pdf")))
    text = squash(" ".join(page.extract_text() for page in reader.pages))
    assert "Article 1 — Objet" in text and "Article 2 — Champ" in text


def akn_schema() -> etree.XMLSchema:
    return etree.XMLSchema(etree.parse(str(SCHEMA_DIR / "akomantoso30.xsd")))


def test_akoma_ntoso_is_schema_valid_with_eids_from_the_stable_ids() -> None:
    ed = edition()
    root = etree.fromstring(export(ed, "akn"))
    akn_schema().assertValid(root)
    assert root.tag == f"{AKN}akomaNtoso" and root[0].tag == f"{AKN}act"
    articles = root.findall(f".//{AKN}article")
    headings = [b for b in blocks(ed.doc()) if b.type == "heading" and b.level == 2]
    assert [a.get("eId") for a in articles] == [f"art_{h.id}" for h in headings]
    assert articles[0].findtext(f"{AKN}num") == "Article 1"
    assert articles[0].findtext(f"{AKN}heading") == "Objet"
    by_article: dict[str, list[str]] = {}
    for block in blocks(ed.doc()):
        if block.article_id and block.depth == 0 and block.type != "heading":
            by_article.setdefault(block.article_id, []).append(block.id or "")
    for article in articles:
        article_id = article.get("eId").removeprefix("art_")
        eids = [p.get("eId") for p in article.findall(f"{AKN}paragraph")]
        assert eids == [f"art_{article_id}__para_{pid}" for pid in by_article[article_id]]
    assert root.findtext(f".//{AKN}docTitle").startswith("Charte de la participation citoyenne")
    assert root.find(f".//{AKN}preamble/{AKN}p") is not None
    alias = root.find(f".//{AKN}FRBRExpression/{AKN}FRBRalias")
    assert alias is not None and alias.get("value") == HASH


def test_akoma_ntoso_stays_valid_for_chapters_deep_headings_odd_ids_and_an_empty_text() -> None:
    schema = akn_schema()
    odd = edition("# A\n\n## Un\n\n### Sous-titre\n\nx\x01y [lien](https://e.fr) `c`\n\n"
                  "# Chapitre II\n\n## Deux\n\n- a\n  - b\n")
    root = etree.fromstring(export(odd, "akn"))
    schema.assertValid(root)
    assert root.find(f".//{AKN}chapter/{AKN}article") is not None
    assert "xy" in "".join(root.itertext())
    schema.assertValid(etree.fromstring(export(edition(""), "akn")))


def test_decidim_markdown_reimports_to_the_same_structure() -> None:
    source = CHARTE + "\nUne ligne\\\npuis une autre.\n"
    ed = edition(source)
    markdown = export(ed, "decidim").decode()
    assert "\\\n" not in markdown and "Une ligne  \npuis une autre." in markdown
    assert markdown.startswith("# ")  # a Decidim section
    assert sum(line.startswith("## ") for line in markdown.splitlines()) == 13  # subsections

    def shape(doc: Any) -> list[tuple[str, int | None, str, int]]:
        return [(b.type, b.level, b.text, b.depth) for b in blocks(doc)]

    assert shape(markdown_to_doc(markdown)) == shape(ed.doc())


def test_standalone_html_and_the_text_formats() -> None:
    ed = edition()
    page = export(ed, "html").decode()
    assert page.startswith("<!DOCTYPE html>") and '<html lang="fr">' in page
    assert "<title>Charte de la participation</title>" in page and HASH in page
    for block in blocks(ed.doc()):
        assert f'id="{block.id}"' in page
    assert export(ed, "md").decode() == to_markdown(ed.doc())
    assert file_name(ed, "akn") == "charte-v3.akn.xml"
    assert file_name(edition(doc_id="a b/é", number=None), "pdf") == "a-b-live.pdf"
    with pytest.raises(SchemaError, match="pdf, docx"):
        export(ed, "rtf")
    assert set(FORMATS) >= {"pdf", "docx", "odt", "html", "akn", "decidim"}


def test_french_typography() -> None:
    assert french("Qui ? Quoi ! Ainsi : oui ; non") == (
        f"Qui{NNBSP}? Quoi{NNBSP}! Ainsi{NBSP}: oui{NNBSP}; non")
    assert french('il dit "bonjour"') == f"il dit «{NBSP}bonjour{NBSP}»"
    assert french("« déjà »") == f"«{NBSP}déjà{NBSP}»"
    assert french("https://exemple.fr?a=1") == "https://exemple.fr?a=1"
    assert french_date(ADOPTED_AT) == "5 décembre 2025"
    assert french_date(1_767_225_600.0) == "1er janvier 2026"


def test_every_format_of_an_empty_text_renders() -> None:
    ed = edition("", number=None, stage=None, label=None, created_at=None, adopted=False,
                 content_hash=None, chain_hash=None)
    for fmt in FORMATS:
        assert export(ed, fmt) is not None, fmt


def test_a_hundred_article_text_renders_to_a_pdf_of_many_pages() -> None:
    # Its time is measured in bench/export.py, never asserted here.
    articles = "\n\n".join(
        f"## Article {n} — Disposition {n}\n\n" + " ".join(["La commune s'engage : oui ?"] * 20)
        for n in range(1, 101))
    ed = edition("# Grand texte\n\n" + articles)
    pdf = export(ed, "pdf")
    assert len(PdfReader(io.BytesIO(pdf)).pages) > 10
