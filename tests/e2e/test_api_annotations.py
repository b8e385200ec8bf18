"""The annotations API over real HTTP, seen live by socket clients of ``D.annotations``."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest
from pycrdt import Map

from client.api import Invalid, NotFound, PalabreApi, PermissionDenied, Unavailable
from client.session import Session, connect
from storage.memory import MemoryDocumentStore
from tests.conftest import RunningServer, ServerFactory

CHARTE = (Path(__file__).parent.parent / "fixtures" / "charte.md").read_text(encoding="utf-8")
COMMENT = "Ne faudrait-il pas préciser « habitantes et habitants » dès l'article 1 ?"


def entries(session: Session) -> dict[str, object]:
    root = session.doc.get("annotations", type=Map)
    return {key: root[key] for key in root.keys()}


async def first_paragraph(api: PalabreApi) -> str:
    content = json.loads(await api.get_content("charte", "json"))
    return str(next(b["id"] for b in content["blocks"] if b["type"] == "paragraph"))


async def charter(server: RunningServer, *, is_public: bool = False) -> str:
    async with PalabreApi(server.url, server.token("facilitator", "Loïc Ménard")) as api:
        await api.create_document("charte", "Charte", markdown=CHARTE, is_public=is_public)
        return await first_paragraph(api)


async def test_an_annotation_made_over_http_appears_live_on_the_annotations_socket(
    start_server: ServerFactory,
) -> None:
    async with start_server() as server:
        paragraph = await charter(server)
        async with (
            connect(server.url, "charte.annotations", server.token("citizen", "Anaïs")) as anais,
            PalabreApi(server.url, server.token("citizen", "Élodie Lefèvre")) as elodie,
        ):
            await anais.synced()
            made = await elodie.add_annotation(
                "charte", paragraph, COMMENT, quote="habitantes et habitants"
            )
            assert made["body"] == COMMENT and made["paragraph_id"] == paragraph
            assert made["author"] == {"sub": "elodie-lefevre", "name": "Élodie Lefèvre"}
            assert made["status"] == "open" and made["replies"] == []
            await anais.wait_for(lambda: made["id"] in entries(anais), timeout=10)
            entry = entries(anais)[made["id"]]
            assert isinstance(entry, Map) and entry["body"] == COMMENT

            replied = await elodie.reply("charte", made["id"], "Et « toutes et tous » ?")
            assert replied["reply"]["body"] == "Et « toutes et tous » ?"
            await anais.wait_for(lambda: len(entry["replies"]) == 1, timeout=10)
            listed = await elodie.list_annotations("charte", paragraph_id=paragraph)
            assert [a["id"] for a in listed] == [made["id"]]
            assert listed[0]["replies"][0]["author"]["name"] == "Élodie Lefèvre"


async def test_a_citizen_comments_but_may_not_create_documents(
    start_server: ServerFactory,
) -> None:
    async with start_server() as server:
        paragraph = await charter(server)
        async with PalabreApi(server.url, server.token("citizen", "Élodie")) as citizen:
            await citizen.add_annotation("charte", paragraph, COMMENT)
            with pytest.raises(PermissionDenied):
                await citizen.create_document("contre-charte", "Contre-charte")
            with pytest.raises(Invalid):
                await citizen.add_annotation("charte", "p-inexistant", COMMENT)
            with pytest.raises(NotFound):
                await citizen.add_annotation("inconnu", paragraph, COMMENT)
            assert len(await citizen.list_annotations("charte")) == 1


async def test_only_the_author_edits_and_only_a_moderator_sets_the_status(
    start_server: ServerFactory,
) -> None:
    async with start_server() as server:
        paragraph = await charter(server)
        async with (
            PalabreApi(server.url, server.token("citizen", "Élodie")) as elodie,
            PalabreApi(server.url, server.token("member", "Zoé")) as zoe,
            PalabreApi(server.url, server.token("facilitator", "Loïc")) as loic,
        ):
            made = await elodie.add_annotation("charte", paragraph, COMMENT)
            edited = await elodie.edit_annotation("charte", made["id"], "Précisons l'article 1.")
            assert edited["body"] == "Précisons l'article 1." and edited["updated_at"]
            with pytest.raises(PermissionDenied):
                await zoe.edit_annotation("charte", made["id"], "Réécrit par Zoé")
            with pytest.raises(PermissionDenied):
                await elodie.set_status("charte", made["id"], "resolved")
            with pytest.raises(Invalid):
                await loic.set_status("charte", made["id"], "deleted")
            assert (await loic.set_status("charte", made["id"], "hidden"))["status"] == "hidden"

            # Hidden: only moderators still see it; nobody else may reply to it.
            assert await elodie.list_annotations("charte") == []
            with pytest.raises(NotFound):
                await zoe.reply("charte", made["id"], "Pourquoi masqué ?")
            moderated = await loic.list_annotations("charte", status="hidden")
            assert [a["body"] for a in moderated] == ["Précisons l'article 1."]


async def test_public_reads_annotations_of_public_documents_only(
    start_server: ServerFactory,
) -> None:
    async with start_server() as server:
        paragraph = await charter(server, is_public=True)
        async with (
            PalabreApi(server.url, server.token("citizen", "Élodie")) as citizen,
            PalabreApi(server.url) as public,
            PalabreApi(server.url, server.token("facilitator", "Loïc")) as loic,
        ):
            await citizen.add_annotation("charte", paragraph, COMMENT)
            hidden = await citizen.add_annotation("charte", paragraph, "Hors sujet")
            await loic.set_status("charte", hidden["id"], "hidden")
            assert [a["body"] for a in await public.list_annotations("charte")] == [COMMENT]
            with pytest.raises(PermissionDenied):
                await public.add_annotation("charte", paragraph, "Anonyme")
            await loic.update_document("charte", is_public=False)
            with pytest.raises(PermissionDenied):
                await public.list_annotations("charte")


@pytest.mark.parametrize(
    ("payload", "status", "error"),
    [
        ({"paragraph_id": "x"}, 422, "invalid"),
        ({"paragraph_id": "x", "body": "  "}, 422, "invalid"),
        ({"paragraph_id": "x", "body": "b", "auteur": "moi"}, 422, "invalid"),
        ({"paragraph_id": 3, "body": "b"}, 422, "invalid"),
    ],
    ids=["no body", "blank body", "unknown field", "paragraph id not a string"],
)
async def test_invalid_annotations_are_refused_and_nothing_is_written(
    start_server: ServerFactory, payload: dict[str, object], status: int, error: str,
) -> None:
    async with start_server() as server:
        await charter(server)
        token = server.token("citizen", "Élodie")
        async with httpx.AsyncClient(base_url=server.url, timeout=30) as client:
            response = await client.post(
                "/api/documents/charte/annotations", json=payload,
                headers={"Authorization": f"Bearer {token}"},
            )
            assert response.status_code == status
            assert response.json()["error"] == error
            listed = await client.get(
                "/api/documents/charte/annotations", headers={"Authorization": f"Bearer {token}"}
            )
            assert listed.json() == {"annotations": []}


async def test_a_comment_that_cannot_be_stored_is_503_and_never_seen(
    start_server: ServerFactory,
) -> None:
    store = MemoryDocumentStore()
    async with start_server(store=store) as server:
        paragraph = await charter(server)
        async with (
            connect(server.url, "charte.annotations", server.token("citizen", "Anaïs")) as anais,
            PalabreApi(server.url, server.token("citizen", "Élodie")) as elodie,
        ):
            await anais.synced()
            store.fail_next_appends(1)
            with pytest.raises(Unavailable):
                await elodie.add_annotation("charte", paragraph, "Perdu ?")
            kept = await elodie.add_annotation("charte", paragraph, COMMENT)
            await anais.wait_for(lambda: kept["id"] in entries(anais), timeout=10)
            assert len(entries(anais)) == 1
            assert [a["body"] for a in await elodie.list_annotations("charte")] == [COMMENT]


async def test_a_hidden_comment_s_words_never_reach_readers_of_the_annotations_socket(
    start_server: ServerFactory, tmp_path: Path,
) -> None:
    words = "Propos injurieux envers une voisine"
    data_dir = tmp_path / "scelle"
    async with start_server(data_dir=data_dir) as server:
        paragraph = await charter(server)
        async with (
            PalabreApi(server.url, server.token("citizen", "Élodie")) as elodie,
            PalabreApi(server.url, server.token("facilitator", "Loïc")) as loic,
        ):
            made = await elodie.add_annotation("charte", paragraph, words)
            hidden = await loic.set_status("charte", made["id"], "hidden")
            assert hidden["body"] == words  # a moderator still reads them, through the API
            assert [a["body"] for a in await loic.list_annotations("charte")] == [words]

    # Restarted from storage (whose log still holds the comment as first written): a reader
    # syncing the annotations document gets the entry, flagged hidden, without its words.
    async with start_server(data_dir=data_dir) as server:
        async with connect(
            server.url, "charte.annotations", server.token("citizen", "Anaïs")
        ) as anais:
            await anais.synced()
            entry = entries(anais)[made["id"]]
            assert isinstance(entry, Map)
            assert entry["status"] == "hidden" and entry["body"] == ""
            assert words.encode() not in anais.doc.get_update()
            async with PalabreApi(server.url, server.token("facilitator", "Loïc")) as loic:
                reopened = await loic.set_status("charte", made["id"], "open")
                assert reopened["body"] == words
            await anais.wait_for(lambda: entry["body"] == words, timeout=10)
