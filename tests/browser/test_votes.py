"""The vote panel in the page: a facilitator puts two amendments to a vote during an open
session, members present vote (and change a vote) from their pages, every page follows
the tally live, the facilitator closes it and the accepted wording reaches every editor."""

from __future__ import annotations

import httpx
from playwright.async_api import Page, expect

from tests.browser.conftest import AMELIE, CARLA, LOIC, Editors, EditorsFactory, screenshot_path
from tests.browser.editor_page import TIMEOUT, block_texts, paragraph_id

BRUNO = ("member", "Bruno Ganz")
OLD = "La présente charte définit la participation citoyenne à Nancy."
ACCEPTED = "La présente charte garantit la participation citoyenne à Nancy."
REJECTED_WORDS = "tirés au sort chaque année"


async def propose(e: Editors, who: tuple[str, str], paragraph: str, text: str) -> str:
    """Submit a `replace` amendment through the API as `who`; its id."""
    token = e.server.token(*who)
    async with httpx.AsyncClient(base_url=e.server.url) as client:
        response = await client.post(
            f"/api/documents/{e.doc_id}/amendments",
            headers={"Authorization": f"Bearer {token}"},
            json={"paragraph_id": paragraph, "kind": "replace", "text": text})
    assert response.status_code == 201, response.text
    amendment_id: str = response.json()["id"]
    return amendment_id


async def vote(page: Page, amendment_id: str, choice: str) -> None:
    """Click `choice` on `amendment_id` in the page's vote panel, and wait for it to show."""
    item = page.locator(f"#votes .vote-item[data-amendment='{amendment_id}']")
    await item.locator(f"button[data-choice={choice}]").click()
    await expect(item.locator(f"button[data-choice={choice}]")).to_have_attribute(
        "aria-pressed", "true", timeout=TIMEOUT)


async def test_a_vote_is_held_across_three_pages_and_the_accepted_wording_reaches_every_editor(
    editors: EditorsFactory,
) -> None:
    async with editors() as e:
        amelie, bruno, carla, loic = await e.join_all(AMELIE, BRUNO, CARLA, LOIC)
        first = await paragraph_id(loic, "Nancy")
        second = await paragraph_id(loic, "tirés au sort")
        kept = await propose(e, AMELIE, first, ACCEPTED)
        dropped = await propose(
            e, BRUNO, second,
            "L\u2019assemblée citoyenne réunit des habitants tirés au sort chaque année.")

        # No session: no vote panel, not even for the facilitator.
        for page in (amelie, loic):
            await expect(page.locator("#votes")).to_be_hidden()
        await loic.locator("#session-title").fill("Séance d\u2019examen")
        await loic.locator("[data-action=open-session]").click()
        await expect(loic.locator("#votes .open-vote")).to_be_visible(timeout=TIMEOUT)
        # Only the facilitator may put amendments to a vote; members see no panel yet.
        await expect(amelie.locator("#votes")).to_be_hidden()
        await expect(loic.locator("#votes .vote-candidates li")).to_have_count(2)
        await loic.locator(f"#vote-pick-{kept}").check()
        await loic.locator(f"#vote-pick-{dropped}").check()
        await loic.locator("#vote-ballot").select_option("public")
        await loic.locator("[data-action=open-vote]").click()

        for page in (amelie, bruno, carla, loic):
            await expect(page.locator("#votes .vote-item")).to_have_count(2, timeout=TIMEOUT)
            await expect(page.locator("#votes .vote h3")).to_contain_text("scrutin public")
        # A citizen follows the vote without ballot buttons; members have no close button.
        assert await carla.locator("#votes button").count() == 0
        assert await amelie.locator("#votes [data-action=close-vote]").count() == 0
        assert await amelie.locator("#votes [data-action=open-vote]").count() == 0

        await vote(amelie, kept, "for")
        await vote(amelie, dropped, "against")
        await vote(bruno, kept, "against")
        await vote(bruno, kept, "for")  # a change, not a second ballot
        await vote(bruno, dropped, "abstain")
        await vote(loic, dropped, "against")
        for page in (amelie, bruno, carla, loic):
            tally = page.locator(f"#votes .vote-item[data-amendment='{kept}'] .tally")
            await expect(tally).to_contain_text("pour 2, contre 0, abstention 0", timeout=TIMEOUT)
            await expect(tally).to_contain_text("2 votants")
            await expect(page.locator(
                f"#votes .vote-item[data-amendment='{dropped}'] .tally")).to_contain_text(
                "pour 0, contre 2, abstention 1", timeout=TIMEOUT)
        await expect(bruno.locator(
            f"#votes .vote-item[data-amendment='{kept}'] button[data-choice=against]"
        )).to_have_attribute("aria-pressed", "false")
        await amelie.screenshot(path=screenshot_path("votes"))

        await loic.locator("[data-action=close-vote]").click()
        for page in (amelie, bruno, carla, loic):
            await expect(page.locator(".ProseMirror p", has_text="garantit")).to_have_text(
                ACCEPTED, timeout=TIMEOUT)
            await expect(page.locator("#votes .vote-item")).to_have_count(0, timeout=TIMEOUT)
        for page in (amelie, bruno, carla, loic):
            texts = await block_texts(page)
            assert OLD not in texts
            assert not any(REJECTED_WORDS in text for text in texts)
        await expect(loic.locator("#votes .open-vote")).to_contain_text(
            "Aucun amendement déposé")


async def test_a_secret_ballot_shows_no_choice_and_cannot_be_cast_twice(
    editors: EditorsFactory,
) -> None:
    async with editors() as e:
        amelie, loic = await e.join_all(AMELIE, LOIC)
        target = await paragraph_id(loic, "Nancy")
        amendment = await propose(e, AMELIE, target, ACCEPTED)
        await loic.locator("#session-title").fill("Séance secrète")
        await loic.locator("[data-action=open-session]").click()
        await loic.locator(f"#vote-pick-{amendment}").check(timeout=TIMEOUT)
        await loic.locator("#vote-ballot").select_option("secret")
        await loic.locator("#vote-rule").select_option("two_thirds")
        await loic.locator("[data-action=open-vote]").click()

        item = amelie.locator(f"#votes .vote-item[data-amendment='{amendment}']")
        await expect(amelie.locator("#votes .vote h3")).to_contain_text(
            "scrutin secret · deux tiers", timeout=TIMEOUT)
        await item.locator("button[data-choice=for]").click()
        await expect(item.locator(".mine")).to_have_text("Votre bulletin secret est déposé.",
                                                         timeout=TIMEOUT)
        for choice in ("for", "against", "abstain"):
            await expect(item.locator(f"button[data-choice={choice}]")).to_be_disabled()
        # Every page sees the count and the number of voters, nobody the choice.
        tally = loic.locator(f"#votes .vote-item[data-amendment='{amendment}'] .tally")
        await expect(tally).to_contain_text("pour 1, contre 0, abstention 0 · 1 votant",
                                            timeout=TIMEOUT)
        assert await loic.locator("#votes .mine").count() == 0
        # After a reload the page asks the server, which knows she voted (not what).
        await amelie.reload()
        await expect(item.locator(".mine")).to_have_text("Votre bulletin secret est déposé.",
                                                         timeout=TIMEOUT)
        await expect(item.locator("button[data-choice=against]")).to_be_disabled()

        await loic.locator("[data-action=close-vote]").click()
        for page in (amelie, loic):
            await expect(page.locator(".ProseMirror p", has_text="garantit")).to_have_text(
                ACCEPTED, timeout=TIMEOUT)
