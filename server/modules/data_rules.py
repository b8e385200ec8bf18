"""Who may change which fields of a ``data`` document, per schema. Pure: no I/O, no clock.

A change is judged by comparing the document's JSON before and after it, path by path
(`crdt.data.changed_paths`); each changed path needs an action of the one permission
table (`server.access.permissions`), and some paths are kept by the server alone:

- ``catalogue``: projects need ``edit``; a project's ``history`` is written by the
  server only (it records every ``status``/``progress`` change made through the API).
  Over a socket, ``status`` and ``progress`` (and adding or removing a project) are
  refused too, so that no progress change escapes the history: use ``PATCH``.
- ``library``: ``edit``; a resource's ``file`` is set by the server on upload, its
  ``contributor`` and ``added_at`` when it is added.
- ``monitoring``: anyone who may ``contribute`` (citizens included) adds entries; only an
  entry's author changes its text, only moderators tag ``themes``, edit the theme list or
  remove others' entries; ``author`` and ``created_at`` are set by the server.
- ``agenda``: events need ``edit``; the ``feeds`` list needs ``moderate``; events imported
  from a feed (they carry ``feed``) and a feed's import status are the server's.
- ``actors``: anyone who may ``contribute`` (citizens included) proposes an actor, which
  lands as ``proposed``; publishing or rejecting it (its ``state``), and removing an
  actor, need ``moderate`` (facilitators). A contributor changes or withdraws their own
  actor while it is still proposed; any other change needs ``edit``. ``history``,
  ``contributed_by`` and ``proposed_at`` are the server's. Over a socket, proposing and
  changing a state are refused (so that the history misses nothing): use ``PATCH``.
  Who reads what is `sees_all_actors` (the others read `crdt.actors.reader_view`).
"""

from __future__ import annotations

from collections.abc import Mapping

from server.access.auth import Principal
from server.access.permissions import Action, require
from server.errors import Forbidden

JsonObject = Mapping[str, object]
Path = tuple[str, ...]

SERVER_KEPT = "is kept by the server"


def check_change(
    schema: str,
    principal: Principal,
    doc_id: str,
    before: JsonObject,
    after: JsonObject,
    paths: list[Path],
    *,
    is_frozen: bool = False,
    over_socket: bool = False,
) -> None:
    """Return if `principal` may turn `before` into `after` (which differ at `paths`).

    Raises:
        Forbidden: a path is kept by the server, or needs an action the principal lacks
            (the message names the field and the reason).
    """
    judge = _Judge(principal, doc_id, is_frozen=is_frozen)
    for path in paths:
        _RULES[schema](judge, path, before, after, over_socket)


class _Judge:
    def __init__(self, principal: Principal, doc_id: str, *, is_frozen: bool) -> None:
        self.principal = principal
        self.doc_id = doc_id
        self.is_frozen = is_frozen

    def need(self, action: Action, path: Path) -> None:
        try:
            require(self.principal, action, self.doc_id, doc_is_frozen=self.is_frozen)
        except Forbidden as exc:
            raise Forbidden(f"{_show(path)}: {exc.detail}") from exc

    def is_allowed(self, action: Action) -> bool:
        try:
            require(self.principal, action, self.doc_id, doc_is_frozen=self.is_frozen)
        except Forbidden:
            return False
        return True


def _show(path: Path) -> str:
    return "/".join(path) or "(root)"


def _kept(path: Path, why: str = SERVER_KEPT) -> Forbidden:
    return Forbidden(f"{_show(path)} {why}")


def _item(data: JsonObject, collection: str, key: str) -> dict[str, object] | None:
    items = data.get(collection)
    if not isinstance(items, dict):
        return None
    item = items.get(key)
    return item if isinstance(item, dict) else None


def _catalogue(judge: _Judge, path: Path, before: JsonObject, after: JsonObject,
               over_socket: bool) -> None:
    if len(path) >= 3 and path[0] == "projects" and path[2] == "history":
        raise _kept(path)
    if len(path) >= 2 and path[0] == "projects":
        if len(path) == 2:
            added = _item(after, "projects", path[1])
            if added is not None and "history" in added and added["history"] != []:
                raise _kept((*path, "history"))
        if over_socket and (len(path) == 2 or path[2] in {"status", "progress"}):
            raise Forbidden(
                f"{_show(path)}: change status and progress through PATCH "
                "/api/documents/{id}/data, so that the server records them in the history"
            )
    judge.need(Action.EDIT, path)


def _library(judge: _Judge, path: Path, before: JsonObject, after: JsonObject,
             over_socket: bool) -> None:
    if len(path) >= 3 and path[0] == "resources" and path[2] in {"file", "contributor",
                                                                 "added_at"}:
        raise _kept(path)
    if len(path) == 2 and path[0] == "resources":
        added = _item(after, "resources", path[1])
        if added is not None and _item(before, "resources", path[1]) is None:
            if "file" in added:
                raise _kept((*path, "file"), "is set by uploading the file")
            _check_own(judge, (*path, "contributor"), added.get("contributor"))
    judge.need(Action.EDIT, path)


def _monitoring(judge: _Judge, path: Path, before: JsonObject, after: JsonObject,
                over_socket: bool) -> None:
    if not (len(path) >= 2 and path[0] == "entries"):
        judge.need(Action.MODERATE, path)
        return
    old = _item(before, "entries", path[1])
    new = _item(after, "entries", path[1])
    if len(path) == 2:
        if old is None and new is not None:
            judge.need(Action.CONTRIBUTE, path)
            _check_own(judge, (*path, "author"), new.get("author"))
            if new.get("themes"):
                judge.need(Action.MODERATE, (*path, "themes"))
        elif old is not None and not _is_author(judge.principal, old):
            judge.need(Action.MODERATE, path)
        else:
            judge.need(Action.CONTRIBUTE, path)
        return
    if path[2] in {"author", "created_at"}:
        raise _kept(path)
    if path[2] == "themes":
        judge.need(Action.MODERATE, path)
        return
    judge.need(Action.CONTRIBUTE, path)
    if old is not None and not _is_author(judge.principal, old):
        raise Forbidden(f"{_show(path)}: only the author of an entry may change it")


def _agenda(judge: _Judge, path: Path, before: JsonObject, after: JsonObject,
            over_socket: bool) -> None:
    if path and path[0] == "feeds":
        if len(path) >= 3 and path[2] in {"last_import", "last_error"}:
            raise _kept(path)
        judge.need(Action.MODERATE, path)
        return
    if len(path) >= 2 and path[0] == "events":
        for event in (_item(before, "events", path[1]), _item(after, "events", path[1])):
            if event is not None and "feed" in event:
                raise _kept(path, "is imported from a feed: change it at its source")
    judge.need(Action.EDIT, path)


def _actors(judge: _Judge, path: Path, before: JsonObject, after: JsonObject,
            over_socket: bool) -> None:
    if not (len(path) >= 2 and path[0] == "actors"):
        judge.need(Action.MODERATE if path and path[0] == "actors" else Action.EDIT, path)
        return
    old = _item(before, "actors", path[1])
    new = _item(after, "actors", path[1])
    is_own_proposal = (old is not None and _is_contributor(judge.principal, old)
                       and old.get("state") == "proposed")
    if len(path) == 2:
        if over_socket and (old is None or new is None):
            raise Forbidden(f"{_show(path)}: propose or remove actors through PATCH "
                            "/api/documents/{id}/data, so that the server records it")
        if old is None and new is not None:
            judge.need(Action.CONTRIBUTE, path)
            if new.get("history"):
                raise _kept((*path, "history"))
            if new.get("state") != "proposed":
                judge.need(Action.MODERATE, (*path, "state"))
        elif old is not None and new is None and not is_own_proposal:
            judge.need(Action.MODERATE, path)
        else:
            judge.need(Action.CONTRIBUTE, path)
        return
    if path[2] in {"history", "contributed_by", "proposed_at"}:
        raise _kept(path)
    if path[2] == "state":
        if over_socket:
            raise Forbidden(f"{_show(path)}: publish or reject through PATCH "
                            "/api/documents/{id}/data, so that the server records it")
        judge.need(Action.MODERATE, path)
        return
    judge.need(Action.CONTRIBUTE if is_own_proposal else Action.EDIT, path)


def sees_all_actors(principal: Principal, doc_id: str) -> bool:
    """Whether `principal` reads an actors document whole (unpublished actors included):
    whoever may edit it. Others see the published actors and their own proposals."""
    return judge_allows(principal, Action.EDIT, doc_id)


def judge_allows(principal: Principal, action: Action, doc_id: str) -> bool:
    """Whether the table grants `action` on `doc_id` (its state aside)."""
    return _Judge(principal, doc_id, is_frozen=False).is_allowed(action)


def _is_contributor(principal: Principal, actor: JsonObject) -> bool:
    contributor = actor.get("contributed_by")
    return isinstance(contributor, dict) and contributor.get("sub") == principal.sub


def _check_own(judge: _Judge, path: Path, person: object) -> None:
    """A person written by a client must be the client itself."""
    if person is None:
        return
    if not isinstance(person, dict) or person.get("sub") != judge.principal.sub:
        raise Forbidden(f"{_show(path)} must be yourself (sub {judge.principal.sub!r})")


def _is_author(principal: Principal, entry: JsonObject) -> bool:
    author = entry.get("author")
    return isinstance(author, dict) and author.get("sub") == principal.sub


_RULES = {
    "catalogue": _catalogue,
    "library": _library,
    "monitoring": _monitoring,
    "agenda": _agenda,
    "actors": _actors,
}
