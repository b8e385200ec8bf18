"""Loading the stateless hook named in the settings (`server.sync.stateless`)."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from server.app.cli import main
from server.sync.stateless import load_hook, relay


def test_a_hook_is_named_package_module_attribute() -> None:
    assert load_hook("server.sync.stateless:relay") is relay


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("server.sync.stateless", "must be 'package.module:attribute'"),
        (":relay", "must be 'package.module:attribute'"),
        ("server.nulle_part:relay", "cannot import 'server.nulle_part'"),
        ("server.sync.stateless:absent", "'absent' is not a callable of 'server.sync.stateless'"),
        ("server.sync.stateless:annotations", "'annotations' is not a callable"),
    ],
)
def test_a_bad_spec_is_refused_with_its_reason(spec: str, message: str) -> None:
    with pytest.raises(ValueError, match=message.replace("(", r"\(")):
        load_hook(spec)


def test_serve_refuses_a_bad_hook_before_listening(tmp_path: object) -> None:
    result = CliRunner().invoke(
        main, ["serve", "--port", "0", "--data-dir", str(tmp_path),
               "--stateless-hook", "server.sync.stateless:absent"],
    )
    assert result.exit_code == 2
    assert "'absent' is not a callable of 'server.sync.stateless'" in result.output


def test_relay_keeps_the_name_it_had_before_the_layers() -> None:
    assert load_hook("server.stateless:relay") is relay
