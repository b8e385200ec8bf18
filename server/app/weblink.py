"""The facilitator link ``palabre serve`` prints once it is ready: the editor, signed in.

The token is minted with the data folder's secret (as ``palabre token`` does), so the
link works on this server only. With authentication off there is nothing to sign: the
link is the bare address.
"""

from __future__ import annotations

from server.access.auth import DEFAULT_TTL_SECONDS, Role, mint_token
from server.access.secret import load_or_create_secret
from server.settings import Settings

LINK_TTL_SECONDS = DEFAULT_TTL_SECONDS[Role.FACILITATOR]
"""How long the printed link stays valid: a facilitator token's default, a day of sessions."""


def facilitator_link(settings: Settings, url: str) -> str:
    """The line to print: the address of the document list, signed in as a facilitator."""
    if settings.auth_disabled:
        return f"editor (no sign-in, authentication is off): {url}/"
    token = mint_token(
        load_or_create_secret(settings.data_dir), sub="facilitation", name="Facilitation",
        role=Role.FACILITATOR, ttl=LINK_TTL_SECONDS,
    )
    return f"facilitator link (valid {LINK_TTL_SECONDS // 3600} h): {url}/?token={token}"
