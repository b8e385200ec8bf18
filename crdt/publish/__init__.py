"""Publishing: pure renderings of one version of a text (an `Edition`) as files.

``export(edition, fmt)`` returns the bytes of a PDF, DOCX, ODT, standalone HTML, Akoma
Ntoso 3.0 XML or Decidim participatory-text Markdown (and the text's own md, text, json);
``redline(before, after, fmt)`` the changes between two versions. Both are CPU-bound and
synchronous: the server runs them in worker threads (`server.modules.publishing`).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Final

from crdt.convert import render
from crdt.errors import SchemaError
from crdt.publish.akn import to_akn
from crdt.publish.decidim import to_decidim
from crdt.publish.edition import Edition as Edition
from crdt.publish.office import to_docx, to_odt
from crdt.publish.page import to_pdf, to_standalone_html
from crdt.publish.redline import REDLINE_FORMATS as REDLINE_FORMATS
from crdt.publish.redline import redline as redline

MEDIA_TYPES: Final[dict[str, str]] = {
    "pdf": "application/pdf",
    "docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    "odt": "application/vnd.oasis.opendocument.text",
    "html": "text/html; charset=utf-8",
    "akn": "application/akn+xml",
    "decidim": "text/markdown; charset=utf-8",
    "md": "text/markdown; charset=utf-8",
    "text": "text/plain; charset=utf-8",
    "json": "application/json",
}
"""Every export format and its media type."""
EXTENSIONS: Final[dict[str, str]] = {
    "pdf": "pdf", "docx": "docx", "odt": "odt", "html": "html", "akn": "akn.xml",
    "decidim": "decidim.md", "md": "md", "text": "txt", "json": "json",
}
"""The file name extension of each format."""
FORMATS: Final = tuple(MEDIA_TYPES)

_RENDERERS: dict[str, Callable[[Edition], bytes]] = {
    "pdf": to_pdf, "docx": to_docx, "odt": to_odt, "html": to_standalone_html,
    "akn": to_akn, "decidim": to_decidim,
    "md": lambda e: render(e.doc(), "md").encode(),
    "text": lambda e: render(e.doc(), "text").encode(),
    "json": lambda e: json.dumps({"id": e.doc_id, "title": e.title, "version": e.number,
                                  "hash": e.content_hash, **json.loads(render(e.doc(), "json"))},
                                 ensure_ascii=False).encode(),
}


def export(edition: Edition, fmt: str) -> bytes:
    """Render `edition` in `fmt` (one of `FORMATS`).

    Raises:
        SchemaError: an unknown format.
        InvalidUpdate: the edition's state does not decode.
    """
    renderer = _RENDERERS.get(fmt)
    if renderer is None:
        raise SchemaError(f"unknown format {fmt!r}; expected one of {', '.join(FORMATS)}")
    return renderer(edition)


def file_name(edition: Edition, fmt: str) -> str:
    """A download name: ``<doc>-v<N>.<ext>`` (``-live`` for the live text), ASCII only."""
    stem = re.sub(r"[^A-Za-z0-9_.-]+", "-", edition.doc_id).strip("-.") or "document"
    version = f"v{edition.number}" if edition.number is not None else "live"
    return f"{stem}-{version}.{EXTENSIONS[fmt]}"
