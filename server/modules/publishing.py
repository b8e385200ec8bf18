"""Exports and redlines rendered off the event loop, bounded and cached by version.

Rendering a PDF takes CPU seconds (and Markdown of a long text tens of milliseconds):
`Publisher` runs `crdt.publish` and `crdt.convert` in worker threads, at
most ``exports_at_once`` at a time, each within ``export_seconds`` (past it the request
gets 503; the thread is left to finish and its result is cached). A version larger than
``export_state_bytes`` is refused (422). Results are cached in memory by the version's
hash (a snapshot's chain hash, the live state's digest) and format, least recently used
first out, up to ``cache_bytes``.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable

import anyio

from crdt.convert import Format, render
from crdt.document import doc_from_update
from crdt.errors import InvalidUpdate, SchemaError
from crdt.publish import Edition, export, redline
from server.errors import Invalid, Overloaded
from server.limits import Limits

DEFAULT_CACHE_BYTES = 64 * 1024 * 1024


class Publisher:
    """Renders exports and redlines in worker threads; one per app."""

    def __init__(self, limits: Limits, *, cache_bytes: int = DEFAULT_CACHE_BYTES) -> None:
        self._limits = limits
        self._limiter = anyio.CapacityLimiter(max(1, limits.exports_at_once))
        self._cache: OrderedDict[tuple[str, ...], bytes] = OrderedDict()
        self._cache_bytes = cache_bytes
        self._held = 0
        self._lock = threading.Lock()
        """Guards the cache: worker threads store into it."""

    async def export(self, edition: Edition, fmt: str) -> bytes:
        """`edition` rendered as `fmt`.

        Raises:
            Invalid: the version is too large, or `fmt` unknown.
            Overloaded: rendering took too long, or the version does not decode.
        """
        self._check_size(edition)
        return await self._render(("export", edition.key, fmt), lambda: export(edition, fmt))

    async def redline(self, before: Edition, after: Edition, fmt: str) -> bytes:
        """The changes from `before` to `after` rendered as `fmt` (html, docx, pdf).

        Raises:
            Invalid, Overloaded: as `export`.
        """
        self._check_size(before)
        self._check_size(after)
        key = ("redline", before.key, after.key, fmt)
        return await self._render(key, lambda: redline(before, after, fmt))

    async def content(self, version: str, state: bytes, fmt: Format) -> str:
        """A text document's `state` (named `version`) rendered as Markdown, HTML, plain
        text or JSON, in a worker thread, cached by version like the exports.

        Raises:
            Overloaded: rendering took too long, or the state does not decode.
        """
        def work() -> bytes:
            return render(doc_from_update(state), fmt).encode()

        return (await self._render(("content", version, fmt), work)).decode()

    def _check_size(self, edition: Edition) -> None:
        size = len(edition.state)
        if size > self._limits.export_state_bytes:
            raise Invalid(f"this version is {size} bytes: exports take versions of at most "
                          f"{self._limits.export_state_bytes} bytes")

    async def _render(self, key: tuple[str, ...], work: Callable[[], bytes]) -> bytes:
        cached = self._cached(key)
        if cached is not None:
            return cached

        def run() -> bytes:
            # Looked up again once this thread got its turn: a request for the same
            # version that waited behind another one takes its result.
            done = self._cached(key)
            if done is not None:
                return done
            result = work()
            self._store(key, result)  # also when the waiting request timed out
            return result

        seconds = self._limits.export_seconds
        try:
            with anyio.fail_after(seconds):
                return await anyio.to_thread.run_sync(run, abandon_on_cancel=True,
                                                      limiter=self._limiter)
        except TimeoutError as exc:
            raise Overloaded(f"the export took longer than {seconds:g} s; "
                             "retry later (the result is kept when it is ready)") from exc
        except InvalidUpdate as exc:
            raise Overloaded(f"a stored version does not decode: {exc}") from exc
        except SchemaError as exc:
            raise Invalid(str(exc)) from exc
        except (ImportError, OSError) as exc:  # WeasyPrint without Pango on this system
            raise Overloaded(f"this node cannot render {key[-1]}: {exc}") from exc

    def _cached(self, key: tuple[str, ...]) -> bytes | None:
        with self._lock:
            cached = self._cache.get(key)
            if cached is not None:
                self._cache.move_to_end(key)
            return cached

    def _store(self, key: tuple[str, ...], value: bytes) -> None:
        if len(value) > self._cache_bytes // 4:
            return
        with self._lock:
            old = self._cache.pop(key, None)
            if old is not None:
                self._held -= len(old)
            self._cache[key] = value
            self._held += len(value)
            while self._held > self._cache_bytes:
                _, dropped = self._cache.popitem(last=False)
                self._held -= len(dropped)
