"""Agenda feeds: fetch each configured iCalendar URL and merge it into its agenda document.

Feeds are listed in the agenda document itself (``feeds``, set by moderators). The
importer runs every ``agenda_poll_seconds`` over every agenda document, and on demand
(``POST /api/documents/{id}/agenda/import``). A feed that cannot be fetched or parsed
keeps its events as they were and records ``last_error``; the others still import.
Recurring events are expanded over a window around the import's time
(``agenda_past_days`` before, ``agenda_future_days`` after; `crdt.agenda.Window`), one
event per occurrence, at most ``limits.data_entries_per_collection`` per feed.

Feeds are fetched through the outbound policy (`server.access.outbound`): public
addresses only, unless the operator allows a host; each redirect hop is checked again.
Every reader of the agenda sees ``last_error`` (it is in the document), so it only says
`FEED_ERROR`; the detail (an HTTP status, a refused address, a parse error quoting the
page) goes to moderators: in the import report, and over `with_details` for their reads
of the document (the detail of the last import this node ran).
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any

import anyio
import httpx
from pycrdt import Doc

from crdt.agenda import Window, feed_patch, parse_feed
from crdt.data import Json, JsonObject, apply_merge_patch, merge_patch, read_data
from crdt.errors import SchemaError
from crdt.schemas import validate
from server.access.outbound import GuardedTransport, OutboundPolicy
from server.errors import Invalid, Overloaded
from server.logs import redact, safe_url
from server.modules.data_documents import now_iso
from server.rooms.hub import Hub
from server.settings import Settings
from storage.base import StorageUnavailable
from storage.catalog import DocumentCatalog

log = logging.getLogger("palabre.agenda")

MAX_FEED_BYTES = 5 * 1024 * 1024
FEED_ERROR = "the feed could not be fetched"
"""The ``last_error`` every reader sees; moderators get the detail."""
_PAGE = 200


class AgendaImporter:
    """Imports the iCalendar feeds of agenda documents, on a schedule and on demand."""

    def __init__(self, settings: Settings, hub: Hub, catalog: DocumentCatalog) -> None:
        """Raises:
        ValueError: ``outbound_allow`` does not parse."""
        self._settings = settings
        self._hub = hub
        self._catalog = catalog
        self._policy = OutboundPolicy.parse(settings.outbound_allow)
        self._details: dict[tuple[str, str], str] = {}

    def check_feeds(self, patch: JsonObject) -> None:
        """Refuse a patch adding a feed whose host is a refused address literal (a name is
        judged when fetched, by the addresses it resolves to then).

        Raises:
            Invalid: a feed URL names an internal address the operator did not allow.
        """
        feeds = patch.get("feeds")
        for feed_id, feed in (feeds.items() if isinstance(feeds, dict) else ()):
            url = feed.get("url") if isinstance(feed, dict) else None
            problem = self._policy.address_problem(url) if isinstance(url, str) else None
            if problem is not None:
                raise Invalid(f"feeds.{feed_id}.url: {problem}")

    def with_details(self, doc_id: str, data: JsonObject) -> JsonObject:
        """`data` of the agenda `doc_id` with each failed feed's detailed ``last_error``
        (for moderators: it may quote what an address answered)."""
        feeds = data.get("feeds")
        if not isinstance(feeds, dict):
            return data
        shown = dict(feeds)
        for feed_id, feed in feeds.items():
            detail = self._details.get((doc_id, feed_id))
            if isinstance(feed, dict) and feed.get("last_error") and detail is not None:
                shown[feed_id] = {**feed, "last_error": detail}
        return {**data, "feeds": shown}

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

    def window(self, now: datetime) -> Window:
        """The span over which an import at `now` expands recurring events."""
        return Window(
            start=now - timedelta(days=self._settings.agenda_past_days),
            end=now + timedelta(days=self._settings.agenda_future_days),
            max_events=self._settings.limits.data_entries_per_collection,
        )

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
        urls: dict[str, str] = {}
        window = self.window(datetime.now(UTC))
        async with httpx.AsyncClient(
            timeout=self._settings.agenda_fetch_timeout_seconds, follow_redirects=True,
            max_redirects=self._settings.agenda_max_redirects,
            transport=GuardedTransport(self._policy),
        ) as client:
            for feed_id, feed in feeds.items():
                if isinstance(feed, dict) and isinstance(feed.get("url"), str):
                    urls[feed_id] = safe_url(str(feed["url"]))
                    fetched[feed_id] = await _fetch(client, feed, window)
        at = now_iso()
        for feed_id, (events, error) in fetched.items():
            outcome = await self._hub.transform(
                doc_id, partial(_merge, feed_id=feed_id, events=events, error=error, at=at,
                                window=window),
                principal=None,
            )
            detail = outcome.get("error")
            report[feed_id] = outcome
            if isinstance(detail, str) and detail:
                self._details[(doc_id, feed_id)] = detail
                log.warning("agenda feed %s (%s) failed: %s", feed_id, urls[feed_id], detail,
                            extra={"doc_id": doc_id})
            else:
                self._details.pop((doc_id, feed_id), None)
        return report


async def _fetch(
    client: httpx.AsyncClient, feed: dict[str, Json], window: Window
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
        return parse_feed(bytes(body), organisation=organisation, window=window), None
    except httpx.HTTPError as exc:
        return None, redact(f"{type(exc).__name__}: {exc}")[:500]
    except SchemaError as exc:
        return None, str(exc)[:500]


def _merge(
    doc: Doc[Any], *, feed_id: str, events: dict[str, JsonObject] | None, error: str | None,
    at: str, window: Window,
) -> JsonObject:
    """Merge one feed's events (or its failure) into the agenda; what changed."""
    data = read_data(doc)
    feeds = data.get("feeds")
    if not isinstance(feeds, dict) or feed_id not in feeds:
        return {"error": "feed removed meanwhile"}
    status: JsonObject = {"last_import": at, "last_error": error and FEED_ERROR}
    patch: JsonObject = {} if events is None else feed_patch(
        data, feed_id, events, at=at, window=window)
    patch["feeds"] = {feed_id: status}
    changed = patch.get("events")
    try:
        result = merge_patch(data, patch)
        validate("agenda", result)
    except SchemaError as exc:
        patch = {"feeds": {feed_id: {**status, "last_error": FEED_ERROR}}}
        changed, error = {}, str(exc)[:500]
    apply_merge_patch(doc, patch)
    return {"changed": len(changed) if isinstance(changed, dict) else 0, "error": error}
