"""The ``palabre`` command line: ``serve`` (and the subcommands later issues add)."""

from __future__ import annotations

import asyncio
import socket
import sys
from pathlib import Path

import click
import uvicorn

from server.app import create_app
from server.logs import configure_logging
from server.settings import Settings, settings_from_env


class _AnnouncingServer(uvicorn.Server):
    """A uvicorn server that prints its URL once it accepts connections."""

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets=sockets)
        if self.should_exit:
            return
        host, port = self.servers[0].sockets[0].getsockname()[:2]
        click.echo(f"palabre serving on http://{host}:{port}", err=False)
        sys.stdout.flush()


def build_server(settings: Settings) -> uvicorn.Server:
    """A uvicorn server for `settings`, not yet started."""
    config = uvicorn.Config(
        create_app(settings),
        host=settings.host,
        port=settings.port,
        ws_max_size=settings.max_message_bytes,
        ws_per_message_deflate=False,
        lifespan="on",
        log_config=None,
        access_log=False,
        timeout_graceful_shutdown=10,
    )
    return _AnnouncingServer(config)


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
    server = build_server(settings)
    asyncio.run(server.serve())
