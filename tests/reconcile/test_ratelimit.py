"""The rate limiters' contract, with the tables of client-go's default_rate_limiters_test.go."""

from __future__ import annotations

import math

import pytest

from reconcile.clock import VirtualClock
from reconcile.ratelimit import (
    BucketRateLimiter,
    ItemExponentialFailureRateLimiter,
    ItemFastSlowRateLimiter,
    MaxOfRateLimiter,
    default_controller_rate_limiter,
)

MS = 0.001


def test_exponential_delay_doubles_with_each_failure_from_the_base() -> None:
    limiter = ItemExponentialFailureRateLimiter[str](base_delay=1 * MS, max_delay=1.0)

    assert [limiter.when("one") for _ in range(5)] == [1 * MS, 2 * MS, 4 * MS, 8 * MS, 16 * MS]
    assert limiter.num_requeues("one") == 5


def test_exponential_failures_are_counted_per_item() -> None:
    limiter = ItemExponentialFailureRateLimiter[str](base_delay=1 * MS, max_delay=1.0)
    for _ in range(5):
        limiter.when("one")

    assert [limiter.when("two"), limiter.when("two")] == [1 * MS, 2 * MS]
    assert limiter.num_requeues("two") == 2


def test_forget_restarts_the_exponential_backoff_of_that_item_only() -> None:
    limiter = ItemExponentialFailureRateLimiter[str](base_delay=1 * MS, max_delay=1.0)
    for _ in range(5):
        limiter.when("one")
    limiter.when("two")

    limiter.forget("one")

    assert limiter.num_requeues("one") == 0
    assert limiter.when("one") == 1 * MS
    assert limiter.num_requeues("two") == 1


def test_exponential_delay_is_capped_at_the_max_delay() -> None:
    limiter = ItemExponentialFailureRateLimiter[str](base_delay=1 * MS, max_delay=1.0)

    delays = [limiter.when("one") for _ in range(12)]

    assert delays[9] == 512 * MS
    assert delays[10:] == [1.0, 1.0]


@pytest.mark.parametrize(
    ("base_delay", "max_delay", "sixth_delay"),
    [(1 * MS, 1000.0, 32 * MS), (60.0, 1000 * 3600.0, 60.0 * 32)],
)
def test_exponential_delay_stays_at_the_cap_when_the_doubling_overflows(
    base_delay: float, max_delay: float, sixth_delay: float
) -> None:
    limiter = ItemExponentialFailureRateLimiter[str](base_delay, max_delay)
    for _ in range(5):
        limiter.when("small")
    for _ in range(2000):
        limiter.when("overflow")

    assert limiter.when("small") == sixth_delay
    assert limiter.when("overflow") == max_delay


def test_controller_default_exponential_backoff_starts_at_5ms_and_caps_at_1000s() -> None:
    limiter = ItemExponentialFailureRateLimiter[str]()

    delays = [limiter.when("key") for _ in range(20)]

    assert delays[:4] == pytest.approx([0.005, 0.010, 0.020, 0.040])
    assert delays[-1] == 1000.0


def test_fast_slow_uses_the_fast_delay_for_the_first_attempts_then_the_slow_one() -> None:
    limiter = ItemFastSlowRateLimiter[str](fast_delay=5 * MS, slow_delay=10.0, max_fast_attempts=3)

    assert [limiter.when("one") for _ in range(5)] == [5 * MS, 5 * MS, 5 * MS, 10.0, 10.0]
    assert limiter.num_requeues("one") == 5
    assert [limiter.when("two"), limiter.when("two")] == [5 * MS, 5 * MS]
    assert limiter.num_requeues("two") == 2

    limiter.forget("one")

    assert limiter.num_requeues("one") == 0
    assert limiter.when("one") == 5 * MS


def test_max_of_gives_the_longest_delay_of_its_limiters() -> None:
    limiter = MaxOfRateLimiter[str](
        ItemFastSlowRateLimiter(fast_delay=5 * MS, slow_delay=3.0, max_fast_attempts=3),
        ItemExponentialFailureRateLimiter(base_delay=1 * MS, max_delay=1.0),
    )

    assert [limiter.when("one") for _ in range(5)] == [5 * MS, 5 * MS, 5 * MS, 3.0, 3.0]
    assert limiter.num_requeues("one") == 5
    assert [limiter.when("two"), limiter.when("two")] == [5 * MS, 5 * MS]
    assert limiter.num_requeues("two") == 2


def test_max_of_forgets_an_item_in_every_limiter() -> None:
    fast_slow = ItemFastSlowRateLimiter[str](fast_delay=5 * MS, slow_delay=3.0, max_fast_attempts=3)
    exponential = ItemExponentialFailureRateLimiter[str](base_delay=1 * MS, max_delay=1.0)
    limiter = MaxOfRateLimiter(fast_slow, exponential)
    for _ in range(5):
        limiter.when("one")

    limiter.forget("one")

    assert (fast_slow.num_requeues("one"), exponential.num_requeues("one")) == (0, 0)
    assert limiter.when("one") == 5 * MS


def test_bucket_lets_a_burst_through_then_spaces_the_rest_at_its_rate() -> None:
    limiter = BucketRateLimiter(qps=10.0, burst=100, clock=VirtualClock())

    delays = [limiter.when(i) for i in range(110)]

    assert delays[:100] == [0.0] * 100
    assert delays[100:] == pytest.approx([0.1 * k for k in range(1, 11)])


def test_bucket_refills_continuously() -> None:
    async def scenario(clock: VirtualClock) -> list[float]:
        limiter = BucketRateLimiter(qps=10.0, burst=100, clock=clock)
        for i in range(101):  # the whole burst and one token of debt
            limiter.when(i)
        await clock.sleep(0.35)  # 3.5 tokens refilled: 2.5 left after the debt
        return [limiter.when(i) for i in range(4)]

    clock = VirtualClock()

    assert clock.run(scenario, clock) == pytest.approx([0.0, 0.0, 0.05, 0.15])


def test_bucket_refills_no_further_than_its_burst() -> None:
    async def scenario(clock: VirtualClock) -> list[float]:
        limiter = BucketRateLimiter(qps=10.0, burst=5, clock=clock)
        for i in range(5):
            limiter.when(i)
        await clock.sleep(1000.0)
        return [limiter.when(i) for i in range(6)]

    clock = VirtualClock()

    assert clock.run(scenario, clock) == pytest.approx([0.0] * 5 + [0.1])


def test_bucket_tracks_no_items() -> None:
    limiter = BucketRateLimiter(qps=1.0, burst=1, clock=VirtualClock())
    limiter.when("one")
    limiter.forget("one")

    assert limiter.num_requeues("one") == 0
    assert limiter.when("one") == pytest.approx(1.0)


@pytest.mark.parametrize(("qps", "burst"), [(0.0, 1), (-1.0, 1), (math.inf, 1), (1.0, 0)])
def test_bucket_rejects_a_rate_or_burst_it_cannot_honour(qps: float, burst: int) -> None:
    with pytest.raises(ValueError, match=r"qps|burst"):
        BucketRateLimiter(qps=qps, burst=burst, clock=VirtualClock())


def test_controller_default_backs_off_each_item_and_bounds_the_overall_rate() -> None:
    limiter: MaxOfRateLimiter[str | int] = default_controller_rate_limiter(VirtualClock())

    per_item = [limiter.when("hot") for _ in range(3)]
    overall = [limiter.when(i) for i in range(100)]

    assert per_item == pytest.approx([0.005, 0.010, 0.020])
    assert overall[:97] == pytest.approx([0.005] * 97)  # the bucket still has tokens: backoff decides
    assert overall[97:] == pytest.approx([0.1, 0.2, 0.3])  # bucket in debt: it decides
    assert limiter.num_requeues("hot") == 3
