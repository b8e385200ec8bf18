"""Document metadata (`DocumentCatalog`) on every store: memory, SQLite, PostgreSQL."""

from __future__ import annotations

import uuid

import anyio
import pytest

from storage.base import (
    ANNOTATIONS_SUFFIX,
    DOC_ID_LENGTH,
    STORED_DOC_ID_LENGTH,
    DocumentNotFound,
    StorageUnavailable,
)
from storage.catalog import DocumentCatalog, DocumentExists, DocumentMeta
from tests.storage.conftest import StoreFactory
from tests.storage.editors import Editor, text_of


async def own_documents(
    catalog: DocumentCatalog, prefix: str, *, limit: int = 50, include_deleted: bool = False
) -> list[DocumentMeta]:
    """Every listed document whose id starts with, and is longer than, `prefix`, page by page.

    The PostgreSQL database is shared: the pages start after `prefix`.
    """
    found: list[DocumentMeta] = []
    after = prefix
    while True:
        page = await catalog.list_documents(
            limit=limit, after=after, include_deleted=include_deleted
        )
        assert len(page) <= limit
        mine = [meta for meta in page if meta.doc_id.startswith(prefix)]
        found.extend(mine)
        if len(page) < limit or len(mine) < len(page):
            return found
        after = page[-1].doc_id


async def test_created_document_reads_back_with_its_metadata(
    make_store: StoreFactory, doc_id: str
) -> None:
    data_id = f"{doc_id}-catalogue"
    async with make_store() as store:
        catalog: DocumentCatalog = store
        created = await catalog.create_document(
            doc_id,
            title="Constitution municipale — préambule",
            created_by="élodie",
            is_public=True,
        )
        data = await catalog.create_document(
            data_id, title="Catalogue", kind="data", schema="catalogue"
        )
        read = await catalog.get_document(doc_id)
        read_data = await catalog.get_document(data_id)
    assert read == created
    assert (read.kind, read.title, read.created_by, read.is_public) == (
        "text",
        "Constitution municipale — préambule",
        "élodie",
        True,
    )
    assert read.deleted_at is None
    assert read.schema is None
    assert read.created_at == read.updated_at
    assert read_data == data
    assert (read_data.kind, read_data.schema, read_data.is_public) == ("data", "catalogue", False)


async def test_create_on_a_taken_id_raises_document_exists(
    make_store: StoreFactory, doc_id: str
) -> None:
    edited, deleted = f"{doc_id}-edited", f"{doc_id}-deleted"
    alice = Editor("alice")
    async with make_store() as store:
        await store.create_document(doc_id, title="Charte")
        await store.append(edited, [alice.entry(alice.insert(0, "é"))])
        await store.create_document(deleted, title="Brouillon")
        await store.delete_document(deleted)
        for taken in (doc_id, edited, deleted):
            with pytest.raises(DocumentExists):
                await store.create_document(taken, title="Autre")
        assert (await store.get_document(doc_id)).title == "Charte"


async def test_concurrent_creations_of_one_id_leave_one_winner(
    make_store: StoreFactory, doc_id: str
) -> None:
    created: list[str] = []
    refused: list[str] = []

    async def create(n: int) -> None:
        try:
            await store.create_document(doc_id, title=f"Version {n}")
            created.append(f"Version {n}")
        except DocumentExists:
            refused.append(f"Version {n}")

    async with make_store() as store:
        async with anyio.create_task_group() as tg:
            for n in range(5):
                tg.start_soon(create, n)
        read = await store.get_document(doc_id)
    assert len(created) == 1
    assert len(refused) == 4
    assert read.title == created[0]


async def test_create_claims_an_implicit_row_without_content(
    make_store: StoreFactory, doc_id: str
) -> None:
    async with make_store() as store:
        await store.append(doc_id, [])  # an empty append makes the row and no content
        implicit = await store.get_document(doc_id)
        created = await store.create_document(doc_id, title="Statuts", created_by="bob")
    assert implicit.title == ""
    assert (created.title, created.created_by) == ("Statuts", "bob")
    assert created.created_at == implicit.created_at
    assert created.updated_at >= implicit.updated_at


async def test_appends_make_implicit_rows_that_are_listed(
    make_store: StoreFactory, doc_id: str
) -> None:
    alice = Editor("alice")
    implicit = f"{doc_id}-implicite"
    async with make_store() as store:
        await store.append(implicit, [alice.entry(alice.insert(0, "Délibération"))])
        meta = await store.get_document(implicit)
        listed = await own_documents(store, doc_id)
        await store.append(implicit, [alice.entry(alice.insert(0, "« "))])
        touched = await store.get_document(implicit)
    assert (meta.kind, meta.title, meta.is_public, meta.created_by) == ("text", "", False, None)
    assert listed == [meta]
    assert touched.updated_at >= meta.updated_at
    assert touched.created_at == meta.created_at


async def test_missing_documents_raise_document_not_found(
    make_store: StoreFactory, doc_id: str
) -> None:
    async with make_store() as store:
        with pytest.raises(DocumentNotFound):
            await store.get_document(doc_id, include_deleted=True)
        with pytest.raises(DocumentNotFound):
            await store.update_document(doc_id, title="x")
        with pytest.raises(DocumentNotFound):
            await store.delete_document(doc_id)
        with pytest.raises(DocumentNotFound):
            await store.purge_document(doc_id)
        await store.create_document(doc_id, title="Vivant")
        with pytest.raises(DocumentNotFound, match="deleted"):
            await store.purge_document(doc_id)  # a live document is never purged
        assert (await store.get_document(doc_id)).title == "Vivant"


async def test_list_pages_by_id_and_hides_companions_and_deleted(
    make_store: StoreFactory,
) -> None:
    prefix = f"liste-{uuid.uuid4().hex}-"
    alice = Editor("alice")
    async with make_store() as store:
        for letter in "ecadb":
            await store.create_document(prefix + letter, title=f"Article {letter}")
        await store.create_document(prefix + "f.ANNOTATIONS", title="Pas un compagnon")
        await store.append(prefix + "a" + ANNOTATIONS_SUFFIX, [alice.entry(alice.insert(0, "ç"))])
        await store.delete_document(prefix + "c")
        first = await store.list_documents(limit=2, after=prefix)
        paged = await own_documents(store, prefix, limit=2)
        everything = await own_documents(store, prefix, limit=2, include_deleted=True)
        companion = await store.get_document(prefix + "a" + ANNOTATIONS_SUFFIX)
        with pytest.raises(ValueError, match="limit"):
            await store.list_documents(limit=0)
    assert [m.doc_id for m in first] == [prefix + "a", prefix + "b"]
    assert [m.doc_id for m in paged] == [prefix + x for x in ("a", "b", "d", "e", "f.ANNOTATIONS")]
    assert [m.doc_id for m in everything] == [
        prefix + x for x in ("a", "b", "c", "d", "e", "f.ANNOTATIONS")
    ]
    assert everything[2].deleted_at is not None
    assert companion.title == ""  # readable by id, only hidden from lists


async def test_update_changes_the_given_fields_and_bumps_updated_at(
    make_store: StoreFactory, doc_id: str
) -> None:
    async with make_store() as store:
        created = await store.create_document(doc_id, title="Projet", created_by="alice")
        renamed = await store.update_document(doc_id, title="Projet adopté")
        published = await store.update_document(doc_id, is_public=True)
        unchanged = await store.update_document(doc_id)
        read = await store.get_document(doc_id)
    assert (renamed.title, renamed.is_public) == ("Projet adopté", False)
    assert (published.title, published.is_public) == ("Projet adopté", True)
    assert read == unchanged
    assert (read.title, read.is_public, read.created_by) == ("Projet adopté", True, "alice")
    assert read.created_at == created.created_at
    assert created.updated_at <= renamed.updated_at <= published.updated_at <= read.updated_at


async def test_soft_deleted_document_is_hidden_but_still_loads(
    make_store: StoreFactory, doc_id: str
) -> None:
    alice = Editor("alice")
    async with make_store() as store:
        await store.create_document(doc_id, title="Ancienne charte")
        await store.append(doc_id, [alice.entry(alice.insert(0, "Article premier"))])
        deleted = await store.delete_document(doc_id)
        with pytest.raises(DocumentNotFound):
            await store.get_document(doc_id)
        with pytest.raises(DocumentNotFound):
            await store.update_document(doc_id, title="x")
        with pytest.raises(DocumentNotFound):
            await store.delete_document(doc_id)
        read = await store.get_document(doc_id, include_deleted=True)
        stored = await store.load(doc_id)
    assert deleted.deleted_at is not None
    assert read == deleted
    assert not stored.is_new
    assert text_of(stored.update) == "Article premier"


async def test_purge_erases_the_document_its_companion_and_their_webhooks(
    make_store: StoreFactory, doc_id: str
) -> None:
    companion = doc_id + ANNOTATIONS_SUFFIX
    alice = Editor("alice")
    notes = Editor("serveur")
    async with make_store() as store:
        await store.create_document(doc_id, title="À effacer")
        for n in range(3):
            await store.append(doc_id, [alice.entry(alice.insert(n, "é"))])
        await store.compact(doc_id)
        await store.append(doc_id, [alice.entry(alice.insert(0, "«"))])
        await store.append(companion, [notes.entry(notes.insert(0, "commentaire"))])
        hooks = [
            await store.add_webhook(
                url="https://example.org/h",
                secret="s",
                events=["document.changed"],
                doc_id=target,
                created_by=None,
            )
            for target in (doc_id, companion, None)
        ]
        await store.delete_document(doc_id)
        await store.purge_document(doc_id)
        loaded = [await store.load(d) for d in (doc_id, companion)]
        for purged in (doc_id, companion):
            with pytest.raises(DocumentNotFound):
                await store.get_document(purged, include_deleted=True)
        remaining = {w.webhook_id for w in await store.list_webhooks()}
        with pytest.raises(DocumentNotFound):
            await store.purge_document(doc_id)
        recreated = await store.create_document(doc_id, title="Nouveau départ")
        result = await store.append(doc_id, [alice.entry(alice.insert(0, "x"))])
        # The database may be shared: a webhook for every document must not outlive us.
        await store.remove_webhook(hooks[2].webhook_id)
    assert all(stored.is_new and stored.log_rows == 0 for stored in loaded)
    assert all(text_of(stored.update) == "" for stored in loaded)
    assert hooks[0].webhook_id not in remaining
    assert hooks[1].webhook_id not in remaining
    assert hooks[2].webhook_id in remaining
    assert recreated.title == "Nouveau départ"
    assert result.log_rows == 1  # the purged log's rows are not counted any more


async def test_a_longest_text_id_has_a_storable_companion(make_store: StoreFactory) -> None:
    doc_id = ("p" + uuid.uuid4().hex * 4)[:DOC_ID_LENGTH]
    companion = doc_id + ANNOTATIONS_SUFFIX
    widest = ("w" + uuid.uuid4().hex * 5)[:STORED_DOC_ID_LENGTH]
    notes = Editor("serveur")
    async with make_store() as store:
        await store.create_document(doc_id, title="Long")
        await store.append(companion, [notes.entry(notes.insert(0, "note"))])
        await store.create_document(widest, title="Le plus long")
        with pytest.raises(ValueError, match="doc_id"):
            await store.create_document(widest + "x", title="Trop long")
        with pytest.raises(ValueError, match="kind"):
            await store.create_document(f"{doc_id[:100]}-k", title="?", kind="image")
        stored = await store.load(companion)
        assert (await store.get_document(widest)).doc_id == widest
    assert len(companion) == 140 <= STORED_DOC_ID_LENGTH
    assert text_of(stored.update) == "note"


async def test_catalog_calls_on_a_closed_store_raise_storage_unavailable(
    make_store: StoreFactory, doc_id: str
) -> None:
    store = make_store()
    with pytest.raises(StorageUnavailable):
        await store.create_document(doc_id, title="x")
    with pytest.raises(StorageUnavailable):
        await store.list_documents()
    with pytest.raises(StorageUnavailable):
        await store.list_webhooks()
