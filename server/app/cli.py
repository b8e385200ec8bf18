"""The ``palabre`` command line: ``serve``, ``token``, ``import``, ``export`` and more."""

from __future__ import annotations

import asyncio
import io
import os
import stat
import sys
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO, TextIO, TypeVar, cast

import click

from server.access.auth import (
    DEFAULT_TTL_SECONDS,
    MAX_TTL_SECONDS,
    Role,
    mint_token,
    unique_sub,
)
from server.access.secret import SecretError, load_or_create_secret, make_private_dir
from server.app.assembly import demo, existing_secret, scenario
from server.app.backup import backup, restore
from server.app.runner import build_server, serve_until_stopped
from server.app.weblink import facilitator_link
from server.logs import configure_logging
from server.settings import settings_from_env

if TYPE_CHECKING:
    from client.api import ContentFormat

T = TypeVar("T")


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
    "--stateless-hook", default=None,
    help="module:callable receiving Hocuspocus stateless messages; server.sync.stateless:relay "
    "relays them [PALABRE_STATELESS_HOOK; dropped].",
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
    configure_logging(log_format=settings.log_format)
    make_private_dir(settings.data_dir)
    try:
        server = build_server(
            settings, announce=True, welcome=lambda url: facilitator_link(settings, url),
            force_exit=True,
        )
    except ValueError as exc:
        raise click.UsageError(str(exc)) from exc
    serve_until_stopped(server, settings.event_loop)


def _ttl_defaults() -> str:
    """The default lifetimes, for ``--help``: ``facilitator 12 h, member 7 days, ...``."""
    return ", ".join(f"{role} {_duration(ttl)}" for role, ttl in DEFAULT_TTL_SECONDS.items())


def _duration(seconds: int) -> str:
    day = 24 * 3600
    return f"{seconds // day} days" if seconds % day == 0 else f"{seconds // 3600} h"


@main.command()
@click.option(
    "--role", required=True, type=click.Choice([role.value for role in Role]),
    help="What the bearer may do.",
)
@click.option("--name", required=True, help="Display name, e.g. 'Élodie Lefèvre'.")
@click.option(
    "--sub", default=None,
    help="Stable user id; pass the one printed before to renew a person's token "
    "[a new one: a slug of the name and a random suffix, shown on stderr].",
)
@click.option(
    "--docs", "docs", multiple=True, metavar="PATTERN",
    help="Limit the token to matching document ids (glob; repeat for several) [all].",
)
@click.option(
    "--ttl", type=click.IntRange(min=1, max=MAX_TTL_SECONDS), default=None,
    help=f"Lifetime in seconds, at most {MAX_TTL_SECONDS} (a year) [{_ttl_defaults()}].",
)
@click.option(
    "--data-dir", type=click.Path(path_type=Path), default=None,
    help="Data folder holding secret.key [PALABRE_DATA_DIR, ./data].",
)
def token(
    role: str, name: str, sub: str | None, docs: tuple[str, ...], ttl: int | None,
    data_dir: Path | None,
) -> None:
    """Print one expiring token signed with the server's secret (and nothing else on stdout)."""
    subject = sub if sub is not None else unique_sub(name)
    if not subject:
        raise click.UsageError("cannot make a --sub from this name; pass --sub")
    try:
        settings = settings_from_env({"data_dir": data_dir})
        secret = load_or_create_secret(settings.data_dir)
    except (TypeError, ValueError) as exc:
        raise click.UsageError(str(exc)) from exc
    except SecretError as exc:
        raise click.ClickException(str(exc)) from exc
    lifetime = ttl if ttl is not None else DEFAULT_TTL_SECONDS[Role(role)]
    if sub is None:
        click.echo(f"sub: {subject} (pass --sub {subject} to renew this person's token)",
                   err=True)
    click.echo(mint_token(
        secret, sub=subject, name=name, role=Role(role), docs=docs or None, ttl=lifetime,
    ))


_API_OPTIONS = [
    click.option("--url", default=None,
                 help="Server base URL [http://PALABRE_HOST:PALABRE_PORT]."),
    click.option("--token", "token_", default=None,
                 help="Bearer token [a short-lived facilitator token minted from --data-dir]."),
    click.option("--data-dir", type=click.Path(path_type=Path), default=None,
                 help="The server's data folder, to mint a token [PALABRE_DATA_DIR, ./data]."),
]


def _api_options(command: Callable[..., None]) -> Callable[..., None]:
    for option in reversed(_API_OPTIONS):
        command = option(command)
    return command


def _api_target(url: str | None, token_: str | None, data_dir: Path | None) -> tuple[str, str]:
    """The base URL and token to call the API with."""
    try:
        settings = settings_from_env({"data_dir": data_dir})
    except (TypeError, ValueError) as exc:
        raise click.UsageError(str(exc)) from exc
    base = url or f"http://{settings.host}:{settings.port}"
    if token_ is not None:
        return base, token_
    return base, mint_token(
        existing_secret(settings), sub="palabre-cli", name="palabre CLI",
        role=Role.FACILITATOR, ttl=600,
    )


def _run_api(call: Callable[[], Coroutine[Any, Any, T]]) -> T:
    """Run one API exchange; the server's refusal or absence as a clean CLI error."""
    from client.api import ApiError

    try:
        return asyncio.run(call())
    except ApiError as exc:
        raise click.ClickException(f"{exc.error}: {exc.detail}") from exc


@main.command("import")
@click.argument("file", type=click.File("r", encoding="utf-8"))
@click.option("--doc", "doc_id", required=True, help="Id of the new document.")
@click.option("--title", default=None, help="Its title [the first heading, else the id].")
@click.option("--public", "is_public", is_flag=True, help="Make it readable by anyone.")
@_api_options
def import_(
    file: TextIO, doc_id: str, title: str | None, is_public: bool, url: str | None,
    token_: str | None, data_dir: Path | None,
) -> None:
    """Create a document from a Markdown FILE (``-`` for stdin) on a running server."""
    from client.api import PalabreApi

    base, bearer = _api_target(url, token_, data_dir)
    markdown = _read_with_progress(file)
    heading = next((line.lstrip("#").strip() for line in markdown.splitlines()
                    if line.startswith("#") and line.lstrip("#").strip()), None)

    async def call() -> str:
        async with PalabreApi(base, bearer) as api:
            meta = await api.create_document(
                doc_id, title or heading or doc_id, markdown=markdown, is_public=is_public
            )
        return str(meta["id"])

    created = _run_api(call)
    if _shows_progress(file):
        click.echo("sent", err=True)
    click.echo(f"created {created}")


LARGE_FILE = 256 * 1024
"""From this size (bytes) on, ``import`` shows its progress on a terminal."""
_CHUNK = 64 * 1024


def _file_size(file: TextIO) -> int | None:
    """The size of a regular file in bytes; ``None`` for stdin, pipes and the like."""
    try:
        status = os.fstat(file.fileno())
    except (OSError, io.UnsupportedOperation):
        return None
    return status.st_size if stat.S_ISREG(status.st_mode) else None


def _shows_progress(file: TextIO) -> bool:
    """Only a large regular file, and only when a person watches stderr."""
    size = _file_size(file)
    return size is not None and size >= LARGE_FILE and sys.stderr.isatty()


def _read_with_progress(file: TextIO) -> str:
    """Read the whole file, with a progress bar on stderr for a large one on a terminal."""
    if not _shows_progress(file):
        return file.read()
    size = _file_size(file) or 0
    parts: list[str] = []
    with click.progressbar(
        length=size, label=f"reading {file.name}", file=sys.stderr, show_eta=False,
    ) as bar:
        while chunk := file.read(_CHUNK):
            parts.append(chunk)
            bar.update(len(chunk.encode()))
    click.echo("sending to the server...", err=True)
    return "".join(parts)


EXPORT_FORMATS = ("md", "html", "text", "json", "pdf", "docx", "odt", "akn", "decidim")


@main.command("export")
@click.argument("doc_id")
@click.option("--format", "fmt", type=click.Choice(EXPORT_FORMATS), default="md",
              show_default=True, help="Output format (html: a standalone page).")
@click.option("--version", "version", default=None, metavar="N",
              help="A snapshot number or id, 'adopted' or 'live' [live].")
@click.option("--output", "-o", type=click.File("wb"), default="-",
              help="Write here [stdout].")
@_api_options
def export(
    doc_id: str, fmt: str, version: str | None, output: BinaryIO, url: str | None,
    token_: str | None, data_dir: Path | None,
) -> None:
    """Write a version of a document (the live text by default) from a running server."""
    from client.api import PalabreApi

    base, bearer = _api_target(url, token_, data_dir)

    async def call() -> bytes:
        async with PalabreApi(base, bearer) as api:
            if version is None and fmt in ("md", "text", "json"):
                return (await api.get_content(doc_id, cast("ContentFormat", fmt))).encode()
            return await api.export(doc_id, fmt, version=version)

    output.write(_run_api(call))


@main.command("erase-person")
@click.argument("sub")
@click.option("--data-dir", type=click.Path(path_type=Path), default=None,
              help="Data folder holding palabre.db [PALABRE_DATA_DIR, ./data].")
@click.option("--database-url", default=None, help="SQLAlchemy URL [PALABRE_DATABASE_URL].")
@click.option("--remove-words", is_flag=True,
              help="Also replace the words of their comments, replies and amendments.")
def erase_person(sub: str, data_dir: Path | None, database_url: str | None,
                 remove_words: bool) -> None:
    """Erase person SUB in the database while no server runs on it (with servers running,
    a facilitator uses POST /api/people/{sub}/erase, which also reaches open pages):
    their name and subject become their pseudonym everywhere; prints the chains hashed
    again (docs/privacy.md)."""
    import time

    from server.access.roster import Roster
    from server.modules.erasure import erasure_summary, identity_for
    from storage.base import StorageUnavailable
    from storage.people import PersonNotFound
    from storage.sql import SqlDocumentStore

    if data_dir is not None and database_url is not None:
        raise click.UsageError("give --data-dir or --database-url, not both")
    try:
        settings = settings_from_env({"data_dir": data_dir, "database_url": database_url})
    except (TypeError, ValueError) as exc:
        raise click.UsageError(str(exc)) from exc

    # The servers' secret keys the digest that keeps old credentials refused (Roster).
    key = load_or_create_secret(settings.data_dir)

    async def erase() -> dict[str, Any] | None:
        async with SqlDocumentStore(settings.resolved_database_url) as store:
            try:
                identity, texts = await identity_for(store, sub, remove_words=remove_words)
            except PersonNotFound:
                return None
            report = await store.erase_person(
                identity, at=time.time(),
                annotation_docs=[meta.doc_id + ".annotations" for meta in texts],
                subject_digest=Roster(None, subject_key=key).subject_digest(sub))
            summary = erasure_summary(identity, report)
            await store.record_audit(doc_id=None, action="person.erased", actor_sub=None,
                                     actor_name="palabre erase-person", detail=summary)
            return summary

    try:
        summary = asyncio.run(erase())
    except (StorageUnavailable, ValueError) as exc:
        raise click.ClickException(f"cannot erase: {exc}") from exc
    if summary is None:
        raise click.ClickException(f"nobody with subject {sub!r} (already erased?)")
    click.echo(f"erased: now {summary['pseudonym']} ({summary['sub']})")
    for reseal in summary["reseals"]:
        click.echo(f"{reseal['doc_id']} {reseal['chain']} hashed again from "
                   f"#{reseal['from_number']}: {reseal['old_head']} -> {reseal['new_head']}")


@main.command("verify-archive")
@click.argument("doc_id")
@click.option("--data-dir", type=click.Path(path_type=Path), default=None,
              help="Data folder holding palabre.db [PALABRE_DATA_DIR, ./data].")
@click.option("--database-url", default=None, help="SQLAlchemy URL [PALABRE_DATABASE_URL].")
def verify_archive(doc_id: str, data_dir: Path | None, database_url: str | None) -> None:
    """Check DOC_ID's snapshot chain and its closed sessions' chain in the database; exit 1
    naming the first broken link."""
    from storage.archive import ChainReport, Snapshot
    from storage.base import StorageUnavailable
    from storage.sessions import SessionRecord
    from storage.sql import SqlDocumentStore

    if data_dir is not None and database_url is not None:
        raise click.UsageError("give --data-dir or --database-url, not both")
    try:
        settings = settings_from_env({"data_dir": data_dir, "database_url": database_url})
    except (TypeError, ValueError) as exc:
        raise click.UsageError(str(exc)) from exc
    if settings.database_url is None and not (settings.data_dir / "palabre.db").is_file():
        raise click.ClickException(f"no palabre.db in {settings.data_dir}")

    async def read() -> tuple[list[Snapshot], ChainReport, list[SessionRecord], ChainReport]:
        async with SqlDocumentStore(settings.resolved_database_url) as store:
            return (list(await store.list_snapshots(doc_id)), await store.verify_chain(doc_id),
                    list(await store.list_sessions(doc_id)),
                    await store.verify_sessions(doc_id))

    try:
        snapshots, report, sessions, sessions_report = asyncio.run(read())
    except (StorageUnavailable, ValueError) as exc:
        raise click.ClickException(f"cannot read the archive: {exc}") from exc
    for snapshot in snapshots:
        broken = report.first_broken is not None and snapshot.number >= report.first_broken
        status = "ok" if not broken else (
            "BROKEN" if snapshot.number == report.first_broken else "unverified"
        )
        click.echo(f"#{snapshot.number} {status} {snapshot.chain_hash[:16]} "
                   f"{snapshot.stage} | {snapshot.label}")
    if not report.ok:
        raise click.ClickException(
            f"{doc_id}: chain broken at snapshot #{report.first_broken}: {report.reason}"
        )
    click.echo(f"{doc_id}: {report.checked} snapshot(s), chain intact")
    closed = [s for s in sessions if s.chain_hash is not None]
    for record in closed:
        first = sessions_report.first_broken
        status = "ok" if first is None or record.number < first else (
            "BROKEN" if record.number == first else "unverified")
        click.echo(f"session #{record.number} {status} {(record.chain_hash or '')[:16]} "
                   f"{record.kind} | {record.title}")
    if not sessions_report.ok:
        raise click.ClickException(
            f"{doc_id}: sessions chain broken at session #{sessions_report.first_broken}: "
            f"{sessions_report.reason}")
    if closed:
        click.echo(f"{doc_id}: {sessions_report.checked} session record(s), chain intact")


main.add_command(backup)
main.add_command(restore)
main.add_command(scenario)
main.add_command(demo)
