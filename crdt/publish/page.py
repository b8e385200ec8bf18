"""Standalone HTML and print-ready PDF of an edition (WeasyPrint lays the HTML out).

The PDF is the HTML with French typography and a print style sheet: a cover page (title,
stage, version, date, hash), articles numbered, the title and the current article as
running headers, ``Page n sur N`` at the foot of every page after the cover.
"""

from __future__ import annotations

import html
from dataclasses import replace

from crdt.convert import Node, Span, html_block
from crdt.publish.edition import Edition, french, is_article, map_spans, node_text, numbered

_HASH_ROWS = ("Empreinte SHA-256", "Chaîne")
_HASH_CLASS = ' class="hash"'
_SCREEN_CSS = """
body { font-family: "DejaVu Serif", Georgia, serif; max-width: 42rem; margin: 2rem auto;
       padding: 0 1rem; line-height: 1.5; color: #1b1b1b; }
.cover { border-bottom: 1px solid #999; margin-bottom: 2rem; }
.cover dl { display: grid; grid-template-columns: max-content 1fr; gap: .2rem 1rem; }
.cover dt { font-weight: bold; } .cover dd { margin: 0; }
.hash { font-family: "DejaVu Sans Mono", monospace; font-size: .8em; word-break: break-all; }
"""

_PRINT_CSS = """
@page { size: A4; margin: 24mm 20mm 22mm 20mm;
  @top-left { content: string(doctitle); font-size: 8pt; color: #555;
              font-family: "DejaVu Sans", sans-serif; }
  @top-right { content: string(article); font-size: 8pt; color: #555;
               font-family: "DejaVu Sans", sans-serif; }
  @bottom-center { content: "Page " counter(page) " sur " counter(pages); font-size: 8pt;
                   font-family: "DejaVu Sans", sans-serif; } }
@page :first { @top-left { content: none; } @top-right { content: none; }
               @bottom-center { content: none; } }
html { font-family: "DejaVu Serif", serif; font-size: 11pt; line-height: 1.45;
 }
body { margin: 0; }
.cover { page-break-after: always; padding-top: 60mm; }
.cover h1 { string-set: doctitle content(); font-size: 24pt; line-height: 1.2; }
.cover dl { margin-top: 30mm; font-size: 11pt; }
.cover dt { font-weight: bold; margin-top: 3mm; } .cover dd { margin: 0; }
.hash { font-family: "DejaVu Sans Mono", monospace; font-size: 8.5pt; word-break: break-all; }
main h1 { font-size: 16pt; } main h2 { string-set: article content(); font-size: 13pt;
  page-break-after: avoid; margin-top: 8mm; }
p, li { orphans: 2; widows: 2; text-align: justify; }
"""


def to_standalone_html(edition: Edition) -> bytes:
    """The edition as one self-contained HTML page (UTF-8), with its archive details."""
    return _page(edition, edition.tree(), _SCREEN_CSS).encode("utf-8")


def to_print_html(edition: Edition) -> str:
    """The HTML the PDF is laid out from: French typography, numbered articles."""
    tree = map_spans(_number_articles(edition.tree()), french)
    return _page(edition, tree, _PRINT_CSS, typography=True)


def to_pdf(edition: Edition) -> bytes:
    """The edition as a print-ready A4 PDF."""
    from weasyprint import HTML  # heavy: imported by the worker that renders

    pdf: bytes = HTML(string=to_print_html(edition)).write_pdf()
    return pdf


def cover_rows(edition: Edition) -> list[tuple[str, str]]:
    """The cover's (label, value) rows, in French."""
    rows = [("Étape", edition.stage or "texte en cours (non archivé)"),
            ("Version", f"n° {edition.number}" if edition.number is not None
             else "texte en cours")]
    if edition.label:
        rows.append(("Intitulé", edition.label))
    if edition.date_text:
        rows.append(("Adoptée le" if edition.adopted else "Archivée le",
                     edition.date_text))
    if edition.content_hash:
        rows.append(("Empreinte SHA-256", edition.content_hash))
    if edition.chain_hash:
        rows.append(("Chaîne", edition.chain_hash))
    return rows


def _page(edition: Edition, tree: list[Node], css: str, *, typography: bool = False) -> str:
    esc = _esc
    title = french(edition.title) if typography else edition.title
    rows = "".join(
        f"<dt>{esc(label)}</dt><dd{_HASH_CLASS if label in _HASH_ROWS else ''}>{esc(value)}</dd>"
        for label, value in cover_rows(edition))
    body = "".join(html_block(node) for node in tree)
    return (
        "<!DOCTYPE html>\n"
        f'<html lang="fr"><head><meta charset="utf-8"><title>{esc(title)}</title>'
        f'<meta name="palabre-document" content="{esc(edition.doc_id)}">'
        f"<style>{css}</style></head><body>"
        f'<header class="cover"><h1>{esc(title)}</h1><dl>{rows}</dl></header>'
        f"<main>{body}</main></body></html>\n"
    )


def _number_articles(tree: list[Node]) -> list[Node]:
    count = 0
    out = []
    for node in tree:
        if is_article(node):
            count += 1
            text = node_text(node)
            title = numbered(text, count)
            if title != text:
                node = replace(node, spans=[Span(title)])
        out.append(node)
    return out


def _esc(text: str) -> str:
    return html.escape(text, quote=True)
