"""Sign-in in the page (issue 17): an invited person names themselves on the invitation's
page, lands on the document signed in by cookie and edits; a facilitator's demotion turns
the open page read-only at once; signing out leaves a visitor. Signing in through the
identity provider from the page's link, through the certified oidc-provider's own pages
(npm, on loopback), as the member its groups make, who types and signs out."""

from __future__ import annotations

import uuid

import httpx
from playwright.async_api import expect

from client.api import PalabreApi
from tests.browser.conftest import CHARTER, EditorsFactory
from tests.browser.editor_page import TIMEOUT, block_texts, connected, type_at_end_of
from tests.conftest import NewContext
from tests.e2e.oidc_provider import ELODIE, SigninServerFactory


async def test_invited_member_edits_then_is_demoted_live_then_signs_out(
    editors: EditorsFactory,
) -> None:
    async with editors() as e:
        boss = {"Authorization": f"Bearer {e.server.token('facilitator', 'Loïc Ménard')}"}
        async with httpx.AsyncClient(base_url=e.server.url, headers=boss) as http:
            made = await http.post("/api/invitations", json={
                "role": "member", "docs": [e.doc_id], "note": "Atelier du jeudi"})
            assert made.status_code == 201, made.text
            context = await e.new_context(locale="fr-FR")
            page = await context.new_page()
            await page.goto(made.json()["url"])
            await expect(page.locator("body")).to_contain_text("Atelier du jeudi")
            await page.fill("input[name=name]", "Amélie Poulain")
            await page.click("button[type=submit]")
            await page.wait_for_url(f"**/d/{e.doc_id}", timeout=TIMEOUT)
            await connected(page, "connected")
            await expect(page.locator(".who .name")).to_have_text("Amélie Poulain · member")
            assert not any(c["name"] == "palabre_session" and not c["httpOnly"]
                           for c in await context.cookies())
            await type_at_end_of(page, "participation citoyenne", " Amendé.")
            await expect(page.locator(".ProseMirror")).to_contain_text("Amendé.",
                                                                        timeout=TIMEOUT)
            me = await page.evaluate("fetch('/auth/session').then((r) => r.json())")
            assert me["via"] == "invitation"
            demoted = await http.patch(f"/api/people/{me['sub']}", json={"role": "citizen"})
            assert demoted.status_code == 200, demoted.text
            await connected(page, "readonly")
            await expect(page.locator(".notice")).to_contain_text("lecture seule")
            await expect(page.locator(".ProseMirror")).to_have_attribute(
                "contenteditable", "false", timeout=TIMEOUT)
            assert any("Amendé." in text for text in await block_texts(page))
            await page.click("button.sign-out")
            await expect(page.locator(".who .role")).to_have_text("Visiteur public",
                                                                   timeout=TIMEOUT)
            signed = await page.evaluate("fetch('/auth/session').then((r) => r.json())")
            assert signed["signed_in"] is False


async def test_signing_in_through_the_provider_from_the_page(
    oidc_signin: SigninServerFactory, new_context: NewContext,
) -> None:
    async with oidc_signin() as (server, issuer):
        doc_id = f"charte-{uuid.uuid4().hex[:8]}"
        async with PalabreApi(server.url, server.token("facilitator", "Loïc")) as api:
            await api.create_document(doc_id, "Charte", markdown=CHARTER)
        context = await new_context(locale="fr-FR")
        page = await context.new_page()
        await page.goto(f"{server.url}/d/{doc_id}")
        await page.click("a.provider-sign-in")
        # The provider's own pages: sign in, then allow palabre.
        await page.wait_for_url(f"{issuer}/interaction/**", timeout=TIMEOUT)
        await page.fill("input[name=login]", ELODIE.sub)
        await page.fill("input[name=password]", ELODIE.password)
        await page.click("button.login-submit")
        await expect(page.locator("button.consent-submit")).to_be_visible(timeout=TIMEOUT)
        await expect(page.locator("body")).to_contain_text("groups")
        await page.click("button.consent-submit")
        await page.wait_for_url(f"{server.url}/d/{doc_id}", timeout=TIMEOUT)
        await connected(page, "connected")
        await expect(page.locator(".who .name")).to_have_text("Élodie Lefèvre · member")
        # The member the provider's groups made writes: another page gets it (relayed only
        # once stored).
        await type_at_end_of(page, "participation citoyenne", " Signé Élodie.")
        watcher = await (await new_context()).new_page()
        await watcher.goto(f"{server.url}/d/{doc_id}?token={server.token('facilitator', 'Loïc')}")
        await expect(watcher.locator(".ProseMirror")).to_contain_text("Signé Élodie.",
                                                                      timeout=TIMEOUT)
        await page.click("button.sign-out-everywhere")
        await expect(page.locator(".who .role")).to_have_text("Visiteur public",
                                                               timeout=TIMEOUT)
        signed = await page.evaluate("fetch('/auth/session').then((r) => r.json())")
        assert signed["signed_in"] is False
