"""Which identity provider the settings configure (``server.http.oidc.provider_from``)."""

from __future__ import annotations

from pathlib import Path

import pytest

from server.http.oidc import provider_from
from server.settings import Settings

DECIDIM = "https://decidim.example"


def plain_oauth(tmp_path: Path, scopes: str) -> Settings:
    """Settings of a plain OAuth 2.0 provider (Decidim's endpoints) asking `scopes`."""
    return Settings(data_dir=tmp_path, oidc_client_id="palabre", oidc_client_secret="s",
                    oauth_authorize_url=f"{DECIDIM}/oauth/authorize",
                    oauth_token_url=f"{DECIDIM}/oauth/token",
                    oauth_userinfo_url=f"{DECIDIM}/oauth/me", oauth_scopes=scopes)


def test_no_client_id_means_no_provider(tmp_path: Path) -> None:
    assert provider_from(Settings(data_dir=tmp_path)) is None


def test_a_plain_oauth_provider_reads_the_user_endpoint(tmp_path: Path) -> None:
    provider = provider_from(plain_oauth(tmp_path, "public"))
    assert provider is not None and not provider.is_oidc
    assert provider.userinfo_url == f"{DECIDIM}/oauth/me" and provider.sub_prefix == "oauth-"


def test_openid_among_plain_oauth_scopes_is_refused(tmp_path: Path) -> None:
    # Its ID token could not be checked: no discovery, no keys.
    with pytest.raises(ValueError, match="PALABRE_OIDC_ISSUER"):
        provider_from(plain_oauth(tmp_path, "openid profile"))


def test_a_client_id_without_endpoints_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="PALABRE_OAUTH_AUTHORIZE_URL"):
        provider_from(Settings(data_dir=tmp_path, oidc_client_id="palabre"))
