"""Citizens comment paragraph by paragraph over the API, reply to each other; a
facilitator resolves or hides some. Every comment is remembered with the paragraph it
was made on and that paragraph's text at the time, for the checks."""

from __future__ import annotations

import random
from dataclasses import dataclass, field

import anyio

from client.api import ApiError
from client.scenario._api import AssemblyApi
from client.scenario.phrases import comment, reply

CONCURRENT_CITIZENS = 16
"""Citizens commenting at the same moment (each with its own HTTP client)."""
REPLY_SHARE = 0.3
"""Share of citizens who also reply to an earlier comment."""
QUOTE_CHARS = 240
"""A comment quotes the start of its paragraph, up to this many characters."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Target:
    """A paragraph open for comments: its id, its article and its text right now."""

    paragraph_id: str
    article: str
    text: str


@dataclass(frozen=True, slots=True, kw_only=True)
class Citizen:
    """A person commenting through the API with their own token."""

    name: str
    token: str


@dataclass(slots=True)
class Thread:
    """One comment as it was made, and the replies and status it should end with."""

    annotation_id: str
    paragraph_id: str
    quote: str
    text_then: str
    """The paragraph's whole text when the comment was made."""
    made_when: str
    replies: int = 0
    status: str = "open"


@dataclass(slots=True)
class Discussion:
    """Every comment made during the run, in order."""

    threads: list[Thread] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)
    """Comments and replies the server refused (each a failure of the run)."""

    @property
    def replies(self) -> int:
        """Replies made in all."""
        return sum(thread.replies for thread in self.threads)

    async def comment_wave(
        self, url: str, doc_id: str, citizens: list[Citizen], targets: list[Target], *,
        when: str, rng: random.Random,
    ) -> None:
        """Each citizen comments the next paragraph in turn; some also reply to a comment.

        Raises:
            ApiError: the server refused a comment or a reply.
        """
        if not targets:
            return
        limiter = anyio.CapacityLimiter(CONCURRENT_CITIZENS)
        plans = [(citizen, targets[n % len(targets)], rng.random() < REPLY_SHARE,
                  random.Random(rng.random())) for n, citizen in enumerate(citizens)]

        async def speak(citizen: Citizen, target: Target, replies: bool,
                        own: random.Random) -> None:
            async with limiter, AssemblyApi(url, citizen.token) as api:
                quote = target.text[:QUOTE_CHARS]
                try:
                    made = await api.add_annotation(
                        doc_id, target.paragraph_id, comment(own, target.article), quote=quote,
                    )
                except ApiError as exc:
                    self.refused.append(f"{citizen.name}'s comment: {exc}")
                    return
                self.threads.append(Thread(annotation_id=str(made["id"]),
                                           paragraph_id=target.paragraph_id, quote=quote,
                                           text_then=target.text, made_when=when))
                if replies and len(self.threads) > 1:
                    thread = own.choice(self.threads[:-1])
                    try:
                        await api.reply(doc_id, thread.annotation_id, reply(own))
                    except ApiError as exc:
                        self.refused.append(f"{citizen.name}'s reply: {exc}")
                    else:
                        thread.replies += 1

        async with anyio.create_task_group() as tg:
            for plan in plans:
                tg.start_soon(speak, *plan)

    async def moderate(self, api: AssemblyApi, doc_id: str) -> None:
        """The facilitator resolves one comment in ten and hides one in twenty.

        Raises:
            ApiError: the server refused.
        """
        for n, thread in enumerate(self.threads):
            status = "resolved" if n % 10 == 3 else "hidden" if n % 20 == 7 else None
            if status is not None:
                await api.set_status(doc_id, thread.annotation_id, status)
                thread.status = status
