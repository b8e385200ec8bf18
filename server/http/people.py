"""``/api/people``: who the server has seen and with which role; change a role, remove;
how a person is named in public (``PUT /people/{sub}/naming``) and all their data
(``GET /people/{sub}/data``, also at ``.../export``): themselves or facilitators;
erase a person (``POST /people/{sub}/erase``, facilitators: `server.modules.erasure`).

Facilitators only (`Action.LIST_PEOPLE`, `CHANGE_ROLE`, `REMOVE_PERSON`, on no document:
a token limited to some documents manages nobody). A change reaches the person's open
sockets on every node at once (`server.modules.people`). Nobody changes or removes
themselves (a facilitator would lock the assembly out by mistake).
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from server.access.auth import Principal, Role
from server.access.permissions import Action, require
from server.errors import Conflict, Invalid
from server.http.authorize import caller
from server.http.body import (
    JsonObject,
    int_param,
    only_fields,
    optional_json,
    read_json,
    text_field,
)
from server.http.context import ApiContext
from server.modules.erasure import ErasureService
from server.modules.people import ASSIGNABLE_ROLES, PeopleService, effective_role
from server.modules.personal_data import PersonalData
from server.modules.provenance import Provenance
from storage.people import SUB_LENGTH, Person, pseudonym_of


def people_routes(context: ApiContext, service: PeopleService) -> list[BaseRoute]:
    """The people endpoints, relative to ``/api``."""

    async def list_people(request: Request) -> Response:
        principal = await caller(request, context)
        require(principal, Action.LIST_PEOPLE, None)
        limit = int_param(request, "limit", 500, low=1, high=5000)
        people = await service.list(limit=limit)
        return JSONResponse({"people": [person_json(p) for p in people]})

    async def change(request: Request) -> Response:
        principal = await caller(request, context)
        require(principal, Action.CHANGE_ROLE, None)
        sub = _other(request, principal, "change the role of")
        body = await read_json(request, context.max_body_bytes)
        only_fields(body, {"role"})
        role = _role(body)
        person = await service.change_role(sub, role, principal)
        return JSONResponse(person_json(person))

    async def remove(request: Request) -> Response:
        principal = await caller(request, context)
        require(principal, Action.REMOVE_PERSON, None)
        sub = _other(request, principal, "remove")
        await service.remove(sub, principal)
        return Response(status_code=204)

    async def naming(request: Request) -> Response:
        principal = await caller(request, context)
        sub = _subject(request)
        require(principal, Action.OWN_DATA if sub == principal.sub else Action.OTHERS_DATA,
                None)
        body = await read_json(request, context.max_body_bytes)
        only_fields(body, {"named_publicly"})
        named = body.get("named_publicly")
        if not isinstance(named, bool):
            raise Invalid("'named_publicly' must be true or false")
        person = await service.set_named_publicly(sub, named, principal)
        return JSONResponse(person_json(person))

    personal_data = PersonalData(context.store, Provenance(context.store), context.seal)

    async def data(request: Request) -> Response:
        principal = await caller(request, context)
        sub = _subject(request)
        require(principal, Action.OWN_DATA if sub == principal.sub else Action.OTHERS_DATA,
                None)
        exported = await personal_data.export(sub)
        await context.governance.record(None, "person.data_exported", principal, {"sub": sub})
        return JSONResponse(exported, headers={
            "Content-Disposition": 'attachment; filename="palabre-personal-data.json"',
            "Cache-Control": "no-store"})

    erasure = ErasureService(context.store, context.hub, service, context.governance.record)

    async def erase(request: Request) -> Response:
        principal = await caller(request, context)
        require(principal, Action.ERASE_PERSON, None)
        body = await optional_json(request, context.max_body_bytes)
        only_fields(body, {"remove_words"})
        remove_words = body.get("remove_words", False)
        if not isinstance(remove_words, bool):
            raise Invalid("'remove_words' must be true or false")
        return JSONResponse(await erasure.erase(_subject(request), principal,
                                                remove_words=remove_words))

    return [
        Route("/people", list_people, methods=["GET"]),
        Route("/people/{sub}/erase", erase, methods=["POST"]),
        Route("/people/{sub}/data", data, methods=["GET"]),
        Route("/people/{sub}/export", data, methods=["GET"]),
        Route("/people/{sub}/naming", naming, methods=["PUT"]),
        Route("/people/{sub}", change, methods=["PATCH"]),
        Route("/people/{sub}", remove, methods=["DELETE"]),
    ]


def person_json(person: Person) -> JsonObject:
    """A person as the API shows them."""
    return {
        "sub": person.sub, "name": person.name, "role": effective_role(person),
        "credential_role": person.role, "first_seen": person.first_seen,
        "last_seen": person.last_seen, "removed": person.removed_at is not None,
        "removed_at": person.removed_at, "pseudonym": pseudonym_of(person.pseudonym),
        "named_publicly": person.named_publicly, "erased": person.erased_at is not None,
    }


def _subject(request: Request) -> str:
    sub = str(request.path_params["sub"])
    if len(sub) > SUB_LENGTH:
        raise Invalid(f"a subject is at most {SUB_LENGTH} characters")
    return sub


def _other(request: Request, principal: Principal, what: str) -> str:
    sub = _subject(request)
    if sub == principal.sub:
        raise Conflict(f"you may not {what} yourself")
    return sub


def _role(body: JsonObject) -> Role:
    raw = text_field(body, "role", required=True, max_length=32)
    assert raw is not None  # required
    allowed = ", ".join(str(r) for r in ASSIGNABLE_ROLES)
    try:
        role = Role(raw)
    except ValueError as exc:
        raise Invalid(f"role must be one of {allowed}") from exc
    if role not in ASSIGNABLE_ROLES:
        raise Invalid(f"role must be one of {allowed}")
    return role
