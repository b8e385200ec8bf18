"""Server settings: one frozen object built from command-line options and ``PALABRE_*``."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path

from server.limits import Limits
from storage.engine import database_url_for

CREATE_ON_CONNECT = ("facilitators", "members", "none")
"""The values of `Settings.create_on_connect`."""
EVENT_LOOPS = ("asyncio", "uvloop")
"""The values of `Settings.event_loop`."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Settings:
    """Everything `create_app` and `palabre serve` need; defaults are the embedded set-up."""

    host: str = "127.0.0.1"
    port: int = 8000
    data_dir: Path = field(default_factory=lambda: Path("data"))
    database_url: str | None = None
    """SQLAlchemy URL; ``None`` means SQLite at ``<data_dir>/palabre.db``."""
    redis_url: str | None = None
    """Redis relaying updates and awareness between the nodes of a cluster; none: one node."""
    redis_prefix: str = "palabre:"
    """Prefix of every Redis channel and key (nodes of one cluster share it)."""
    node_id: str = ""
    """This node's name on Redis (at most 16 ASCII characters); empty: a random one."""
    cluster_heartbeat_seconds: float = 1.0
    """How often a node tells the others it is alive (and checks its own Redis link)."""
    cluster_node_timeout_seconds: float = 10.0
    """Silence after which a node is taken for dead and its clients' awareness removed."""
    max_message_bytes: int = 8 * 1024 * 1024
    """Largest WebSocket message accepted; a bigger one closes the socket with 1009."""
    room_grace_seconds: float = 30.0
    """How long a document with no clients stays in memory before it is evicted."""
    commit_window_seconds: float = 0.0
    """How long the first queued append waits for company (0: the writer starts a
    transaction as soon as it is free; appends queued meanwhile share the next one)."""
    sqlite_busy_timeout_seconds: float = 30.0
    """SQLite: how long a transaction waits for another process's lock; past it the appends
    of that transaction are refused (1013) and their clients resend them."""
    min_free_disk_bytes: int = 64 * 1024 * 1024
    """Free space kept on the data folder's disk: snapshots and uploads that would go
    below it are refused (507), and ``/readyz`` answers 503 under it."""
    compact_threshold: int = 10_000
    """Log rows of a document past which it is compacted into one state row."""
    outbound_queue: int = 4096
    """Messages waiting for a slow client before it is closed with 1013 (ASGI lane)."""
    outbound_buffer_bytes: int = 16 * 1024 * 1024
    """Bytes unsent to a slow client before it is closed with 1013 (direct lane)."""
    max_pending_updates: int = 10_000
    """Updates waiting for commit in one room before readers are slowed down."""
    relay_interval_seconds: float = 0.0
    """Least time between two commits (and relays) of one busy document."""
    relay_interval_per_client_seconds: float = 0.00002
    """Added to that spacing per connected client: a relay costs one write per client."""
    auth_disabled: bool = False
    """Development only: every request acts as a facilitator. Said loudly at start."""
    oidc_issuer: str | None = None
    """An OpenID Connect issuer whose RS256/ES256 tokens are accepted besides our own."""
    oidc_audience: str | None = None
    """The ``aud`` those tokens must carry, when set."""
    token_leeway_seconds: float = 30.0
    """Clock skew tolerated on a token's times; a socket closes this long after ``exp``."""
    oidc_client_id: str = ""
    """palabre's client id at the identity provider: with it, ``/auth/login`` signs people
    in through ``oidc_issuer`` (OpenID Connect, discovery) or the ``oauth_*`` endpoints."""
    oidc_client_secret: str = ""
    """palabre's client secret at the identity provider."""
    oidc_scopes: str = "openid profile email"
    """Scopes asked of an OpenID Connect provider."""
    oauth_authorize_url: str = ""
    """A plain OAuth 2.0 provider's authorization endpoint (Decidim: ``/oauth/authorize``),
    used when ``oidc_issuer`` is not set."""
    oauth_token_url: str = ""
    """Its token endpoint (Decidim: ``/oauth/token``)."""
    oauth_userinfo_url: str = ""
    """Its user endpoint, read with the access token (Decidim: ``/oauth/me``)."""
    oauth_scopes: str = "public"
    """Scopes asked of a plain OAuth 2.0 provider (Decidim: ``public``)."""
    oauth_sub_prefix: str = "oauth-"
    """Prefix of the subjects a plain OAuth 2.0 provider's users get (``oauth-42``)."""
    signin_role_claim: str = "roles"
    """The claim (ID token or user info) whose values give a signed-in person's role."""
    signin_facilitator_values: str = ""
    """Comma-separated values of that claim that make a facilitator."""
    signin_member_values: str = ""
    """Comma-separated values of that claim that make an assembly member."""
    signin_default_role: str = "citizen"
    """The role of anyone else signed in by the provider."""
    signin_idle_seconds: float = 12 * 3600.0
    """A web sign-in session (the page's cookie) unused this long ends."""
    signin_absolute_seconds: float = 7 * 86400.0
    """A web sign-in session ends this long after sign-in, however used; its sockets close."""
    allowed_origins: str = ""
    """Comma-separated ``Origin`` values a browser socket may come from; empty: any."""
    log_format: str = "text"
    """``text`` or ``json`` (one JSON object a line)."""
    api_max_body_bytes: int = 2 * 1024 * 1024
    """Largest HTTP API request body; a bigger one is refused with 413."""
    webhook_debounce_seconds: float = 2.0
    """Least time between two ``document.changed`` webhook events of one document."""
    webhook_max_attempts: int = 6
    """Tries per webhook delivery, the first included."""
    webhook_timeout_seconds: float = 5.0
    """How long one webhook POST may take, connecting included."""
    webhook_retry_base_seconds: float = 1.0
    """Back-off before the second try; it doubles with each failure (with jitter)."""
    webhook_retry_max_seconds: float = 300.0
    """Longest wait between two tries, ``Retry-After`` included."""
    webhook_queue_size: int = 1000
    """Webhook events waiting for delivery; past it the oldest ``document.changed`` go."""
    webhook_shutdown_seconds: float = 10.0
    """At shutdown, how long pending webhook deliveries may take before they are dropped."""
    cors_origins: str = ""
    """Comma-separated origins allowed to call the HTTP API from a browser (CORS); empty: none."""
    http_rate_per_second: float = 20.0
    """HTTP API requests a second per principal (token ``sub``; public: client address); 0: off."""
    http_burst: int = 60
    """HTTP API requests a principal may send at once before `http_rate_per_second` applies."""
    http_json_bytes_per_request: int = 4096
    """A JSON request body weighs one more request per this many bytes against
    `http_rate_per_second` (facilitators' requests excepted); 0: every request weighs one."""
    socket_update_rate_per_second: float = 200.0
    """Sync updates a second per principal over its sockets; past it the socket closes (1013)."""
    socket_update_burst: int = 400
    """Sync updates a principal may send at once before the socket rate applies."""
    audit_denial_interval_seconds: float = 60.0
    """Least time between two audited socket denials of one principal on one document."""
    session_min_presence_seconds: float = 300.0
    """Time a person must attend a session to count as present (or the whole session, if
    it is shorter)."""
    session_heartbeat_seconds: float = 15.0
    """How often each node refreshes the presence intervals of its sockets in open sessions;
    an interval of a node silent for 2.5 times this ends at its last refresh."""
    max_file_bytes: int = 10 * 1024 * 1024
    """Largest file attached to a library resource; a bigger one is refused with 413."""
    agenda_poll_seconds: float = 900.0
    """How often the iCalendar feeds of agenda documents are imported; 0: never on a schedule."""
    agenda_past_days: int = 30
    """Recurring events are expanded from this many days before an import..."""
    agenda_future_days: int = 365
    """...to this many days after it (one agenda event per occurrence)."""
    agenda_fetch_timeout_seconds: float = 10.0
    """How long fetching one iCalendar feed may take."""
    outbound_allow: str = ""
    """Comma-separated ``host`` or ``host:port`` entries that webhooks and agenda feeds may
    reach although they are internal (loopback, private, link-local...); empty: public
    addresses only (`server.access.outbound`)."""
    agenda_max_redirects: int = 5
    """Redirects an agenda feed may follow; each hop is checked like the first address."""
    map_tiles_url: str = "https://tile.openstreetmap.org/{z}/{x}/{y}.png"
    """The raster tiles under the actors map embed (a Leaflet URL template: ``{z}``,
    ``{x}``, ``{y}``, optional ``{s}``); empty: no tiles, markers on a plain background."""
    map_attribution: str = (
        '&copy; <a href="https://www.openstreetmap.org/copyright">OpenStreetMap</a> '
        "contributors"
    )
    """The tiles' attribution (HTML) shown in the map's corner, as their licence asks."""
    create_on_connect: str = "facilitators"
    """Whose socket to an unknown document id creates it, catalogued with its creator:
    ``facilitators`` (those with the create right), ``members`` (also those who may edit
    it) or ``none``; everyone else gets 4403 there (`server.access.permissions`)."""
    event_loop: str = "asyncio"
    """The event loop ``palabre serve`` runs on: ``asyncio`` (the standard library's) or
    ``uvloop`` (installed with uvicorn's standard extras): on many small documents uvloop
    spends about 7 % less CPU but its slowest updates wait ten times longer (bench W3: p99
    300-375 ms against 35 ms; bench/README.md), so it is not the default."""
    shutdown_timeout_seconds: float = 10.0
    """On SIGTERM: how long open sockets (told 1012) get to close, then how long rooms get
    to commit what they hold; past twice this the process exits regardless."""
    limits: Limits = field(default_factory=Limits)
    """Bounds on what one client controls (`server.limits`; ``PALABRE_LIMIT_<NAME>``)."""
    stateless_hook: str = ""
    """``package.module:attribute`` receiving Hocuspocus stateless messages
    (`server.sync.stateless`); ``server.sync.stateless:relay`` relays them to
    the document's other clients; empty: dropped."""

    def __post_init__(self) -> None:
        """Refuse a setting that has no meaning.

        Raises:
            ValueError: ``create_on_connect`` or ``event_loop`` is not one of its values,
                ``shutdown_timeout_seconds`` or a sign-in session lifetime is not positive,
                or an agenda window bound is negative.
        """
        if self.agenda_past_days < 0 or self.agenda_future_days < 0:
            raise ValueError("PALABRE_AGENDA_PAST_DAYS and PALABRE_AGENDA_FUTURE_DAYS must not "
                             "be negative")
        if not (self.signin_idle_seconds > 0 and self.signin_absolute_seconds > 0):
            raise ValueError(
                "PALABRE_SIGNIN_IDLE_SECONDS and PALABRE_SIGNIN_ABSOLUTE_SECONDS must be positive")
        if not self.shutdown_timeout_seconds > 0:
            raise ValueError("PALABRE_SHUTDOWN_TIMEOUT_SECONDS must be positive")
        if self.event_loop not in EVENT_LOOPS:
            raise ValueError(f"PALABRE_EVENT_LOOP={self.event_loop!r} must be one of "
                             + ", ".join(EVENT_LOOPS))
        if self.create_on_connect not in CREATE_ON_CONNECT:
            raise ValueError(
                f"PALABRE_CREATE_ON_CONNECT={self.create_on_connect!r} must be one of "
                + ", ".join(CREATE_ON_CONNECT)
            )

    def relay_interval(self, clients: int) -> float:
        """Least time between two relays of a busy document with `clients` connected."""
        return max(self.relay_interval_seconds, clients * self.relay_interval_per_client_seconds)

    @property
    def origins(self) -> frozenset[str]:
        """The allowed ``Origin`` values (empty: any origin)."""
        return frozenset(o.strip() for o in self.allowed_origins.split(",") if o.strip())

    @property
    def cors_origin_list(self) -> list[str]:
        """The origins allowed by CORS on the HTTP API (empty: CORS off)."""
        return [o.strip() for o in self.cors_origins.split(",") if o.strip()]

    @property
    def resolved_database_url(self) -> str:
        """The database URL in use, SQLite in the data folder by default."""
        return self.database_url or database_url_for(self.data_dir)


_ENV_PREFIX = "PALABRE_"
_LIMIT_PREFIX = "PALABRE_LIMIT_"


def settings_from_env(
    overrides: Mapping[str, object] | None = None, *, environ: Mapping[str, str] | None = None
) -> Settings:
    """Build settings from ``PALABRE_*`` variables, then explicit overrides (options win).

    Raises:
        ValueError: a variable does not convert to its field's type.
    """
    env = os.environ if environ is None else environ
    values: dict[str, object] = {}
    for spec in fields(Settings):
        raw = env.get(_ENV_PREFIX + spec.name.upper())
        if raw is not None and spec.name != "limits":
            values[spec.name] = _convert(Settings(), spec.name, raw)
    limits: dict[str, object] = {}
    for spec in fields(Limits):
        raw = env.get(_LIMIT_PREFIX + spec.name.upper())
        if raw is not None:
            limits[spec.name] = _convert(Limits(), spec.name, raw, prefix=_LIMIT_PREFIX)
    if limits:
        values["limits"] = Limits(**limits)  # type: ignore[arg-type]
    values.update({k: v for k, v in (overrides or {}).items() if v is not None})
    if "data_dir" in values:
        values["data_dir"] = Path(str(values["data_dir"]))
    return Settings(**values)  # type: ignore[arg-type]


def _convert(defaults: object, name: str, raw: str, *, prefix: str = _ENV_PREFIX) -> object:
    default = getattr(defaults, name)
    try:
        if isinstance(default, bool):
            return raw.lower() in {"1", "true", "yes", "on"}
        if isinstance(default, int):
            return int(raw)
        if isinstance(default, float):
            return float(raw)
    except ValueError as exc:
        kind = type(default).__name__
        raise ValueError(f"{prefix}{name.upper()}={raw!r} is not a valid {kind}") from exc
    if isinstance(default, Path):
        return Path(raw)
    return raw
