"""The session bar in the page: a facilitator opens a session, members raise hands, the
floor is given, every page follows live; a citizen has no hand to raise."""

from __future__ import annotations

from playwright.async_api import expect

from tests.browser.conftest import AMELIE, CARLA, LOIC, EditorsFactory, screenshot_path
from tests.browser.editor_page import TIMEOUT

BRUNO = ("member", "Bruno Ganz")


async def test_hands_and_floor_are_live_in_every_page(editors: EditorsFactory) -> None:
    async with editors() as e:
        amelie, bruno, carla, loic = await e.join_all(AMELIE, BRUNO, CARLA, LOIC)
        await expect(amelie.locator("#session-bar")).to_contain_text("Aucune séance",
                                                                      timeout=TIMEOUT)
        assert await amelie.locator("[data-action=open-session]").count() == 0
        await loic.locator("#session-title").fill("Séance 7 : le budget")
        await loic.locator("#session-kind").select_option("work")
        await loic.locator("[data-action=open-session]").click()
        for page in (amelie, bruno, carla, loic):
            await expect(page.locator("#session-bar")).to_contain_text(
                "Séance 1 : Séance 7 : le budget", timeout=TIMEOUT)
        await expect(loic.locator("#session-bar .present")).to_contain_text(
            "4 présents", timeout=TIMEOUT)
        assert await carla.locator("[data-action=raise-hand]").count() == 0
        # Who is where: members see names; a citizen sees the same cursors under pseudonyms.
        await expect(amelie.locator("#presence")).to_contain_text("Bruno Ganz", timeout=TIMEOUT)
        await expect(carla.locator("#presence li")).to_have_count(4, timeout=TIMEOUT)
        await expect(carla.locator("#presence")).to_contain_text("Membre ")
        await expect(carla.locator("#presence")).not_to_contain_text("Bruno Ganz")

        await bruno.locator("[data-action=raise-hand]").click()
        await amelie.locator("[data-action=raise-hand]").click()
        for page in (amelie, bruno, carla, loic):
            await expect(page.locator("#session-bar .hands li")).to_have_count(2, timeout=TIMEOUT)
        for page in (amelie, bruno, loic):
            await expect(page.locator("#session-bar .hands li").first).to_contain_text(
                "Bruno Ganz")
        # A citizen's page syncs the public view of the queue: members by their pseudonym.
        await expect(carla.locator("#session-bar .hands li").first).to_contain_text("Membre ")
        await expect(carla.locator("#session-bar .hands")).not_to_contain_text("Bruno Ganz")
        await expect(amelie.locator("[data-action=lower-hand]")).to_be_visible()
        await loic.screenshot(path=screenshot_path("session-bar"))

        await loic.locator("[data-action=next-speaker]").click()
        for page in (amelie, bruno, carla, loic):
            speaker = "Membre " if page is carla else "Bruno Ganz"
            await expect(page.locator("#session-bar .floor")).to_contain_text(
                f"Parole : {speaker}", timeout=TIMEOUT)
            await expect(page.locator("#session-bar .hands li")).to_have_count(1)
        await amelie.locator("[data-action=lower-hand]").click()
        await expect(carla.locator("#session-bar .hands li")).to_have_count(0, timeout=TIMEOUT)

        await loic.locator("[data-action=close-session]").click()
        for page in (amelie, carla):
            await expect(page.locator("#session-bar")).to_contain_text("Aucune séance",
                                                                       timeout=TIMEOUT)
        # The closed session is in every page's archive panel, its minutes a click away.
        entry = carla.locator("#archive .session-list li[data-session='1']")
        await expect(entry).to_have_attribute("data-state", "closed", timeout=TIMEOUT)
        await entry.locator("[data-action=minutes]").click()
        minutes = carla.locator("#viewer .minutes")
        # A citizen reads members by their pseudonym, guests by their role.
        await expect(minutes.locator("table").first).to_contain_text("Membre ",
                                                                     timeout=TIMEOUT)
        await expect(minutes.locator("table").first).not_to_contain_text("Bruno Ganz")
        await expect(minutes.locator("table").first).not_to_contain_text("Carla Dupré")
        await expect(minutes.locator("table").first).to_contain_text("citizen")

        # The public archive page lists it too, with its minutes to download.
        archive = await e.open("citizen", "Carla Dupré", path=f"/archive/{e.doc_id}")
        listed = archive.locator("#sessions li[data-session='1']")
        await expect(listed).to_contain_text("Séance 7 : le budget", timeout=TIMEOUT)
        href = await listed.locator("a[data-minutes=html]").get_attribute("href")
        assert href is not None and "token=" in href
        await archive.goto(e.server.url + href)
        await expect(archive.locator("table").first).to_contain_text("Membre ",
                                                                     timeout=TIMEOUT)
