"""Replace a person's identity by their pseudonym in a Yjs document, history included.

Every map key, string and JSON value equal to the person's subject or one of their
names, anywhere under the document's root maps (the ``author`` of comments, replies and
amendments, the keys of an amendment's ``supports``, governance fields...), is rewritten
in one transaction. Yjs keeps deleted content until it is garbage-collected: `scrubbed`
re-encodes a state through a document with garbage collection on, so the old values are
not in the bytes any more (only their length, as deleted content).

With `Identity.words` set, the words the person wrote go too: the ``body`` of their
comments and replies (and the sealed words of hidden ones), the ``text`` and
``justification`` of their amendments become that marker.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from pycrdt import Array, Doc, Map

from crdt.document import doc_from_update


@dataclass(frozen=True, slots=True, kw_only=True)
class Identity:
    """What to replace: ``sub`` by ``new_sub``, each of ``names`` by ``pseudonym``."""

    sub: str
    names: frozenset[str]
    new_sub: str
    pseudonym: str
    words: str | None = None
    """The marker that replaces the words they wrote (``None``: their words stay)."""

    def replaced(self, value: str) -> str:
        """`value` itself, or its replacement when it is the subject or a name."""
        if value == self.sub:
            return self.new_sub
        return self.pseudonym if value in self.names else value


def erase_identity(doc: Doc[Any], identity: Identity, *, roots: tuple[str, ...]) -> bytes:
    """Rewrite `identity` under the root maps `roots` of `doc`; the update (``b""``: none)."""
    changed: list[bool] = []
    with doc.transaction():
        before = doc.get_state()
        for name in roots:
            root = doc.get(name, type=Map)
            if identity.words is not None:
                _remove_words(root, identity.sub, identity.words, changed)
            if _map(root, identity, changed):
                raise ValueError(f"root {name!r} has a key naming the person")
    return doc.get_update(before) if changed else b""


def names_of(doc: Doc[Any], sub: str, *, roots: tuple[str, ...]) -> set[str]:
    """The names `sub` bears under `roots`: ``{"sub": sub, "name": N}`` values, and the
    values of map entries keyed by `sub` (an amendment's supporters)."""
    found: set[str] = set()

    def visit(value: Any) -> None:
        if isinstance(value, Map):
            for key in value.keys():
                item = value[key]
                if key == sub and isinstance(item, str):
                    found.add(item)
                visit(item)
        elif isinstance(value, Array):
            for index in range(len(value)):
                visit(value[index])
        elif isinstance(value, Mapping):
            if value.get("sub") == sub and isinstance(value.get("name"), str):
                found.add(value["name"])
            for item in value.values():
                visit(item)
        elif isinstance(value, list | tuple):
            for item in value:
                visit(item)

    for name in roots:
        visit(doc.get(name, type=Map))
    return found


def scrubbed(state: bytes) -> bytes:
    """`state` re-encoded with its deleted content garbage-collected."""
    return doc_from_update(state).get_update()


WORD_FIELDS = ("body", "text", "justification")
"""The fields of an entry (comment, reply, amendment) that hold its author's words."""
SEALED_WORDS = "sealed_body"


def _remove_words(node: Map[Any] | Array[Any], sub: str, marker: str,
                  changed: list[bool]) -> None:
    """Replace by `marker` the words of every entry under `node` whose author is `sub`."""
    if isinstance(node, Map):
        author = node.get("author")
        if isinstance(author, Mapping) and author.get("sub") == sub:
            if SEALED_WORDS in node:  # hidden: its words are sealed, its body empty
                del node[SEALED_WORDS]
                node["body"] = marker
                changed.append(True)
            for field in WORD_FIELDS:
                if isinstance(node.get(field), str) and node[field] not in ("", marker):
                    node[field] = marker
                    changed.append(True)
        children = [node[key] for key in node.keys()]
    else:
        children = [node[index] for index in range(len(node))]
    for child in children:
        if isinstance(child, Map | Array):
            _remove_words(child, sub, marker, changed)


def _map(node: Map[Any], identity: Identity, changed: list[bool]) -> bool:
    """Rewrite `node`'s values; whether it must be rebuilt (a key to rename: a map keeps
    the keys of deleted entries, so only a new map drops the old key)."""
    rebuild = False
    for key in list(node.keys()):
        value = node[key]
        if identity.replaced(key) != key:
            rebuild = True
        elif isinstance(value, Map | Array):
            if _shared(value, identity, changed):
                node[key] = _copy(value, identity)
                changed.append(True)
        else:
            new_value = _plain(value, identity)
            if new_value != value:
                node[key] = new_value
                changed.append(True)
    return rebuild


def _shared(value: Map[Any] | Array[Any], identity: Identity, changed: list[bool]) -> bool:
    if isinstance(value, Map):
        return _map(value, identity, changed)
    for index in range(len(value)):
        item = value[index]
        if isinstance(item, Map | Array):
            if _shared(item, identity, changed):
                del value[index]
                value.insert(index, _copy(item, identity))
                changed.append(True)
            continue
        new_item = _plain(item, identity)
        if new_item != item:
            del value[index]
            value.insert(index, new_item)
            changed.append(True)
    return False


def _copy(value: Any, identity: Identity) -> Any:
    """A new shared value holding `value`'s content, rewritten (before it is deleted)."""
    if isinstance(value, Map):
        return Map({identity.replaced(k): _copy(value[k], identity) for k in value.keys()})
    if isinstance(value, Array):
        return Array([_copy(value[i], identity) for i in range(len(value))])
    return _plain(value, identity)


def _plain(value: Any, identity: Identity) -> Any:
    if isinstance(value, str):
        return identity.replaced(value)
    if isinstance(value, Mapping):
        return {identity.replaced(str(k)): _plain(v, identity) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v, identity) for v in value]
    return value
