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
