"""Token buckets per principal: bursts, refill, the wait announced, keys."""

from __future__ import annotations

import pytest

from server.access.auth import PUBLIC, Principal, Role
from server.access.ratelimit import _PRUNE_AT, RateLimiter, principal_key


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_a_burst_passes_then_the_next_request_waits_for_one_token() -> None:
    clock = Clock()
    limiter = RateLimiter(2.0, 3, clock=clock)
    assert [limiter.take("sub:zoe") for _ in range(3)] == [0.0, 0.0, 0.0]
    assert limiter.take("sub:zoe") == pytest.approx(0.5)
    clock.now += 0.5
    assert limiter.take("sub:zoe") == 0.0
    assert limiter.take("sub:zoe") > 0


def test_principals_have_buckets_of_their_own() -> None:
    limiter = RateLimiter(1.0, 1, clock=Clock())
    assert limiter.take("sub:zoe") == 0.0
    assert limiter.take("sub:zoe") > 0
    assert limiter.take("sub:loic") == 0.0


def test_the_bucket_refills_up_to_the_burst_only() -> None:
    clock = Clock()
    limiter = RateLimiter(10.0, 2, clock=clock)
    limiter.take("k")
    clock.now += 3600
    assert [limiter.take("k") for _ in range(3)][:2] == [0.0, 0.0]
    assert limiter.take("k") > 0


def test_a_rate_of_zero_turns_the_limit_off() -> None:
    limiter = RateLimiter(0.0, 1, clock=Clock())
    assert not limiter.is_enabled
    assert all(limiter.take("k") == 0.0 for _ in range(1000))


def test_keys_follow_the_token_subject_and_the_address_only_for_the_public() -> None:
    zoe = Principal(sub="zoe", name="Zoé", role=Role.MEMBER)
    assert principal_key(zoe, "10.0.0.1") == principal_key(zoe, "10.0.0.2") == "sub:zoe"
    assert principal_key(PUBLIC, "10.0.0.1") == "public@10.0.0.1"
    assert principal_key(None, None) == "public@unknown"


def test_subjects_that_come_and_go_leave_at_most_prune_at_buckets() -> None:
    """A participant minting subjects cannot grow the table: idle buckets are forgotten."""
    clock = Clock()
    limiter = RateLimiter(10.0, 5, clock=clock)
    for n in range(3 * _PRUNE_AT):
        assert limiter.take(f"sub:minted-{n}") == 0.0
        clock.now += 0.01
        assert len(limiter) <= _PRUNE_AT
    clock.now += 1.0  # every bucket refilled: idle
    limiter.take("sub:last")
    assert len(limiter) <= _PRUNE_AT
    assert limiter.take("sub:last") == 0.0  # a kept principal keeps its bucket


def test_busy_buckets_are_kept_past_prune_at() -> None:
    """Only idle buckets are forgotten: a principal still owing tokens keeps its debt."""
    clock = Clock()
    limiter = RateLimiter(1.0, 1, clock=clock)
    for n in range(_PRUNE_AT):
        limiter.take(f"sub:busy-{n}")
    limiter.take("sub:new")
    assert len(limiter) == _PRUNE_AT + 1
    assert limiter.take("sub:busy-0") > 0
