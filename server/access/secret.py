"""The server's signing secret: ``secret.key`` in the data folder, made on first use, mode 0600.

The data folder itself (database, secret, files) is made, or narrowed to, mode 0700.
"""

from __future__ import annotations

import binascii
import logging
import os
import secrets
import stat
from pathlib import Path

log = logging.getLogger("palabre.secret")

SECRET_FILE = "secret.key"
DATA_DIR_MODE = 0o700
"""Mode of the data folder: only the server's user enters it."""
SECRET_BYTES = 32
"""Length of a generated secret; a shorter one is refused (HS256 wants 256 bits)."""


class SecretError(RuntimeError):
    """The secret file cannot be read, created or made private, or holds too short a secret."""


def load_or_create_secret(data_dir: Path) -> bytes:
    """Return the HS256 secret from ``<data_dir>/secret.key``, creating it on first use.

    A new file holds 32 random bytes in hex, with mode 0600. An existing file
    holds hex (as written here) or raw bytes an operator put there (a trailing
    newline is ignored); it is made private, with a warning, if group or others
    can read it. The secret itself is never logged.

    Raises:
        SecretError: the file cannot be created, read or made private, or its
            secret is shorter than 32 bytes.
    """
    path = data_dir / SECRET_FILE
    try:
        make_private_dir(data_dir)
        if not path.exists():
            _create(path)
        _make_private(path)
        raw = path.read_bytes()
    except OSError as exc:
        raise SecretError(f"cannot use the secret file {path}: {exc.strerror or exc}") from exc
    secret = _decode(raw)
    if len(secret) < SECRET_BYTES:
        raise SecretError(
            f"the secret in {path} is {len(secret)} bytes long; at least {SECRET_BYTES} are needed"
        )
    return secret


def make_private_dir(data_dir: Path) -> None:
    """Create `data_dir` with mode 0700, or narrow an existing one to it (with a warning).

    Raises:
        OSError: the folder cannot be created or its mode changed.
    """
    data_dir.mkdir(mode=DATA_DIR_MODE, parents=True, exist_ok=True)
    mode = stat.S_IMODE(data_dir.stat().st_mode)
    if mode & 0o077:
        log.warning("the data folder %s was open to others (mode %o); making it %o",
                    data_dir, mode, DATA_DIR_MODE)
        data_dir.chmod(DATA_DIR_MODE)


def _create(path: Path) -> None:
    # Write a private temporary file, then publish it with link(), which fails if
    # another process won the race: both then read the same, complete secret.
    temporary = path.with_name(f".{path.name}.{secrets.token_hex(8)}.tmp")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "wb") as file:
            file.write(secrets.token_hex(SECRET_BYTES).encode("ascii") + b"\n")
            file.flush()
            os.fsync(file.fileno())
        try:
            os.link(temporary, path)
        except FileExistsError:
            pass
        else:
            log.info("created a new signing secret in %s", path)
    finally:
        temporary.unlink(missing_ok=True)


def _make_private(path: Path) -> None:
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & 0o077:
        log.warning(
            "the secret file %s was readable by others (mode %o); making it 0600; "
            "tokens signed with it may have leaked",
            path, mode,
        )
        path.chmod(0o600)


def _decode(raw: bytes) -> bytes:
    # An operator's raw secret written with `echo` ends with a newline that the
    # platform minting the same tokens would not include.
    text = raw.rstrip(b"\r\n")
    try:
        return binascii.unhexlify(text)
    except (binascii.Error, ValueError):
        return text
