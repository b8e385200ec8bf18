"""Structured log lines: ``key=value`` text or one JSON object a line; secrets redacted.

Every line goes through `redact`: ``token=`` values are hidden, and absolute URLs lose
their credentials (``user:password@``) and their query (``?key=…``), where receivers of
webhooks and feeds often put a key.
"""

from __future__ import annotations

import json
import logging
import re
import time

_CONTEXT_FIELDS = ("doc_id", "connection_id", "node_id", "principal")
_TOKEN = re.compile(r"(token=)[^&\s\"']+")
_URL = re.compile(
    r"(?P<scheme>[a-zA-Z][a-zA-Z0-9+.-]*://)(?P<userinfo>[^/?#\s@\"']*@)?"
    r"(?P<rest>[^?#\s\"']*)(?P<query>\?[^#\s\"']*)?(?P<fragment>#[^\s\"']*)?"
)


def safe_url(url: str) -> str:
    """`url` fit for a log: no credentials, query or fragment (``?[redacted]`` if it had one)."""
    return _URL.sub(_strip_url, url)


def _strip_url(match: re.Match[str]) -> str:
    hidden = "?[redacted]" if match["query"] or match["fragment"] else ""
    return f"{match['scheme']}{match['rest']}{hidden}"


def redact(text: str) -> str:
    """Hide every ``token=`` value, and the credentials and query of every absolute URL."""
    return _TOKEN.sub(r"\1[redacted]", safe_url(text))


class _Formatter(logging.Formatter):
    def __init__(self, *, as_json: bool) -> None:
        super().__init__()
        self._as_json = as_json

    def format(self, record: logging.LogRecord) -> str:
        message = redact(record.getMessage())
        context = {k: getattr(record, k) for k in _CONTEXT_FIELDS if hasattr(record, k)}
        if self._as_json:
            payload: dict[str, object] = {
                "time": round(record.created, 3),
                "level": record.levelname.lower(),
                "logger": record.name,
                "message": message,
                **context,
            }
            if record.exc_info:
                payload["traceback"] = self.formatException(record.exc_info)
            return json.dumps(payload, ensure_ascii=False)
        stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
        extras = "".join(f" {k}={v}" for k, v in context.items())
        line = f"{stamp} {record.levelname:<7} {record.name}: {message}{extras}"
        if record.exc_info:
            line += "\n" + self.formatException(record.exc_info)
        return line


class LogThrottle:
    """At most one line per key every `interval` seconds; the next says how many were skipped.

    What a client can repeat at will (refused sockets, refused messages) is logged through
    one, so a loop of refusals costs neither the event loop's time nor the log's space.
    """

    def __init__(self, interval: float = 10.0, *, size: int = 10_000) -> None:
        self._interval = interval
        self._size = size
        self._last: dict[str, tuple[float, int]] = {}

    def allow(self, key: str) -> int | None:
        """None to skip this line; else how many lines of `key` were skipped before it."""
        now = time.monotonic()
        last = self._last.get(key)
        if last is not None and now - last[0] < self._interval:
            self._last[key] = (last[0], last[1] + 1)
            return None
        if len(self._last) >= self._size:
            self._last = {k: v for k, v in self._last.items() if now - v[0] < self._interval}
        self._last[key] = (now, 0)
        return last[1] if last is not None else 0


class NoHandshakeLines(logging.Filter):
    """Drop uvicorn's line per WebSocket handshake (``"WebSocket /ws/…" [accepted]``, 403):
    one per socket, formatted on the event loop; palabre logs the refusals itself."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not (isinstance(record.msg, str) and '"WebSocket %s"' in record.msg)


def configure_logging(*, log_format: str = "text", level: int = logging.INFO) -> None:
    """Send every log record (uvicorn's included) to stderr in the chosen format."""
    handler = logging.StreamHandler()
    handler.setFormatter(_Formatter(as_json=log_format == "json"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        logger = logging.getLogger(name)
        logger.handlers[:] = []
        logger.propagate = True
    handshakes = logging.getLogger("uvicorn.error")
    if not any(isinstance(f, NoHandshakeLines) for f in handshakes.filters):
        handshakes.addFilter(NoHandshakeLines())
