"""The ``palabre`` command line: ``serve``, ``token`` (and the subcommands later issues add)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import click

from server.auth import Role, mint_token, slugify
from server.logs import configure_logging
from server.runner import build_server
from server.secret import SecretError, load_or_create_secret
from server.settings import settings_from_env


@click.group()
def main() -> None:
    """palabre: realtime collaborative editing for citizens' assemblies."""


@main.command()
@click.option("--host", default=None, help="Address to listen on [PALABRE_HOST, 127.0.0.1].")
@click.option("--port", type=int, default=None, help="Port [PALABRE_PORT, 8000].")
@click.option(
    "--data-dir", type=click.Path(path_type=Path), default=None,
    help="Data folder [PALABRE_DATA_DIR, ./data].",
)
@click.option("--database-url", default=None, help="SQLAlchemy URL [PALABRE_DATABASE_URL].")
@click.option("--redis-url", default=None, help="Redis URL for scale-out [PALABRE_REDIS_URL].")
@click.option(
    "--max-message-bytes", type=int, default=None,
    help="Largest WebSocket message [PALABRE_MAX_MESSAGE_BYTES, 8 MiB].",
)
@click.option(
    "--room-grace-seconds", type=float, default=None,
    help="Idle time before a document leaves memory [PALABRE_ROOM_GRACE_SECONDS, 30].",
)
@click.option(
    "--log-format", type=click.Choice(["text", "json"]), default=None,
    help="Log line format [PALABRE_LOG_FORMAT, text].",
)
@click.option(
    "--oidc-issuer", default=None,
    help="Also accept RS256/ES256 tokens of this OpenID Connect issuer [PALABRE_OIDC_ISSUER].",
)
@click.option(
    "--oidc-audience", default=None,
    help="Audience those tokens must carry [PALABRE_OIDC_AUDIENCE].",
)
@click.option(
    "--allowed-origins", default=None,
    help="Comma-separated Origins browser sockets may come from [PALABRE_ALLOWED_ORIGINS; any].",
)
@click.option(
    "--insecure-no-auth", "auth_disabled", is_flag=True, default=None,
    help="DEVELOPMENT ONLY: no token checks, everyone is a facilitator [PALABRE_AUTH_DISABLED].",
)
def serve(**options: object) -> None:
    """Run the server until interrupted."""
    try:
        settings = settings_from_env(options)
    except (TypeError, ValueError) as exc:
        raise click.UsageError(str(exc)) from exc
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    configure_logging(log_format=settings.log_format)
    server = build_server(settings, announce=True)
    asyncio.run(server.serve())


@main.command()
@click.option(
    "--role", required=True, type=click.Choice([role.value for role in Role]),
    help="What the bearer may do.",
)
@click.option("--name", required=True, help="Display name, e.g. 'Élodie Lefèvre'.")
@click.option("--sub", default=None, help="Stable user id [a slug of the name].")
@click.option(
    "--docs", "docs", multiple=True, metavar="PATTERN",
    help="Limit the token to matching document ids (glob; repeat for several) [all].",
)
@click.option(
    "--ttl", type=click.IntRange(min=1), default=None,
    help="Lifetime in seconds [no expiry].",
)
@click.option(
    "--data-dir", type=click.Path(path_type=Path), default=None,
    help="Data folder holding secret.key [PALABRE_DATA_DIR, ./data].",
)
def token(
    role: str, name: str, sub: str | None, docs: tuple[str, ...], ttl: int | None,
    data_dir: Path | None,
) -> None:
    """Print one token signed with the server's secret."""
    subject = sub if sub is not None else slugify(name)
    if not subject:
        raise click.UsageError("cannot make a --sub from this name; pass --sub")
    try:
        settings = settings_from_env({"data_dir": data_dir})
        secret = load_or_create_secret(settings.data_dir)
    except (TypeError, ValueError) as exc:
        raise click.UsageError(str(exc)) from exc
    except SecretError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(mint_token(
        secret, sub=subject, name=name, role=Role(role), docs=docs or None, ttl=ttl,
    ))
