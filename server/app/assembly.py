"""``palabre scenario`` and ``palabre demo``: the assembly's whole cycle against a server,
and a living example loaded into one.

Both act through the API and the socket like any client (``client.scenario``); this module
only adds what needs the server's side: tokens minted from its secret for every simulated
person, the archive chain verified in its database (``palabre verify-archive``'s logic),
and, for ``demo`` without ``--url``, a server of its own on the data folder for the time of
the loading.
"""

from __future__ import annotations

import asyncio
import dataclasses
import socket
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

import anyio
import click

from server.access.auth import Role, mint_token
from server.access.secret import SECRET_FILE, SecretError, load_or_create_secret
from server.app.runner import build_server
from server.app.weblink import LINK_TTL_SECONDS
from server.settings import Settings, settings_from_env

if TYPE_CHECKING:
    from client.scenario.people import TokenMinter

T = TypeVar("T")
TOKEN_TTL = 12 * 3600
"""Lifetime of the tokens a scenario mints: longer than the slowest full run."""


def _settings(data_dir: Path | None) -> Settings:
    try:
        return settings_from_env({"data_dir": data_dir})
    except (TypeError, ValueError) as exc:
        raise click.UsageError(str(exc)) from exc


def existing_secret(settings: Settings) -> bytes:
    """The secret of the server whose data folder `settings` names (never made here).

    Raises:
        click.UsageError: the folder holds no secret (a token must be given instead).
        click.ClickException: the secret cannot be read.
    """
    if not (settings.data_dir / SECRET_FILE).is_file():
        raise click.UsageError(
            f"no {SECRET_FILE} in {settings.data_dir}: pass --token, or the server's --data-dir"
        )
    try:
        return load_or_create_secret(settings.data_dir)
    except SecretError as exc:
        raise click.ClickException(str(exc)) from exc


def _minter(settings: Settings, ttl: int) -> TokenMinter:
    """Tokens signed with the server's secret, one per simulated person, expiring after `ttl`."""
    secret = existing_secret(settings)

    def mint(role: str, name: str, sub: str) -> str:
        return mint_token(secret, sub=sub, name=name, role=Role(role), ttl=ttl)

    return mint


def archive_verifier(settings: Settings) -> Callable[[str], Awaitable[tuple[bool, str]]] | None:
    """The server-side chain check on the data folder's database (None without one)."""
    if settings.database_url is None and not (settings.data_dir / "palabre.db").is_file():
        return None
    url = settings.resolved_database_url

    async def verify(doc_id: str) -> tuple[bool, str]:
        from storage.base import StorageUnavailable
        from storage.sql import SqlDocumentStore

        try:
            async with SqlDocumentStore(url) as store:
                report = await store.verify_chain(doc_id)
        except (StorageUnavailable, ValueError) as exc:
            return False, f"cannot read the archive: {exc}"
        if report.ok:
            return True, f"{report.checked} snapshot(s) verified in the database"
        return False, f"chain broken at snapshot #{report.first_broken}: {report.reason}"

    return verify


@click.command()
@click.option("--url", default=None, help="Server base URL [http://PALABRE_HOST:PALABRE_PORT].")
@click.option("--sessions", type=click.IntRange(min=1), default=12, show_default=True)
@click.option("--members", type=click.IntRange(min=1), default=30, show_default=True)
@click.option("--citizens", type=click.IntRange(min=0), default=200, show_default=True)
@click.option("--speed", type=click.FloatRange(min=0, min_open=True), default=None,
              help="Speed-up over human pace [20; 1 with --watch].")
@click.option("--session-seconds", type=click.FloatRange(min=0, min_open=True), default=120,
              show_default=True, help="Length of a session in human time.")
@click.option("--watch", is_flag=True,
              help="Human pace, and print the page link to watch the text being written.")
@click.option("--doc", "doc_id", default=None, help="Document id [assemblee-<random>].")
@click.option("--seed", type=int, default=9, show_default=True)
@click.option("--token", "token_", default=None,
              help="A facilitator token [minted from --data-dir, with one token per person].")
@click.option("--data-dir", type=click.Path(path_type=Path), default=None,
              help="The server's data folder: tokens per person, chain check in its database.")
def scenario(
    url: str | None, sessions: int, members: int, citizens: int, speed: float | None,
    session_seconds: float, watch: bool, doc_id: str | None, seed: int, token_: str | None,
    data_dir: Path | None,
) -> None:
    """Run an assembly's whole cycle against a running server, check it, print a summary.

    Exits 1 when any check fails.
    """
    from client.scenario import ScenarioConfig, run_scenario

    settings = _settings(data_dir)
    # With only --token the server may be elsewhere: a local secret would sign bad tokens.
    mint = _minter(settings, TOKEN_TTL) if token_ is None or data_dir is not None else None
    facilitator = token_ if token_ is not None else mint_facilitator(mint)
    if mint is None:
        click.echo("no data folder: every simulated person acts with the given token", err=True)
    config = ScenarioConfig(
        url=url or f"http://{settings.host}:{settings.port}", facilitator_token=facilitator,
        mint=mint, sessions=sessions, members=members, citizens=citizens,
        speed=speed if speed is not None else (1.0 if watch else 20.0),
        session_seconds=session_seconds, watch=watch, doc_id=doc_id, seed=seed,
        archive_verifier=archive_verifier(settings) if mint is not None else None,
        say=click.echo,
    )
    report = _run(lambda: run_scenario(config))
    click.echo(report.render())
    raise SystemExit(report.exit_code)


def mint_facilitator(mint: TokenMinter | None) -> str:
    """The scenario's facilitator token."""
    assert mint is not None  # without --token the minter exists, or _minter refused
    return mint("facilitator", "Facilitation", "palabre-facilitation")


@click.command()
@click.option("--url", default=None,
              help="Load into this running server [a server of its own on --data-dir].")
@click.option("--token", "token_", default=None, help="A facilitator token [minted].")
@click.option("--data-dir", type=click.Path(path_type=Path), default=None,
              help="Data folder [PALABRE_DATA_DIR, ./data].")
def demo(url: str | None, token_: str | None, data_dir: Path | None) -> None:
    """Load the demo assembly (draft, stages, comments); running it again adds nothing."""
    from client.scenario.demo import DEMO_DOC, DemoTarget, load_demo

    settings = _settings(data_dir)
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    load_or_create_secret(settings.data_dir)
    mint = _minter(settings, LINK_TTL_SECONDS)  # the printed link expires like serve's
    token = token_ or mint("facilitator", "Facilitation", "palabre-facilitation")

    async def load(base: str) -> list[str]:
        return await load_demo(DemoTarget(url=base, token=token, mint=mint))

    if url is not None:
        lines = _run(lambda: load(url))
    else:
        lines = _run(lambda: serving(settings, load))
    for line in lines:
        click.echo(f"demo: {line}")
    base = url or f"http://{settings.host}:{settings.port}"
    click.echo(f"open {base}/d/{DEMO_DOC}?token={token}")


async def serving(settings: Settings, action: Callable[[str], Awaitable[T]]) -> T:
    """Run `action(base_url)` against a server of our own on `settings`' data, then stop it.

    Raises:
        click.ClickException: the server did not start.
    """
    local = dataclasses.replace(settings, host="127.0.0.1", port=0)
    server = build_server(local)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    stopped = anyio.Event()
    results: list[T] = []

    async def serve() -> None:
        try:
            await server.serve([sock])
        finally:
            stopped.set()

    try:
        async with anyio.create_task_group() as tg:
            tg.start_soon(serve)
            with anyio.fail_after(30):
                await server.ready.wait()
            if server.should_exit:
                raise click.ClickException("the server did not start")
            try:
                results.append(await action(server.url))
            finally:
                server.should_exit = True
                with anyio.CancelScope(shield=True), anyio.fail_after(30):
                    await stopped.wait()
    finally:
        sock.close()
    return results[0]


def _run(call: Callable[[], Awaitable[T]]) -> T:
    """Run one coroutine; a refusal from the server as a clean CLI error."""
    from client.api import ApiError
    from client.errors import SessionError

    async def main() -> T:
        return await call()

    try:
        return asyncio.run(main())
    except ApiError as exc:
        raise click.ClickException(f"{exc.error}: {exc.detail}") from exc
    except SessionError as exc:
        raise click.ClickException(f"socket: {exc}") from exc
    except TimeoutError as exc:
        raise click.ClickException("the server did not answer in time") from exc
