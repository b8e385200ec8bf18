"""Sealing hidden comments: their words leave the document everyone reads.

``D.annotations`` is read over the socket by every reader of ``D``, so hiding a comment
by its status alone would still hand its words to each of them. When a moderator hides
a comment (or a reply), the server replaces its body with ``""`` and keeps the words
sealed beside it (`crdt.annotations.SEALED`): AES-256-GCM under a key derived from the
server's secret (HKDF-SHA256), which no client holds. Moderators read the words through
the API; reopening or resolving the comment unseals them into the body again.

Hiding a comment hides its thread: its replies are sealed with it. Threads hidden before
that rule kept their replies' words in the document; `thread_sealer` seals them when the
annotations document is loaded (the hub's `migrate` hook: a server-peer write committed
before any client joins the room), once, since a sealed thread needs nothing more.

Nodes of one deployment share the data folder's secret (their tokens need it too), so
any node opens what another sealed.

The same construction, under another derived key (`WEBHOOK_SECRETS`), keeps webhook
secrets encrypted in the database (`server.access.webhook_secrets`).
"""

from __future__ import annotations

import base64
import os
from collections.abc import Callable
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from pycrdt import Doc

from crdt.annotations import seal_hidden_threads, unsealed_threads
from crdt.doc_id import is_annotations

_INFO = b"palabre: sealed annotation bodies v1"
WEBHOOK_SECRETS = b"palabre: webhook secrets v1"
"""The key-derivation purpose of sealed webhook secrets (a key of their own)."""
_NONCE_BYTES = 12
_PREFIX = "v1:"


class SecretSeal:
    """`crdt.annotations.Seal` under a key derived from the server's secret."""

    def __init__(self, secret: bytes, *, purpose: bytes = _INFO) -> None:
        """A key derived from `secret` for one `purpose` (annotation bodies by default)."""
        key = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=purpose).derive(secret)
        self._aead = AESGCM(key)
        self._purpose = purpose

    def close(self, text: str) -> str:
        """`text` sealed: ``v1:`` then base64 of a random nonce and the ciphertext."""
        nonce = os.urandom(_NONCE_BYTES)
        sealed = self._aead.encrypt(nonce, text.encode("utf-8"), self._purpose)
        return _PREFIX + base64.b64encode(nonce + sealed).decode("ascii")

    @staticmethod
    def is_sealed(text: str) -> bool:
        """Whether `text` has the form `close` gives (opened or not by this key)."""
        return text.startswith(_PREFIX)

    def open(self, sealed: str) -> str | None:
        """The words `sealed` holds; ``None`` if they were sealed under another secret."""
        if not sealed.startswith(_PREFIX):
            return None
        try:
            raw = base64.b64decode(sealed[len(_PREFIX) :], validate=True)
            plain = self._aead.decrypt(raw[:_NONCE_BYTES], raw[_NONCE_BYTES:], self._purpose)
        except (ValueError, InvalidTag):
            return None
        return plain.decode("utf-8")


def thread_sealer(
    seal: SecretSeal,
) -> Callable[[str, Doc[Any]], Callable[[Doc[Any]], object] | None]:
    """The hub's load migration sealing hidden threads (`server.rooms.hooks.Migration`).

    On an annotations document with an unsealed hidden comment or reply (a read-only walk
    of the comments, no decryption), the change that seals them; otherwise ``None``.
    """

    def migrate(doc_id: str, doc: Doc[Any]) -> Callable[[Doc[Any]], object] | None:
        if not is_annotations(doc_id) or not unsealed_threads(doc):
            return None
        return lambda scratch: seal_hidden_threads(scratch, seal)

    return migrate
