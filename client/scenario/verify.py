"""The final checks of a scenario, all through the API (plus the server-side chain check
when the CLI could open the server's database)."""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING

from client.api import JsonObject
from client.scenario._api import AssemblyApi
from client.scenario.stages import read_formats
from crdt.document import decode_state_vector, doc_from_update

if TYPE_CHECKING:
    from client.scenario.runner import Scenario


async def verify_all(run: Scenario, api: AssemblyApi) -> None:
    """Run every check, recording each in ``run.checks``.

    Raises:
        ApiError: the server refused a read.
    """
    await _snapshots_read_back(run, api)
    await _chain_holds(run, api)
    await _stages_listed(run, api)
    _adopted_is_last_snapshot(run)
    await _comments_stay(run, api)
    await _hidden_from_citizens(run)
    await _nothing_lost(run, api)


async def _snapshots_read_back(run: Scenario, api: AssemblyApi) -> None:
    changed: list[str] = []
    for record in run.archive.records:
        contents = await read_formats(api, run.doc_id, record.snapshot_id)
        for fmt, body in contents.items():
            if hashlib.sha256(body).hexdigest() != record.digests[fmt]:
                changed.append(f"#{record.meta['number']} {fmt}")
    count = len(run.archive.records)
    run.checks.record("every snapshot reads back, in every format, as when taken",
                      not changed, f"changed: {', '.join(changed[:8])}" if changed else
                      f"{count} snapshots x md, html, text, json, yjs")


async def _chain_holds(run: Scenario, api: AssemblyApi) -> None:
    listed = await api.list_snapshots(run.doc_id)
    problems: list[str] = []
    if [s["number"] for s in listed] != list(range(1, len(listed) + 1)):
        problems.append("numbers do not run 1, 2, ...")
    previous: str | None = None
    for snapshot in listed:
        number = snapshot["number"]
        if snapshot["previous_hash"] != previous:
            problems.append(f"#{number} does not link to the one before")
        link = hashlib.sha256(((previous or "") + str(snapshot["hash"])).encode()).hexdigest()
        if link != snapshot["chain_hash"]:
            problems.append(f"#{number} chain hash does not match")
        previous = str(snapshot["chain_hash"])
    taken = {record.snapshot_id: record.meta for record in run.archive.records}
    for snapshot in listed:
        meta = taken.get(str(snapshot["id"]))
        if meta is None or (meta["hash"], meta["chain_hash"]) != (snapshot["hash"],
                                                                 snapshot["chain_hash"]):
            problems.append(f"#{snapshot['number']} is not the snapshot taken")
    if len(listed) != len(taken):
        problems.append(f"{len(listed)} snapshots listed, {len(taken)} taken")
    detail = f"{len(listed)} links"
    if run.config.archive_verifier is not None:
        holds, said = await run.config.archive_verifier(run.doc_id)
        detail += f"; server-side: {said}"
        if not holds:
            problems.append(f"server-side verification: {said}")
    run.checks.record("the archive's hash chain verifies", not problems,
                      "; ".join(problems[:5]) if problems else detail)


async def _stages_listed(run: Scenario, api: AssemblyApi) -> None:
    stages = await api.list_stages(run.doc_id)
    expected: dict[str, list[int]] = {}
    for record in run.archive.records:
        expected.setdefault(str(record.meta["stage"]), []).append(int(record.meta["number"]))
    listed = {str(stage["stage"]): [int(s["number"]) for s in stage["snapshots"]]
              for stage in stages}
    ok = listed == expected and list(listed) == list(expected)
    run.checks.record("the stages list every snapshot in order", ok,
                      " -> ".join(f"{name} {numbers}" for name, numbers in listed.items()))


def _adopted_is_last_snapshot(run: Scenario) -> None:
    *sessions, adopted = run.archive.records
    last = sessions[-1] if sessions else None
    ok = (last is not None and adopted.meta.get("adopted") is True
          and adopted.blocks == last.blocks and adopted.digests["md"] == last.digests["md"])
    run.checks.record("the adopted text equals the last session's snapshot", ok,
                      f"adopted #{adopted.meta['number']} vs #{last.meta['number']}"
                      if last else "no session snapshot")


async def _comments_stay(run: Scenario, api: AssemblyApi) -> None:
    stored = {str(a["id"]): a for a in await api.list_annotations(run.doc_id)}
    adopted = {str(b["id"]): str(b["text"]) for b in run.archive.records[-1].blocks}
    wrong: list[str] = []
    moved_on = 0
    for thread in run.discussion.threads:
        found: JsonObject | None = stored.get(thread.annotation_id)
        if found is None:
            wrong.append(f"{thread.annotation_id} missing")
            continue
        if (found["paragraph_id"], found["quote"]) != (thread.paragraph_id, thread.quote):
            wrong.append(f"{thread.annotation_id} not on its paragraph")
        if found["status"] != thread.status or len(found["replies"]) != thread.replies:
            wrong.append(f"{thread.annotation_id} status or replies differ")
        if thread.paragraph_id not in adopted:
            wrong.append(f"{thread.annotation_id}: its paragraph left the text")
        elif adopted[thread.paragraph_id] != thread.text_then:
            moved_on += 1
    wrong += run.discussion.refused
    early = sum(1 for t in run.discussion.threads if t.made_when == "avant-projet")
    if early and run.config.members and not moved_on:
        wrong.append("no comment was made on a paragraph that later changed")
    run.checks.record(
        "every comment is on the paragraph it was made on", not wrong,
        "; ".join(wrong[:5]) if wrong else
        f"{len(run.discussion.threads)} comments, {run.discussion.replies} replies, "
        f"{moved_on} on paragraphs that changed after the comment",
    )


async def _hidden_from_citizens(run: Scenario) -> None:
    if not run.citizens:
        return
    async with AssemblyApi(run.config.url, run.citizens[0].token) as citizen:
        seen = {str(a["id"]) for a in await citizen.list_annotations(run.doc_id)}
    hidden = {t.annotation_id for t in run.discussion.threads if t.status == "hidden"}
    shown = {t.annotation_id for t in run.discussion.threads} - hidden
    moderates = run.config.mint is None  # with one shared token the reader is a facilitator
    ok = moderates or (not (seen & hidden) and shown <= seen)
    run.checks.record("hidden comments are hidden from citizens, the others shown", ok,
                      f"{len(hidden)} hidden, {len(shown)} shown"
                      + (" (not checked: one shared facilitator token)" if moderates else ""))


async def _nothing_lost(run: Scenario, api: AssemblyApi) -> None:
    by_session = {record.session_no: record for record in run.archive.records}
    adopted = run.archive.records[-1]
    final_state = await api.snapshot_content(run.doc_id, adopted.snapshot_id, "yjs")
    reached = decode_state_vector(doc_from_update(final_state).get_state())
    lost: list[str] = []
    checked = 0
    for member in run.members:
        for session_no, (paragraph_id, text) in member.expected.items():
            record = by_session.get(session_no)
            texts = {str(b["id"]): str(b["text"]) for b in record.blocks} if record else {}
            checked += 1
            if texts.get(paragraph_id) != text:
                lost.append(f"{member.name} in session {session_no}")
        if reached.get(member.doc.client_id, 0) < member.last_clock:
            lost.append(f"{member.name}'s last edit is not in the final state")
    run.checks.record(
        "no update lost: each member's paragraph is archived as the member left it", not lost,
        "; ".join(lost[:5]) if lost else f"{checked} member-sessions, each in its snapshot; "
        "every member's last insert in the adopted state",
    )
