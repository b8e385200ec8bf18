"""The outbound policy: address classes, the allow-list, and checks made on connect."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Sequence

import httpcore
import httpx
import pytest

from server.access.outbound import (
    GuardedBackend,
    GuardedTransport,
    OutboundPolicy,
    OutboundRefused,
    Resolver,
    address_problem,
    refusal_of,
)
from server.logs import redact, safe_url

REFUSED = {
    "127.0.0.1": "loopback", "127.8.9.10": "loopback", "::1": "loopback",
    "10.1.2.3": "private", "172.16.0.1": "private", "172.31.255.254": "private",
    "192.168.1.1": "private",
    "169.254.169.254": "link-local", "169.254.1.1": "link-local", "fe80::1": "link-local",
    "fc00::1": "unique-local", "fd12:3456::1": "unique-local",
    "::ffff:127.0.0.1": "loopback", "::ffff:10.0.0.1": "private",
    "::ffff:169.254.169.254": "link-local",
    "2002:7f00:1::1": "loopback",  # 6to4 of 127.0.0.1
    "64:ff9b::a9fe:a9fe": "link-local",  # NAT64 of 169.254.169.254
    "0.0.0.0": "unspecified", "::": "unspecified",
    "224.0.0.1": "multicast", "ff02::1": "multicast",
    "100.64.0.1": "not a public address", "198.18.0.1": "private",
}
PUBLIC = ["93.184.216.34", "1.1.1.1", "172.32.0.1", "2606:4700:4700::1111"]


@pytest.mark.parametrize(("address", "kind"), sorted(REFUSED.items()))
def test_every_internal_address_class_is_refused(address: str, kind: str) -> None:
    problem = address_problem(ipaddress.ip_address(address))
    assert problem is not None and kind in problem


@pytest.mark.parametrize("address", PUBLIC)
def test_public_addresses_are_accepted(address: str) -> None:
    assert address_problem(ipaddress.ip_address(address)) is None


def test_the_allow_list_parses_hosts_ports_and_v6() -> None:
    policy = OutboundPolicy.parse(" 127.0.0.1:8080, Hooks.Internal ,[::1]:9000,[fd00::2] ,")
    assert policy.is_allowed("127.0.0.1", 8080) and not policy.is_allowed("127.0.0.1", 8081)
    assert policy.is_allowed("hooks.internal", 443) and policy.is_allowed("HOOKS.internal.", 1)
    assert policy.is_allowed("::1", 9000) and not policy.is_allowed("::1", 80)
    assert policy.is_allowed("[fd00::2]", 80)
    assert not OutboundPolicy.parse("").is_allowed("127.0.0.1", 80)


@pytest.mark.parametrize("text", ["127.0.0.1:0", "host:99999", "host:http", ":80", "[::1]:x"])
def test_a_bad_allow_list_entry_is_refused(text: str) -> None:
    with pytest.raises(ValueError, match="PALABRE_OUTBOUND_ALLOW"):
        OutboundPolicy.parse(text)


def test_registration_refuses_literals_only() -> None:
    policy = OutboundPolicy.parse("127.0.0.1:8080")
    problem = policy.url_problem("http://169.254.169.254/latest/meta-data/")
    assert problem is not None and "link-local" in problem
    assert policy.url_problem("http://[::ffff:7f00:1]/x") is not None
    assert policy.url_problem("http://127.0.0.1:8080/hook") is None
    assert policy.url_problem("http://127.0.0.1:8081/hook") is not None
    assert policy.url_problem("https://localhost/hook") is None  # a name: judged on connect
    assert policy.url_problem("https://93.184.216.34/hook") is None
    assert policy.url_problem("ftp://93.184.216.34/") is not None


class Recording(httpcore.AsyncNetworkBackend):
    """A backend that records where it was asked to connect, and connects nowhere."""

    def __init__(self) -> None:
        self.connected: list[tuple[str, int]] = []

    async def connect_tcp(
        self, host: str, port: int, timeout: float | None = None,  # noqa: ASYNC109
        local_address: str | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        self.connected.append((host, port))
        return httpcore.AsyncMockStream([])


def resolver(answers: dict[str, list[str]]) -> Resolver:
    async def resolve(host: str, port: int) -> Sequence[str]:
        return answers[host]

    return resolve


@pytest.mark.parametrize("address", sorted(REFUSED))
async def test_a_name_resolving_inside_is_refused_and_never_connected(address: str) -> None:
    recording = Recording()
    backend = GuardedBackend(
        OutboundPolicy(), resolve=resolver({"evil.example": [address]}), backend=recording
    )
    with pytest.raises(OutboundRefused, match=f"evil.example refused: {address} is"):
        await backend.connect_tcp("evil.example", 443)
    assert recording.connected == []


async def test_the_address_checked_is_the_address_connected_to() -> None:
    recording = Recording()
    # A rebinding name: one internal and one public address in the same answer.
    backend = GuardedBackend(
        OutboundPolicy(), resolve=resolver({"rebind.example": ["10.0.0.1", "93.184.216.34"]}),
        backend=recording,
    )
    await backend.connect_tcp("rebind.example", 443)
    assert recording.connected == [("93.184.216.34", 443)]


async def test_allowed_names_and_addresses_connect() -> None:
    recording = Recording()
    policy = OutboundPolicy.parse("hooks.internal,10.0.0.7:8080")
    backend = GuardedBackend(policy, resolve=resolver({
        "hooks.internal": ["10.0.0.5"], "other.internal": ["10.0.0.7"],
    }), backend=recording)
    await backend.connect_tcp("hooks.internal", 443)
    await backend.connect_tcp("other.internal", 8080)
    with pytest.raises(OutboundRefused):
        await backend.connect_tcp("other.internal", 8081)
    assert recording.connected == [("10.0.0.5", 443), ("10.0.0.7", 8080)]


async def test_unix_sockets_are_refused() -> None:
    with pytest.raises(OutboundRefused):
        await GuardedBackend(OutboundPolicy()).connect_unix_socket("/run/docker.sock")


async def test_through_httpx_a_refusal_is_a_connect_error_naming_the_class() -> None:
    transport = GuardedTransport(
        OutboundPolicy(), resolve=resolver({"metadata.example": ["169.254.169.254"]})
    )
    async with httpx.AsyncClient(transport=transport) as client:
        with pytest.raises(httpx.ConnectError) as caught:
            await client.get("http://metadata.example/latest/meta-data/")
        with pytest.raises(httpx.ConnectError):
            await client.get("http://[::ffff:a9fe:a9fe]/latest/meta-data/")
    refusal = refusal_of(caught.value)
    assert refusal is not None and "link-local" in refusal


def test_urls_are_logged_without_credentials_or_query() -> None:
    assert safe_url("https://alice:pw@hooks.example:8443/a/b?key=k&x=1#f") == (
        "https://hooks.example:8443/a/b?[redacted]"
    )
    line = redact('POST "https://hooks.example/h?key=k" and /ws/doc?token=t and ws://h/p')
    assert "key=k" not in line and "token=t" not in line and "ws://h/p" in line
