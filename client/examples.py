"""Load the built-in example of a data schema into a new document of a running server."""

from __future__ import annotations

from client.api import JsonObject, PalabreApi
from crdt.schemas import SCHEMA_NAMES, load_example


async def create_example(
    api: PalabreApi, schema: str, doc_id: str | None = None, *, is_public: bool = True
) -> JsonObject:
    """Create `doc_id` (default: ``exemple-<schema>``) holding `schema`'s example; its metadata.

    `api` must act as a facilitator. ``palabre demo`` loads the four examples this way.

    Raises:
        ValueError: `schema` is not a built-in schema.
        ApiError: the server refused (`Conflict` when the id is taken).
    """
    if schema not in SCHEMA_NAMES:
        raise ValueError(f"schema must be one of {', '.join(SCHEMA_NAMES)}")
    example = load_example(schema)
    return await api.create_data_document(
        doc_id or f"exemple-{schema}", str(example["title"]), schema, data=dict(example),
        is_public=is_public,
    )


async def create_examples(api: PalabreApi, *, is_public: bool = True) -> list[JsonObject]:
    """Create ``exemple-<schema>`` for each built-in schema; their metadata, in order.

    Raises:
        ApiError: the server refused one (those before it stay created).
    """
    return [await create_example(api, name, is_public=is_public) for name in SCHEMA_NAMES]
