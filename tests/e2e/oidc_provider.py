"""A real OpenID Connect provider for the sign-in tests: panva's certified ``oidc-provider``
(npm), run by ``tests/node/oidc-provider.mjs`` on a loopback port, and palabre signing in
through it.

The provider does real discovery, PKCE (required), RS256-signed ID tokens from a key made at
its start, single-use codes, its user info endpoint (``/me``), and its own sign-in and
consent pages, which the tests fill in as a browser would (httpx here, Chromium in
``tests/browser``). It exits when its stdin closes, so a killed test leaves nothing running.
"""

from __future__ import annotations

import json
import re
import shutil
import socket
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urljoin

import anyio
import httpx
from anyio.abc import Process

from tests.conftest import RunningServer, ServerFactory, require_service

NODE_DIR = Path(__file__).resolve().parents[1] / "node"
SCRIPT = NODE_DIR / "oidc-provider.mjs"
START_SECONDS = 60
"""The provider's start (Node, the package, an RSA key) on a loaded 2-core machine."""
FLOW_SECONDS = 60

CLIENT_ID = "palabre"
CLIENT_SECRET = "s3cret-de-test-palabre"
OTHER_CLIENT_ID = "autre-appli"
"""Another application of the same provider, registered with palabre's callback too."""
OTHER_CLIENT_SECRET = "s3cret-de-l-autre-appli"


@dataclass(frozen=True, slots=True, kw_only=True)
class Account:
    """A person of the provider: how they sign in there, and their claims."""

    sub: str
    password: str
    name: str
    email: str
    groups: tuple[str, ...]

    def config(self) -> dict[str, Any]:
        """The account as ``oidc-provider.mjs`` reads it."""
        return {"sub": self.sub, "password": self.password, "name": self.name,
                "email": self.email, "groups": list(self.groups)}


ELODIE = Account(sub="decidim-42", password="mot-de-passe-élodie", name="Élodie Lefèvre",
                 email="elodie@example.org", groups=("assemblee",))
"""A member of the assembly (group ``assemblee``)."""
ANAIS = Account(sub="decidim-7", password="mot-de-passe-anaïs", name="Anaïs Fabre",
                email="anais@example.org", groups=("animation", "assemblee"))
"""A facilitator (group ``animation``)."""
YANN = Account(sub="decidim-99", password="mot-de-passe-yann", name="Yann Le Goff",
               email="yann@example.org", groups=("quartier-nord",))
"""Someone with an account and no listed group: a citizen."""


def oidc_settings(issuer: str, **more: Any) -> dict[str, Any]:
    """palabre's settings for signing in through `issuer` (OpenID Connect, discovery)."""
    return {"oidc_issuer": issuer, "oidc_audience": CLIENT_ID,
            "oidc_client_id": CLIENT_ID, "oidc_client_secret": CLIENT_SECRET,
            "oidc_scopes": "openid profile email groups",
            "signin_role_claim": "groups", "signin_member_values": "assemblee",
            "signin_facilitator_values": "animation", **more}


@asynccontextmanager
async def run_oidc_provider(config: dict[str, Any]) -> AsyncIterator[str]:
    """Run ``oidc-provider.mjs`` with `config` for the block: its issuer URL.

    Fails in CI, skips elsewhere, when Node.js or the npm package is missing.
    """
    node = shutil.which("node")
    if node is None:
        require_service("node", "no `node` on PATH (install Node.js >= 20)")
    if not (NODE_DIR / "node_modules" / "oidc-provider").is_dir():
        require_service("npm package oidc-provider", "missing: run `make node-deps` (npm ci)")
    process = await anyio.open_process([node, str(SCRIPT), json.dumps(config)], cwd=NODE_DIR)
    stderr = bytearray()
    try:
        async with anyio.create_task_group() as tg:
            tg.start_soon(_keep, process, stderr)
            try:
                url = await _first_line(process, stderr)
            except BaseException:
                tg.cancel_scope.cancel()
                raise
            try:
                yield url
            finally:
                tg.cancel_scope.cancel()
    finally:
        with anyio.CancelScope(shield=True):
            await _stop(process)


async def _keep(process: Process, into: bytearray) -> None:
    """Keep the provider's stderr (warnings, errors) for failure messages."""
    assert process.stderr is not None
    async for chunk in process.stderr:
        into.extend(chunk)
        del into[:-8000]


async def _first_line(process: Process, stderr: bytearray) -> str:
    """The issuer URL the provider prints once listening."""
    assert process.stdout is not None
    received = bytearray()
    try:
        with anyio.fail_after(START_SECONDS):
            while b"\n" not in received:
                received.extend(await process.stdout.receive())
    except (TimeoutError, anyio.EndOfStream) as exc:
        raise AssertionError(f"oidc-provider did not start: {stderr.decode(errors='replace')}"
                             ) from exc
    url = received.split(b"\n", 1)[0].decode().strip()
    assert url.startswith("http://127.0.0.1:"), url
    return url


async def _stop(process: Process) -> None:
    """Close the provider's stdin (it exits then); kill it if it lingers."""
    if process.stdin is not None:
        await process.stdin.aclose()
    with anyio.move_on_after(10):
        await process.wait()
    if process.returncode is None:
        process.kill()
    await process.aclose()


SigninServer = tuple[RunningServer, str]
SigninServerFactory = Callable[..., AbstractAsyncContextManager[SigninServer]]


@asynccontextmanager
async def palabre_with_provider(
    start_server: ServerFactory, *, accounts: tuple[Account, ...] = (ELODIE, ANAIS, YANN),
    clock_offset_seconds: float = 0,
    id_token_ttl_seconds: int | None = None, **settings: Any,
) -> AsyncIterator[SigninServer]:
    """A real provider knowing `accounts`, and palabre signing in through it: (server, issuer).

    palabre's callback is registered for two clients: palabre's and another application's.
    `settings`: more of palabre's settings.
    """
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        callback = f"http://127.0.0.1:{sock.getsockname()[1]}/auth/callback"

        def client(client_id: str, secret: str, method: str) -> dict[str, Any]:
            return {"client_id": client_id, "client_secret": secret, "redirect_uris": [callback],
                    "grant_types": ["authorization_code"], "response_types": ["code"],
                    "token_endpoint_auth_method": method}

        config: dict[str, Any] = {
            "clients": [client(CLIENT_ID, CLIENT_SECRET, "client_secret_basic"),
                        client(OTHER_CLIENT_ID, OTHER_CLIENT_SECRET, "client_secret_basic")],
            "accounts": [account.config() for account in accounts],
            "clock_offset_seconds": clock_offset_seconds,
        }
        if id_token_ttl_seconds is not None:
            config["id_token_ttl_seconds"] = id_token_ttl_seconds
        async with run_oidc_provider(config) as issuer:
            async with start_server(bound=sock, **{**oidc_settings(issuer), **settings}) as server:
                assert f"{server.url}/auth/callback" == callback
                yield server, issuer


_FORM_ACTION = re.compile(r'<form[^>]*\baction="([^"]+)"')


async def through_provider(
    browser: httpx.AsyncClient, url: str, account: Account | None, *, until: str,
) -> str:
    """Follow `url` through the provider as a browser: its sign-in page (as `account`), its
    consent page; the URL it finally sends the browser to (starting with `until`), unfetched.

    A browser the provider already knows skips its pages; ``account=None`` means it must.
    """
    with anyio.fail_after(FLOW_SECONDS):
        for _ in range(12):
            if url.startswith(until):
                return url
            answer = await browser.get(url)
            if answer.is_redirect:
                url = urljoin(url, answer.headers["location"])
                continue
            assert answer.status_code == 200, answer.text
            action = _FORM_ACTION.search(answer.text)
            assert action is not None, answer.text
            fields: dict[str, str] = {}
            if 'name="login"' in answer.text:
                assert account is not None, "the provider asks who signs in"
                fields = {"login": account.sub, "password": account.password}
            posted = await browser.post(urljoin(url, action.group(1)), data=fields)
            assert posted.is_redirect, posted.text
            url = urljoin(url, posted.headers["location"])
    raise AssertionError(f"the provider never sent the browser to {until}; last at {url}")
