"""A pycrdt client editing a Text, recording the updates its own edits make."""

from __future__ import annotations

import time
from typing import Any

from pycrdt import Doc, Text, TransactionEvent

from crdt.document import apply, decode_state_vector, doc_from_update
from storage.base import LogEntry


class Editor:
    """One Yjs client: local edits produce updates; remote updates are applied silently.

    Indices are characters. pycrdt 0.14 hands Text indices to yrs unchanged, and yrs reads
    them as UTF-8 byte offsets (y-crdt/pycrdt#379): past a non-ASCII character a raw
    index lands elsewhere and makes updates other peers cannot integrate. So they are
    converted here.
    """

    def __init__(self, principal: str) -> None:
        self.principal = principal
        self.doc: Doc[Any] = Doc()
        self.text = self.doc.get("text", type=Text)
        self._is_remote = False
        self._made: list[bytes] = []
        self.doc.observe(self._record)

    @property
    def client_id(self) -> int:
        """The Yjs client id of this editor's document."""
        return int(self.doc.client_id)

    def insert(self, index: int, value: str) -> bytes:
        """Insert text at a character index; return the update it made."""
        self.text.insert(self._offset(index), value)
        return self._made.pop()

    def delete(self, start: int, length: int) -> bytes:
        """Delete `length` characters from `start`; return the update it made."""
        del self.text[self._offset(start) : self._offset(start + length)]
        return self._made.pop()

    def _offset(self, index: int) -> int:
        return len(str(self.text)[:index].encode())

    def receive(self, update: bytes) -> None:
        """Apply another client's update."""
        self._is_remote = True
        try:
            apply(self.doc, update)
        finally:
            self._is_remote = False

    def clock(self) -> int:
        """The next clock this editor's own client will use."""
        return decode_state_vector(self.doc.get_state()).get(self.client_id, 0)

    def entry(self, update: bytes) -> LogEntry:
        """A log entry for an update this editor sends."""
        return LogEntry(
            update=update,
            received_at=time.time(),
            connection_id=f"conn-{self.principal}",
            principal=self.principal,
        )

    def _record(self, event: TransactionEvent) -> None:
        if not self._is_remote:
            self._made.append(event.update)


def text_of(update: bytes) -> str:
    """The ``text`` of the document a whole-document update describes."""
    return str(doc_from_update(update).get("text", type=Text))
