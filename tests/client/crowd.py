"""Several client sessions on one document, and waits over all of them (for tests/e2e).

Waits never poll: they wake on any session's `changed` event and check again.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from contextlib import AsyncExitStack, asynccontextmanager, contextmanager
from typing import Any

import anyio
from pycrdt import Doc, Text, XmlElement, XmlFragment, XmlText

import client
from client import Backoff, Session

NAMES = (
    "Zoé",
    "Élodie",
    "François",
    "Anaïs",
    "Loïc",
    "Hélène",
    "Jérôme",
    "Maëlle",
    "Benoît",
    "Céline",
)
FAST_BACKOFF = Backoff(initial=0.02, maximum=0.2)


@asynccontextmanager
async def crowd(
    url: str,
    doc_id: str,
    count: int,
    *,
    token: str | None = None,
    backoff: Backoff = FAST_BACKOFF,
) -> AsyncIterator[list[Session]]:
    """`count` sessions on `doc_id`, each synced before the block starts."""
    async with AsyncExitStack() as stack:
        sessions = [
            await stack.enter_async_context(client.connect(url, doc_id, token, backoff=backoff))
            for _ in range(count)
        ]
        for session in sessions:
            await session.synced()
        yield sessions


async def wait_any(events: Sequence[anyio.Event]) -> None:
    """Return once one of `events` is set."""
    async with anyio.create_task_group() as tg:

        async def wait_one(event: anyio.Event) -> None:
            await event.wait()
            tg.cancel_scope.cancel()

        for event in events:
            tg.start_soon(wait_one, event)


async def wait_all(sessions: Sequence[Session], predicate: Callable[[], bool]) -> None:
    """Wait until `predicate()` holds, checking again whenever any session changes.

    Raises:
        SessionClosed: one of the sessions ended.
    """
    while True:
        events = [session.changed for session in sessions]
        if predicate():
            return
        for session in sessions:
            if session.error is not None:
                raise session.error
        await wait_any(events)


def text_of(session: Session) -> str:
    """The ``texte`` Y.Text of a session."""
    return str(session.doc.get("texte", type=Text))


def xml_of(session: Session) -> str:
    """The ``default`` XmlFragment of a session, serialised."""
    return str(session.doc.get("default", type=XmlFragment))


def contents(session: Session) -> tuple[str, str]:
    """Everything the tests write: the text and the XML fragment."""
    return text_of(session), xml_of(session)


async def wait_converged(sessions: Sequence[Session]) -> tuple[str, str]:
    """Wait until every session holds the same contents; return them."""
    await wait_all(sessions, lambda: len({contents(session) for session in sessions}) == 1)
    return contents(sessions[0])


def add_paragraph(session: Session, index: int, text: str, *, paragraph_id: str) -> None:
    """Insert a ProseMirror paragraph with a stable id into the ``default`` fragment."""
    fragment = session.doc.get("default", type=XmlFragment)
    paragraph = XmlElement("paragraph", {"id": paragraph_id}, [XmlText(text)])
    fragment.children.insert(index, paragraph)


@contextmanager
def recorded(session: Session, reference: Doc[Any]) -> Iterator[None]:
    """Copy into `reference` the update made by the local edits inside the block.

    The block must not await: then nothing remote lands in between, and the difference
    from the state before the block is exactly what this client wrote.
    """
    before = session.doc.get_state()
    yield
    reference.apply_update(session.doc.get_update(before))
