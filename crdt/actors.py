"""The ``actors`` data document: a territory's actors on a map, their review and GeoJSON.

Each actor (``data/actors/<id>``) has a ``position`` that is a GeoJSON Point in WGS 84
(``[longitude, latitude]``) and a review ``state``: ``proposed``, ``published`` or
``rejected``. Every state change is recorded in the actor's ``history`` by the server
(`history_entries` then `crdt.catalogue.append_history`). Pure: JSON in, JSON out.
"""

from __future__ import annotations

from collections.abc import Mapping

from crdt.data import Json, JsonObject
from crdt.errors import SchemaError

COLLECTION = "actors"
"""The top-level map holding the actors."""

PUBLISHED = "published"
PROPOSED = "proposed"
REJECTED = "rejected"

SERVER_KEPT = ("contributed_by", "proposed_at", "history")
"""Fields of an actor that only the server writes (left out of a GeoJSON import)."""

GEOJSON_MEDIA_TYPE = "application/geo+json"


def actors_of(data: Mapping[str, Json]) -> dict[str, dict[str, Json]]:
    """The actors of a document, by id (items that are not objects are skipped)."""
    actors = data.get(COLLECTION)
    if not isinstance(actors, dict):
        return {}
    return {key: value for key, value in actors.items() if isinstance(value, dict)}


def history_entries(
    before: Mapping[str, Json], after: Mapping[str, Json], *, at: str, by: JsonObject
) -> dict[str, JsonObject]:
    """For each actor whose ``state`` changed (or that appeared): the entry recording it."""
    old_actors = actors_of(before)
    entries: dict[str, JsonObject] = {}
    for actor_id, actor in actors_of(after).items():
        old = old_actors.get(actor_id, {}).get("state")
        new = actor.get("state")
        if old != new:
            entries[actor_id] = {"at": at, "by": by, "state": {"old": old, "new": new}}
    return entries


def reader_view(data: JsonObject, *, sees_all: bool, sub: str | None) -> JsonObject:
    """What one reader sees of an actors document.

    Who `sees_all` gets it whole. Anyone else gets the published actors in their
    `public_form`, plus the actors they contributed themselves (`sub`), whole, whatever
    their state: a citizen follows their proposals (`shown_as`, actor by actor).
    """
    if sees_all:
        return data
    shown: dict[str, Json] = {}
    for actor_id, actor in actors_of(data).items():
        form = shown_as(actor, sub)
        if form is not None:
            shown[actor_id] = actor if form == "whole" else public_form(actor)
    return {**data, COLLECTION: shown}


def shown_as(actor: Json, sub: str | None) -> str | None:
    """How a reader who does not see everything gets `actor`: ``"whole"`` (their own,
    `sub`), ``"public"`` (published: its `public_form`), or None (not shown)."""
    if not isinstance(actor, dict):
        return None
    contributor = actor.get("contributed_by")
    if sub is not None and isinstance(contributor, dict) and contributor.get("sub") == sub:
        return "whole"
    return "public" if actor.get("state") == PUBLISHED else None


def awaits_review_by(actor: Json) -> str | None:
    """The subject whose proposal `actor` is while it awaits review (None: it does not)."""
    if not isinstance(actor, dict) or actor.get("state") != PROPOSED:
        return None
    contributor = actor.get("contributed_by")
    sub = contributor.get("sub") if isinstance(contributor, dict) else None
    return sub if isinstance(sub, str) else None


def public_form(actor: Mapping[str, Json]) -> dict[str, Json]:
    """A published actor as readers who do not see everything get it: without its review
    history, its contributor named but not identified."""
    public = {key: value for key, value in actor.items() if key != "history"}
    contributor = actor.get("contributed_by")
    if isinstance(contributor, dict):
        public["contributed_by"] = {"sub": None, "name": contributor.get("name")}
    return public


def to_geojson(data: JsonObject) -> JsonObject:
    """The actors as a GeoJSON FeatureCollection (RFC 7946): one Point feature per actor,
    its id the actor's id, its properties every other field."""
    features: list[Json] = []
    for actor_id, actor in sorted(actors_of(data).items()):
        properties = {key: value for key, value in actor.items() if key != "position"}
        features.append({
            "type": "Feature", "id": actor_id,
            "geometry": actor.get("position"), "properties": properties,
        })
    return {"type": "FeatureCollection", "name": data.get("title"), "features": features}


def from_geojson(collection: Json, *, max_features: int) -> JsonObject:
    """The merge patch that imports a GeoJSON FeatureCollection of actors.

    Each feature becomes (or updates) the actor named by its ``id`` (or its
    ``properties.id``); its geometry becomes the ``position``; its properties the other
    fields, except those the server keeps (`SERVER_KEPT`), which an export carries and
    an import ignores. The schema then judges the patch like any other.

    Raises:
        SchemaError: not a FeatureCollection of identified features with Point geometry
            (the message names the feature and the member).
    """
    if not isinstance(collection, dict) or collection.get("type") != "FeatureCollection":
        raise SchemaError("(root): a GeoJSON FeatureCollection is expected")
    features = collection.get("features")
    if not isinstance(features, list):
        raise SchemaError("features: an array of Feature objects is expected")
    if len(features) > max_features:
        raise SchemaError(f"features: at most {max_features} features per import")
    actors: dict[str, Json] = {}
    for index, feature in enumerate(features):
        actor_id, actor = _actor_of(feature, f"features/{index}")
        if actor_id in actors:
            raise SchemaError(f"features/{index}/id: {actor_id!r} appears twice")
        actors[actor_id] = actor
    return {COLLECTION: actors}


def _actor_of(feature: Json, where: str) -> tuple[str, JsonObject]:
    if not isinstance(feature, dict) or feature.get("type") != "Feature":
        raise SchemaError(f"{where}: a GeoJSON Feature is expected")
    properties = feature.get("properties")
    if properties is None:
        properties = {}
    if not isinstance(properties, dict):
        raise SchemaError(f"{where}/properties: an object is expected")
    actor_id = feature.get("id", properties.get("id"))
    if not isinstance(actor_id, str) or not actor_id:
        raise SchemaError(f"{where}/id: each feature needs a string id (the actor's id)")
    geometry = feature.get("geometry")
    if not isinstance(geometry, dict) or geometry.get("type") != "Point":
        raise SchemaError(f"{where}/geometry: a GeoJSON Point is expected")
    actor: JsonObject = {key: value for key, value in properties.items()
                         if key not in SERVER_KEPT and key != "id"}
    actor["position"] = {"type": "Point", "coordinates": geometry.get("coordinates")}
    return actor_id, actor
