"""Word-level changes of a paragraph's wording, and where they land in a newer wording.

An amendment is written against a base wording and proposes another. `word_changes` is
the smallest list of edits from one to the other at word granularity: the texts are cut
into tokens (runs of word characters, runs of whitespace, and single punctuation marks,
so that no characters are lost) and the token sequences are compared.

By the time the amendment is decided, others may have typed in the same paragraph.
`rebase_changes` carries each edit from the base onto the current wording (three-way:
base / now / proposed): an edit lands where the base tokens it replaces still stand,
unchanged and contiguous, in the current wording. When one of them was itself changed
(or a word was typed inside the span), the amendment is *outdated*: applying it would
overwrite someone's words, so `rebase_changes` raises `Outdated` naming the conflicts.
Pure functions on strings; offsets are in characters (Python ``str`` indices).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from difflib import SequenceMatcher

from crdt.errors import SchemaError

_TOKEN = re.compile(r"\w+|\s+|[^\w\s]", re.UNICODE)


@dataclass(frozen=True, slots=True, kw_only=True)
class WordChange:
    """Replace the characters ``[start, end)`` of a wording with ``text``.

    ``start == end`` is an insertion; an empty ``text`` a deletion.
    """

    start: int
    end: int
    text: str


class Outdated(SchemaError):
    """The words an amendment changes were themselves changed since its base."""

    def __init__(self, conflicts: Sequence[WordChange]) -> None:
        self.conflicts = tuple(conflicts)
        spans = ", ".join(f"[{c.start}, {c.end})" for c in conflicts)
        super().__init__(f"the words at {spans} of the base changed since the amendment")


def tokens(text: str) -> list[str]:
    """`text` cut into word, whitespace and punctuation tokens; ``"".join`` gives it back."""
    return _TOKEN.findall(text)


def _offsets(parts: Sequence[str]) -> list[int]:
    """Start offset of each token, plus the total length at the end."""
    out = [0]
    for part in parts:
        out.append(out[-1] + len(part))
    return out


def word_changes(base: str, proposed: str) -> list[WordChange]:
    """The word-level edits that turn `base` into `proposed`, in order, not overlapping."""
    old, new = tokens(base), tokens(proposed)
    at = _offsets(old)
    matcher = SequenceMatcher(None, old, new, autojunk=False)
    return [
        WordChange(start=at[i1], end=at[i2], text="".join(new[j1:j2]))
        for tag, i1, i2, j1, j2 in matcher.get_opcodes() if tag != "equal"
    ]


def apply_changes(text: str, changes: Sequence[WordChange]) -> str:
    """`text` with `changes` (offsets into `text`, in order, not overlapping) made."""
    out, cursor = [], 0
    for change in changes:
        out.append(text[cursor:change.start])
        out.append(change.text)
        cursor = change.end
    out.append(text[cursor:])
    return "".join(out)


def rebase_changes(base: str, current: str, proposed: str) -> list[WordChange]:
    """The edits of base → `proposed`, carried onto `current`; offsets into `current`.

    Raises:
        Outdated: a token an edit replaces (or the place it inserts at) was changed in
            `current`; nothing can be applied without losing someone's words.
    """
    changes = word_changes(base, proposed)
    if base == current:
        return changes
    old, now = tokens(base), tokens(current)
    old_at, now_at = _offsets(old), _offsets(now)
    token_at = {offset: index for index, offset in enumerate(old_at)}
    kept: dict[int, int] = {}
    matcher = SequenceMatcher(None, old, now, autojunk=False)
    for block in matcher.get_matching_blocks():
        for k in range(block.size):
            kept[block.a + k] = block.b + k
    moved, conflicts = [], []
    for change in changes:
        first, last = token_at[change.start], token_at[change.end]
        span = _carried(first, last, kept, len(old))
        if span is None:
            conflicts.append(change)
            continue
        start, end = now_at[span[0]], now_at[span[1]]
        moved.append(WordChange(start=start, end=end, text=change.text))
    if conflicts:
        raise Outdated(conflicts)
    return moved


def _carried(first: int, last: int, kept: dict[int, int], size: int) -> tuple[int, int] | None:
    """Where base tokens ``[first, last)`` stand in the current wording, as a token range.

    ``None`` when one of them is gone, or they are no longer side by side. An insertion
    (``first == last``) needs its neighbours kept side by side (or the one it has).
    """
    if first == last:
        before = kept.get(first - 1) if first > 0 else None
        after = kept.get(first) if first < size else None
        if (first > 0 and before is None) or (first < size and after is None):
            return None
        if before is not None and after is not None and after != before + 1:
            return None
        position = after if after is not None else (before + 1 if before is not None else 0)
        return position, position
    mapped = [kept.get(k) for k in range(first, last)]
    if any(m is None for m in mapped):
        return None
    start = mapped[0]
    assert start is not None
    if mapped != list(range(start, start + len(mapped))):
        return None
    return start, start + len(mapped)
