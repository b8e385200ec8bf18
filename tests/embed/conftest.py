"""Where the embed tests write their screenshots; the shared Chromium is in tests/conftest.py."""

from __future__ import annotations

from pathlib import Path

import pytest

ARTIFACTS = Path(__file__).parent.parent / ".artifacts" / "embed"


@pytest.fixture
def screenshots() -> Path:
    """Where the run writes its screenshots (gitignored)."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return ARTIFACTS
