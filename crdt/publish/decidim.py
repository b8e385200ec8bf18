"""Decidim participatory-text Markdown of an edition.

Decidim's importer (``Decidim::Proposals::MarkdownToProposals``, a Redcarpet renderer)
makes a *section* of every level-1 heading, a *subsection* of every deeper heading, and an
*article* of every paragraph and every list; blocks must be separated by blank lines. The
text's normalized Markdown already follows those rules; what Redcarpet reads differently
from CommonMark is changed: a hard line break is written as two trailing spaces (Redcarpet
ignores ``\\`` breaks). Nested lists are kept as they are (palabre's importer reads them
back the same); Decidim collects a list's items into one article and makes the inner list
an article of its own.
"""

from __future__ import annotations

import re

from crdt.convert import to_markdown
from crdt.publish.edition import Edition

_BACKSLASH_BREAK = re.compile(r"(?<!\\)((?:\\\\)*)\\\n")


def to_decidim(edition: Edition) -> bytes:
    """The edition as Markdown for Decidim's participatory-text import (UTF-8)."""
    markdown = to_markdown(edition.doc())
    return _BACKSLASH_BREAK.sub(r"\1  \n", markdown).encode("utf-8")
