"""Replace a text with another version of it, keeping every block's attributes and id.

Used to start the next stage from an archived snapshot: block ids are attributes of the
content, so copying the blocks with their attributes keeps them, and comments anchored
by ``paragraph_id`` follow.
"""

from __future__ import annotations

from typing import Any

from pycrdt import Doc, XmlElement, XmlFragment, XmlText

from crdt.errors import SchemaError
from crdt.schema import text_fragment


def replace_text(doc: Doc[Any], source: Doc[Any]) -> None:
    """Make `doc`'s text a copy of `source`'s: same blocks, attributes, ids, text and marks.

    Runs in one transaction of `doc`: the old blocks are deleted, the copies inserted.

    Raises:
        SchemaError: `source` holds inline content other than text and elements.
    """
    copied = text_fragment(source)
    with doc.transaction():
        fragment = text_fragment(doc)
        del fragment.children[0 : len(fragment.children)]
        _copy_children(copied, fragment)


def _copy_children(source: XmlFragment | XmlElement, target: XmlFragment | XmlElement) -> None:
    for child in source.children:
        if isinstance(child, XmlElement):
            element = target.children.append(XmlElement(child.tag))
            # pycrdt annotates the view's __iter__ as returning an Iterable, not an Iterator.
            for key, value in child.attributes.__iter__():
                element.attributes[key] = value
            _copy_children(child, element)
        elif isinstance(child, XmlText):
            text = target.children.append(XmlText())
            for chunk, attrs in child.diff():
                if not isinstance(chunk, str):
                    raise SchemaError(f"cannot copy inline content {type(chunk).__name__}")
                text.insert(len(text), chunk, dict(attrs or {}))
