"""Schemathesis on the data-document operations, their ids pinned to real data documents.

The API-wide run pins every id to a text document, where these operations answer 404;
here each one reaches a document of the schema it serves. The event stream is left out:
it never ends, and its answers are checked in `test_data_modules.py`.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import anyio
import httpx
import pytest
import schemathesis
from schemathesis import GenerationMode
from schemathesis.core.failures import FailureGroup

from client.api import PalabreApi
from client.examples import create_example
from tests.conftest import ServerFactory
from tests.e2e.test_api_schemathesis import Existing, _fuzz_one, _operations

DOC_FOR_PATH = {
    "/api/documents/{doc_id}/data": "exemple-monitoring",
    "/api/documents/{doc_id}/resources/{resource_id}/file": "exemple-library",
    "/api/documents/{doc_id}/files/{file_id}": "exemple-library",
    "/api/documents/{doc_id}/agenda/import": "exemple-agenda",
    "/api/documents/{doc_id}/agenda.ics": "exemple-agenda",
}
DOC_FOR_METHOD = {("POST", "/api/documents/{doc_id}/data"): "exemple-actors"}
"""Operations whose path serves several schemas: the GeoJSON import is for actors maps."""


@pytest.mark.filterwarnings(
    "ignore:Do not use the `random` module inside strategies"
    ":hypothesis.errors.HypothesisDeprecationWarning"
)
async def test_data_operations_answer_within_their_schema_and_never_fail(
    start_server: ServerFactory,
) -> None:
    async with start_server(http_rate_per_second=0.0, agenda_poll_seconds=0.0) as server:
        async with PalabreApi(server.url, server.token("facilitator", "Loïc Ménard")) as api:
            for schema in ("catalogue", "library", "monitoring", "agenda", "actors"):
                await create_example(api, schema)
        async with httpx.AsyncClient(base_url=server.url, timeout=30) as client:
            spec: dict[str, Any] = (await client.get("/api/openapi.json")).json()
        schema_doc = schemathesis.openapi.from_dict(spec)
        schema_doc.config.generation.update(allow_extra_parameters=False)
        operations = [op for op in _operations(schema_doc) if op.path in DOC_FOR_PATH]
        assert len(operations) == 7
        token = server.token("facilitator", "Loïc Ménard")

        def fuzz() -> tuple[list[str], Counter[str]]:
            failures: list[str] = []
            seen: Counter[str] = Counter()
            for operation in operations:
                doc_id = DOC_FOR_METHOD.get((operation.method.upper(), operation.path),
                                            DOC_FOR_PATH[operation.path])
                existing = Existing(path_parameters={
                    "doc_id": doc_id, "resource_id": "retour-nancy"})
                for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
                    try:
                        _fuzz_one(operation, mode, server.url, token, existing, seen)
                    except (Exception, FailureGroup) as exc:
                        failures.append(f"{operation.label} [{mode.value}]: {exc}")
            return failures, seen

        failures, seen = await anyio.to_thread.run_sync(fuzz)
    assert failures == [], "\n\n".join(failures)
    succeeded = {key.rsplit(" ", 1)[0] for key in seen if key.endswith((" 200", " 201"))}
    assert {"GET /api/documents/{doc_id}/data", "GET /api/documents/{doc_id}/agenda.ics",
            "POST /api/documents/{doc_id}/agenda/import"} <= succeeded, sorted(seen.items())
