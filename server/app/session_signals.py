"""Raised hands over the Hocuspocus stateless channel, beside the API.

A page connected with Tiptap's provider may send, on a text document or its annotations
companion, the stateless payload ``{"event": "palabre.session.hand", "action": "raise" |
"lower"}``: the hand of the sender is raised or lowered in the document's open session,
with the same rights as ``POST|DELETE .../sessions/{n}/hands`` (`Action.RAISE_HAND`), and
the sender is answered ``{"event": "palabre.session.queue", "hands", "floor"}`` or
``{"event": "palabre.session.error", "error", "detail"}``. The queue itself reaches every
page through the ``session`` map. Any other payload goes to the configured stateless hook.
"""

from __future__ import annotations

import inspect
import json

from crdt.doc_id import ANNOTATIONS_SUFFIX
from server.access.permissions import Action, require
from server.errors import Invalid, PalabreError
from server.http.errors import translated
from server.http.sessions import live_json
from server.modules.sessions import SessionsService
from server.sync.stateless import StatelessEvent, StatelessHook
from storage.base import StorageError
from storage.catalog import DocumentCatalog

HAND_EVENT = "palabre.session.hand"


def session_signals(
    sessions: SessionsService, catalog: DocumentCatalog, fallback: StatelessHook | None,
) -> StatelessHook:
    """The stateless hook: hands for the sessions service, the rest to `fallback`."""

    async def hook(event: StatelessEvent) -> None:
        request = _hand_request(event.payload)
        if request is None:
            if fallback is not None:
                result = fallback(event)
                if inspect.isawaitable(result):
                    await result
            return
        try:
            queue = await _hand(sessions, catalog, event, request)
            event.reply(json.dumps({"event": "palabre.session.queue", **queue},
                                   ensure_ascii=False))
        except (PalabreError, StorageError) as exc:
            error = translated(exc)
            code, detail = ((error.error, error.detail) if isinstance(error, PalabreError)
                            else ("internal", str(exc)))
            event.reply(json.dumps({"event": "palabre.session.error", "error": code,
                                    "detail": detail}, ensure_ascii=False))

    return hook


def _hand_request(payload: str) -> str | None:
    """The action of a hand request (``""`` for a malformed one), or ``None``: not one."""
    if HAND_EVENT not in payload:
        return None
    try:
        data = json.loads(payload)
    except ValueError:
        return None
    if not isinstance(data, dict) or data.get("event") != HAND_EVENT:
        return None
    action = data.get("action")
    return action if action in ("raise", "lower") else ""


async def _hand(
    sessions: SessionsService, catalog: DocumentCatalog, event: StatelessEvent, action: str,
) -> dict[str, object]:
    if not action:
        raise Invalid("'action' must be 'raise' or 'lower'")
    principal = event.sender
    if principal is None:
        raise Invalid("a hand needs an authenticated sender")
    doc_id = event.document.removesuffix(ANNOTATIONS_SUFFIX)
    meta = await catalog.get_document(doc_id)
    require(principal, Action.RAISE_HAND, doc_id, doc_is_public=meta.is_public)
    session = str((await sessions.current(doc_id)).number)
    if action == "raise":
        live = await sessions.raise_hand(doc_id, principal, session)
    else:
        live = await sessions.lower_hand(doc_id, principal, session, sub=principal.sub)
    return live_json(live)
