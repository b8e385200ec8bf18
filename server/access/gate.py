"""Who may connect: the token check the app applies to every socket and request.

Normally an `Authenticator`; with ``auth_disabled`` (development only) everyone is a
facilitator, which the server announces loudly when it starts.
"""

from __future__ import annotations

import logging
import time

from server.access.auth import PUBLIC, Authenticator, OidcIssuer, Principal, Role
from server.access.pacing import RefusalPacer
from server.access.roster import Roster
from server.access.secret import load_or_create_secret
from server.access.verified import VerifiedTokens
from server.access.websession import WebSessions
from server.errors import Overloaded, Unauthenticated
from server.settings import Settings
from storage.base import StorageUnavailable
from storage.people import People
from storage.signin import SigninSessions

log = logging.getLogger("palabre.access")

DEVELOPER = Principal(sub="developer", name="Développement", role=Role.FACILITATOR)
"""Who everyone is when authentication is disabled."""


class Access:
    """Turns a request's token into a `Principal`, per the server's settings."""

    def __init__(
        self, settings: Settings, *, people: People | None = None,
        signin: SigninSessions | None = None,
    ) -> None:
        """Read the secret and the OIDC settings; `people` records subjects and keeps the
        rights facilitators changed (without it, credentials are taken as they are);
        `signin` keeps the web sign-in sessions (without it, no cookie is accepted)."""
        secret = load_or_create_secret(settings.data_dir)
        self.roster = Roster(people, subject_key=secret)
        self._disabled = settings.auth_disabled
        self._oidc_without_audience = bool(settings.oidc_issuer) and not settings.oidc_audience
        oidc = (
            OidcIssuer(issuer=settings.oidc_issuer, audience=settings.oidc_audience)
            if settings.oidc_issuer
            else None
        )
        self.authenticator = Authenticator(
            secret, oidc=oidc, leeway=settings.token_leeway_seconds
        )
        self._verified = VerifiedTokens(clock=time.time, leeway=settings.token_leeway_seconds)
        self.pacer = RefusalPacer.from_limits(settings.limits)
        """Holds ``429`` answers for their delay (`server.access.pacing`), node-wide."""
        self.sessions = (
            WebSessions(signin, secret, idle_seconds=settings.signin_idle_seconds,
                        absolute_seconds=settings.signin_absolute_seconds)
            if signin is not None else None
        )

    def announce(self) -> None:
        """Warn, at start, when authentication is off or OIDC tokens are not bound to us."""
        if self._disabled:
            log.warning(
                "AUTHENTICATION IS DISABLED: every client acts as a facilitator. "
                "Never run this in front of real users."
            )
        elif self._oidc_without_audience:
            log.warning(
                "PALABRE_OIDC_AUDIENCE is not set: any token of the OIDC issuer is accepted, "
                "including tokens it signed for other applications. Set it to palabre's client id."
            )

    async def authenticate(self, token: str | None) -> Principal:
        """The principal behind `token` (``None``: public).

        Raises:
            Unauthenticated: the token is invalid, or its subject was removed.
            Overloaded: the OIDC issuer cannot be reached.
        """
        if self._disabled:
            return DEVELOPER
        if not token:
            return self.roster.admit(await self.authenticator.authenticate(None))
        principal = self._verified.get(token)
        if principal is None:
            principal = await self.authenticator.authenticate(token)
            self._verified.remember(token, principal)
        return self.roster.admit(principal)

    def identify(self, token: str) -> Principal | None:
        """The principal `token` stands for, as far as it can be told without I/O: `known`,
        else verified now if signed with our secret (then remembered); `PUBLIC` for a token
        that is not valid (`authenticate` refuses it, and its caller is then keyed as the
        public); ``None`` when it takes I/O (an OIDC token not verified here yet)."""
        known = self.known(token)
        if known is not None:
            return known
        try:
            principal = self.authenticator.authenticate_local(token)
            if principal is None:
                return None
            self._verified.remember(token, principal)
            return self.roster.resolve(principal)
        except Unauthenticated:
            return PUBLIC

    def known(self, token: str) -> Principal | None:
        """The principal behind `token` without verifying anything: known only when this
        node has verified the token before and it has not expired (`VerifiedTokens`), and
        its subject was not removed since. ``None`` otherwise (`authenticate` decides)."""
        if self._disabled:
            return DEVELOPER
        principal = self._verified.get(token)
        if principal is None:
            return None
        try:
            return self.roster.resolve(principal)
        except Unauthenticated:
            return None

    def needs_a_read(self, session_id: str) -> bool:
        """Whether authenticating `session_id` reads the database (not in the cache)."""
        return self.sessions is not None and not self._disabled and (
            not self.sessions.is_cached(session_id))

    async def authenticate_session(self, session_id: str) -> Principal:
        """The principal a sign-in session cookie stands for.

        Raises:
            Unauthenticated: no such live session, or its subject was removed.
            Overloaded: the database failed.
        """
        if self._disabled:
            return DEVELOPER
        if self.sessions is None:
            raise Unauthenticated("sign-in sessions are not available on this server")
        try:
            principal = await self.sessions.principal(session_id)
        except StorageUnavailable as exc:
            raise Overloaded("sign-in sessions unavailable; retry later") from exc
        return self.roster.admit(principal)

    async def aclose(self) -> None:
        """Release the authenticator's HTTP client."""
        await self.authenticator.aclose()
