"""The facilitator link ``palabre serve`` prints."""

from __future__ import annotations

import time
from pathlib import Path

from server.access.auth import Authenticator, Role
from server.access.secret import load_or_create_secret
from server.app.weblink import LINK_TTL_SECONDS, facilitator_link
from server.settings import Settings

URL = "http://127.0.0.1:8000"


async def test_the_link_signs_in_a_facilitator_for_twelve_hours(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path)
    line = facilitator_link(settings, URL)
    prefix = f"facilitator link (valid 12 h): {URL}/?token="
    assert line.startswith(prefix)
    async with Authenticator(load_or_create_secret(tmp_path)) as authenticator:
        principal = await authenticator.authenticate(line.removeprefix(prefix))
    assert principal.role is Role.FACILITATOR
    assert principal.name == "Facilitation"
    assert principal.docs is None
    assert principal.expires_at is not None
    assert abs(principal.expires_at - (time.time() + LINK_TTL_SECONDS)) < 60


def test_without_authentication_the_link_carries_no_token(tmp_path: Path) -> None:
    line = facilitator_link(Settings(data_dir=tmp_path, auth_disabled=True), URL)
    assert "token" not in line
    assert line.endswith(f"{URL}/")
    assert not (tmp_path / "secret.key").exists()
