"""A simulated member of ``palabre scenario`` shows on the page as a person: name and caret."""

from __future__ import annotations

import random
import time

import anyio
from playwright.async_api import expect

from client.scenario.latency import LatencyTracker
from client.scenario.member import Member
from client.scenario.pace import Pace
from client.session import connect
from tests.browser.conftest import EditorsFactory, screenshot_path
from tests.browser.editor_page import TIMEOUT, paragraph_id

NAME = "Zoé Simulée"


async def test_a_simulated_member_appears_with_name_and_caret(editors: EditorsFactory) -> None:
    async with editors() as e:
        loic = await e.join("facilitator", "Loïc Ménard")
        target = await paragraph_id(loic, "Nancy")
        member = Member(index=0, name=NAME, token=e.server.token("member", NAME),
                        rng=random.Random(7))
        async with connect(e.server.url, e.doc_id, member.token, doc=member.doc) as session:
            with anyio.fail_after(15):
                await session.synced()
            # Two seconds of work at 20x human pace: reads, points, types, deletes.
            await member.attend(session, 1, target, until=time.monotonic() + 2,
                                pace=Pace(speed=20), tracker=LatencyTracker())
            assert member.edits > 0, "the member typed something"
            await expect(loic.locator("#presence")).to_contain_text(NAME, timeout=TIMEOUT)
            await expect(loic.locator(".collaboration-carets__label")).to_have_text(
                NAME, timeout=TIMEOUT)
            await loic.screenshot(path=screenshot_path("scenario-member"))
