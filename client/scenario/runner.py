"""The assembly's whole cycle against a running server, then every check.

Import the draft charter; a first wave of citizens comments it, four amend it; N sessions
where M members edit at human pace (sped up) while the facilitator archives each stage; a
sitting votes on the amendments (`client.scenario.amending`); adoption; the
other citizens comment the adopted text, reply, and the facilitator moderates; then the
checks of `client.scenario.verify`. One event loop drives everyone: light clients.
"""

from __future__ import annotations

import base64
import json
import random
import secrets
import time
from contextlib import AsyncExitStack
from importlib import resources
from typing import Any

import anyio
from pycrdt import Doc

from client.errors import SessionError
from client.scenario._api import AssemblyApi
from client.scenario.amending import Amending
from client.scenario.checks import Checks
from client.scenario.citizens import Citizen, Discussion, Target
from client.scenario.config import ScenarioConfig
from client.scenario.latency import LatencyTracker, percentile
from client.scenario.layout import Layout
from client.scenario.member import Member, ParagraphGone, track_arrivals
from client.scenario.minutes import Sitting, check_minutes
from client.scenario.pace import Pace
from client.scenario.people import person_name, person_sub
from client.scenario.report import Report
from client.scenario.serverstats import ServerSample, sample
from client.scenario.stages import Archive, converge, stage_name
from client.scenario.verify import verify_all
from client.session import Session, connect
from crdt.convert import to_json

TITLE = "Charte de la participation citoyenne"
SYNC_TIMEOUT = 60.0


def charter() -> str:
    """The draft charter the assembly starts from (20 articles, French)."""
    return resources.files("client.scenario").joinpath("charte.md").read_text(encoding="utf-8")


class Scenario:
    """One run: its people, what they did, and what was archived."""

    def __init__(self, config: ScenarioConfig) -> None:
        self.config = config
        self.run_id = secrets.token_hex(3)
        self.doc_id = config.doc_id or f"assemblee-{self.run_id}"
        self.rng = random.Random(config.seed)
        self.pace = Pace(speed=config.speed)
        self.checks = Checks()
        self.tracker = LatencyTracker()
        self.discussion = Discussion()
        self.archive = Archive()
        self.members = [
            Member(index=n, name=person_name("member", n), token=self._token("member", n),
                   rng=random.Random(self.rng.random()))
            for n in range(config.members)
        ]
        self.citizens = [Citizen(name=person_name("citizen", n), token=self._token("citizen", n))
                         for n in range(config.citizens)]
        self.samples: list[ServerSample] = []
        self.facilitator_name = token_name(config.facilitator_token)
        self.amending: Amending | None = None

    def _token(self, kind: str, index: int) -> str:
        mint = self.config.mint
        if mint is None:
            return self.config.facilitator_token
        return mint(kind, person_name(kind, index), person_sub(self.run_id, kind, index))

    async def run(self) -> Report:
        """Play the whole cycle, then check it; the report says what held."""
        config, say = self.config, self.config.say
        started = time.monotonic()
        self.samples.append(await sample(config.url))
        async with AssemblyApi(config.url, config.facilitator_token) as api:
            await api.create_document(self.doc_id, TITLE, markdown=charter())
            say(f"document {self.doc_id}: the draft charter is imported")
            if config.watch:
                say(f"watch it: {config.url.rstrip('/')}/d/{self.doc_id}"
                    f"?token={config.facilitator_token}")
            async with connect(config.url, self.doc_id, config.facilitator_token) as desk:
                with anyio.fail_after(SYNC_TIMEOUT):
                    await desk.synced()
                layout = Layout.read(desk.doc)
                await self._first_comments(desk, layout)
                if Amending.possible(self.citizens, layout):
                    self.amending = Amending(self.doc_id)
                    await self.amending.propose(api, config.url, desk.doc, layout, self.citizens,
                                                per_person=config.mint is not None)
                    say("4 citizens amended the first draft")
                for session_no in range(1, config.sessions + 1):
                    await self._session(api, desk, layout, session_no)
                if self.amending is not None:
                    await self._examine(api, desk, config.sessions + 1)
            adopted = await api.adopt(self.doc_id, "Charte adoptée", comments_open=True)
            await self.archive.keep(api, self.doc_id, adopted, session_no=None)
            say(f"adopted as snapshot #{adopted['number']}")
            await self._last_comments(api, layout)
            await self.discussion.moderate(api, self.doc_id)
            self.samples.append(await sample(config.url))
            if config.before_checks is not None:
                await config.before_checks(self.doc_id)
            await verify_all(self, api)
        return Report.build(self, wall_seconds=time.monotonic() - started,
                            p50=percentile(self.tracker.samples, 0.50),
                            p99=percentile(self.tracker.samples, 0.99))

    async def _first_comments(self, desk: Session, layout: Layout) -> None:
        """A quarter of the citizens comment the draft, on paragraphs about to change."""
        first = self.citizens[: len(self.citizens) // 4]
        targets = [self._target(desk.doc, layout, pid)
                   for pid in layout.assigned(1, len(self.members)) if pid is not None]
        await self.discussion.comment_wave(self.config.url, self.doc_id, first, targets,
                                           when="avant-projet", rng=self.rng)

    async def _last_comments(self, api: AssemblyApi, layout: Layout) -> None:
        """The other citizens comment the adopted text, paragraph by paragraph."""
        rest = self.citizens[len(self.citizens) // 4 :]
        adopted = self.archive.records[-1].blocks
        texts = {str(block["id"]): str(block["text"]) for block in adopted}
        targets = [Target(paragraph_id=pid, article=layout.articles[pid], text=texts[pid])
                   for pid in layout.paragraphs if pid in texts]
        await self.discussion.comment_wave(self.config.url, self.doc_id, rest, targets,
                                           when="après adoption", rng=self.rng)

    def _target(self, doc: Doc[Any], layout: Layout, paragraph_id: str) -> Target:
        blocks = to_json(doc)["blocks"]
        assert isinstance(blocks, list)
        text = next(str(b["text"]) for b in blocks
                    if isinstance(b, dict) and b["id"] == paragraph_id)
        return Target(paragraph_id=paragraph_id, article=layout.articles[paragraph_id],
                      text=text)

    async def _session(
        self, api: AssemblyApi, desk: Session, layout: Layout, session_no: int
    ) -> None:
        """Members connect, work until the session's end, converge; the stage is archived."""
        config = self.config
        assignment = layout.assigned(session_no, len(self.members))
        kind = "training" if session_no == 1 else "work"
        opened = await api.open_session(self.doc_id, f"Séance {session_no}", kind)
        number = int(str(opened["number"]))
        sitting = Sitting(number=number, attendees={
            *(m.name for m in self.members), self.facilitator_name})
        before = Sitting.counts(self.members)
        async with AsyncExitStack() as stack:
            sessions = [await stack.enter_async_context(
                connect(config.url, self.doc_id, member.token, doc=member.doc))
                for member in self.members]
            with anyio.fail_after(SYNC_TIMEOUT):
                for session in sessions:
                    await session.synced()
            until = time.monotonic() + self.pace.seconds(config.session_seconds)
            failures: list[str] = []
            async with anyio.create_task_group() as watchers:
                for session in sessions:
                    watchers.start_soon(track_arrivals, session, self.tracker)
                async with anyio.create_task_group() as work:
                    for member, session, paragraph_id in zip(
                        self.members, sessions, assignment, strict=True
                    ):
                        work.start_soon(self._attend, member, session, session_no,
                                        paragraph_id, layout, until, failures)
                ok, detail = await converge([desk, *sessions], self.members, session_no,
                                            api, self.doc_id)
                watchers.cancel_scope.cancel()
            sitting.floor = await self._speak(api, number)
            if failures:
                ok, detail = False, "; ".join(failures[:5])
            self.checks.record(f"session {session_no}: every client converged", ok, detail)
        snapshot = await api.create_snapshot(
            self.doc_id, f"Séance {session_no}", stage_name(session_no, config.sessions)
        )
        await self.archive.keep(api, self.doc_id, snapshot, session_no=session_no)
        sitting.snapshot_number = int(str(snapshot["number"]))
        sitting.wrote(before, self.members)
        minutes = await api.close_session(self.doc_id, number)
        check_minutes(self.checks, sitting, minutes, per_person=config.mint is not None)
        self.samples.append(await sample(config.url))
        edits = sum(member.edits for member in self.members)
        config.say(f"session {session_no}/{config.sessions}: {edits} edits so far, "
                   f"snapshot #{snapshot['number']} ({'converged' if ok else 'DIVERGED'})")

    async def _examine(self, api: AssemblyApi, desk: Session, session_no: int) -> None:
        """A sitting that votes on the amendments while members type; archived as a stage."""
        config, amending = self.config, self.amending
        assert amending is not None
        opened = await api.open_session(self.doc_id, "Examen des amendements", "work")
        number = int(str(opened["number"]))
        async with AsyncExitStack() as stack:
            sessions = [await stack.enter_async_context(
                connect(config.url, self.doc_id, member.token, doc=member.doc))
                for member in self.members]
            with anyio.fail_after(SYNC_TIMEOUT):
                for session in sessions:
                    await session.synced()
            await amending.sitting(api, config.url, self.members, sessions, self.pace,
                                   self.checks, self.rng)
            ok, detail = await converge([desk, *sessions], self.members, session_no,
                                        api, self.doc_id)
            self.checks.record("amendment sitting: every client converged", ok, detail)
        snapshot = await api.create_snapshot(
            self.doc_id, "Examen des amendements", stage_name(session_no, config.sessions))
        await self.archive.keep(api, self.doc_id, snapshot, session_no=session_no)
        minutes = await api.close_session(self.doc_id, number)
        voters = len(self.members) if config.mint is not None else 1
        await amending.verify(api, desk.doc, minutes, self.checks, voters)
        config.say(f"amendment sitting: vote closed, snapshot #{snapshot['number']}")

    async def _speak(self, api: AssemblyApi, number: int) -> str | None:
        """Two members raise their hand, the facilitator gives the floor to the first."""
        speakers = self.members[:2] if self.config.mint is not None else []
        for member in speakers:
            async with AssemblyApi(self.config.url, member.token) as own:
                await own.raise_hand(self.doc_id, number)
        if not speakers:
            return "the facilitator (one token for all)"
        queue = await api.give_floor(self.doc_id, number)
        floor = queue.get("floor")
        given = str(floor.get("name")) if isinstance(floor, dict) else None
        return given if given == speakers[0].name else None

    async def _attend(
        self, member: Member, session: Session, session_no: int, paragraph_id: str | None,
        layout: Layout, until: float, failures: list[str],
    ) -> None:
        try:
            if paragraph_id is None:
                await member.listen(session, layout.paragraphs, until=until, pace=self.pace)
            else:
                await member.attend(session, session_no, paragraph_id, until=until,
                                    pace=self.pace, tracker=self.tracker)
        except (ParagraphGone, SessionError) as exc:
            failures.append(f"{member.name}: {exc}")


def token_name(token: str) -> str:
    """The ``name`` claim of a JWT, read without checking it (the server checks it)."""
    try:
        payload = token.split(".")[1]
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    except (IndexError, ValueError):
        return ""
    name = claims.get("name") if isinstance(claims, dict) else None
    return str(name or claims.get("sub", "")) if isinstance(claims, dict) else ""


async def run_scenario(config: ScenarioConfig) -> Report:
    """Run the whole cycle against ``config.url`` and check it; see `Report.exit_code`.

    Raises:
        ApiError: the server refused a step the scenario cannot go on without.
    """
    return await Scenario(config).run()
