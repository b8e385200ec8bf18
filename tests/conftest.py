"""Shared fixtures: real servers on ephemeral ports, real databases, one shared Chromium."""

from __future__ import annotations

import functools
import hashlib
import os
import shutil
import socket
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

import anyio
import pytest
import pytest_asyncio
from playwright.async_api import Browser, BrowserContext, async_playwright
from playwright.async_api import Error as PlaywrightError
from starlette.applications import Starlette

from server.access.auth import Role, mint_token, slugify
from server.access.secret import load_or_create_secret
from server.app.factory import create_app
from server.app.runner import build_server
from server.settings import Settings
from storage.port import Storage

if TYPE_CHECKING:
    from tests.e2e.oidc_provider import SigninServerFactory

IS_CI = os.environ.get("CI", "").lower() == "true"
POSTGRES_URL = os.environ.get(
    "PALABRE_TEST_POSTGRES_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/test"
)


def require_service(name: str, reason: str) -> NoReturn:
    """Fail in CI (the service must be there), skip elsewhere, when a service is missing."""
    message = f"{name} unavailable: {reason}"
    if IS_CI:
        pytest.fail(message)
    pytest.skip(message)


@dataclass(frozen=True, slots=True)
class RunningServer:
    """A palabre server running in this process on an ephemeral loopback port."""

    url: str
    app: Starlette
    settings: Settings

    @property
    def ws_url(self) -> str:
        """The WebSocket base URL (``ws://host:port``)."""
        return "ws" + self.url.removeprefix("http")

    def token(self, role: str = "member", name: str = "Zoé Lefèvre", **claims: Any) -> str:
        """A token signed with this server's secret (see `token_for`)."""
        return token_for(self.settings.data_dir, role, name, **claims)


def token_for(
    data_dir: Path, role: str = "member", name: str = "Zoé Lefèvre", **claims: Any
) -> str:
    """A token for the server whose data folder is `data_dir`, as `palabre token` mints."""
    sub = claims.pop("sub", None) or slugify(name)
    return mint_token(
        load_or_create_secret(data_dir), sub=sub, name=name, role=Role(role), **claims
    )


ServerFactory = Callable[..., AbstractAsyncContextManager[RunningServer]]


@pytest.fixture
def refusing_port() -> Iterator[int]:
    """A loopback port that refuses connections for the whole test.

    The socket stays bound but never listens: connecting gets ECONNREFUSED, and no other
    process can take the port meanwhile (closing it first and handing out the number would).
    """
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        yield port


@pytest.fixture
def start_server(tmp_path: Path) -> ServerFactory:
    """Factory: ``async with start_server(store=..., **settings) as server`` runs a real uvicorn.

    ``bound``: a socket already bound to 127.0.0.1 (its URL was needed before the server
    starts, e.g. as a redirect URI registered at an identity provider); closed afterwards.
    """

    @asynccontextmanager
    async def start(
        *,
        store: Storage | None = None,
        data_dir: Path | None = None,
        direct_lane: bool = True,
        bound: socket.socket | None = None,
        **overrides: Any,
    ) -> AsyncIterator[RunningServer]:
        # Tests open sockets on ids they never created, as a member most often: members
        # create by connecting here (PALABRE_CREATE_ON_CONNECT=members), unless a test
        # says otherwise (tests/e2e/test_hostile_lifetimes.py).
        settings = replace(
            Settings(host="127.0.0.1", port=0, data_dir=data_dir or tmp_path / "data",
                     create_on_connect="members"),
            **overrides,
        )
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        app = create_app(settings, store=store)
        server = build_server(settings, app=app, direct_lane=direct_lane)
        sock = bound or socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        if bound is None:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind(("127.0.0.1", 0))
        stopped = anyio.Event()

        async def serve() -> None:
            try:
                await server.serve([sock])
            finally:
                stopped.set()

        async with anyio.create_task_group() as tg:
            tg.start_soon(serve)
            with anyio.fail_after(15):
                await server.ready.wait()
            if server.should_exit:
                raise RuntimeError("server failed to start")
            try:
                yield RunningServer(url=server.url, app=app, settings=settings)
            finally:
                # Shut down gracefully even when the test failed, as `palabre serve` would.
                server.should_exit = True
                with anyio.CancelScope(shield=True), anyio.fail_after(30):
                    await stopped.wait()
        sock.close()

    return start


@pytest.fixture
def oidc_signin(start_server: ServerFactory) -> SigninServerFactory:
    """Factory: ``async with oidc_signin(**options) as (server, issuer)`` runs the certified
    ``oidc-provider`` (npm, tests/node) on loopback and a palabre signing in through it.

    Options and people: ``tests.e2e.oidc_provider.palabre_with_provider``. Fails in CI,
    skips elsewhere, when Node.js or the package is missing.
    """
    from tests.e2e.oidc_provider import palabre_with_provider  # it imports this module

    return functools.partial(palabre_with_provider, start_server)


def _migrations_fingerprint() -> str:
    """A short hash of the Alembic versions this checkout carries."""
    versions = Path(__file__).resolve().parent.parent / "storage" / "migrations" / "versions"
    digest = hashlib.sha256()
    for path in sorted(versions.glob("*.py")):
        digest.update(path.name.encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()[:12]


async def postgres_or_skip() -> str:
    """The test PostgreSQL URL once it answers; fail in CI, skip elsewhere, when it does not.

    The tests use a database of their own per set of migrations (``test_m<hash>``), created
    on first use next to the configured one: checkouts with different schema histories
    (branches, older releases) then never meet in one ``alembic_version`` table.
    """
    import asyncpg
    from sqlalchemy.engine import make_url

    base = make_url(POSTGRES_URL)
    name = f"{base.database}_m{_migrations_fingerprint()}"

    async def connect(database: str | None) -> asyncpg.Connection:
        with anyio.fail_after(5):
            return await asyncpg.connect(
                host=base.host, port=base.port or 5432, user=base.username,
                password=base.password, database=database,
            )

    try:
        try:
            conn = await connect(name)
        except asyncpg.InvalidCatalogNameError:
            admin = await connect(base.database)
            try:
                await admin.execute(f'CREATE DATABASE "{name}"')
            except asyncpg.DuplicateDatabaseError:
                pass  # another test process created it first: the same schema history
            finally:
                await admin.close()
            conn = await connect(name)
        await conn.close()
    except (OSError, TimeoutError, asyncpg.PostgresError) as exc:
        require_service("PostgreSQL", f"{base.render_as_string(hide_password=True)}: {exc}")
    return base.set(database=name).render_as_string(hide_password=False)


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
async def database_url(request: pytest.FixtureRequest) -> str | None:
    """``None`` (SQLite in the data folder) or the test PostgreSQL URL."""
    if request.param == "sqlite":
        return None
    return await postgres_or_skip()


# --- the shared Chromium ----------------------------------------------------------------
# One Chromium per session, launched by the first test that asks for it. Playwright's async
# connection belongs to the event loop that started it, so the browser and every test using
# it run in pytest-asyncio's session loop (see `pytest_collection_modifyitems`); every other
# test keeps a loop of its own.

NewContext = Callable[..., Awaitable[BrowserContext]]


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Run the tests that use the shared Chromium in the session loop it was launched in."""
    for item in items:
        if "chromium" in getattr(item, "fixturenames", ()):
            # Before the marker auto mode added: pytest-asyncio reads the closest one.
            item.add_marker(pytest.mark.asyncio(loop_scope="session"), append=False)


def chromium_executable() -> str:
    """The system Chromium (``apt-get install chromium``); Playwright never downloads one."""
    for name in ("chromium", "chromium-browser"):
        if found := shutil.which(name):
            return found
    require_service("Chromium", "no chromium executable on PATH (apt-get install -y chromium)")


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def chromium() -> AsyncIterator[Browser]:
    """The system Chromium, headless, shared by the whole session (fail in CI, skip elsewhere)."""
    executable = chromium_executable()
    async with async_playwright() as playwright:
        try:
            browser = await playwright.chromium.launch(
                executable_path=executable, headless=True, args=["--no-sandbox"]
            )
        except PlaywrightError as exc:
            require_service("Chromium", f"{executable} did not start: {exc}")
        try:
            yield browser
        finally:
            await browser.close()


@pytest_asyncio.fixture(loop_scope="session")
async def new_context(chromium: Browser) -> AsyncIterator[NewContext]:
    """Factory: ``await new_context(**options)`` opens a fresh context, closed after the test.

    A test opens one context per person it plays (each with its own storage and network).
    """
    opened: list[BrowserContext] = []

    async def open_context(**options: Any) -> BrowserContext:
        context = await chromium.new_context(**options)
        opened.append(context)
        return context

    try:
        yield open_context
    finally:
        for context in opened:
            await context.close()
