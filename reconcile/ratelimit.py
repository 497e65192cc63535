"""Rate limiters: how long a workqueue item waits before it is retried.

A port of client-go's ``util/workqueue/default_rate_limiters.go``. A `RateLimiter` answers `when` an item may
be added again (and counts that as one more requeue of the item), `forget`s an item once it succeeded or was
given up, and reports `num_requeues`. The controller default is the larger of a per-item exponential backoff
(5 ms doubling to 1000 s) and an overall token bucket (10 per second, burst 100) that bounds the retry rate
of the whole queue.

These limiters only compute delays in seconds; they never sleep or schedule anything: the workqueue's
`add_rate_limited` does the waiting. The token bucket reads time from the `Clock` seam, so on virtual time
it refills on virtual time. Nothing here is thread-safe: limiters live on one event loop with their queue.
"""

from __future__ import annotations

import math
from collections.abc import Hashable
from typing import Generic, Protocol, TypeVar

from reconcile.clock import Clock

T = TypeVar("T", bound=Hashable)
T_contra = TypeVar("T_contra", bound=Hashable, contravariant=True)


class RateLimiter(Protocol[T_contra]):
    """Decides how long an item waits before it is retried, and tracks its failures."""

    def when(self, item: T_contra) -> float:
        """Seconds ``item`` must wait before it is added again; counts as one more requeue of it."""
        ...

    def forget(self, item: T_contra) -> None:
        """Stop tracking ``item`` (it succeeded or was given up): its next delay starts afresh."""
        ...

    def num_requeues(self, item: T_contra) -> int:
        """How many times `when` was asked about ``item`` since it was last forgotten."""
        ...


class ItemExponentialFailureRateLimiter(Generic[T]):
    """Per item, ``base_delay * 2**failures`` seconds, capped at ``max_delay``."""

    def __init__(self, base_delay: float = 0.005, max_delay: float = 1000.0) -> None:
        self._base_delay = base_delay
        self._max_delay = max_delay
        self._failures: dict[T, int] = {}

    def when(self, item: T) -> float:
        failures = self._failures.get(item, 0)
        self._failures[item] = failures + 1
        try:
            backoff = math.ldexp(self._base_delay, failures)
        except OverflowError:
            # client-go's overflow guard: a delay beyond any float is beyond any cap.
            return self._max_delay
        return min(backoff, self._max_delay)

    def forget(self, item: T) -> None:
        self._failures.pop(item, None)

    def num_requeues(self, item: T) -> int:
        return self._failures.get(item, 0)


class ItemFastSlowRateLimiter(Generic[T]):
    """Per item, ``fast_delay`` for the first ``max_fast_attempts`` retries, then ``slow_delay``."""

    def __init__(self, fast_delay: float, slow_delay: float, max_fast_attempts: int) -> None:
        self._fast_delay = fast_delay
        self._slow_delay = slow_delay
        self._max_fast_attempts = max_fast_attempts
        self._failures: dict[T, int] = {}

    def when(self, item: T) -> float:
        failures = self._failures[item] = self._failures.get(item, 0) + 1
        return self._fast_delay if failures <= self._max_fast_attempts else self._slow_delay

    def forget(self, item: T) -> None:
        self._failures.pop(item, None)

    def num_requeues(self, item: T) -> int:
        return self._failures.get(item, 0)


class BucketRateLimiter:
    """An overall token bucket, the same for every item: ``qps`` tokens a second, holding at most ``burst``.

    Each `when` reserves one token, with golang.org/x/time/rate's ``Reserve().Delay()`` semantics: the bucket
    starts full and refills continuously, and a reservation always succeeds, taking the bucket into debt if
    it must, so its delay is the time until the debt is paid. A burst of ``burst + k`` requests at one
    instant therefore gets ``burst`` zero delays followed by ``1/qps, 2/qps, ..., k/qps``.
    """

    def __init__(self, qps: float = 10.0, burst: int = 100, *, clock: Clock) -> None:
        if not 0 < qps < math.inf:
            raise ValueError(f"qps must be a positive finite rate, got {qps}")
        if burst < 1:
            raise ValueError(f"burst must be at least 1, got {burst}")
        self._qps = qps
        self._burst = burst
        self._clock = clock
        self._tokens = float(burst)
        self._last: float | None = None

    def when(self, item: object) -> float:
        now = self._clock.monotonic()
        if self._last is not None and now > self._last:
            self._tokens = min(self._tokens + (now - self._last) * self._qps, self._burst)
        self._last = now
        self._tokens -= 1.0
        return -self._tokens / self._qps if self._tokens < 0 else 0.0

    def forget(self, item: object) -> None:
        """Nothing to forget: the bucket does not track items."""

    def num_requeues(self, item: object) -> int:
        return 0


class MaxOfRateLimiter(Generic[T]):
    """Asks every limiter and keeps the longest delay (and the highest requeue count).

    Every limiter is asked on each `when`, so each one counts the retry. As client-go notes, combined with a
    token bucket the burst can appear exceeded when some items were held back longer by another limiter.
    """

    def __init__(self, *limiters: RateLimiter[T]) -> None:
        self._limiters = limiters

    def when(self, item: T) -> float:
        return max([limiter.when(item) for limiter in self._limiters], default=0.0)

    def forget(self, item: T) -> None:
        for limiter in self._limiters:
            limiter.forget(item)

    def num_requeues(self, item: T) -> int:
        return max((limiter.num_requeues(item) for limiter in self._limiters), default=0)


def default_controller_rate_limiter(clock: Clock) -> MaxOfRateLimiter[T]:
    """client-go's DefaultControllerRateLimiter: per-item 5 ms → 1000 s backoff, overall 10 qps, burst 100."""
    return MaxOfRateLimiter(
        ItemExponentialFailureRateLimiter(base_delay=0.005, max_delay=1000.0),
        BucketRateLimiter(qps=10.0, burst=100, clock=clock),
    )
