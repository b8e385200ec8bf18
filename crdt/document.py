"""Yjs update helpers over pycrdt: validation, merging, state vectors."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pycrdt import Doc, get_state, merge_updates

from crdt.errors import InvalidUpdate, ProtocolError
from crdt.protocol import EMPTY_UPDATE, Reader


def update_state_vector(update: bytes) -> bytes:
    """Return the state vector an update brings a document up to; this also validates it.

    Raises:
        InvalidUpdate: the bytes do not decode as a Yjs v1 update.
    """
    try:
        return get_state(update)
    except ValueError as exc:
        raise InvalidUpdate(str(exc)) from exc


def is_empty_update(update: bytes) -> bool:
    """Whether the update carries no change at all."""
    return update == EMPTY_UPDATE


def merge(updates: Sequence[bytes]) -> bytes:
    """Merge updates into one (the identity for one update).

    Raises:
        InvalidUpdate: one of them does not decode.
    """
    if len(updates) == 1:
        return updates[0]
    if not updates:
        return EMPTY_UPDATE
    try:
        return merge_updates(*updates)
    except ValueError as exc:
        raise InvalidUpdate(str(exc)) from exc


def doc_from_update(update: bytes) -> Doc[Any]:
    """Build a fresh pycrdt Doc holding `update`.

    Raises:
        InvalidUpdate: the update cannot be applied.
    """
    doc: Doc[Any] = Doc()
    apply(doc, update)
    return doc


def apply(doc: Doc[Any], update: bytes) -> None:
    """Apply an update to a document.

    Raises:
        InvalidUpdate: the update cannot be applied.
    """
    if is_empty_update(update):
        return
    try:
        doc.apply_update(update)
    except ValueError as exc:
        raise InvalidUpdate(str(exc)) from exc


def decode_state_vector(state_vector: bytes) -> dict[int, int]:
    """Decode a Yjs state vector into ``{client_id: next_clock}``.

    Raises:
        InvalidUpdate: the bytes are not a state vector.
    """
    reader = Reader(state_vector)
    try:
        count = reader.varuint()
        clocks = {}
        for _ in range(count):
            client_id = reader.varuint()
            clocks[client_id] = reader.varuint()
        reader.expect_end()
    except ProtocolError as exc:
        raise InvalidUpdate(f"bad state vector: {exc}") from exc
    return clocks
