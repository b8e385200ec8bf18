"""Agenda feeds: fetch each configured iCalendar URL and merge it into its agenda document.

Feeds are listed in the agenda document itself (``feeds``, set by moderators). The
importer runs every ``agenda_poll_seconds`` over every agenda document, and on demand
(``POST /api/documents/{id}/agenda/import``). A feed that cannot be fetched or parsed
keeps its events as they were and records ``last_error``; the others still import.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from functools import partial
from typing import Any

import anyio
import httpx
from pycrdt import Doc

from crdt.agenda import feed_patch, parse_feed
from crdt.data import Json, JsonObject, apply_merge_patch, merge_patch, read_data
from crdt.errors import SchemaError
from crdt.schemas import validate
from server.errors import Overloaded
from server.modules.data_documents import now_iso
from server.rooms.hub import Hub
from server.settings import Settings
from storage.base import StorageUnavailable
from storage.catalog import DocumentCatalog

log = logging.getLogger("palabre.agenda")

MAX_FEED_BYTES = 5 * 1024 * 1024
_PAGE = 200


class AgendaImporter:
    """Imports the iCalendar feeds of agenda documents, on a schedule and on demand."""

    def __init__(self, settings: Settings, hub: Hub, catalog: DocumentCatalog) -> None:
        self._settings = settings
        self._hub = hub
        self._catalog = catalog

    @asynccontextmanager
    async def running(self) -> AsyncIterator[None]:
        """Poll every agenda on the configured schedule while the app runs."""
        if self._settings.agenda_poll_seconds <= 0:
            yield
            return
        async with anyio.create_task_group() as tg:
            tg.start_soon(self._poll_forever)
            try:
                yield
            finally:
                tg.cancel_scope.cancel()

    async def _poll_forever(self) -> None:
        while True:
            await anyio.sleep(self._settings.agenda_poll_seconds)
            try:
                for doc_id in await self._agendas():
                    await self.import_feeds(doc_id)
            except (StorageUnavailable, Overloaded) as exc:
                log.warning("agenda import skipped: %s", exc)

    async def _agendas(self) -> list[str]:
        found: list[str] = []
        after: str | None = None
        while True:
            page = await self._catalog.list_documents(limit=_PAGE, after=after)
            found += [m.doc_id for m in page if m.kind == "data" and m.schema == "agenda"]
            if len(page) < _PAGE:
                return found
            after = page[-1].doc_id

    async def import_feeds(self, doc_id: str) -> dict[str, JsonObject]:
        """Fetch every feed of the agenda `doc_id` and merge it; a report per feed.

        Raises:
            Overloaded, StorageUnavailable: the document cannot be loaded or written.
        """
        room = await self._hub.room(doc_id)
        feeds = read_data(room.doc).get("feeds")
        report: dict[str, JsonObject] = {}
        if not isinstance(feeds, dict):
            return report
        fetched: dict[str, tuple[dict[str, JsonObject] | None, str | None]] = {}
        async with httpx.AsyncClient(
            timeout=self._settings.agenda_fetch_timeout_seconds, follow_redirects=True
        ) as client:
            for feed_id, feed in feeds.items():
                if isinstance(feed, dict) and isinstance(feed.get("url"), str):
                    fetched[feed_id] = await _fetch(client, feed)
        at = now_iso()
        for feed_id, (events, error) in fetched.items():
            outcome = await self._hub.transform(
                doc_id, partial(_merge, feed_id=feed_id, events=events, error=error, at=at),
                principal=None,
            )
            report[feed_id] = outcome
            if error:
                log.warning("agenda feed %s failed: %s", feed_id, error,
                            extra={"doc_id": doc_id})
        return report


async def _fetch(
    client: httpx.AsyncClient, feed: dict[str, Json]
) -> tuple[dict[str, JsonObject] | None, str | None]:
    url, organisation = str(feed["url"]), str(feed.get("organisation") or "")
    try:
        body = bytearray()
        async with client.stream("GET", url) as response:
            if response.status_code != 200:
                return None, f"HTTP {response.status_code}"
            async for chunk in response.aiter_bytes():
                body += chunk
                if len(body) > MAX_FEED_BYTES:
                    return None, f"feed larger than {MAX_FEED_BYTES} bytes"
        return parse_feed(bytes(body), organisation=organisation), None
    except httpx.HTTPError as exc:
        return None, f"{type(exc).__name__}: {exc}"[:500]
    except SchemaError as exc:
        return None, str(exc)[:500]


def _merge(
    doc: Doc[Any], *, feed_id: str, events: dict[str, JsonObject] | None, error: str | None,
    at: str,
) -> JsonObject:
    """Merge one feed's events (or its failure) into the agenda; what changed."""
    data = read_data(doc)
    feeds = data.get("feeds")
    if not isinstance(feeds, dict) or feed_id not in feeds:
        return {"error": "feed removed meanwhile"}
    status: JsonObject = {"last_import": at, "last_error": error}
    patch: JsonObject = {} if events is None else feed_patch(data, feed_id, events, at=at)
    patch["feeds"] = {feed_id: status}
    changed = patch.get("events")
    try:
        result = merge_patch(data, patch)
        validate("agenda", result)
    except SchemaError as exc:
        patch = {"feeds": {feed_id: {**status, "last_error": str(exc)[:500]}}}
        changed, error = {}, str(exc)[:500]
    apply_merge_patch(doc, patch)
    return {"changed": len(changed) if isinstance(changed, dict) else 0, "error": error}
