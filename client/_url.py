"""Building the socket URL of a document from a server base URL."""

from __future__ import annotations

from urllib.parse import quote, urlencode, urlsplit, urlunsplit

_SCHEMES = {"http": "ws", "https": "wss", "ws": "ws", "wss": "wss"}


def socket_url(base_url: str, doc_id: str, token: str | None = None) -> str:
    """Return ``{base}/ws/{doc_id}`` with a ws(s) scheme and ``?token=`` when given.

    Raises:
        ValueError: the base URL's scheme is not http, https, ws or wss.
    """
    parts = urlsplit(base_url)
    scheme = _SCHEMES.get(parts.scheme.lower())
    if scheme is None or not parts.netloc:
        raise ValueError(f"expected an http(s):// or ws(s):// server URL, got {base_url!r}")
    path = f"{parts.path.rstrip('/')}/ws/{quote(doc_id, safe='')}"
    query = urlencode({"token": token}) if token is not None else ""
    return urlunsplit((scheme, parts.netloc, path, query, ""))


def redact(url: str) -> str:
    """The URL without its query string, for logs (tokens must not be logged)."""
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, parts.path, "", ""))
