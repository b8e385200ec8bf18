"""Socket openings per principal: the debt of refused sockets, and catalogue-check turns."""

from __future__ import annotations

from dataclasses import replace

import anyio
import pytest

from server.errors import Overloaded
from server.limits import Limits
from server.sync.quota import SocketQuota


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_a_refused_socket_puts_its_principal_in_debt_until_it_has_waited_it_out() -> None:
    clock = Clock()
    quota = SocketQuota(replace(Limits(), socket_opens_per_second=10, socket_opens_burst=5,
                                refused_socket_cost=10), clock=clock)
    quota.opening("sub:mallory")
    quota.check_not_in_debt("sub:mallory")
    assert quota.opening_refusal("sub:mallory") is None
    quota.penalise("sub:mallory")  # 5 - 1 - 10 = -6
    with pytest.raises(Overloaded, match="opening sockets too fast"):
        quota.check_not_in_debt("sub:mallory")
    refusal = quota.opening_refusal("sub:mallory")
    assert refusal is not None and "retry in 1 s" in refusal.detail
    with pytest.raises(Overloaded):
        quota.opening("sub:mallory")
    quota.check_not_in_debt("sub:zoe")  # others owe nothing
    assert quota.opening_refusal("sub:zoe") is None
    clock.now += 0.6  # -6 + 6 = 0: out of debt, but no opening left yet
    quota.check_not_in_debt("sub:mallory")
    assert quota.opening_refusal("sub:mallory") is not None
    clock.now += 0.1
    assert quota.opening_refusal("sub:mallory") is None
    quota.opening("sub:mallory")


def test_asking_whether_an_opening_is_refused_counts_nothing() -> None:
    quota = SocketQuota(replace(Limits(), socket_opens_per_second=0.01, socket_opens_burst=2),
                        clock=Clock())
    for _ in range(10):
        assert quota.opening_refusal("sub:zoe") is None
    quota.opening("sub:zoe")
    quota.opening("sub:zoe")
    assert quota.opening_refusal("sub:zoe") is not None


def test_without_a_cost_or_a_rate_refusals_cost_nothing_more() -> None:
    for limits in (replace(Limits(), refused_socket_cost=0),
                   replace(Limits(), socket_opens_per_second=0)):
        quota = SocketQuota(limits, clock=Clock())
        quota.opening("sub:mallory")
        quota.penalise("sub:mallory")
        quota.check_not_in_debt("sub:mallory")
        assert quota.opening_refusal("sub:mallory") is None


async def test_the_catalogue_checks_of_one_principal_take_turns() -> None:
    quota = SocketQuota(replace(Limits(), admissions_per_principal=1))
    inside: list[str] = []
    release = anyio.Event()

    async def check(name: str, key: str, entered: anyio.Event) -> None:
        async with quota.admitting(key):
            inside.append(name)
            entered.set()
            await release.wait()

    first, second, other = anyio.Event(), anyio.Event(), anyio.Event()
    with anyio.fail_after(10):
        async with anyio.create_task_group() as tg:
            tg.start_soon(check, "first", "sub:mallory", first)
            await first.wait()
            tg.start_soon(check, "second", "sub:mallory", second)
            tg.start_soon(check, "other", "sub:zoe", other)
            await other.wait()  # another principal is not held up
            assert inside == ["first", "other"]
            release.set()
            await second.wait()
    assert inside == ["first", "other", "second"]
    async with quota.admitting("sub:mallory"):  # every turn was given back
        pass


async def test_without_a_bound_catalogue_checks_do_not_wait() -> None:
    quota = SocketQuota(replace(Limits(), admissions_per_principal=0))
    with anyio.fail_after(10):
        async with quota.admitting("sub:zoe"), quota.admitting("sub:zoe"):
            pass
