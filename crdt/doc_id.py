"""Document ids: their shape, and the companion document that holds a text's annotations."""

from __future__ import annotations

import re
from typing import NewType

DocumentId = NewType("DocumentId", str)
"""A document id that has been checked against `DOC_ID_PATTERN` (see `parse_doc_id`)."""

DOC_ID_LENGTH = 128
"""Longest document id (DESIGN.md's ``doc_id``)."""

DOC_ID_PATTERN = "[A-Za-z0-9._-]{1,128}"
"""What a document id is made of, everywhere: sockets, the API, the pages, webhooks.

Ids made only of dots (``.``, ``..``, ...) match it but are refused too (`is_doc_id`):
``.`` and ``..`` are path segments that URLs, proxies and file paths resolve away.
"""

DOC_ID_RULE = "1-128 characters of [A-Za-z0-9._-], not only dots"
"""`DOC_ID_PATTERN` in words, for error messages."""

ANNOTATIONS_SUFFIX = ".annotations"
"""The annotations of text document ``D`` live in the companion ``D + ANNOTATIONS_SUFFIX``."""

_DOC_ID = re.compile(DOC_ID_PATTERN)


def is_doc_id(value: str) -> bool:
    """Whether `value` has the shape of a document id (and is not only dots)."""
    return _DOC_ID.fullmatch(value) is not None and value.strip(".") != ""


def parse_doc_id(value: str) -> DocumentId:
    """`value` as a `DocumentId`.

    Raises:
        ValueError: it is not 1-128 characters of ``[A-Za-z0-9._-]``, or only dots.
    """
    if not is_doc_id(value):
        raise ValueError(f"document id must be {DOC_ID_RULE}")
    return DocumentId(value)


def is_annotations(doc_id: str) -> bool:
    """Whether `doc_id` names the annotations companion of a text document."""
    return doc_id.endswith(ANNOTATIONS_SUFFIX)


def annotations_of(doc_id: str) -> DocumentId:
    """The id of the annotations companion of text document `doc_id`."""
    return DocumentId(doc_id + ANNOTATIONS_SUFFIX)
