"""Which accepted amendment produced which change of a diff between two versions.

An amendment accepted in the newer version's annotations (its snapshot's, or the live
``D.annotations``) and not yet accepted in the older one's was applied between the two:
its block is the target paragraph for ``replace`` and ``delete``, the new block for
``insert_after``. Each changed, added or removed block of the diff lists the amendments
whose block it is; unchanged and merely moved blocks list none, since the amendment's
change did not survive there. Pure: annotation states in, the diff with its sources out.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from crdt.amendments import Amendment, list_amendments
from crdt.diff import TextDiff
from crdt.document import doc_from_update

_CHANGED = frozenset({"changed", "added", "removed"})


@dataclass(frozen=True, slots=True, kw_only=True)
class AppliedAmendment:
    """An amendment accepted between the two versions, and the block it changed."""

    id: str
    kind: str
    paragraph_id: str
    block_id: str


def accepted_between(before: bytes | None, after: bytes) -> tuple[AppliedAmendment, ...]:
    """The amendments accepted in `after`'s annotations state and not in `before`'s.

    Either state may be empty (a version archived before amendments existed).
    """
    earlier = {a.id for a in _accepted(before)} if before else set()
    return tuple(
        AppliedAmendment(id=a.id, kind=a.kind, paragraph_id=a.paragraph_id,
                         block_id=_changed_block(a))
        for a in _accepted(after) if a.id not in earlier
    )


def with_amendments(diff: TextDiff, applied: tuple[AppliedAmendment, ...]) -> TextDiff:
    """`diff` with each changed, added or removed block naming the amendments behind it."""
    by_block: dict[str, list[str]] = {}
    for amendment in applied:
        by_block.setdefault(amendment.block_id, []).append(amendment.id)
    return TextDiff(blocks=tuple(
        replace(block, amendments=tuple(by_block[block.id]))
        if block.status in _CHANGED and block.id in by_block else block
        for block in diff.blocks
    ))


def applied_json(applied: tuple[AppliedAmendment, ...]) -> list[dict[str, str]]:
    """The amendments accepted between two versions, as the diff's JSON lists them."""
    return [{"id": a.id, "kind": a.kind, "paragraph_id": a.paragraph_id,
             "block_id": a.block_id} for a in applied]


def _accepted(state: bytes | None) -> list[Amendment]:
    if not state:
        return []
    return [a for a in list_amendments(doc_from_update(state)) if a.state == "accepted"]


def _changed_block(amendment: Amendment) -> str:
    if amendment.kind == "insert_after" and amendment.new_block_id:
        return amendment.new_block_id
    return amendment.paragraph_id
