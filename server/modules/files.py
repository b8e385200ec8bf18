"""Files attached to library resources, kept in the data folder.

A file is stored once under ``<data_dir>/files/<doc_id>/<id>``, its id the SHA-256 of its
bytes; its name, type and size live in the resource (``file``) inside the document, so
they are versioned, archived and live like the rest. Written to a temporary name, then
renamed: a reader never sees half a file. With several nodes, the data folder must be
shared (or the files served by one node).
"""

from __future__ import annotations

import hashlib
import os
import re
import tempfile
from pathlib import Path

CONTENT_TYPE = re.compile(r"[a-z0-9][a-z0-9!#$&^_.+-]{0,126}/[a-z0-9][a-z0-9!#$&^_.+-]{0,126}")
INLINE_TYPES = frozenset({
    "image/png", "image/jpeg", "image/gif", "image/webp", "application/pdf", "text/plain",
    "audio/mpeg", "audio/ogg", "video/mp4", "video/webm",
})
"""Types served inline; every other type is served as an attachment (no HTML, no SVG
rendered from our origin)."""
FILE_ID = re.compile(r"[0-9a-f]{64}")


class FileStore:
    """The files of every document, in one folder."""

    def __init__(self, root: Path) -> None:
        self._root = root

    def save(self, doc_id: str, content: bytes) -> str:
        """Store `content` for `doc_id`; its id. Storing the same bytes again is a no-op.

        Raises:
            OSError: the folder cannot be written.
        """
        file_id = hashlib.sha256(content).hexdigest()
        folder = self._root / doc_id
        folder.mkdir(parents=True, exist_ok=True)
        target = folder / file_id
        if target.exists():
            return file_id
        with tempfile.NamedTemporaryFile(dir=folder, delete=False) as handle:
            handle.write(content)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(handle.name, target)
        return file_id

    def path(self, doc_id: str, file_id: str) -> Path | None:
        """Where a stored file is, or ``None``."""
        if not FILE_ID.fullmatch(file_id):
            return None
        target = self._root / doc_id / file_id
        return target if target.is_file() else None
