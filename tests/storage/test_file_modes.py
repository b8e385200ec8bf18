"""Data at rest: a private data folder, private database files, sealed webhook secrets."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import httpx

from server.access.outbound import OutboundPolicy
from server.access.secret import load_or_create_secret
from server.access.webhook_secrets import SealedWebhooks
from storage.engine import create_engine, database_url_for, migrate
from storage.memory import MemoryDocumentStore
from storage.sql import SqlDocumentStore
from tests.conftest import RunningServer, ServerFactory

SECRET = "un-secret-choisi-par-decidim-2026"


def mode(path: Path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def database_modes(folder: Path) -> dict[str, int]:
    """The mode of each file of the SQLite database in `folder`."""
    return {p.name: mode(p) for p in folder.iterdir() if p.name.startswith("palabre.db")}


def open_up(folder: Path) -> None:
    for p in folder.iterdir():
        p.chmod(0o644)


def database_bytes(data_dir: Path) -> bytes:
    return b"".join(
        p.read_bytes() for p in data_dir.iterdir() if p.name.startswith("palabre.db")
    )


async def test_a_new_database_and_its_wal_are_private_whatever_the_umask(
    tmp_path: Path,
) -> None:
    previous = os.umask(0o000)
    try:
        engine = create_engine(database_url_for(tmp_path))
        await migrate(engine)
        async with engine.begin() as conn:
            await conn.exec_driver_sql("CREATE TABLE t (x)")
            await conn.exec_driver_sql("INSERT INTO t VALUES (1)")
        assert database_modes(tmp_path) == {
            "palabre.db": 0o600, "palabre.db-wal": 0o600, "palabre.db-shm": 0o600}
        await engine.dispose()
    finally:
        os.umask(previous)


async def test_an_existing_world_readable_database_is_narrowed(tmp_path: Path) -> None:
    engine = create_engine(database_url_for(tmp_path))
    await migrate(engine)
    await engine.dispose()
    open_up(tmp_path)
    engine = create_engine(database_url_for(tmp_path))
    async with engine.connect() as conn:
        await conn.exec_driver_sql("SELECT 1")
    modes = database_modes(tmp_path)
    assert modes and set(modes.values()) == {0o600}
    await engine.dispose()


def test_the_data_folder_and_the_secret_are_private(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    data_dir.mkdir(mode=0o755)
    data_dir.chmod(0o755)
    load_or_create_secret(data_dir)
    assert mode(data_dir) == 0o700
    assert mode(data_dir / "secret.key") == 0o600
    fresh = tmp_path / "fresh" / "data"
    load_or_create_secret(fresh)
    assert mode(fresh) == 0o700


async def post_as_facilitator(
    server: RunningServer, path: str, body: dict[str, object]
) -> dict[str, object]:
    token = server.token("facilitator", "Loïc Ménard")
    async with httpx.AsyncClient(
        base_url=server.url, headers={"Authorization": f"Bearer {token}"}
    ) as http:
        created = await http.post(path, json=body)
    assert created.status_code == 201, created.text
    answer = created.json()
    assert isinstance(answer, dict)
    return answer


async def test_a_running_server_keeps_its_files_private(
    start_server: ServerFactory, tmp_path: Path
) -> None:
    data_dir = tmp_path / "served"
    async with start_server(data_dir=data_dir) as server:
        await post_as_facilitator(server, "/api/documents", {"id": "charte", "title": "C"})
        assert mode(data_dir) == 0o700
        assert mode(data_dir / "secret.key") == 0o600
        modes = database_modes(data_dir)
        assert "palabre.db" in modes and set(modes.values()) == {0o600}


async def test_webhook_secrets_are_sealed_in_the_database(
    start_server: ServerFactory, tmp_path: Path
) -> None:
    data_dir = tmp_path / "served"
    async with start_server(data_dir=data_dir) as server:
        created = await post_as_facilitator(server, "/api/webhooks", {
            "url": "https://decidim.example/hook", "events": ["document.changed"],
            "secret": SECRET})
        assert created["secret"] == SECRET
    stored = database_bytes(data_dir)
    assert b"decidim.example" in stored
    assert SECRET.encode() not in stored


async def test_plain_secrets_stored_before_are_sealed_at_start_and_still_sign(
    start_server: ServerFactory, tmp_path: Path
) -> None:
    data_dir = tmp_path / "served"
    data_dir.mkdir()
    store = SqlDocumentStore(database_url_for(data_dir))
    async with store:
        legacy = await store.add_webhook(
            url="https://decidim.example/hook", secret=SECRET, events=["document.changed"],
            doc_id=None, created_by="ancien",
        )
    assert SECRET.encode() in database_bytes(data_dir)
    async with start_server(data_dir=data_dir):
        pass  # sealing runs at start
    assert SECRET.encode() not in database_bytes(data_dir)
    # Read back through the seal: the webhook and its secret are intact.
    store = SqlDocumentStore(database_url_for(data_dir))
    async with store:
        sealed = SealedWebhooks(store, load_or_create_secret(data_dir), OutboundPolicy())
        (webhook,) = await sealed.list_webhooks()
        (raw,) = await store.list_webhooks()
    assert webhook.webhook_id == legacy.webhook_id and webhook.secret == SECRET
    assert raw.secret != SECRET and raw.secret.startswith("v1:")


async def test_a_secret_sealed_under_another_key_is_not_sealed_again() -> None:
    # Sealing what only looks plain would nest it, and grow it, at every start of every
    # node that cannot open it (a node with another secret, a shared test database).
    store = MemoryDocumentStore()
    policy = OutboundPolicy.parse("")
    async with store:
        first = SealedWebhooks(store, b"a" * 32, policy)
        made = await first.add_webhook(url="https://hooks.example/h", secret="s3cret",
                                       events=["document.changed"], doc_id=None,
                                       created_by=None)
        (stored,) = await store.list_webhooks()
        other = SealedWebhooks(store, b"b" * 32, policy)
        assert await other.seal_plain_secrets() == 0
        (after,) = await store.list_webhooks()
        assert after.secret == stored.secret
        assert [w.secret for w in await first.list_webhooks()] == [made.secret] == ["s3cret"]
