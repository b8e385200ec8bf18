"""The committed browser bundle (``client/web/dist``) is what its sources build to."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from tests.conftest import require_service

WEB = Path(__file__).resolve().parents[2] / "client" / "web"
BUILT = ("app.js", "app.css", "index.html", "actors.js", "actors.css")


@pytest.mark.node
def test_a_fresh_build_equals_the_committed_bundle(tmp_path: Path) -> None:
    node = shutil.which("node")
    if node is None:
        require_service("node", "Node.js is not on PATH")
        return
    if not (WEB / "node_modules" / "esbuild").is_dir():
        require_service("client/web/node_modules", "run `npm ci` in client/web (make test does)")
        return
    result = subprocess.run(
        [node, "build.mjs", str(tmp_path)], cwd=WEB, capture_output=True, text=True,
        timeout=120, check=False,
    )
    assert result.returncode == 0, result.stderr
    for name in BUILT:
        fresh = (tmp_path / name).read_bytes()
        committed = (WEB / "dist" / name).read_bytes()
        assert fresh == committed, f"dist/{name} is stale: run `npm run build` in client/web"
