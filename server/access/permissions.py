"""Who may do what: the one table of roles, actions and documents. Pure: no I/O, no clock.

Every permission check in palabre goes through `is_allowed` or `require`, for the
socket and the HTTP API alike, so the rules below are the whole policy:

1. the role must grant the action (`ROLE_ACTIONS`);
2. a token with a ``docs`` claim acts only on documents matching one of its
   patterns (``fnmatch`` globs, case-sensitive); ``D.annotations`` matches when
   ``D`` does; an action on no document (``doc_id=None``) needs an unlimited token;
3. the `public` role reads only documents marked public;
4. annotations documents are written by the server only: clients comment
   through the API, so nobody edits ``D.annotations`` directly;
5. on a frozen document nobody edits, facilitators included (they unfreeze
   first), and comments are taken only when the document keeps them open;
6. amendments: members propose them on a text that is not frozen; citizens only when
   the facilitators opened amendments on it, which also keeps them open on a frozen
   text; accepting one edits the text, so never on a frozen text;
7. a data document holding items some readers may not see (an ``actors`` map's
   unpublished proposals) is read whole (over a socket, as a Yjs snapshot) only by who
   may edit it (`whole_read_action`); the others read their view through the API;
8. names: members and facilitators see people's real names and subjects; citizens and
   the public see pseudonyms (`sees_real_names`), over a socket on ``D.annotations``
   a public view of it (`server.rooms.projection`).

Which fields of a ``data`` document each action covers (``history`` kept by the server,
monitoring entries editable by their author only, themes for moderators) is in
`server.modules.data_rules`, which asks this table for the action it needs.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum
from fnmatch import fnmatchcase
from types import MappingProxyType
from typing import Final, TypedDict, Unpack

from crdt.doc_id import ANNOTATIONS_SUFFIX
from server.access.auth import Principal, Role
from server.errors import Forbidden


class Action(StrEnum):
    """Something a principal asks to do, on a document or on the server."""

    READ = "read"
    EDIT = "edit"
    COMMENT = "comment"
    MODERATE = "moderate"
    SNAPSHOT = "snapshot"
    FREEZE = "freeze"
    """Freeze or unfreeze."""
    ADOPT = "adopt"
    CREATE_DOCUMENT = "create_document"
    REGISTER_WEBHOOK = "register_webhook"
    READ_AUDIT = "read_audit"
    CONTRIBUTE = "contribute"
    """Add one's own entry to a data document open to contributions (monitoring)."""
    PROPOSE_AMENDMENT = "propose_amendment"
    SUPPORT_AMENDMENT = "support_amendment"
    """Support an amendment, or take one's support back."""
    DECIDE_AMENDMENT = "decide_amendment"
    """Reject, put to a vote, rebase anyone's amendment, open amendments to citizens."""
    APPLY_AMENDMENT = "apply_amendment"
    """Accept an amendment: the server writes its wording into the live text."""
    VOTE = "vote"
    """Cast a ballot in a vote of a session one attends."""
    LIST_PEOPLE = "list_people"
    """See who the server has seen, with their roles."""
    CHANGE_ROLE = "change_role"
    """Give a person another role (live on their open sockets)."""
    REMOVE_PERSON = "remove_person"
    """Revoke every credential of a person (their open sockets close)."""
    INVITE = "invite"
    """Create, list and revoke invitations."""
    OWN_DATA = "own_data"
    """Download one's own personal data; choose whether to be named in public."""
    OTHERS_DATA = "others_data"
    """Download anyone's personal data; change anyone's naming in public."""
    ERASE_PERSON = "erase_person"
    """Erase a person's personal data (their name and subject become their pseudonym)."""
    RUN_SESSION = "run_session"
    """Open and close a document's sessions, give the floor, lower anyone's hand."""
    RAISE_HAND = "raise_hand"
    """Raise or lower one's own hand in the speaking queue of an open session."""


ROLE_ACTIONS: Final[Mapping[Role, frozenset[Action]]] = MappingProxyType({
    Role.MEMBER: frozenset({
        Action.READ, Action.EDIT, Action.COMMENT, Action.CONTRIBUTE,
        Action.PROPOSE_AMENDMENT, Action.SUPPORT_AMENDMENT, Action.VOTE, Action.OWN_DATA,
        Action.RAISE_HAND,
    }),
    Role.FACILITATOR: frozenset(Action),
    Role.CITIZEN: frozenset({
        Action.READ, Action.COMMENT, Action.CONTRIBUTE,
        Action.PROPOSE_AMENDMENT, Action.SUPPORT_AMENDMENT, Action.OWN_DATA,
    }),
    Role.PUBLIC: frozenset({Action.READ}),
})
"""What each role may do at most; the rules on documents below only take away."""

_ONLY_ON_PUBLIC_DOCUMENTS: Final = frozenset({Role.PUBLIC})
_NEVER_ON_ANNOTATIONS: Final = frozenset({Action.EDIT})
_NEVER_WHEN_FROZEN: Final = frozenset({Action.EDIT, Action.CONTRIBUTE, Action.APPLY_AMENDMENT})
_OPEN_WHEN_FROZEN_IF_ALLOWED: Final = frozenset({Action.COMMENT})
_OPEN_WHEN_FROZEN_IF_AMENDMENTS_OPEN: Final = frozenset({Action.PROPOSE_AMENDMENT})
_ONLY_WHEN_AMENDMENTS_OPEN: Final = frozenset({Role.CITIZEN})
"""Roles that propose amendments only once the facilitators opened them."""


class DocumentState(TypedDict, total=False):
    """What a rule may need to know of the document itself (all false when not given)."""

    doc_is_public: bool
    doc_is_frozen: bool
    comments_open_when_frozen: bool
    amendments_open: bool


def is_allowed(
    principal: Principal, action: Action, doc_id: str | None, **state: Unpack[DocumentState]
) -> bool:
    """Whether `principal` may do `action` on `doc_id` (``None``: on no one document)."""
    return _denial(principal, action, doc_id, **state) is None


def require(
    principal: Principal, action: Action, doc_id: str | None, **state: Unpack[DocumentState]
) -> None:
    """Return if `principal` may do `action` on `doc_id`; raise saying why not otherwise.

    Raises:
        Forbidden: the role, the token's ``docs`` claim or the document's state
            (not public, frozen, an annotations document) forbid the action.
    """
    reason = _denial(principal, action, doc_id, **state)
    if reason is not None:
        raise Forbidden(reason)


def is_covered(patterns: tuple[str, ...] | None, doc_id: str) -> bool:
    """Whether a ``docs`` claim covers `doc_id` (``D.annotations`` goes with ``D``)."""
    if patterns is None:
        return True
    candidates = [doc_id]
    if doc_id.endswith(ANNOTATIONS_SUFFIX) and len(doc_id) > len(ANNOTATIONS_SUFFIX):
        candidates.append(doc_id.removesuffix(ANNOTATIONS_SUFFIX))
    return any(fnmatchcase(c, p) for c in candidates for p in patterns)


def _denial(
    principal: Principal, action: Action, doc_id: str | None, **state: Unpack[DocumentState]
) -> str | None:
    role = principal.role
    if action not in ROLE_ACTIONS[role]:
        return f"role {role} may not {action}"
    amendments_open = state.get("amendments_open", False)
    if (action == Action.PROPOSE_AMENDMENT and role in _ONLY_WHEN_AMENDMENTS_OPEN
            and not amendments_open):
        return f"amendments to {doc_id or 'this document'!r} are not open to citizens"
    if doc_id is None:
        if principal.docs is not None:
            return f"a token limited to some documents may not {action}"
        return None
    if not is_covered(principal.docs, doc_id):
        return f"this token is not valid for document {doc_id!r}"
    if role in _ONLY_ON_PUBLIC_DOCUMENTS and not state.get("doc_is_public"):
        return f"document {doc_id!r} is not public"
    if action in _NEVER_ON_ANNOTATIONS and doc_id.endswith(ANNOTATIONS_SUFFIX):
        return f"{doc_id!r} is written by the server only; comment through the API"
    if state.get("doc_is_frozen") and not is_open_when_frozen(
        action, comments_open=state.get("comments_open_when_frozen", False),
        amendments_open=amendments_open,
    ):
        if action in _NEVER_WHEN_FROZEN:
            return f"document {doc_id!r} is frozen; unfreeze it to {action}"
        if action in _OPEN_WHEN_FROZEN_IF_AMENDMENTS_OPEN:
            return f"document {doc_id!r} is frozen and closed to amendments"
        return f"document {doc_id!r} is frozen and closed to comments"
    return None


HIDES_ITEMS_FROM_READERS: Final = frozenset({"actors"})
"""Data schemas whose documents hold items that not every reader may see."""


NAME_READERS: Final = frozenset({Role.MEMBER, Role.FACILITATOR})
"""Who sees real names and subjects: those who work on the text together, live."""


def sees_real_names(principal: Principal) -> bool:
    """Whether `principal` sees people's real names and subjects (rule 8)."""
    return principal.role in NAME_READERS


def whole_read_action(schema: str | None) -> Action:
    """The action that reading a document whole (its CRDT state) needs: `Action.READ`,
    or `Action.EDIT` for a schema in `HIDES_ITEMS_FROM_READERS` (rule 7)."""
    return Action.EDIT if schema in HIDES_ITEMS_FROM_READERS else Action.READ


def is_open_when_frozen(
    action: Action, *, comments_open: bool, amendments_open: bool = False
) -> bool:
    """The freeze rule: whether a frozen document still takes `action` (its role and
    token permitting). Sockets (`Room.receive_update`) and the API both apply it."""
    if action in _NEVER_WHEN_FROZEN:
        return False
    if action in _OPEN_WHEN_FROZEN_IF_AMENDMENTS_OPEN:
        return amendments_open
    return comments_open or action not in _OPEN_WHEN_FROZEN_IF_ALLOWED


def may_create_on_connect(principal: Principal, doc_id: str, policy: str) -> bool:
    """Whether a socket of `principal` to the unknown id `doc_id` creates that document.

    `policy` is ``PALABRE_CREATE_ON_CONNECT``: ``facilitators`` (whoever has the create
    right there), ``members`` (also whoever may edit it), ``none`` (nobody: documents are
    made with ``POST /api/documents`` only).
    """
    if policy == "none":
        return False
    if is_allowed(principal, Action.CREATE_DOCUMENT, doc_id):
        return True
    return policy == "members" and is_allowed(principal, Action.EDIT, doc_id)
