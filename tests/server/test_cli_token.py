"""``palabre token`` run as a real subprocess: one line on stdout, a token that verifies."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import anyio
import pytest

from server.access.auth import Authenticator, Role, slugify
from server.access.secret import load_or_create_secret


async def palabre(
    *args: str, cwd: Path, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[bytes]:
    environ = {k: v for k, v in os.environ.items() if not k.startswith("PALABRE_")}
    environ.update(env or {})
    with anyio.fail_after(60):
        return await anyio.run_process(
            [sys.executable, "-m", "server", *args], cwd=cwd, env=environ, check=False
        )


async def test_token_prints_exactly_one_line_that_verifies(tmp_path: Path) -> None:
    result = await palabre(
        "token", "--role", "facilitator", "--name", "Élodie Lefèvre",
        "--docs", "charte-*", "--docs", "budget-2025", "--ttl", "3600",
        "--data-dir", str(tmp_path / "data"), cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr.decode()
    assert result.stderr.decode().startswith("sub: elodie-lefevre-")
    lines = result.stdout.decode().split("\n")
    assert len(lines) == 2 and lines[1] == "", lines
    secret_file = tmp_path / "data" / "secret.key"
    assert stat.S_IMODE(secret_file.stat().st_mode) == 0o600
    async with Authenticator(load_or_create_secret(tmp_path / "data")) as authenticator:
        principal = await authenticator.authenticate(lines[0])
    assert principal.sub.startswith("elodie-lefevre-")
    assert principal.name == "Élodie Lefèvre"
    assert principal.role is Role.FACILITATOR
    assert principal.docs == ("charte-*", "budget-2025")
    assert principal.expires_at is not None


async def test_token_uses_palabre_data_dir_and_reuses_its_secret(tmp_path: Path) -> None:
    env = {"PALABRE_DATA_DIR": str(tmp_path / "ailleurs")}
    first = await palabre("token", "--role", "citizen", "--name", "Anaïs", cwd=tmp_path, env=env)
    second = await palabre(
        "token", "--role", "member", "--name", "Anaïs", "--sub", "anais-42",
        cwd=tmp_path, env=env,
    )
    assert first.returncode == second.returncode == 0
    assert not (tmp_path / "data").exists()
    secret = load_or_create_secret(tmp_path / "ailleurs")
    async with Authenticator(secret) as authenticator:
        citizen = await authenticator.authenticate(first.stdout.decode().strip())
        member = await authenticator.authenticate(second.stdout.decode().strip())
    assert (citizen.sub.startswith("anais-"), citizen.role, citizen.docs) == (
        True, Role.CITIZEN, None
    )
    assert citizen.expires_at is not None
    assert (member.sub, member.role) == ("anais-42", Role.MEMBER)


async def test_token_defaults_to_data_in_the_working_folder(tmp_path: Path) -> None:
    result = await palabre("token", "--role", "public", "--name", "Kiosque", cwd=tmp_path)
    assert result.returncode == 0
    async with Authenticator(load_or_create_secret(tmp_path / "data")) as authenticator:
        principal = await authenticator.authenticate(result.stdout.decode().strip())
        assert principal.sub.startswith("kiosque-")


@pytest.mark.parametrize(
    "args",
    [
        ["--role", "admin", "--name", "Élodie"],
        ["--name", "Élodie"],
        ["--role", "member"],
        ["--role", "member", "--name", "Élodie", "--ttl", "0"],
        ["--role", "member", "--name", "???"],
    ],
)
async def test_bad_options_are_usage_errors_with_nothing_on_stdout(
    tmp_path: Path, args: list[str]
) -> None:
    result = await palabre("token", *args, cwd=tmp_path)
    assert result.returncode == 2
    assert result.stdout == b""
    assert b"Usage" in result.stderr or b"Error" in result.stderr


@pytest.mark.parametrize(
    ("name", "slug"),
    [
        ("Élodie Lefèvre", "elodie-lefevre"),
        ("  Jean-Noël  d'Aubigné ", "jean-noel-d-aubigne"),
        ("Œuvre Ætas Straße", "oeuvre-aetas-strasse"),
        ("李", ""),
    ],
)
def test_sub_is_a_slug_of_the_name(name: str, slug: str) -> None:
    assert slugify(name) == slug
