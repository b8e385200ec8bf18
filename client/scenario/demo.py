"""``palabre demo``: a small living assembly a person can open right after ``make run``.

`LOADERS` is the list of demo loaders, each an async function that loads one example
through the API and the socket, idempotently (a second run finds it there and adds
nothing), and returns a line saying what is there. Other modules add their example with
one line: ``LOADERS.append(load_catalogue)``.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from functools import partial
from typing import Any

import anyio
from pycrdt import Doc, XmlText

from client.api import NotFound
from client.examples import create_example
from client.scenario._api import AssemblyApi
from client.scenario.people import TokenMinter, person_name
from client.scenario.runner import charter
from client.session import connect
from crdt.schema import find_element, plain_text
from crdt.schemas import SCHEMA_NAMES

DEMO_DOC = "charte-demo"
SYNC_TIMEOUT = 30.0


@dataclass(frozen=True, slots=True, kw_only=True)
class DemoTarget:
    """Where to load: a server's URL, a facilitator's token, and tokens for others."""

    url: str
    token: str
    mint: TokenMinter | None = None

    def token_for(self, role: str, name: str, sub: str) -> str:
        """A token for a demo person (the facilitator's own when none can be minted)."""
        return self.token if self.mint is None else self.mint(role, name, sub)


DemoLoader = Callable[[DemoTarget], Awaitable[str]]

_STAGES = (
    ("premier jet", "Avant-projet", ()),
    ("auditions", "Après les auditions", (
        (0, "Après l'audition des associations, l'assemblée propose que chaque avis soit "
            "présenté en conseil municipal."),
        (3, "Les séances du soir sont accompagnées d'une garde d'enfants gratuite."),
    )),
    ("finalisation", "Texte de travail", (
        (1, "Un bilan public est présenté chaque année en réunion ouverte."),
        (5, "Les habitants sans accès à internet peuvent voter à la mairie."),
    )),
)
"""Each stage: its name, the snapshot label, and sentences members add before it."""

_COMMENTS = (
    (0, "Qui décide, au juste, quand l'avis de l'assemblée n'est pas suivi ?",
     "Le conseil municipal, qui doit motiver sa réponse par écrit."),
    (2, "Seize ans, c'est bien : pourquoi pas dès quatorze ans ?", None),
    (3, "Les hameaux doivent avoir au moins un siège chacun.",
     "D'accord, c'est prévu dans la répartition par quartiers."),
    (5, "Cinq pour cent, c'est peu : la ville voisine en consacre dix.", None),
    (7, "Merci de préciser le délai de publication des comptes rendus.",
     "Un mois après chaque séance, voir l'article 8."),
)
"""(paragraph index, comment, reply or None)."""


async def load_charter(target: DemoTarget) -> str:
    """The draft charter through three archived stages, with comments and replies."""
    async with AssemblyApi(target.url, target.token) as api:
        try:
            await api.get_document(DEMO_DOC)
        except NotFound:
            await api.create_document(DEMO_DOC, "Charte de la participation (démo)",
                                      markdown=charter(), is_public=True)
        labels = {str(s["label"]) for s in await api.list_snapshots(DEMO_DOC)}
        paragraphs = await _paragraphs(api)
        for stage, label, additions in _STAGES:
            if label in labels:
                continue
            await _add_sentences(target, paragraphs, additions)
            await api.create_snapshot(DEMO_DOC, label, stage)
        if not await api.list_annotations(DEMO_DOC):
            await _discuss(target, api, paragraphs)
        snapshots = len(await api.list_snapshots(DEMO_DOC))
        comments = len(await api.list_annotations(DEMO_DOC))
    return f"{DEMO_DOC}: {snapshots} snapshots, {comments} comments"


async def load_data_examples(target: DemoTarget) -> str:
    """The other modules' examples: a project catalogue, a library, monitoring, an agenda."""
    made = []
    async with AssemblyApi(target.url, target.token) as api:
        for schema in SCHEMA_NAMES:
            doc_id = f"exemple-{schema}"
            try:
                await api.get_document(doc_id)
            except NotFound:
                await create_example(api, schema, doc_id)
            made.append(doc_id)
    return "data examples: " + ", ".join(f"/embed/{doc_id}" for doc_id in made)


LOADERS: list[DemoLoader] = [load_charter, load_data_examples]


async def load_demo(target: DemoTarget, loaders: list[DemoLoader] | None = None) -> list[str]:
    """Run every loader in turn; the line each returned.

    Raises:
        ApiError: the server refused a step.
    """
    return [await loader(target) for loader in (LOADERS if loaders is None else loaders)]


async def _paragraphs(api: AssemblyApi) -> list[str]:
    blocks = json.loads(await api.get_content(DEMO_DOC, "json"))["blocks"]
    return [str(b["id"]) for b in blocks if b["type"] == "paragraph" and "parent_id" not in b]


async def _add_sentences(
    target: DemoTarget, paragraphs: list[str], additions: tuple[tuple[int, str], ...]
) -> None:
    """Members append sentences over the socket (skipping any already there); returns
    once the facilitator's own socket saw them, so the server has committed them."""
    async with connect(target.url, DEMO_DOC, target.token) as desk:
        with anyio.fail_after(SYNC_TIMEOUT):
            await desk.synced()
        for n, (index, sentence) in enumerate(additions):
            if sentence in _paragraph_text(desk.doc, paragraphs[index]):
                continue
            name = person_name("member", n)
            token = target.token_for("member", name, f"demo-member-{n}")
            async with connect(target.url, DEMO_DOC, token) as session:
                with anyio.fail_after(SYNC_TIMEOUT):
                    await session.synced()
                element = find_element(session.doc, paragraphs[index])
                text = list(element.children)[-1] if element is not None else None
                if not isinstance(text, XmlText):
                    continue
                text.insert(len(text), " " + sentence)  # len() counts UTF-8 bytes, as insert
                with anyio.fail_after(SYNC_TIMEOUT):
                    await desk.wait_for(partial(_holds, desk.doc, paragraphs[index], sentence))


def _paragraph_text(doc: Doc[Any], paragraph_id: str) -> str:
    element = find_element(doc, paragraph_id)
    return "" if element is None else plain_text(element)


def _holds(doc: Doc[Any], paragraph_id: str, sentence: str) -> bool:
    return sentence in _paragraph_text(doc, paragraph_id)


async def _discuss(target: DemoTarget, api: AssemblyApi, paragraphs: list[str]) -> None:
    """Citizens comment some paragraphs; members reply; one thread is resolved."""
    for n, (index, body, answer) in enumerate(_COMMENTS):
        name = person_name("citizen", n)
        async with AssemblyApi(target.url,
                               target.token_for("citizen", name, f"demo-citizen-{n}")) as own:
            made = await own.add_annotation(DEMO_DOC, paragraphs[index], body)
        if answer is not None:
            member = person_name("member", n)
            async with AssemblyApi(target.url,
                                   target.token_for("member", member, f"demo-member-{n}")) as mem:
                await mem.reply(DEMO_DOC, str(made["id"]), answer)
        if n == 0:
            await api.set_status(DEMO_DOC, str(made["id"]), "resolved")
