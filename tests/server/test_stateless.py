"""Loading the stateless hook named in the settings (`server.stateless`)."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from server.cli import main
from server.stateless import load_hook, relay


def test_a_hook_is_named_package_module_attribute() -> None:
    assert load_hook("server.stateless:relay") is relay


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("server.stateless", "must be 'package.module:attribute'"),
        (":relay", "must be 'package.module:attribute'"),
        ("server.nulle_part:relay", "cannot import 'server.nulle_part'"),
        ("server.stateless:absent", "'absent' is not a callable of 'server.stateless'"),
        ("server.stateless:annotations", "'annotations' is not a callable"),
    ],
)
def test_a_bad_spec_is_refused_with_its_reason(spec: str, message: str) -> None:
    with pytest.raises(ValueError, match=message.replace("(", r"\(")):
        load_hook(spec)


def test_serve_refuses_a_bad_hook_before_listening(tmp_path: object) -> None:
    result = CliRunner().invoke(
        main, ["serve", "--port", "0", "--data-dir", str(tmp_path),
               "--stateless-hook", "server.stateless:absent"],
    )
    assert result.exit_code == 2
    assert "'absent' is not a callable of 'server.stateless'" in result.output
