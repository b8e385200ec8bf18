"""The ``D.annotations`` document: comments on paragraphs, written only by the server peer.

Shape: a ``Y.Map`` named ``annotations``, id → a nested ``Y.Map`` entry ``{id, paragraph_id,
quote?, anchor?, body, author: {sub, name}, created_at, updated_at?, status, stage, replies}``
where ``replies`` is a ``Y.Array`` of ``Y.Map`` ``{id, body, author, created_at,
updated_at?, status}``. Each field is its own map key, so two nodes that concurrently edit
different fields of one entry (a body and a status) both win, and concurrent replies are
both kept. ``anchor`` holds the browser's Yjs relative positions and stays opaque here.

Every write runs in one transaction with the caller's origin and returns the update it
produced, for the server to commit and relay.

Hiding a comment or reply seals its words when a `Seal` is given: the body becomes ``""``
and the sealed words go to the ``sealed_body`` key, which only the seal's holder (the
server) can open; leaving the hidden status unseals them. Hiding a comment hides its
whole thread: its replies are sealed with it (and a reply added or edited meanwhile is
written sealed); reopening the comment unseals every reply not hidden on its own. The
rule, applied after every write with a seal: an entry is sealed exactly when it is hidden
or belongs to a hidden thread. `seal_hidden_threads` applies it to a whole document
(threads hidden before replies were sealed too). Readers of the document thus never
receive the words of a hidden comment nor of its replies.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal, Protocol, cast

from pycrdt import Array, Doc, Map

from crdt.errors import SchemaError
from crdt.schema import JsonValue, transact

ROOT = "annotations"
SEALED = "sealed_body"
"""Where a hidden comment's (or reply's) words are kept, sealed."""
STATUSES = ("open", "resolved", "hidden")
Status = Literal["open", "resolved", "hidden"]


class Seal(Protocol):
    """Seals the words of hidden comments so that readers of the document cannot read them."""

    def close(self, text: str) -> str:
        """`text`, sealed."""

    def open(self, sealed: str) -> str | None:
        """The sealed words, or ``None`` when they cannot be opened (another key)."""


class AnnotationNotFound(SchemaError):
    """No annotation (or reply) has the given id."""


class NotAuthor(SchemaError):
    """Someone other than the author tried to edit an annotation or reply."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Author:
    """Who wrote an annotation or reply: the token's ``sub`` and display name."""

    sub: str
    name: str


@dataclass(frozen=True, slots=True, kw_only=True)
class Reply:
    """One reply in an annotation's thread."""

    id: str
    body: str
    author: Author
    created_at: str
    status: Status = "open"
    updated_at: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Annotation:
    """A comment on a paragraph, with its replies in order."""

    id: str
    paragraph_id: str
    body: str
    author: Author
    created_at: str
    status: Status
    stage: str | None = None
    quote: str | None = None
    anchor: JsonValue = None
    updated_at: str | None = None
    replies: tuple[Reply, ...] = ()


@dataclass(frozen=True, slots=True)
class AnnotationWrite:
    """The annotation after a write, and the update the write produced."""

    annotation: Annotation
    update: bytes


def annotations_map(doc: Doc[Any]) -> Map[Any]:
    """The document's root ``annotations`` map."""
    root: Map[Any] = doc.get(ROOT, type=Map)
    return root


def add_annotation(
    doc: Doc[Any], *, paragraph_id: str, body: str, author: Author,
    stage: str | None = None, quote: str | None = None, anchor: JsonValue = None,
    annotation_id: str | None = None, now: datetime | None = None, origin: object = None,
) -> AnnotationWrite:
    """Add an open annotation on a paragraph.

    Raises:
        SchemaError: empty body or paragraph id, or the id is already taken.
    """
    _check_text(body, "body")
    _check_text(paragraph_id, "paragraph_id")
    new_id = annotation_id or uuid.uuid4().hex
    root = annotations_map(doc)
    if new_id in root:
        raise SchemaError(f"annotation {new_id!r} already exists")
    fields: dict[str, Any] = {
        "id": new_id, "paragraph_id": paragraph_id, "body": body,
        "author": {"sub": author.sub, "name": author.name}, "created_at": _stamp(now),
        "status": "open", "stage": stage, "replies": Array(),
    }
    fields.update({k: v for k, v in (("quote", quote), ("anchor", anchor)) if v is not None})

    def write() -> None:
        root[new_id] = Map(fields)

    _, update = transact(doc, write, origin=origin)
    return AnnotationWrite(get_annotation(doc, new_id), update)


def add_reply(
    doc: Doc[Any], annotation_id: str, *, body: str, author: Author,
    reply_id: str | None = None, now: datetime | None = None, origin: object = None,
    seal: Seal | None = None,
) -> AnnotationWrite:
    """Append a reply to an annotation's thread.

    Raises:
        AnnotationNotFound: no such annotation.
        SchemaError: empty body.
    """
    _check_text(body, "body")
    entry = _entry(doc, annotation_id)
    fields: dict[str, Any] = {
        "id": reply_id or uuid.uuid4().hex, "body": body, "status": "open",
        "author": {"sub": author.sub, "name": author.name}, "created_at": _stamp(now),
    }
    if seal is not None and entry.get("status") == "hidden":
        # Written sealed: the words never appear in the update, not even deleted.
        fields.update(body="", **{SEALED: seal.close(body)})
    _, update = transact(doc, lambda: _replies(entry).append(Map(fields)), origin=origin)
    return AnnotationWrite(get_annotation(doc, annotation_id, seal=seal), update)


def edit_body(
    doc: Doc[Any], annotation_id: str, author_sub: str, body: str, *,
    reply_id: str | None = None, now: datetime | None = None, origin: object = None,
    seal: Seal | None = None,
) -> AnnotationWrite:
    """Replace the body of an annotation, or of one of its replies; only its author may.

    The new words of a hidden one, or of a reply in a hidden thread, are sealed (with
    `seal`) like the old ones.

    Raises:
        AnnotationNotFound: no such annotation or reply.
        NotAuthor: `author_sub` did not write it.
        SchemaError: empty body.
    """
    _check_text(body, "body")
    entry = _entry(doc, annotation_id)
    target = _target(doc, annotation_id, reply_id)
    written_by = _author(target.get("author"))
    if written_by.sub != author_sub:
        raise NotAuthor(f"only its author ({written_by.name}) may edit {target.get('id')!r}")

    def write() -> None:
        if seal is not None and _is_hidden(entry, target):
            _conform(target, True, seal)
            target[SEALED] = seal.close(body)
        else:
            target["body"] = body
        target["updated_at"] = _stamp(now)

    _, update = transact(doc, write, origin=origin)
    return AnnotationWrite(get_annotation(doc, annotation_id, seal=seal), update)


def set_status(
    doc: Doc[Any], annotation_id: str, status: Status, *,
    reply_id: str | None = None, origin: object = None, seal: Seal | None = None,
) -> AnnotationWrite:
    """Set an annotation's (or a reply's) status: open, resolved or hidden (moderation).

    With `seal`, hiding seals the words out of the body and any other status unseals them;
    hiding a comment seals its replies too, and reopening it unseals those not hidden on
    their own (a reply reopened in a hidden thread stays sealed until the thread reopens).

    Raises:
        AnnotationNotFound: no such annotation or reply.
        SchemaError: an unknown status.
    """
    if status not in STATUSES:
        raise SchemaError(f"unknown status {status!r}; expected one of {', '.join(STATUSES)}")
    entry = _entry(doc, annotation_id)
    target = _target(doc, annotation_id, reply_id)

    def write() -> None:
        target["status"] = status
        if seal is not None:
            _conform_thread(entry, seal)

    _, update = transact(doc, write, origin=origin)
    return AnnotationWrite(get_annotation(doc, annotation_id, seal=seal), update)


def unsealed_threads(doc: Doc[Any]) -> list[str]:
    """Ids of the comments whose thread breaks the sealing rule (a hidden comment or
    reply, or a reply of a hidden comment, whose words are still in its body).

    Read-only and cheap (no decryption): what `seal_hidden_threads` would change.
    """
    found = []
    for annotation_id, entry in annotations_map(doc).items():
        if not isinstance(entry, Map):
            continue
        if any(_is_hidden(entry, t) and SEALED not in t for t in _thread(entry)):
            found.append(str(annotation_id))
    return found


def seal_hidden_threads(doc: Doc[Any], seal: Seal, *, origin: object = None) -> bytes:
    """Seal every hidden comment's words and its replies' (a migration; idempotent).

    Threads hidden before replies were sealed with their comment keep their replies'
    words in the document readers sync; this seals them. Only what breaks the rule is
    written: a second run changes nothing and returns ``b""``. Words sealed under
    another secret are left as they are.
    """
    targets = unsealed_threads(doc)
    if not targets:
        return b""
    root = annotations_map(doc)

    def write() -> None:
        for annotation_id in targets:
            entry = root[annotation_id]
            _conform_thread(entry, seal, unseal=False)

    _, update = transact(doc, write, origin=origin)
    return update


def get_annotation(doc: Doc[Any], annotation_id: str, *, seal: Seal | None = None) -> Annotation:
    """Read one annotation; with `seal`, hidden words are opened (otherwise ``""``).

    Raises:
        AnnotationNotFound: no such annotation.
        SchemaError: the entry is malformed.
    """
    return _parse(_entry(doc, annotation_id), seal)


def list_annotations(
    doc: Doc[Any], *, paragraph_id: str | None = None, status: Status | None = None,
    stage: str | None = None, seal: Seal | None = None,
) -> list[Annotation]:
    """Annotations matching every given filter, oldest first (then by id); with `seal`,
    hidden words are opened (otherwise ``""``).

    Raises:
        SchemaError: an entry is malformed.
    """
    found = []
    for value in annotations_map(doc).values():
        if not isinstance(value, Map):
            raise SchemaError("an annotations entry is not a map")
        item = _parse(value, seal)
        if ((paragraph_id is None or item.paragraph_id == paragraph_id)
                and (status is None or item.status == status)
                and (stage is None or item.stage == stage)):
            found.append(item)
    return sorted(found, key=lambda item: (item.created_at, item.id))


def _entry(doc: Doc[Any], annotation_id: str) -> Map[Any]:
    entry = annotations_map(doc).get(annotation_id)
    if not isinstance(entry, Map):
        raise AnnotationNotFound(f"no annotation {annotation_id!r}")
    return entry


def _replies(entry: Map[Any]) -> Array[Any]:
    replies = entry.get("replies")
    if not isinstance(replies, Array):
        raise SchemaError(f"annotation {entry.get('id')!r} has no replies array")
    return replies


def _target(doc: Doc[Any], annotation_id: str, reply_id: str | None) -> Map[Any]:
    entry = _entry(doc, annotation_id)
    if reply_id is None:
        return entry
    for reply in _replies(entry):
        if isinstance(reply, Map) and reply.get("id") == reply_id:
            return reply
    raise AnnotationNotFound(f"no reply {reply_id!r} on annotation {annotation_id!r}")


def _is_hidden(entry: Map[Any], target: Map[Any]) -> bool:
    """Whether `target` (the comment `entry` or one of its replies) must be sealed."""
    return target.get("status") == "hidden" or entry.get("status") == "hidden"


def _conform(target: Map[Any], hidden: bool, seal: Seal) -> None:
    """Seal `target`'s words if `hidden`, unseal them otherwise (when the seal opens them)."""
    if hidden and SEALED not in target:
        target[SEALED] = seal.close(str(target.get("body", "")))
        target["body"] = ""
    elif not hidden and SEALED in target:
        words = seal.open(str(target[SEALED]))
        if words is not None:
            target["body"] = words
            del target[SEALED]


def _thread(entry: Map[Any]) -> list[Map[Any]]:
    """The comment `entry`, then its replies."""
    replies = entry.get("replies")
    if not isinstance(replies, Array):
        return [entry]
    return [entry, *(reply for reply in replies if isinstance(reply, Map))]


def _conform_thread(entry: Map[Any], seal: Seal, *, unseal: bool = True) -> None:
    """Apply the sealing rule to a comment and each of its replies (inside a transaction)."""
    for target in _thread(entry):
        hidden = _is_hidden(entry, target)
        if hidden or unseal:
            _conform(target, hidden, seal)


def _words(data: Mapping[str, Any], seal: Seal | None) -> str:
    """The body, or with `seal` the sealed words of a hidden one."""
    sealed = data.get(SEALED)
    if seal is not None and isinstance(sealed, str):
        words = seal.open(sealed)
        if words is not None:
            return words
    return str(data["body"])


def _parse(entry: Map[Any], seal: Seal | None = None) -> Annotation:
    data = {key: entry[key] for key in entry.keys()}
    try:
        return Annotation(
            id=str(data["id"]), paragraph_id=str(data["paragraph_id"]), body=_words(data, seal),
            author=_author(data["author"]), created_at=str(data["created_at"]),
            status=_status(data.get("status")), stage=_optional(data.get("stage")),
            quote=_optional(data.get("quote")), anchor=cast(JsonValue, data.get("anchor")),
            updated_at=_optional(data.get("updated_at")),
            replies=tuple(_parse_reply(reply, seal) for reply in _replies(entry)),
        )
    except KeyError as exc:
        raise SchemaError(f"annotation {data.get('id')!r} lacks {exc}") from exc


def _parse_reply(reply: object, seal: Seal | None) -> Reply:
    if not isinstance(reply, Map):
        raise SchemaError("a reply is not a map")
    data = reply.to_py() or {}
    try:
        return Reply(
            id=str(data["id"]), body=_words(data, seal), author=_author(data["author"]),
            created_at=str(data["created_at"]), status=_status(data.get("status")),
            updated_at=_optional(data.get("updated_at")),
        )
    except KeyError as exc:
        raise SchemaError(f"reply {data.get('id')!r} lacks {exc}") from exc


def _author(value: object) -> Author:
    if not isinstance(value, Mapping):
        raise SchemaError("author is not an object")
    return Author(sub=str(value.get("sub", "")), name=str(value.get("name", "")))


def _status(value: object) -> Status:
    if value not in STATUSES:
        raise SchemaError(f"unknown status {value!r}")
    return cast(Status, value)


def _optional(value: object) -> str | None:
    return None if value is None else str(value)


def _check_text(value: str, what: str) -> None:
    if not value.strip():
        raise SchemaError(f"{what} must not be empty")


def _stamp(now: datetime | None) -> str:
    return (now or datetime.now(UTC)).isoformat(timespec="seconds")
