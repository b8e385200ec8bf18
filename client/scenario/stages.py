"""The end of a session: every client converged, then the stage archived and read back."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import anyio

from client.api import JsonObject
from client.errors import SessionError
from client.scenario._api import SNAPSHOT_FORMATS, AssemblyApi, SnapshotFormat
from client.scenario.member import Member
from client.session import Session
from crdt.convert import to_json
from crdt.document import decode_state_vector

CONVERGE_TIMEOUT = 120.0


def stage_name(session_no: int, sessions: int) -> str:
    """The stage a session belongs to, as in the Nancy assembly's cycle."""
    if session_no == 1:
        return "premier jet"
    if session_no <= max(2, (sessions + 1) // 2):
        return "auditions"
    return "finalisation"


@dataclass(frozen=True, slots=True, kw_only=True)
class SnapshotRecord:
    """A snapshot as it read right after it was taken: digests of every format."""

    meta: JsonObject
    session_no: int | None
    digests: dict[SnapshotFormat, str]
    blocks: list[JsonObject]

    @property
    def snapshot_id(self) -> str:
        """The snapshot's id."""
        return str(self.meta["id"])


@dataclass(slots=True)
class Archive:
    """Every snapshot the run took, in order, as first read back."""

    records: list[SnapshotRecord] = field(default_factory=list)

    async def keep(
        self, api: AssemblyApi, doc_id: str, meta: JsonObject, *, session_no: int | None
    ) -> SnapshotRecord:
        """Read a new snapshot back in every format and remember what it said.

        Raises:
            ApiError: the server refused a read.
        """
        contents = await read_formats(api, doc_id, str(meta["id"]))
        record = SnapshotRecord(
            meta=meta, session_no=session_no,
            digests={fmt: hashlib.sha256(body).hexdigest() for fmt, body in contents.items()},
            blocks=json.loads(contents["json"])["blocks"],
        )
        self.records.append(record)
        return record


async def read_formats(api: AssemblyApi, doc_id: str, snapshot_id: str) -> dict[
        SnapshotFormat, bytes]:
    """A snapshot's content in every format.

    Raises:
        ApiError: the server refused a read.
    """
    return {fmt: await api.snapshot_content(doc_id, snapshot_id, fmt) for fmt in SNAPSHOT_FORMATS}


def state_vector(session: Session) -> dict[int, int]:
    """What a session's document has seen: next clock by Yjs client."""
    return decode_state_vector(session.doc.get_state())


async def converge(
    sessions: Sequence[Session], members: Sequence[Member], session_no: int,
    api: AssemblyApi, doc_id: str,
) -> tuple[bool, str]:
    """Wait until every session holds every edit any of them made; then compare texts.

    Each session must end with the same blocks (ids and text) as the others and as the
    server's live text, and each member's paragraph must read as the member left it.
    """
    try:
        with anyio.fail_after(CONVERGE_TIMEOUT):
            for session in sessions:
                await session.flushed()
            target: dict[int, int] = {}
            for session in sessions:
                for client, clock in state_vector(session).items():
                    target[client] = max(clock, target.get(client, 0))
            for session in sessions:
                await session.wait_for(partial(_covers, session, target))
    except (TimeoutError, SessionError) as exc:
        return False, f"not every client reached the common state: {exc!r}"
    reference = to_json(sessions[0].doc)
    apart = sum(1 for session in sessions[1:] if to_json(session.doc) != reference)
    if apart:
        return False, f"{apart} of {len(sessions)} clients hold another text"
    served = json.loads(await api.get_content(doc_id, "json"))
    if served != reference:
        return False, "the server's live text differs from the clients'"
    blocks = reference["blocks"]
    assert isinstance(blocks, list)
    texts = _texts(blocks)
    lost = [member.name for member in members if session_no in member.expected
            and texts.get(member.expected[session_no][0]) != member.expected[session_no][1]]
    if lost:
        return False, f"paragraphs not as their writers left them: {', '.join(lost[:5])}"
    edits = sum(member.edits for member in members)
    return True, f"{len(sessions)} clients, {len(blocks)} blocks, {edits} edits so far"


def _covers(session: Session, target: dict[int, int]) -> bool:
    have = state_vector(session)
    return all(have.get(client, 0) >= clock for client, clock in target.items())


def _texts(blocks: Any) -> dict[str, str]:
    return {str(block["id"]): str(block["text"]) for block in blocks}
