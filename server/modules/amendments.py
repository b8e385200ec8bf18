"""Amendments as transactions: propose, support, withdraw, accept, reject, rebase.

The live state is the ``amendments`` map of ``D.annotations`` (`crdt.amendments`), written
here only, through `Hub.transform` (committed, then relayed to every open page). Who may
act is `server.access.permissions`' (the document's freeze and whether amendments are
open are read here and handed to it); the author's own rights (withdraw, rebase) are
checked here. Every transition is audited and sent to webhooks as ``amendment.*``.

Accepting writes into the live text as the server peer, as the smallest word-level
change (`crdt.amend_text`). When the words it changes were changed since its base, the
amendment is *outdated*: nothing is written, the map says so, and its author or a
facilitator may rebase it onto the current wording. After each write the ``outdated``
flag of every open amendment is brought up to date.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from pycrdt import Doc

from crdt import amendments as live
from crdt.amend_text import Applied, Kind, TargetGone, apply_amendment, block_wording
from crdt.amend_text import check_amendment as check_text
from crdt.amendments import Amendment, AmendmentWrite, State
from crdt.doc_id import ANNOTATIONS_SUFFIX
from crdt.errors import SchemaError
from crdt.schema import JsonValue
from crdt.worddiff import Outdated
from server.access.auth import Principal
from server.access.permissions import Action, is_allowed, require
from server.errors import Conflict, Forbidden, Invalid, NotFound
from server.events import WebhookEvent
from server.limits import Limits
from server.modules.governance import Governance, Notify
from server.rooms.hub import Hub

log = logging.getLogger("palabre.amendments")

_EVENTS: dict[State, WebhookEvent] = {
    "submitted": WebhookEvent.AMENDMENT_SUBMITTED,
    "withdrawn": WebhookEvent.AMENDMENT_WITHDRAWN,
    "evaluating": WebhookEvent.AMENDMENT_EVALUATING,
    "accepted": WebhookEvent.AMENDMENT_ACCEPTED,
    "rejected": WebhookEvent.AMENDMENT_REJECTED,
}


@dataclass(frozen=True, slots=True, kw_only=True)
class Standing:
    """An amendment with what the live text says of it now."""

    amendment: Amendment
    now: str | None
    """The target's current wording (``None``: the block is gone)."""
    is_outdated: bool


class AmendmentOutdated(Conflict):
    """The words an amendment changes were changed since its base: rebase it first."""


class Amendments:
    """The amendments of text documents, applied through the hub."""

    def __init__(
        self, hub: Hub, governance: Governance, notify: Notify, limits: Limits
    ) -> None:
        self._hub = hub
        self._governance = governance
        self._notify = notify
        self._limits = limits

    # -- reading -------------------------------------------------------------------------

    async def list(self, doc_id: str, *, paragraph_id: str | None = None) -> list[Standing]:
        """Every amendment of `doc_id`, with whether it still applies to the live text."""
        found = live.list_amendments(await self._companion(doc_id), paragraph_id=paragraph_id)
        text = (await self._hub.room(doc_id)).doc
        return [self._standing(text, a) for a in found]

    async def get(self, doc_id: str, amendment_id: str) -> Standing:
        """One amendment of `doc_id`.

        Raises:
            NotFound: no such amendment.
        """
        amendment = _found(await self._companion(doc_id), amendment_id)
        return self._standing((await self._hub.room(doc_id)).doc, amendment)

    async def is_open(self, doc_id: str) -> bool:
        """Whether amendments to `doc_id` are open (to citizens, and when frozen)."""
        return live.is_open(await self._companion(doc_id))

    # -- writing -------------------------------------------------------------------------

    async def propose(
        self, doc_id: str, principal: Principal, *, paragraph_id: str, kind: Kind,
        text: str, justification: str, is_public: bool,
    ) -> Amendment:
        """Submit an amendment against the target's current wording.

        Raises:
            Forbidden: the caller may not propose here now (role, freeze, not open).
            Invalid: no such block, a ``replace`` of a list, a proposal equal to the
                wording, or the caller's quota of amendments is used up.
        """
        freeze = await self._governance.archive.get_freeze(doc_id)
        companion = await self._companion(doc_id)
        require(principal, Action.PROPOSE_AMENDMENT, doc_id, doc_is_public=is_public,
                doc_is_frozen=freeze.frozen, amendments_open=live.is_open(companion))
        mine = [a for a in live.list_amendments(companion) if a.author_sub == principal.sub]
        if len(mine) >= self._limits.amendments_per_person:
            raise Invalid(f"at most {self._limits.amendments_per_person} amendments per "
                          "person on one document")
        doc = (await self._hub.room(doc_id)).doc
        base = block_wording(doc, paragraph_id)
        if base is None:
            raise Invalid(f"document {doc_id!r} has no paragraph {paragraph_id!r}")
        try:
            check_text(doc, paragraph_id=paragraph_id, kind=kind, base=base, text=text)
        except SchemaError as exc:
            raise Invalid(str(exc)) from exc
        if kind == "replace" and text == base:
            raise Invalid("the proposed wording is the current one")
        written = await self._write(doc_id, principal, lambda d: live.add_amendment(
            d, paragraph_id=paragraph_id, kind=kind, text=text, base=base,
            justification=justification, author_sub=principal.sub, author_name=principal.name,
        ))
        await self._tell(doc_id, principal, "submitted", written.amendment)
        return written.amendment

    async def support(
        self, doc_id: str, principal: Principal, amendment_id: str, *, supported: bool,
        is_public: bool,
    ) -> Amendment:
        """Support an open amendment once, or take the support back.

        Raises:
            Forbidden: the role may not support. NotFound: no such amendment.
            Conflict: the amendment is decided or withdrawn.
        """
        require(principal, Action.SUPPORT_AMENDMENT, doc_id, doc_is_public=is_public)
        amendment = _found(await self._companion(doc_id), amendment_id)
        if amendment.state not in live.OPEN_STATES:
            raise Conflict(f"amendment {amendment_id!r} is {amendment.state}")
        written = await self._write(doc_id, principal, lambda d: live.set_support(
            d, amendment_id, principal.sub, principal.name, supported=supported))
        return written.amendment

    async def withdraw(self, doc_id: str, principal: Principal, amendment_id: str) -> Amendment:
        """The author withdraws a submitted amendment.

        Raises:
            Forbidden: not its author. NotFound, Conflict: see `support`.
        """
        amendment = _found(await self._companion(doc_id), amendment_id)
        if amendment.author_sub != principal.sub:
            raise Forbidden("only its author may withdraw an amendment")
        return await self._move(doc_id, principal, amendment_id, "withdrawn")

    async def reject(
        self, doc_id: str, principal: Principal, amendment_id: str, *, reason: str,
        is_public: bool, tally: JsonValue = None,
    ) -> Amendment:
        """A facilitator (or a vote) rejects an open amendment, with a reason.

        Raises:
            Forbidden, NotFound, Conflict: see `support`.
        """
        require(principal, Action.DECIDE_AMENDMENT, doc_id, doc_is_public=is_public)
        return await self._move(doc_id, principal, amendment_id, "rejected",
                                reason=reason, tally=tally)

    async def evaluate(
        self, doc_id: str, principal: Principal, amendment_id: str, *, vote_id: str,
    ) -> Amendment:
        """Put an amendment to a vote (``evaluating``); the caller checked the right."""
        return await self._move(doc_id, principal, amendment_id, "evaluating", vote_id=vote_id)

    async def reopen(
        self, doc_id: str, principal: Principal, amendment_id: str, *, tally: JsonValue,
    ) -> Amendment:
        """Back to ``submitted`` after a vote that decided nothing (no quorum)."""
        return await self._move(doc_id, principal, amendment_id, "submitted", tally=tally)

    async def accept(
        self, doc_id: str, principal: Principal, amendment_id: str, *, is_public: bool,
        tally: JsonValue = None,
    ) -> Amendment:
        """Accept an open amendment: its wording goes into the live text, then its state.

        Raises:
            Forbidden: not a facilitator, or the text is frozen.
            NotFound: no such amendment. Conflict: it is decided or withdrawn.
            AmendmentOutdated: its words changed since its base (marked outdated).
        """
        freeze = await self._governance.archive.get_freeze(doc_id)
        require(principal, Action.APPLY_AMENDMENT, doc_id, doc_is_public=is_public,
                doc_is_frozen=freeze.frozen)
        amendment = _found(await self._companion(doc_id), amendment_id)
        if amendment.state not in live.OPEN_STATES:
            raise Conflict(f"amendment {amendment_id!r} is {amendment.state}")
        new_id = f"p-am-{uuid.uuid4().hex[:12]}"
        try:
            applied: Applied = await self._hub.transform(
                doc_id, lambda d: apply_amendment(
                    d, paragraph_id=amendment.paragraph_id, kind=amendment.kind,
                    base=amendment.base, text=amendment.text, new_id=new_id,
                ), principal=principal.sub)
        except (Outdated, TargetGone) as exc:
            await self._refresh(doc_id, principal)
            raise AmendmentOutdated(f"amendment {amendment_id!r} is outdated: {exc}; "
                                    "rebase it") from exc
        accepted = await self._move(doc_id, principal, amendment_id, "accepted",
                                    tally=tally, new_block_id=applied.new_block_id)
        await self._refresh(doc_id, principal)
        return accepted

    async def rebase(
        self, doc_id: str, principal: Principal, amendment_id: str, *, text: str | None,
        is_public: bool,
    ) -> Amendment:
        """Write the amendment again against the target's current wording (same id,
        same supports); `text` replaces the proposal when given.

        Raises:
            Forbidden: neither its author nor a facilitator.
            NotFound, Conflict: see `support`. Invalid: the block is gone.
        """
        amendment = _found(await self._companion(doc_id), amendment_id)
        if amendment.author_sub != principal.sub and not is_allowed(
                principal, Action.DECIDE_AMENDMENT, doc_id, doc_is_public=is_public):
            raise Forbidden("only its author or a facilitator may rebase an amendment")
        if amendment.state not in live.OPEN_STATES:
            raise Conflict(f"amendment {amendment_id!r} is {amendment.state}")
        now = block_wording((await self._hub.room(doc_id)).doc, amendment.paragraph_id)
        if now is None:
            raise Invalid(f"paragraph {amendment.paragraph_id!r} is gone: withdraw or reject")
        written = await self._write(doc_id, principal, lambda d: live.change(
            d, amendment_id, fields={
                "base": now, "text": text if text is not None else amendment.text,
                "outdated": False, "rebased": amendment.rebased + 1,
            }))
        await self._record(doc_id, principal, WebhookEvent.AMENDMENT_REBASED, written.amendment)
        await self._refresh(doc_id, principal)
        return written.amendment

    async def set_open(
        self, doc_id: str, principal: Principal, value: bool, *, is_public: bool
    ) -> None:
        """Open (or close) amendments to citizens and on a frozen text.

        Raises:
            Forbidden: not a facilitator.
        """
        require(principal, Action.DECIDE_AMENDMENT, doc_id, doc_is_public=is_public)
        await self._hub.transform(doc_id + ANNOTATIONS_SUFFIX,
                                  lambda d: live.set_open(d, value), principal=principal.sub)
        await self._governance.record(doc_id, "amendments.opened" if value
                                      else "amendments.closed", principal, {})

    # -- inside --------------------------------------------------------------------------

    async def _move(
        self, doc_id: str, principal: Principal, amendment_id: str, state: State,
        **fields: JsonValue,
    ) -> Amendment:
        try:
            written = await self._write(doc_id, principal, lambda d: live.change(
                d, amendment_id, state=state, fields=dict(fields)))
        except live.BadTransition as exc:
            raise Conflict(str(exc)) from exc
        await self._tell(doc_id, principal, state, written.amendment)
        return written.amendment

    async def _refresh(self, doc_id: str, principal: Principal) -> None:
        """Bring the ``outdated`` flag of every open amendment up to date."""
        standing = await self.list(doc_id)
        stale = [(s.amendment.id, s.is_outdated) for s in standing
                 if s.amendment.state in live.OPEN_STATES
                 and s.amendment.outdated != s.is_outdated]
        if not stale:
            return

        def write(doc: Doc[Any]) -> None:
            for amendment_id, flag in stale:
                live.change(doc, amendment_id, fields={"outdated": flag})

        await self._hub.transform(doc_id + ANNOTATIONS_SUFFIX, write, principal=principal.sub)

    async def _tell(
        self, doc_id: str, principal: Principal, state: State, amendment: Amendment
    ) -> None:
        await self._record(doc_id, principal, _EVENTS[state], amendment)

    async def _record(
        self, doc_id: str, principal: Principal, event: WebhookEvent, amendment: Amendment
    ) -> None:
        detail: dict[str, object] = {
            "amendment_id": amendment.id, "paragraph_id": amendment.paragraph_id,
            "kind": amendment.kind, "state": amendment.state,
        }
        if amendment.reason is not None:
            detail["reason"] = amendment.reason
        await self._governance.record(doc_id, event.value, principal, detail)
        self._notify(event, doc_id, detail)

    async def _write(
        self, doc_id: str, principal: Principal, change: Callable[[Doc[Any]], AmendmentWrite]
    ) -> AmendmentWrite:
        return await self._hub.transform(doc_id + ANNOTATIONS_SUFFIX, change,
                                         principal=principal.sub)

    async def _companion(self, doc_id: str) -> Doc[Any]:
        return (await self._hub.room(doc_id + ANNOTATIONS_SUFFIX)).doc

    @staticmethod
    def _standing(text: Doc[Any], amendment: Amendment) -> Standing:
        now = block_wording(text, amendment.paragraph_id)
        if amendment.state not in live.OPEN_STATES:
            return Standing(amendment=amendment, now=now, is_outdated=False)
        try:
            check_text(text, paragraph_id=amendment.paragraph_id, kind=amendment.kind,
                       base=amendment.base, text=amendment.text)
        except SchemaError:
            return Standing(amendment=amendment, now=now, is_outdated=True)
        return Standing(amendment=amendment, now=now, is_outdated=False)


def _found(doc: Doc[Any], amendment_id: str) -> Amendment:
    try:
        return live.get_amendment(doc, amendment_id)
    except live.AmendmentNotFound as exc:
        raise NotFound(str(exc)) from exc


def decided(standing: Sequence[Standing]) -> list[Amendment]:
    """The accepted and rejected amendments among `standing` (for adoption records)."""
    return [s.amendment for s in standing if s.amendment.state in ("accepted", "rejected")]
