"""``palabre backup`` and ``palabre restore``: the data folder in one archive, and back.

An archive is a gzip'd tar holding ``palabre.db`` (a consistent copy taken through SQLite's
backup API while the server runs; absent with PostgreSQL, which ``pg_dump`` backs up),
``secret.key`` (the signing and sealing secret: without it every token and sealed comment
is void), ``files/<doc_id>/<sha256>`` (library files), and last ``palabre-backup.json``,
the manifest: what the database holds and the size and SHA-256 of every other member.

The database is copied before the files: a file is written before any document refers to
it, so every file the copied database names is in the archive (a few newer ones may be
too). A restore checks every member against the manifest and the database's integrity in
a folder beside the target, then renames it into place: a failed restore leaves nothing.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import tarfile
import tempfile
import time
from collections.abc import Iterator
from dataclasses import asdict
from pathlib import Path
from typing import IO, Any

import click

from server.access.secret import DATA_DIR_MODE, SECRET_FILE
from server.modules.files import FILE_ID
from server.settings import Settings, settings_from_env
from storage.backup import (
    DatabaseSummary,
    check_sqlite,
    copy_sqlite,
    known_revisions,
)
from storage.base import StorageUnavailable
from storage.engine import PRIVATE_FILE_MODE, sqlite_file

MANIFEST = "palabre-backup.json"
DATABASE = "palabre.db"
FORMAT = 1
"""The archive layout's version, in the manifest."""
FILES = "files"
_FILE_MEMBER = re.compile(r"files/[A-Za-z0-9._-]{1,128}/[0-9a-f]{64}")
_SPACE_MARGIN = 1.1
"""Free space asked for beyond the bytes to write (the archive is compressed: ample)."""
_CHUNK = 1 << 20


@click.command("backup")
@click.option("--to", "target", required=True, type=click.Path(path_type=Path),
              help="The archive to write (a new file; .tar.gz by convention).")
@click.option("--data-dir", type=click.Path(path_type=Path), default=None,
              help="The server's data folder [PALABRE_DATA_DIR, ./data].")
@click.option("--database-url", default=None,
              help="SQLAlchemy URL [PALABRE_DATABASE_URL]; PostgreSQL is left to pg_dump.")
def backup(target: Path, data_dir: Path | None, database_url: str | None) -> None:
    """Archive the database, secret and files of a data folder, the server running or not."""
    settings = _settings(data_dir, database_url)
    folder = settings.data_dir
    if target.exists():
        raise click.ClickException(f"{target} exists: remove it or choose another name")
    if not folder.is_dir():
        raise click.ClickException(f"no data folder at {folder}")
    try:
        source = sqlite_file(settings.resolved_database_url)
    except ValueError as exc:
        raise click.UsageError(str(exc)) from exc
    if source is not None and not source.is_file():
        raise click.ClickException(f"no database at {source}")
    files = sorted(_library_files(folder))
    needed = (source.stat().st_size if source is not None else 0) * 2 + sum(
        path.stat().st_size for _, path in files
    )
    _check_space(target.parent, needed)
    with tempfile.TemporaryDirectory(dir=target.parent, prefix=f".{target.name}.") as work:
        staging = Path(work)
        members: dict[str, dict[str, Any]] = {}
        database: dict[str, Any]
        archive_path = staging / "archive"
        with tarfile.open(archive_path, "w:gz") as archive:
            if source is not None:
                try:
                    summary = copy_sqlite(source, staging / DATABASE)
                except StorageUnavailable as exc:
                    raise click.ClickException(str(exc)) from exc
                members[DATABASE] = _add(archive, DATABASE, staging / DATABASE)
                database = {"engine": "sqlite", "included": True, **asdict(summary)}
            else:
                database = {"engine": "postgresql", "included": False}
            secret = folder / SECRET_FILE
            if secret.is_file():
                members[SECRET_FILE] = _add(archive, SECRET_FILE, secret)
            for name, path in files:
                members[name] = _add(archive, name, path)
            manifest = {
                "format": FORMAT, "created_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                "database": database, "members": members,
            }
            _add_bytes(archive, MANIFEST, json.dumps(manifest, indent=1).encode())
        os.chmod(archive_path, PRIVATE_FILE_MODE)
        os.replace(archive_path, target)
    _report_backup(target, database, members)


@click.command("restore")
@click.option("--from", "source", required=True,
              type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="An archive made by palabre backup.")
@click.option("--data-dir", type=click.Path(path_type=Path), default=None,
              help="The data folder to fill: new or empty [PALABRE_DATA_DIR, ./data].")
def restore(source: Path, data_dir: Path | None) -> None:
    """Unpack a backup into a new or empty data folder, checking every member first."""
    folder = _settings(data_dir, None).data_dir
    if folder.exists():
        if not folder.is_dir():
            raise click.ClickException(f"{folder} is not a folder")
        entries = sorted(entry.name for entry in folder.iterdir())
        if entries:
            raise click.ClickException(
                f"{folder} is not empty ({len(entries)} entries, e.g. {entries[0]}): restore "
                "into a new or empty folder; nothing was changed"
            )
    parent = folder.resolve().parent
    parent.mkdir(parents=True, exist_ok=True)
    _check_space(parent, source.stat().st_size * 4)
    staging = Path(tempfile.mkdtemp(dir=parent, prefix=f".{folder.name}.restoring-"))
    try:
        manifest = _unpack(source, staging)
        database = manifest["database"]
        if database.get("included"):
            summary = _check_database(staging / DATABASE)
            database = {**database, **asdict(summary)}
        staging.chmod(DATA_DIR_MODE)
        os.replace(staging, folder)  # onto an empty folder, or a new name
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    _report_restore(folder, manifest, database)


def _settings(data_dir: Path | None, database_url: str | None) -> Settings:
    try:
        return settings_from_env({"data_dir": data_dir, "database_url": database_url})
    except (TypeError, ValueError) as exc:
        raise click.UsageError(str(exc)) from exc


def _library_files(folder: Path) -> Iterator[tuple[str, Path]]:
    """The stored library files (never the temporary names of uploads in progress)."""
    root = folder / FILES
    if not root.is_dir():
        return
    for path in root.glob("*/*"):
        name = f"{FILES}/{path.parent.name}/{path.name}"
        if FILE_ID.fullmatch(path.name) and _FILE_MEMBER.fullmatch(name) and path.is_file():
            yield name, path


def _check_space(folder: Path, needed: int) -> None:
    free = shutil.disk_usage(folder).free
    if free < needed * _SPACE_MARGIN:
        raise click.ClickException(
            f"not enough free space in {folder}: {free // 2**20} MiB free, about "
            f"{int(needed * _SPACE_MARGIN) // 2**20 + 1} MiB needed; nothing was written"
        )


def _add(archive: tarfile.TarFile, name: str, path: Path) -> dict[str, Any]:
    """Add the file at `path` as `name`; its size and SHA-256 for the manifest."""
    with path.open("rb") as file:
        size = os.fstat(file.fileno()).st_size
        hashing = _Hashing(file)
        archive.addfile(_info(name, size), hashing)
    return {"size": size, "sha256": hashing.digest.hexdigest()}


def _add_bytes(archive: tarfile.TarFile, name: str, content: bytes) -> None:
    import io

    archive.addfile(_info(name, len(content)), io.BytesIO(content))


def _info(name: str, size: int) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.size, info.mode, info.mtime = size, PRIVATE_FILE_MODE, int(time.time())
    return info


class _Hashing:
    """A reader that hashes what passes through it."""

    def __init__(self, file: IO[bytes]) -> None:
        self._file = file
        self.digest = hashlib.sha256()

    def read(self, size: int = -1) -> bytes:
        chunk = self._file.read(size)
        self.digest.update(chunk)
        return chunk


def _unpack(source: Path, staging: Path) -> dict[str, Any]:
    """Extract every member into `staging`, checked against the manifest; the manifest.

    Raises:
        click.ClickException: not a palabre archive, or a member is missing or altered.
    """
    found: dict[str, dict[str, Any]] = {}
    manifest: dict[str, Any] | None = None
    try:
        with tarfile.open(source, "r:*") as archive:
            for info in archive:
                name = info.name
                if not info.isfile() or not _is_member(name) or name in found:
                    raise click.ClickException(
                        f"{source}: unexpected member {name!r}: not a palabre backup"
                    )
                stream = archive.extractfile(info)
                assert stream is not None  # a regular file
                if name == MANIFEST:
                    manifest = _read_manifest(source, stream.read())
                    found[name] = {}
                    continue
                found[name] = _write_member(staging / name, stream)
    except (tarfile.TarError, EOFError, OSError) as exc:
        raise click.ClickException(f"{source} is not a readable archive: {exc}") from exc
    if manifest is None:
        raise click.ClickException(
            f"{source} has no {MANIFEST}: truncated, altered or not a palabre backup; "
            "nothing was restored"
        )
    found.pop(MANIFEST)
    expected = manifest["members"]
    if set(found) != set(expected) or any(found[n] != expected[n] for n in found):
        altered = sorted(n for n in set(found) | set(expected) if found.get(n) != expected.get(n))
        raise click.ClickException(
            f"{source} does not match its manifest ({', '.join(altered[:3])}): "
            "truncated or altered; nothing was restored"
        )
    if manifest["database"].get("included") and DATABASE not in found:
        raise click.ClickException(f"{source} lacks its database")
    return manifest


def _is_member(name: str) -> bool:
    return name in (MANIFEST, DATABASE, SECRET_FILE) or bool(_FILE_MEMBER.fullmatch(name))


def _read_manifest(source: Path, raw: bytes) -> dict[str, Any]:
    try:
        manifest: dict[str, Any] | object = json.loads(raw)
    except ValueError as exc:
        raise click.ClickException(f"{source}: unreadable {MANIFEST}: {exc}") from exc
    if not isinstance(manifest, dict):
        raise click.ClickException(f"{source}: {MANIFEST} is not an object")
    made = manifest.get("format")
    if made != FORMAT:
        raise click.ClickException(
            f"{source}: archive format {made} is not {FORMAT}: not made by this palabre version"
        )
    if not isinstance(manifest.get("members"), dict) or not isinstance(
        manifest.get("database"), dict
    ):
        raise click.ClickException(f"{source}: {MANIFEST} lacks members or database")
    return manifest


def _write_member(path: Path, stream: IO[bytes]) -> dict[str, Any]:
    path.parent.mkdir(mode=DATA_DIR_MODE, parents=True, exist_ok=True)
    digest, size = hashlib.sha256(), 0
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, PRIVATE_FILE_MODE)
    with os.fdopen(descriptor, "wb") as file:
        while chunk := stream.read(_CHUNK):
            digest.update(chunk)
            size += len(chunk)
            file.write(chunk)
        file.flush()
        os.fsync(file.fileno())
    return {"size": size, "sha256": digest.hexdigest()}


def _check_database(path: Path) -> DatabaseSummary:
    try:
        summary = check_sqlite(path)
    except StorageUnavailable as exc:
        raise click.ClickException(str(exc)) from exc
    if summary.schema_revision is not None and summary.schema_revision not in known_revisions():
        raise click.ClickException(
            f"the database is at schema revision {summary.schema_revision}, newer than this "
            "palabre knows: restore it with the version that made it, or upgrade first"
        )
    return summary


def _report_backup(target: Path, database: dict[str, Any], members: dict[str, Any]) -> None:
    files = sum(1 for name in members if name.startswith(f"{FILES}/"))
    parts = []
    if database["included"]:
        parts.append(f"{DATABASE} ({database['documents']} documents, {database['snapshots']} "
                     f"snapshots, schema {database['schema_revision']})")
    parts.append(SECRET_FILE if SECRET_FILE in members else f"no {SECRET_FILE}")
    parts.append(f"{files} library files")
    size = target.stat().st_size
    click.echo(f"backed up {', '.join(parts)} to {target} ({size / 2**20:.1f} MiB)")
    if not database["included"]:
        click.echo("the database is PostgreSQL and is not in this archive: back it up with "
                   "pg_dump (docs/operations.md)", err=True)


def _report_restore(folder: Path, manifest: dict[str, Any], database: dict[str, Any]) -> None:
    members = manifest["members"]
    files = sum(1 for name in members if name.startswith(f"{FILES}/"))
    made = manifest.get("created_at", "?")
    if database.get("included"):
        click.echo(f"restored {DATABASE} ({database['documents']} documents, "
                   f"{database['snapshots']} snapshots), {files} library files and "
                   f"{SECRET_FILE if SECRET_FILE in members else f'no {SECRET_FILE}'} "
                   f"backed up at {made} into {folder}")
    else:
        click.echo(f"restored {files} library files and {SECRET_FILE} backed up at {made} "
                   f"into {folder}")
        click.echo("the database was PostgreSQL and is not in this archive: restore its "
                   "pg_dump with pg_restore (docs/operations.md)", err=True)
