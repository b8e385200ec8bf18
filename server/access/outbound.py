"""Outbound requests (webhooks, agenda feeds) reach public addresses only, checked on connect.

A webhook URL or a feed URL is chosen by a facilitator; without a check, the server would
fetch whatever it names: a service on loopback, the private network, or the cloud
metadata address (169.254.169.254). `GuardedBackend` is the httpcore network backend of
every outbound client: it resolves the host name once, refuses each address that is not
public (`address_problem`) and connects to an accepted address itself, so the address
checked is the address connected to (no DNS-rebinding window between a check and a
second lookup). TLS still names the host (SNI and certificate) and so does ``Host``:
httpcore passes the URL's host to ``start_tls``, httpx writes the header. Every hop of a
redirect connects again, so it is checked again.

An operator who wants internal receivers lists them in `Settings.outbound_allow`
(``PALABRE_OUTBOUND_ALLOW="127.0.0.1:8080,hooks.internal"``): a ``host`` or
``host:port`` entry, matched against the URL's host (a name or an address) and against
every address it resolves to. `OutboundPolicy.url_problem` refuses, at registration,
a URL whose host is a refused address literal.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass

import anyio
import httpcore
import httpx

from server.events import url_problem

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
Resolver = Callable[[str, int], Awaitable[Sequence[str]]]
"""Host name and port → the addresses to try, in order."""

_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")
_CLASSES: tuple[tuple[str, Callable[[Address], bool]], ...] = (
    ("an unspecified address", lambda a: a.is_unspecified),
    ("a loopback address", lambda a: a.is_loopback),
    ("a link-local address (cloud metadata included)", lambda a: a.is_link_local),
    ("a multicast address", lambda a: a.is_multicast),
    ("a unique-local address", lambda a: a in ipaddress.IPv6Network("fc00::/7")),
    ("a private address", lambda a: a.is_private),
    ("not a public address", lambda a: not a.is_global),
)


class OutboundRefused(httpcore.ConnectError):
    """A host resolved only to addresses the outbound policy refuses."""


def address_problem(address: Address) -> str | None:
    """Why the server may not connect to `address` (which class it is in), or ``None``.

    IPv6 forms that embed an IPv4 address (``::ffff:a.b.c.d``, 6to4, NAT64 ``64:ff9b::``)
    are judged by the address they embed.
    """
    if isinstance(address, ipaddress.IPv6Address):
        embedded = address.ipv4_mapped or address.sixtofour
        if embedded is None and address in _NAT64:
            embedded = ipaddress.IPv4Address(int(address) & 0xFFFF_FFFF)
        if embedded is not None:
            return address_problem(embedded)
    for reason, is_in in _CLASSES:
        if is_in(address):
            return reason
    return None


def _literal(host: str) -> Address | None:
    try:
        return ipaddress.ip_address(host.strip("[]").partition("%")[0])
    except ValueError:
        return None


@dataclass(frozen=True, slots=True)
class OutboundPolicy:
    """Which internal hosts an operator allows; every public address is allowed."""

    allowed: frozenset[tuple[str, int | None]] = frozenset()
    """``(host, port)`` pairs; a ``None`` port allows every port of the host."""

    @classmethod
    def parse(cls, text: str) -> OutboundPolicy:
        """Read ``PALABRE_OUTBOUND_ALLOW``: comma-separated ``host``, ``host:port``,
        ``[v6]`` or ``[v6]:port`` entries.

        Raises:
            ValueError: an entry has an empty host or a port that is not 1-65535.
        """
        allowed: set[tuple[str, int | None]] = set()
        for raw in (entry.strip() for entry in text.split(",")):
            if raw:
                allowed.add(_entry(raw))
        return cls(frozenset(allowed))

    def is_allowed(self, host: str, port: int) -> bool:
        """Whether the operator allowed `host` (a name or an address) on `port`."""
        literal = _literal(host)
        key = str(literal) if literal is not None else host.lower().rstrip(".")
        return (key, port) in self.allowed or (key, None) in self.allowed

    def url_problem(self, url: str) -> str | None:
        """Why `url` may not be registered (see `server.events.url_problem`), or ``None``.

        A host that is a refused address literal is refused here; a name is judged on
        each connection, by the addresses it then resolves to.
        """
        return url_problem(url) or self.address_problem(url)

    def address_problem(self, url: str) -> str | None:
        """Why the host of `url`, an address literal, is refused; ``None`` for a name, an
        allowed or a public address (or a URL that does not parse: judged elsewhere)."""
        try:
            parts = httpx.URL(url)
        except httpx.InvalidURL:
            return None
        address = _literal(parts.host)
        port = parts.port or (443 if parts.scheme == "https" else 80)
        if address is None or self.is_allowed(parts.host, port):
            return None
        reason = address_problem(address)
        if reason is None:
            return None
        return (f"{address} is {reason}: the server does not send requests there "
                "unless the operator allows it (PALABRE_OUTBOUND_ALLOW)")


def _entry(raw: str) -> tuple[str, int | None]:
    host, port_text = raw, ""
    if raw.startswith("["):
        host, _, rest = raw[1:].partition("]")
        port_text = rest.removeprefix(":")
    elif raw.count(":") == 1:
        host, _, port_text = raw.partition(":")
    literal = _literal(host)
    host = str(literal) if literal is not None else host.lower().rstrip(".")
    if not host:
        raise ValueError(f"PALABRE_OUTBOUND_ALLOW: {raw!r} has no host")
    if not port_text:
        return host, None
    if not port_text.isdigit() or not 0 < int(port_text) < 65536:
        raise ValueError(f"PALABRE_OUTBOUND_ALLOW: {raw!r} has no valid port")
    return host, int(port_text)


async def system_resolver(host: str, port: int) -> Sequence[str]:
    """The addresses of `host` from the system resolver (`getaddrinfo`), in its order."""
    infos = await anyio.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


class GuardedBackend(httpcore.AsyncNetworkBackend):
    """Resolves once, refuses internal addresses, connects to the address it checked."""

    def __init__(
        self,
        policy: OutboundPolicy,
        *,
        resolve: Resolver = system_resolver,
        backend: httpcore.AsyncNetworkBackend | None = None,
    ) -> None:
        self._policy = policy
        self._resolve = resolve
        self._backend = backend or httpcore.AnyIOBackend()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,  # noqa: ASYNC109 -- httpcore's signature
        local_address: str | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        """Connect to the first address of `host` the policy accepts.

        Raises:
            OutboundRefused: every address of `host` is refused.
            httpcore.ConnectError, httpcore.ConnectTimeout: no accepted address answered.
        """
        candidates = await self._addresses(host, port, timeout)
        is_host_allowed = self._policy.is_allowed(host, port)
        refusals: list[str] = []
        failure: httpcore.ConnectError | None = None
        for address in candidates:
            reason = None
            if not (is_host_allowed or self._policy.is_allowed(address, port)):
                reason = address_problem(ipaddress.ip_address(address))
            if reason is not None:
                refusals.append(f"{address} is {reason}")
                continue
            try:
                return await self._backend.connect_tcp(
                    address, port, timeout, local_address, socket_options
                )
            except httpcore.ConnectError as exc:
                failure = exc
        if failure is not None:
            raise failure
        raise OutboundRefused(
            f"{host} refused: {'; '.join(refusals) or 'no address'} "
            "(allow internal hosts with PALABRE_OUTBOUND_ALLOW)"
        )

    async def _addresses(self, host: str, port: int, limit: float | None) -> Sequence[str]:
        literal = _literal(host)
        if literal is not None:
            return [str(literal)]
        try:
            with anyio.fail_after(limit):
                return await self._resolve(host, port)
        except TimeoutError as exc:
            raise httpcore.ConnectTimeout(f"resolving {host} timed out") from exc
        except OSError as exc:
            raise httpcore.ConnectError(f"cannot resolve {host}: {exc}") from exc

    async def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,  # noqa: ASYNC109 -- httpcore's signature
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        """Never: outbound requests go over TCP only.

        Raises:
            OutboundRefused: always.
        """
        raise OutboundRefused("outbound requests do not use Unix sockets")

    async def sleep(self, seconds: float) -> None:
        """Sleep as the wrapped backend does."""
        await self._backend.sleep(seconds)


class GuardedTransport(httpx.AsyncHTTPTransport):
    """httpx's transport over a `GuardedBackend`; no proxy (a proxy would connect for us)."""

    def __init__(
        self, policy: OutboundPolicy, *, resolve: Resolver = system_resolver
    ) -> None:
        super().__init__(trust_env=False)
        # httpx builds its pool without a backend parameter: rebuild it with ours and
        # httpx's own TLS defaults.
        self._pool = httpcore.AsyncConnectionPool(
            ssl_context=httpx.create_ssl_context(trust_env=False),
            network_backend=GuardedBackend(policy, resolve=resolve),
        )


def refusal_of(exc: BaseException) -> str | None:
    """The policy's refusal behind an httpx error, if that is what it was."""
    cause: BaseException | None = exc
    while cause is not None:
        if isinstance(cause, OutboundRefused):
            return str(cause)
        cause = cause.__cause__
    return None
