"""The ``palabre`` command line: ``serve`` (and the subcommands later issues add)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import click

from server.logs import configure_logging
from server.runner import build_server
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
