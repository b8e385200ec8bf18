"""How tests talk to a running server: HTTP clients, and the text a synced document holds."""

from __future__ import annotations

import httpx
from pycrdt import Doc, Text

from client.session import Session
from tests.conftest import RunningServer

FACILITATOR = "Loïc Ménard"


def http(server: RunningServer, token: str | None = None, *, prefix: str = "") -> httpx.AsyncClient:
    """An HTTP client for `server` (under `prefix`), sending `token` as a bearer when given."""
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return httpx.AsyncClient(base_url=server.url + prefix, headers=headers, timeout=30)


def http_as(
    server: RunningServer, role: str = "facilitator", name: str = FACILITATOR, *,
    prefix: str = "",
) -> httpx.AsyncClient:
    """An HTTP client for `server` acting as `name` with `role`."""
    return http(server, server.token(role, name), prefix=prefix)


def body(source: Session | Doc[Text]) -> Text:
    """The ``body`` text of a session's document (or of a bare `Doc`)."""
    doc = source.doc if isinstance(source, Session) else source
    text: Text = doc.get("body", type=Text)
    return text


def text_of(source: Session | Doc[Text]) -> str:
    """What the ``body`` text of a session's document (or of a bare `Doc`) reads now."""
    return str(body(source))
