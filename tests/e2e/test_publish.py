"""Exports over real HTTP and the CLI: every format of the charter's versions, read back."""

from __future__ import annotations

import hashlib
import io
import json
import re
from pathlib import Path
from typing import Any

import anyio
import httpx
from docx import Document
from lxml import etree
from odf import teletype
from odf import text as odftext
from odf.opendocument import load as load_odt
from pypdf import PdfReader
from sqlalchemy import update

from crdt.convert import import_markdown
from server.limits import Limits
from storage.archive import canonical_hash, chain_hash
from storage.engine import create_engine, database_url_for
from storage.models import SnapshotRow
from tests.conftest import RunningServer, ServerFactory
from tests.e2e.api import charter_served, http, http_as
from tests.e2e.test_api_cli import palabre

AKN = "{http://docs.oasis-open.org/legaldocml/ns/akn/3.0}"
MEDIA = {
    "pdf": "application/pdf",
    "docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    "odt": "application/vnd.oasis.opendocument.text",
    "html": "text/html; charset=utf-8",
    "akn": "application/akn+xml",
    "decidim": "text/markdown; charset=utf-8",
}
AMENDMENT = "Le conseil municipal répond à chaque avis dans un délai de deux mois.\n"


async def archived(server: RunningServer, client: httpx.AsyncClient) -> tuple[Any, Any]:
    """Snapshot 1 of the charter, then an amendment, then the adopted version (2)."""
    first = (await client.post("/charte/snapshots",
                               json={"label": "Avant-projet", "stage": "première lecture"}))
    assert first.status_code == 201, first.text
    await server.app.state.hub.transform("charte", lambda doc: import_markdown(doc, AMENDMENT),
                                         principal=None)
    adopted = await client.post("/charte/adopt", json={"stage": "adoption"})
    assert adopted.status_code == 201, adopted.text
    return first.json(), adopted.json()


def heading_texts(docx: bytes, style: str) -> list[str]:
    document = Document(io.BytesIO(docx))
    return [p.text for p in document.paragraphs
            if p.style is not None and p.style.name == style]


async def test_every_format_of_every_version_with_types_names_and_real_readers(
    start_server: ServerFactory,
) -> None:
    async with charter_served(start_server) as (server, _), \
            http_as(server, prefix="/api/documents") as client:
        first, adopted = await archived(server, client)
        blocks = (await client.get(f"/charte/snapshots/{first['id']}/content",
                                   params={"format": "json"})).json()["blocks"]
        for fmt, media in MEDIA.items():
            response = await client.get(f"/charte/snapshots/{first['id']}/export",
                                        params={"format": fmt})
            assert response.status_code == 200, (fmt, response.text)
            assert response.headers["content-type"] == media
            extension = {"akn": "akn.xml", "decidim": "decidim.md"}.get(fmt, fmt)
            assert response.headers["content-disposition"] == (
                f'attachment; filename="charte-v1.{extension}"')
            assert "immutable" in response.headers["cache-control"]
            by_number = await client.get("/charte/snapshots/1/export", params={"format": fmt})
            if fmt not in ("pdf", "docx", "odt"):  # those embed their creation time
                assert by_number.content == response.content, fmt

        docx = (await client.get("/charte/export", params={"format": "docx",
                                                           "version": "1"})).content
        articles = heading_texts(docx, "Heading 2")
        assert articles == [b["text"] for b in blocks if b.get("level") == 2]
        assert AMENDMENT.strip() not in [p.text for p in Document(io.BytesIO(docx)).paragraphs]
        adopted_docx = (await client.get("/charte/export", params={
            "format": "docx", "version": "adopted"})).content
        assert AMENDMENT.strip() in [p.text for p in Document(io.BytesIO(adopted_docx)).paragraphs]

        odt = load_odt(io.BytesIO((await client.get(
            "/charte/export", params={"format": "odt", "version": "1"})).content))
        assert [teletype.extractText(h) for h in odt.getElementsByType(odftext.H)] == [
            b["text"] for b in blocks if b["type"] == "heading"]

        akn = etree.fromstring((await client.get(
            "/charte/export", params={"format": "akn", "version": "1"})).content)
        assert [a.get("eId") for a in akn.iter(f"{AKN}article")] == [
            f"art_{b['id']}" for b in blocks if b.get("level") == 2]

        pdf = await client.get("/charte/export", params={"format": "pdf", "version": "adopted"})
        assert pdf.headers["content-disposition"] == 'attachment; filename="charte-v2.pdf"'
        cover = PdfReader(io.BytesIO(pdf.content)).pages[0].extract_text()
        assert "n° 2" in cover and "Adoptée le" in cover and "adoption" in cover
        assert adopted["hash"] in re.sub(r"\s+", "", cover)

        live = await client.get("/charte/export", params={"format": "html"})
        assert live.status_code == 200 and "no-cache" in live.headers["cache-control"]
        assert live.headers["content-disposition"] == 'attachment; filename="charte-live.html"'
        assert AMENDMENT.strip() in live.text and "texte en cours" in live.text
        decidim = await client.get("/charte/export", params={"format": "decidim"})
        assert decidim.text.startswith("# Charte de la participation citoyenne")

        again = await client.get("/charte/export", params={"format": "pdf", "version": "2"})
        assert again.content == pdf.content  # cached by version: the very same bytes
        assert again.headers["etag"] == pdf.headers["etag"]


async def test_bad_exports_get_clear_errors(start_server: ServerFactory) -> None:
    async with charter_served(start_server) as (server, api), \
            http_as(server, prefix="/api/documents") as client:
        unknown = await client.get("/charte/export", params={"format": "rtf"})
        assert unknown.status_code == 400
        assert "pdf, docx, odt, html, akn, decidim" in unknown.json()["detail"]
        for version in ("1", "adopted"):
            missing = await client.get("/charte/export", params={"version": version})
            assert missing.status_code == 404, version
        assert (await client.get("/charte/snapshots/inconnu/export")).status_code == 404
        assert (await client.get("/charte/snapshots/7/export")).status_code == 404
        bad = await client.get("/charte/export", params={"version": "pas une version!"})
        assert bad.status_code == 400 and "version must be" in bad.json()["detail"]
        assert (await client.get("/absent/export")).status_code == 404
        await api.create_data_document("catalogue", "Catalogue", "catalogue")
        data = await client.get("/catalogue/export", params={"format": "pdf"})
        assert data.status_code == 422 and "only texts export" in data.json()["detail"]
        stored = (await client.get("/charte/content")).text
        assert stored.startswith("# Charte")


async def test_exports_follow_the_read_rights(start_server: ServerFactory) -> None:
    async with charter_served(start_server) as (server, _), \
            http_as(server, prefix="/api/documents") as client:
        first, _ = await archived(server, client)
        path = f"/api/documents/charte/snapshots/{first['id']}/export"
        async with http(server) as anonymous:
            assert (await anonymous.get(path)).status_code == 403
            assert (await anonymous.get("/api/documents/charte/export")).status_code == 403
            linked = await anonymous.get(path, params={  # a download link carries the token
                "format": "html", "token": server.token("citizen", "Élodie")})
            assert linked.status_code == 200 and "Charte" in linked.text
        async with http(server, server.token("member", "Zoé", docs=["autre-*"])) as elsewhere:
            assert (await elsewhere.get(path)).status_code == 403
        async with http_as(server, "citizen", "Élodie") as citizen:
            assert (await citizen.get(path, params={"format": "odt"})).status_code == 200
        published = await client.patch("/charte", json={"is_public": True})
        assert published.status_code == 200, published.text
        async with http(server) as anonymous:
            assert (await anonymous.get(path, params={"format": "akn"})).status_code == 200
            live = await anonymous.get("/api/documents/charte/export",
                                       params={"format": "decidim"})
            assert live.status_code == 200


async def test_cli_exports_a_version_to_a_file(start_server: ServerFactory,
                                               tmp_path: Path) -> None:
    async with charter_served(start_server) as (server, _), \
            http_as(server, prefix="/api/documents") as client:
        await archived(server, client)
        data_dir = str(server.settings.data_dir)
        out = tmp_path / "charte.docx"
        result = await palabre("export", "charte", "--version", "1", "--format", "docx",
                               "-o", str(out), "--url", server.url, "--data-dir", data_dir)
        assert result.exit_code == 0, result.output
        assert len(heading_texts(out.read_bytes(), "Heading 2")) == 13
        pdf = tmp_path / "adopted.pdf"
        result = await palabre("export", "charte", "--version", "adopted", "--format", "pdf",
                               "-o", str(pdf), "--url", server.url, "--data-dir", data_dir)
        assert result.exit_code == 0, result.output
        assert pdf.read_bytes().startswith(b"%PDF-")
        missing = await palabre("export", "charte", "--version", "9", "--format", "akn",
                                "--url", server.url, "--data-dir", data_dir)
        assert missing.exit_code == 1 and "no version 9" in missing.output
        as_json = await palabre("export", "charte", "--version", "2", "--format", "json",
                                "--url", server.url, "--data-dir", data_dir)
        assert as_json.exit_code == 0 and json.loads(as_json.output)["version"] == 2


async def test_redline_between_two_versions_in_each_format(start_server: ServerFactory) -> None:
    async with charter_served(start_server) as (server, _), \
            http_as(server, prefix="/api/documents") as client:
        await archived(server, client)
        docx = await client.get("/charte/redline",
                                params={"from": "1", "to": "2", "format": "docx"})
        assert docx.status_code == 200, docx.text
        assert docx.headers["content-disposition"] == (
            'attachment; filename="charte-v1-v2-redline.docx"')
        body = Document(io.BytesIO(docx.content)).element.body
        w = "{http://schemas.openxmlformats.org/wordprocessingml/2006/main}"
        inserted = ["".join(t.text for t in ins.iter(f"{w}t")) for ins in body.iter(f"{w}ins")
                    if ins.find(f"{w}r") is not None]
        assert inserted == [AMENDMENT.strip()]
        assert not [d for d in body.iter(f"{w}del") if d.find(f"{w}r") is not None]

        page = await client.get("/charte/redline", params={"from": "1", "to": "adopted"})
        assert page.headers["content-type"] == "text/html; charset=utf-8"
        assert f"<ins>{AMENDMENT.strip()}</ins>" in page.text
        pdf = await client.get("/charte/redline", params={"from": "1", "format": "pdf"})
        assert pdf.headers["content-type"] == "application/pdf"
        assert "no-cache" in pdf.headers["cache-control"]  # against the live text
        assert "Le conseil municipal répond" in "".join(
            p.extract_text() for p in PdfReader(io.BytesIO(pdf.content)).pages)

        assert (await client.get("/charte/redline")).status_code == 400
        odt = await client.get("/charte/redline", params={"from": "1", "format": "odt"})
        assert odt.status_code == 400 and "html, docx, pdf" in odt.json()["detail"]
        assert (await client.get("/charte/redline", params={"from": "9"})).status_code == 404
        async with http(server) as anonymous:
            refused = await anonymous.get("/api/documents/charte/redline", params={"from": "1"})
            assert refused.status_code == 403


async def tamper(server: RunningServer, number: int, *, doc_id: str = "charte",
                 **values: Any) -> None:
    """Rewrite a stored snapshot behind the server's back, as an intruder with the database."""
    engine = create_engine(database_url_for(server.settings.data_dir))
    try:
        async with engine.begin() as conn:
            await conn.execute(update(SnapshotRow).where(
                SnapshotRow.doc_id == doc_id, SnapshotRow.number == number).values(**values))
    finally:
        await engine.dispose()


async def test_the_archive_record_lets_anyone_recompute_every_hash_and_verify_says_where_it_breaks(
    start_server: ServerFactory,
) -> None:
    async with charter_served(start_server) as (server, _), \
            http_as(server, prefix="/api/documents") as client:
        await archived(server, client)
        assert (await client.patch("/charte", json={"is_public": True})).status_code == 200
        async with http(server, prefix="/api/documents") as anonymous:
            record = (await anonymous.get("/charte/archive")).json()
            assert [v["number"] for v in record["versions"]] == [1, 2]
            assert record["stages"] == [{"stage": "première lecture", "numbers": [1]},
                                        {"stage": "adoption", "numbers": [2]}]
            assert record["adoption"]["number"] == 2
            previous = None
            for version in record["versions"]:  # what the page does, in Python
                base = f"/charte/snapshots/{version['id']}/content"
                md = (await anonymous.get(base, params={"format": "md"})).text
                html = (await anonymous.get(base, params={"format": "html"})).text
                state = (await anonymous.get(base, params={"format": "yjs"})).content
                assert hashlib.sha256(state).hexdigest() == version["hashed"]["state"]
                assert canonical_hash({**version["hashed"], "markdown": md, "html": html}) == (
                    version["hash"])
                assert version["previous_hash"] == previous
                assert chain_hash(previous, version["hash"]) == version["chain_hash"]
                previous = version["chain_hash"]
            assert (await anonymous.get("/charte/archive/verify")).json() == {
                "ok": True, "versions": 2}

            await tamper(server, 2, markdown="# Charte falsifiée\n")
            broken = (await anonymous.get("/charte/archive/verify")).json()
            assert broken["ok"] is False and broken["broken_at"] == 2
            assert "content hash" in broken["detail"]
        private = await client.patch("/charte", json={"is_public": False})
        assert private.status_code == 200
        async with http(server, prefix="/api/documents") as anonymous:
            assert (await anonymous.get("/charte/archive")).status_code == 403
            assert (await anonymous.get("/charte/archive/verify")).status_code == 403
        page = await client.get(f"{server.url}/archive/charte")
        assert page.status_code == 200 and "chain-status" in page.text
        assert "script-src 'sha256-" in page.headers["content-security-policy"]


async def test_exports_are_bounded_in_size_and_time(start_server: ServerFactory,
                                                    tmp_path: Path) -> None:
    limits = Limits(export_state_bytes=4_000, export_seconds=0.01)
    async with charter_served(start_server, limits=limits) as (server, _), \
            http_as(server, prefix="/api/documents") as client:
        too_big = await client.get("/charte/export", params={"format": "html"})
        assert too_big.status_code == 422
        assert "exports take versions of at most 4000 bytes" in too_big.json()["detail"]
    async with charter_served(start_server, limits=Limits(export_seconds=0.01),
                              data_dir=tmp_path / "second") as (
            server, _), http_as(server, prefix="/api/documents") as client:
        slow = await client.get("/charte/export", params={"format": "pdf"})
        assert slow.status_code == 503 and "longer than 0.01 s" in slow.json()["detail"]
        with anyio.fail_after(60):  # the rendering went on in its thread, then was cached
            while True:
                later = await client.get("/charte/export", params={"format": "pdf"})
                if later.status_code == 200:
                    break
                assert later.status_code == 503
                await anyio.sleep(0.05)  # polling the server: nothing to wait on but time
        assert later.content.startswith(b"%PDF-")
