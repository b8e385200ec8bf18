"""The ``catalogue`` data document: the history of each project's status and progress."""

from __future__ import annotations

from typing import Any

from pycrdt import Array, Doc, Map

from crdt.data import Json, JsonObject, root

TRACKED = ("status", "progress")
"""The project fields whose every change the server records in the project's history."""


def history_entries(
    before: JsonObject, after: JsonObject, *, at: str, by: JsonObject
) -> dict[str, JsonObject]:
    """For each project whose tracked fields changed: the history entry recording it.

    A new project records its first values (``old`` is ``null``); a removed one nothing.
    """
    old_projects = _projects(before)
    entries: dict[str, JsonObject] = {}
    for project_id, project in _projects(after).items():
        previous = old_projects.get(project_id, {})
        entry: JsonObject = {"at": at, "by": by}
        for field in TRACKED:
            old, new = previous.get(field), project.get(field)
            if old != new:
                entry[field] = {"old": old, "new": new}
        if len(entry) > 2:
            entries[project_id] = entry
    return entries


def append_history(doc: Doc[Any], entries: dict[str, JsonObject],
                   collection: str = "projects") -> None:
    """Append each entry to its item's ``history`` (appends merge with concurrent ones).

    The items are those of the top-level map `collection` (a catalogue's projects, a
    map's actors).
    """
    projects = root(doc).get(collection)
    if not isinstance(projects, Map):
        return
    with doc.transaction():
        for project_id, entry in entries.items():
            project = projects.get(project_id)
            if not isinstance(project, Map):
                continue
            history = project.get("history")
            if not isinstance(history, Array):
                history = project["history"] = Array()
            history.append(Map(_prelim(entry)))


def _prelim(entry: JsonObject) -> dict[str, Any]:
    return {key: Map(_prelim(value)) if isinstance(value, dict) else value
            for key, value in entry.items()}


def _projects(data: JsonObject) -> dict[str, dict[str, Json]]:
    projects = data.get("projects")
    if not isinstance(projects, dict):
        return {}
    return {key: value for key, value in projects.items() if isinstance(value, dict)}
