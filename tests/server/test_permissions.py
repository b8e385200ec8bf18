"""The permission table: every role and action, ``docs`` patterns, frozen and public documents."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from crdt.protocol import CloseCode
from server.access.auth import PUBLIC, Principal, Role
from server.access.permissions import Action, is_allowed, is_covered, require
from server.errors import Forbidden

# DESIGN.md, "Users and what they do", restated here rather than imported, so a
# change to the table in server/permissions.py has to be made twice on purpose.
EXPECTED: dict[Role, set[Action]] = {
    Role.MEMBER: {Action.READ, Action.EDIT, Action.COMMENT, Action.CONTRIBUTE,
                  Action.PROPOSE_AMENDMENT, Action.SUPPORT_AMENDMENT, Action.VOTE,
                  Action.OWN_DATA, Action.RAISE_HAND},
    Role.FACILITATOR: set(Action),
    # Citizens propose amendments only once they are opened (tested below).
    Role.CITIZEN: {Action.READ, Action.COMMENT, Action.CONTRIBUTE, Action.SUPPORT_AMENDMENT,
                   Action.OWN_DATA},
    Role.PUBLIC: {Action.READ},
}


def principal(role: Role, docs: tuple[str, ...] | None = None) -> Principal:
    return Principal(sub=f"{role}-1", name="Élodie Lefèvre", role=role, docs=docs)


@pytest.mark.parametrize("action", list(Action))
@pytest.mark.parametrize("role", list(Role))
def test_role_grants_exactly_its_actions_on_a_public_document(role: Role, action: Action) -> None:
    allowed = is_allowed(principal(role), action, "constitution", doc_is_public=True)
    assert allowed is (action in EXPECTED[role])


@pytest.mark.parametrize("action", list(Action))
@pytest.mark.parametrize("role", [Role.MEMBER, Role.FACILITATOR, Role.CITIZEN])
def test_signed_in_roles_do_not_need_a_public_document(role: Role, action: Action) -> None:
    allowed = is_allowed(principal(role), action, "constitution", doc_is_public=False)
    assert allowed is (action in EXPECTED[role])


@pytest.mark.parametrize("action", list(Action))
def test_public_reads_nothing_on_a_document_that_is_not_public(action: Action) -> None:
    assert not is_allowed(PUBLIC, action, "constitution", doc_is_public=False)
    with pytest.raises(Forbidden, match=r"not public|may not"):
        require(PUBLIC, action, "constitution")


@pytest.mark.parametrize("action", list(Action))
@pytest.mark.parametrize("role", list(Role))
def test_server_wide_actions_follow_the_role(role: Role, action: Action) -> None:
    # Reading on no one document (listing) is filtered per document by the caller.
    assert is_allowed(principal(role), action, None) is (action in EXPECTED[role])


@pytest.mark.parametrize("role", list(Role))
def test_nobody_edits_a_frozen_document(role: Role) -> None:
    for open_comments in (False, True):
        assert not is_allowed(
            principal(role), Action.EDIT, "constitution", doc_is_public=True,
            doc_is_frozen=True, comments_open_when_frozen=open_comments,
        )


def test_facilitator_must_unfreeze_before_editing() -> None:
    with pytest.raises(Forbidden, match="frozen; unfreeze it to edit"):
        require(principal(Role.FACILITATOR), Action.EDIT, "constitution", doc_is_frozen=True)
    assert is_allowed(principal(Role.FACILITATOR), Action.FREEZE, "constitution",
                      doc_is_frozen=True)


@pytest.mark.parametrize("role", [Role.MEMBER, Role.FACILITATOR, Role.CITIZEN])
def test_comments_on_a_frozen_document_only_when_kept_open(role: Role) -> None:
    who = principal(role)
    assert not is_allowed(who, Action.COMMENT, "constitution", doc_is_frozen=True)
    assert is_allowed(
        who, Action.COMMENT, "constitution", doc_is_frozen=True, comments_open_when_frozen=True
    )
    with pytest.raises(Forbidden, match="closed to comments"):
        require(who, Action.COMMENT, "constitution", doc_is_frozen=True)


def test_public_never_comments_even_when_comments_stay_open() -> None:
    assert not is_allowed(
        PUBLIC, Action.COMMENT, "constitution", doc_is_public=True, doc_is_frozen=True,
        comments_open_when_frozen=True,
    )


@pytest.mark.parametrize(
    "action",
    [Action.READ, Action.MODERATE, Action.SNAPSHOT, Action.FREEZE, Action.ADOPT,
     Action.DECIDE_AMENDMENT, Action.SUPPORT_AMENDMENT, Action.VOTE],
)
def test_frozen_document_keeps_everything_but_editing_for_facilitators(action: Action) -> None:
    assert is_allowed(principal(Role.FACILITATOR), action, "constitution", doc_is_frozen=True)


def test_citizens_propose_amendments_only_when_they_are_opened() -> None:
    citizen = principal(Role.CITIZEN)
    with pytest.raises(Forbidden, match="not open to citizens"):
        require(citizen, Action.PROPOSE_AMENDMENT, "constitution")
    assert is_allowed(citizen, Action.PROPOSE_AMENDMENT, "constitution", amendments_open=True)
    assert not is_allowed(PUBLIC, Action.PROPOSE_AMENDMENT, "constitution",
                          doc_is_public=True, amendments_open=True)


@pytest.mark.parametrize("role", [Role.MEMBER, Role.FACILITATOR, Role.CITIZEN])
def test_a_frozen_text_takes_amendments_only_when_they_are_kept_open(role: Role) -> None:
    who = principal(role)
    with pytest.raises(Forbidden, match=r"frozen and closed to amendments|not open"):
        require(who, Action.PROPOSE_AMENDMENT, "constitution", doc_is_frozen=True)
    assert is_allowed(who, Action.PROPOSE_AMENDMENT, "constitution", doc_is_frozen=True,
                      amendments_open=True)


def test_accepting_an_amendment_edits_the_text_so_never_when_frozen() -> None:
    with pytest.raises(Forbidden, match="unfreeze it to apply_amendment"):
        require(principal(Role.FACILITATOR), Action.APPLY_AMENDMENT, "constitution",
                doc_is_frozen=True, amendments_open=True)


@pytest.mark.parametrize(
    ("doc_id", "covered"),
    [
        ("charte-paris", True),
        ("charte-paris.annotations", True),
        ("budget-2025", True),
        ("budget-2025.annotations", True),
        ("notes.annotations", True),
        ("notes", False),
        ("budget-2026", False),
        ("Charte-paris", False),
        ("xcharte-paris", False),
        ("autre.annotations", False),
        (".annotations", False),
    ],
)
def test_docs_claim_globs_and_annotations_companions(doc_id: str, covered: bool) -> None:
    patterns = ("charte-*", "budget-2025", "notes.annotations")
    assert is_covered(patterns, doc_id) is covered
    assert is_allowed(principal(Role.MEMBER, patterns), Action.READ, doc_id) is covered


def test_a_token_for_other_documents_is_forbidden_with_the_reason() -> None:
    with pytest.raises(Forbidden, match="not valid for document 'constitution'") as caught:
        require(principal(Role.FACILITATOR, ("charte-*",)), Action.READ, "constitution")
    assert caught.value.close_code == CloseCode.FORBIDDEN
    assert int(caught.value.close_code) == 4403
    assert caught.value.http_status == 403
    assert caught.value.error == "forbidden"


def test_an_empty_docs_claim_allows_no_document() -> None:
    assert not is_allowed(principal(Role.FACILITATOR, ()), Action.READ, "constitution")


@pytest.mark.parametrize(
    "action", [Action.CREATE_DOCUMENT, Action.REGISTER_WEBHOOK, Action.READ_AUDIT]
)
def test_a_limited_token_cannot_act_server_wide(action: Action) -> None:
    limited = principal(Role.FACILITATOR, ("charte-*",))
    with pytest.raises(Forbidden, match="limited to some documents"):
        require(limited, action, None)
    assert is_allowed(principal(Role.FACILITATOR), action, None)


def test_a_limited_facilitator_creates_only_matching_documents() -> None:
    limited = principal(Role.FACILITATOR, ("charte-*",))
    assert is_allowed(limited, Action.CREATE_DOCUMENT, "charte-lyon")
    assert not is_allowed(limited, Action.CREATE_DOCUMENT, "budget")


@pytest.mark.parametrize("role", list(Role))
def test_nobody_edits_an_annotations_document_directly(role: Role) -> None:
    who = principal(role)
    assert not is_allowed(who, Action.EDIT, "constitution.annotations", doc_is_public=True)
    assert is_allowed(who, Action.READ, "constitution.annotations", doc_is_public=True)
    assert is_allowed(who, Action.COMMENT, "constitution", doc_is_public=True) is (
        Action.COMMENT in EXPECTED[role]
    )


def test_require_names_the_role_and_the_action() -> None:
    with pytest.raises(Forbidden, match="role citizen may not edit"):
        require(principal(Role.CITIZEN), Action.EDIT, "constitution")


@given(
    role=st.sampled_from(list(Role)),
    action=st.sampled_from(list(Action)),
    doc_id=st.sampled_from(["charte-a", "charte-a.annotations", "budget", None]),
    patterns=st.lists(st.sampled_from(["charte-*", "budget", "*", "x?"]), max_size=3),
    flags=st.tuples(st.booleans(), st.booleans(), st.booleans()),
)
def test_a_docs_claim_never_grants_more_than_no_claim(
    role: Role,
    action: Action,
    doc_id: str | None,
    patterns: list[str],
    flags: tuple[bool, bool, bool],
) -> None:
    public, frozen, open_comments = flags
    options = {
        "doc_is_public": public, "doc_is_frozen": frozen,
        "comments_open_when_frozen": open_comments,
    }
    limited = is_allowed(principal(role, tuple(patterns)), action, doc_id, **options)
    unlimited = is_allowed(principal(role), action, doc_id, **options)
    assert not limited or unlimited
