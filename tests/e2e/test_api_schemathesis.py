"""Schemathesis against a live server: no 5xx, and every answer matches ``/api/openapi.json``."""

from __future__ import annotations

import json
import os
from collections import Counter
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.errors import Unsatisfiable
from openapi_spec_validator import validate
from schemathesis import APIOperation, Case, GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.core.failures import FailureGroup
from schemathesis.core.result import Err
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_schema_conformance,
    status_code_conformance,
)

from client.api import PalabreApi
from server.settings import Settings
from tests.conftest import RunningServer, ServerFactory

CHARTE = (Path(__file__).parent.parent / "fixtures" / "charte.md").read_text(encoding="utf-8")
EXAMPLES = int(os.environ.get("PALABRE_SCHEMATHESIS_EXAMPLES", "15"))
"""Examples per operation and generation mode (about 45 s for the whole API); more to hunt."""
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]
NEGATIVE_CHECKS = [*CHECKS, negative_data_rejection]
"""Schema-invalid requests must also be refused (4xx), never accepted."""


Operation = APIOperation[Any, Any, Any, Any]
LOOPBACK = "127.0.0.1"
"""The seeded webhook's receiver: an internal address, allowed as an operator would."""
_UNLIMITED = (
    {"http_rate_per_second": 0.0}
    if "http_rate_per_second" in {f.name for f in fields(Settings)} else {}
)
"""Fuzzing sends hundreds of requests a second: the HTTP rate limit, where there is one, off."""


@dataclass(slots=True)
class Existing:
    """Ids that exist on the server, so generated requests reach past the 404s."""

    path_parameters: dict[str, str] = field(default_factory=dict)
    body_fields: dict[str, str] = field(default_factory=dict)


async def _seed(server: RunningServer) -> Existing:
    """A charter with one annotation, one reply, one webhook, and a vote on an amendment
    in an open session."""
    async with PalabreApi(server.url, server.token("facilitator", "Loïc Ménard")) as api:
        await api.create_document("charte", "Charte", markdown=CHARTE)
        blocks = json.loads(await api.get_content("charte", "json"))["blocks"]
        paragraph = next(b["id"] for b in blocks if b["type"] == "paragraph")
        made = await api.add_annotation("charte", paragraph, "Précisons « habitantes ».")
        replied = await api.reply("charte", made["id"], "D'accord.")
    token = server.token("facilitator", "Loïc Ménard")
    async with httpx.AsyncClient(base_url=server.url, timeout=30) as client:
        hook = await client.post(
            "/api/webhooks", headers={"Authorization": f"Bearer {token}"},
            json={"url": "http://127.0.0.1:9/hook", "events": ["document.frozen"]},
        )
        hook.raise_for_status()
        auth = {"Authorization": f"Bearer {token}"}
        amendment = await client.post("/api/documents/charte/amendments", headers=auth, json={
            "paragraph_id": paragraph, "kind": "replace", "text": "Une autre rédaction."})
        amendment.raise_for_status()
        session = await client.post("/api/documents/charte/sessions", headers=auth,
                                    json={"title": "Séance"})
        session.raise_for_status()
        vote = await client.post("/api/documents/charte/votes", headers=auth,
                                 json={"amendment_ids": [amendment.json()["id"]]})
        vote.raise_for_status()
    return Existing(
        path_parameters={
            "doc_id": "charte", "annotation_id": made["id"],
            "reply_id": replied["reply"]["id"], "webhook_id": hook.json()["id"],
            "vote_id": vote.json()["id"],
        },
        body_fields={"paragraph_id": paragraph, "url": "http://127.0.0.1:9/hook",
                     "amendment_id": amendment.json()["id"]},
    )


def _fuzz(
    schema: schemathesis.BaseSchema, base_url: str, token: str, existing: Existing
) -> tuple[list[str], Counter[str]]:
    """Run every operation in both generation modes: the failures, and the answers seen."""
    failures: list[str] = []
    seen: Counter[str] = Counter()
    operations = _operations(schema)
    # Deletions last, so the seeded ids stay there for every other operation.
    operations.sort(key=lambda operation: operation.method.lower() == "delete")
    for operation in operations:
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            try:
                _fuzz_one(operation, mode, base_url, token, existing, seen)
            except Unsatisfiable:
                # Nothing of the operation can be made invalid (no parameters, free strings).
                assert mode is GenerationMode.NEGATIVE, operation.label
            # Every failing operation is reported, not only the first; a failure group is
            # not an Exception.
            except (Exception, FailureGroup) as exc:
                failures.append(f"{operation.label} [{mode.value}]: {exc}")
    return failures, seen


def _operations(schema: schemathesis.BaseSchema) -> list[Operation]:
    """Every operation of the document.

    Raises:
        AssertionError: schemathesis cannot read one of them.
    """
    operations: list[Operation] = []
    for result in schema.get_all_operations():
        assert not isinstance(result, Err), f"unreadable operation: {result.err()}"
        operations.append(result.ok())
    return operations


def _fuzz_one(
    operation: Operation, mode: GenerationMode, base_url: str, token: str,
    existing: Existing, seen: Counter[str],
) -> None:
    checks = CHECKS if mode is GenerationMode.POSITIVE else NEGATIVE_CHECKS
    headers = {"Authorization": f"Bearer {token}"}

    @given(case=operation.as_strategy(generation_mode=mode), pin=st.booleans())
    @settings(
        max_examples=EXAMPLES, deadline=None, database=None,
        suppress_health_check=list(HealthCheck),
    )
    def run(case: Case[Operation], pin: bool) -> None:
        # Pinning a negative case's ids would make it valid again: positive only.
        if pin and mode is GenerationMode.POSITIVE:
            _pin(case, existing)
        response = case.call_and_validate(base_url=base_url, headers=headers, checks=checks)
        seen[f"{operation.label} {response.status_code}"] += 1

    run()


def _pin(case: Case[Operation], existing: Existing) -> None:
    """Point a valid case at the seeded document, annotation, reply, paragraph, receiver."""
    for name in case.path_parameters or {}:
        if name in existing.path_parameters:
            case.path_parameters[name] = existing.path_parameters[name]
    if isinstance(case.body, dict):
        for name in case.body:
            if name in existing.body_fields:
                case.body[name] = existing.body_fields[name]


# Schemathesis draws from `random` inside its strategies (negative mutations); Hypothesis
# deprecates that. It is schemathesis' own code, not ours: only this warning is let through.
@pytest.mark.filterwarnings(
    "ignore:Do not use the `random` module inside strategies"
    ":hypothesis.errors.HypothesisDeprecationWarning"
)
# Bounded by its examples (about 45 s on a quiet machine, the API growing each release):
# the suite's 120 s guard against hangs is too short for it on a loaded machine.
@pytest.mark.timeout(400)
async def test_schemathesis_finds_no_server_error_and_no_answer_outside_the_schema(
    start_server: ServerFactory,
) -> None:
    async with start_server(**_UNLIMITED, outbound_allow=LOOPBACK) as server:
        existing = await _seed(server)
        async with httpx.AsyncClient(base_url=server.url, timeout=30) as client:
            spec: dict[str, Any] = (await client.get("/api/openapi.json")).json()
        validate(spec)  # raises on an invalid OpenAPI 3.1 document
        schema = schemathesis.openapi.from_dict(spec)
        # Unknown query parameters are ignored on purpose (pollers add cache busters), so
        # negative cases are made by breaking documented parameters and bodies only.
        schema.config.generation.update(allow_extra_parameters=False)
        token = server.token("facilitator", "Loïc Ménard")
        # Hypothesis and requests are synchronous: run them off the loop serving the API
        # (pytest-timeout guards against a hang; a thread cannot be cancelled anyway).
        failures, seen = await anyio.to_thread.run_sync(
            _fuzz, schema, server.url, token, existing
        )
    assert failures == [], "\n\n".join(failures)
    answered = {key.rsplit(" ", 1)[0] for key in seen}
    assert answered == {operation.label for operation in _operations(schema)}
    succeeded = {key.rsplit(" ", 1)[0] for key in seen if key.endswith((" 200", " 201"))}
    # The pinned ids reach the seeded charter, not only the 404s of random ids.
    assert {
        "GET /api/documents/{doc_id}", "GET /api/documents/{doc_id}/content",
        "GET /api/documents/{doc_id}/annotations",
    } <= succeeded, sorted(seen.items())


@pytest.mark.parametrize(
    "raw",
    [
        '{"paragraph_id": "%s", "body": "b", "anchor": {"n": 3765639640290841329714331648}}',
        '{"paragraph_id": "%s", "body": "lone \\ud800 surrogate"}',
        '{"paragraph_id": "%s", "body": "b", "anchor": NaN}',
        '{"paragraph_id": "%s", "body": "b", "anchor": ' + "[" * 100 + "]" * 100 + "}",
    ],
    ids=["integer beyond 2**53", "lone surrogate", "NaN", "nested 100 deep"],
)
async def test_json_the_yjs_documents_cannot_hold_is_400_and_nothing_is_written(
    start_server: ServerFactory, raw: str,
) -> None:
    # Found by schemathesis: pycrdt panicked on these (500, plain text, nothing logged).
    async with start_server(outbound_allow=LOOPBACK) as server:
        existing = await _seed(server)
        paragraph = existing.body_fields["paragraph_id"]
        headers = {"Authorization": f"Bearer {server.token('citizen', 'Élodie')}",
                   "Content-Type": "application/json"}
        async with httpx.AsyncClient(base_url=server.url, timeout=30) as client:
            answer = await client.post(
                "/api/documents/charte/annotations", headers=headers,
                content=(raw % paragraph).encode(),
            )
            assert answer.status_code == 400 and answer.json()["error"] == "bad_request"
            listed = await client.get("/api/documents/charte/annotations", headers=headers)
            assert len(listed.json()["annotations"]) == 1  # the seeded one only
