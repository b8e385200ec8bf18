"""Actors maps on the server: what each reader sees, and GeoJSON in and out.

The field rules (who proposes, publishes, rejects) are in `server.modules.data_rules`;
the shapes in `crdt.actors`. This module decides which view a reader gets, which is
what every read path of an actors document (``GET .../data``, its event stream, the
embed, snapshots read as JSON) serves.
"""

from __future__ import annotations

from crdt.actors import from_geojson, reader_view, to_geojson
from crdt.data import Json, JsonObject
from crdt.errors import SchemaError
from server.access.auth import Principal, Role
from server.errors import Invalid, NotFound
from server.modules.data_rules import sees_all_actors


def view_for(schema: str | None, principal: Principal, doc_id: str,
             data: JsonObject) -> JsonObject:
    """`data` as `principal` may read it: whole, except for actors maps (see
    `crdt.actors.reader_view`: the published actors and the reader's own)."""
    if schema != "actors":
        return data
    return reader_view(data, sees_all=sees_all_actors(principal, doc_id),
                       sub=reader_sub(principal))


def reader_sub(principal: Principal) -> str | None:
    """Whose contributions `principal` reads whole in an actors map (None: the public's)."""
    return None if principal.role is Role.PUBLIC else principal.sub


def view_key(schema: str | None, principal: Principal, doc_id: str) -> str:
    """A key that differs between two readers who may see different views (for ETags)."""
    if schema != "actors" or sees_all_actors(principal, doc_id):
        return "all"
    return "own:" + ("" if principal.role is Role.PUBLIC else principal.sub)


def geojson_of(schema: str | None, data: JsonObject) -> JsonObject:
    """An actors document (a reader's view of it) as a GeoJSON FeatureCollection.

    Raises:
        NotFound: the document is not an actors map.
    """
    _require_actors(schema)
    return to_geojson(data)


def geojson_patch(schema: str | None, body: Json, *, max_features: int) -> JsonObject:
    """The merge patch importing the FeatureCollection `body` into an actors map.

    Raises:
        NotFound: the document is not an actors map.
        Invalid: `body` is no FeatureCollection of identified Point features (the
            message names the feature and its member).
    """
    _require_actors(schema)
    try:
        return from_geojson(body, max_features=max_features)
    except SchemaError as exc:
        raise Invalid(f"GeoJSON: at {exc}") from exc


def _require_actors(schema: str | None) -> None:
    if schema != "actors":
        raise NotFound("GeoJSON is served for actors maps only")
