"""JSON text of data documents' items, kept while their values stay the same.

A data document's JSON (`crdt.data.JsonMirror`) changes by its items: an item that did
not change is the very same object in the next version. `JsonPieces` keeps the text of
each item it wrote, keyed by the object's identity, so a view of the next version
encodes only the items that changed. The texts are those of `to_text`.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

_ENCODE = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode


def to_text(value: object) -> str:
    """`value` as compact JSON text (UTF-8 characters kept, no NaN)."""
    return _ENCODE(value)


class IdentityMemo:
    """Values derived from objects, kept while the very same object is asked about again.

    Each entry holds its object, so an identity is never reused while its entry lives;
    `forget` lets go of an object replaced in a newer version.
    """

    def __init__(self) -> None:
        self._kept: dict[int, tuple[object, Any]] = {}

    def get(self, value: object, derive: Callable[[Any], Any]) -> Any:
        """`derive(value)`, computed once per object."""
        hit = self._kept.get(id(value))
        if hit is not None and hit[0] is value:
            return hit[1]
        derived = derive(value)
        self._kept[id(value)] = (value, derived)
        return derived

    def forget(self, value: object) -> Any:
        """Forget `value`; what was derived from it (None if nothing)."""
        hit = self._kept.get(id(value))
        if hit is None or hit[0] is not value:
            return None
        del self._kept[id(value)]
        return hit[1]

    def __len__(self) -> int:
        return len(self._kept)


class JsonPieces:
    """The ``"key":value`` JSON texts of items in UTF-8, encoded once per object and key
    (bytes: joining them is a copy, whatever characters they hold)."""

    def __init__(self) -> None:
        self._pieces: dict[int, tuple[object, str, bytes]] = {}

    def piece(self, key: str, item: object) -> bytes:
        """``"key":item`` as JSON text in UTF-8."""
        hit = self._pieces.get(id(item))
        if hit is not None and hit[0] is item and hit[1] == key:
            return hit[2]
        piece = (to_text(key) + ":" + to_text(item)).encode()
        self._pieces[id(item)] = (item, key, piece)
        return piece

    def forget(self, item: object) -> None:
        """Forget the text of `item` (replaced in a newer version)."""
        hit = self._pieces.get(id(item))
        if hit is not None and hit[0] is item:
            del self._pieces[id(item)]

    def __len__(self) -> int:
        return len(self._pieces)
