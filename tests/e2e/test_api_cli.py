"""``palabre import`` and ``palabre export`` against a running server."""

from __future__ import annotations

import json
from pathlib import Path

import anyio.to_thread
from click.testing import CliRunner, Result

from crdt.convert import markdown_to_doc, to_markdown
from server.app.cli import main
from tests.conftest import ServerFactory

CHARTE = Path(__file__).parent.parent / "fixtures" / "charte.md"


async def palabre(*args: str) -> Result:
    """Run the CLI in a worker thread: it runs its own event loop, the server ours."""
    runner = CliRunner()
    return await anyio.to_thread.run_sync(lambda: runner.invoke(main, list(args)))


async def test_import_then_export_round_trips_the_charter(start_server: ServerFactory) -> None:
    async with start_server() as server:
        data_dir = str(server.settings.data_dir)
        imported = await palabre(
            "import", str(CHARTE), "--doc", "charte", "--url", server.url, "--data-dir", data_dir
        )
        assert imported.exit_code == 0, imported.output
        assert imported.output == "created charte\n"

        exported = await palabre("export", "charte", "--url", server.url, "--data-dir", data_dir)
        assert exported.exit_code == 0, exported.output
        expected = to_markdown(markdown_to_doc(CHARTE.read_text(encoding="utf-8")))
        assert exported.output == expected

        token = server.token("citizen", "Élodie")
        as_json = await palabre(
            "export", "charte", "--format", "json", "--url", server.url, "--token", token
        )
        assert as_json.exit_code == 0, as_json.output
        assert all(block["id"] for block in json.loads(as_json.output)["blocks"])


async def test_import_reports_the_servers_refusal(start_server: ServerFactory) -> None:
    async with start_server() as server:
        citizen = server.token("citizen", "Élodie")
        refused = await palabre(
            "import", str(CHARTE), "--doc", "charte", "--url", server.url, "--token", citizen
        )
        assert refused.exit_code == 1
        assert "forbidden" in refused.output
