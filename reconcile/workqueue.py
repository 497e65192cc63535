"""WorkQueue: the queue of keys between event handlers and a controller's workers, with client-go's rules.

A port of client-go's ``util/workqueue`` (the plain, delaying and rate-limiting queues in one class):

- An item added many times before a worker takes it is handed out once (the *dirty* set).
- An item added while a worker is processing it is not handed out again until that worker calls `done`,
  and then exactly once more (the *processing* set): no two workers ever hold the same item.
- `add_after` adds an item once a delay has passed; asked again for an item that is still waiting, the
  earliest ready time wins. Waiting items sit in one heap behind one loop timer armed for the earliest
  deadline, never a task or timer per item.
- `add_rate_limited` is `add_after` with the delay of a `RateLimiter` (by default client-go's controller
  limiter); `forget` resets an item's backoff.
- A *provisional* delayed add is one that processing the item asked for (a reconcile's requeue-after or
  retry). Taking the item again supersedes it: it still comes due as client-go's would, but
  ``next_ready_at(superseded=False)`` no longer counts it, so a simulation knows nothing waits on it.
- After `shut_down` nothing new is accepted and pending delayed adds are dropped, but items already queued
  are still handed out; `get` raises `ShutDown` once there is nothing left to hand out.

Deviation from client-go: `done` of an item that is not being processed does nothing (client-go would
queue a waiting item a second time).

The queue holds keys, not objects, and is not a worker pool: the controller runs the workers. It lives on
one asyncio event loop (the one its `get`, `add_after` and timers run on) and is not thread-safe.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
from collections import deque
from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

from reconcile.clock import Clock, RealClock, Timer
from reconcile.metrics import NoWorkQueueMetrics, WorkQueueMetrics
from reconcile.ratelimit import RateLimiter, default_controller_rate_limiter

T = TypeVar("T", bound=Hashable)


class ShutDown(Exception):
    """The queue is shut down and has nothing left to hand out: the worker should stop."""


class WorkQueue(Generic[T]):
    """A deduplicating, delaying, rate-limiting queue of hashable items (see the module docstring).

    ``name`` names it in its repr (its metrics carry their own name: ``Metrics.workqueue(name)``);
    ``clock`` times delays and metrics; ``rate_limiter`` defaults to `default_controller_rate_limiter` on
    that clock.
    """

    def __init__(
        self,
        name: str = "",
        *,
        clock: Clock | None = None,
        rate_limiter: RateLimiter[T] | None = None,
        metrics: WorkQueueMetrics | None = None,
    ) -> None:
        self.name = name
        self._clock = clock if clock is not None else RealClock()
        self._rate_limiter: RateLimiter[T] = (
            rate_limiter if rate_limiter is not None else default_controller_rate_limiter(self._clock)
        )
        self._metrics = metrics if metrics is not None else NoWorkQueueMetrics()
        self._metrics.attach(self._clock)
        # Invariant: every item of _queue is in _dirty and not in _processing.
        self._queue: deque[T] = deque()
        self._dirty: set[T] = set()
        self._processing: set[T] = set()
        self._getters: deque[asyncio.Future[None]] = deque()
        self._shutting_down = False
        self._drain = False
        self._drain_waiters: deque[asyncio.Future[None]] = deque()
        # Delayed adds: a heap of (ready_at, sequence, item) entries. An item's live entry is the one in
        # _waiting; entries it superseded with an earlier ready time stay in the heap and are skipped.
        self._waiting: dict[T, tuple[float, int, T]] = {}
        self._heap: list[tuple[float, int, T]] = []
        self._sequence = itertools.count()
        # The earliest ready time a waiting item is still wanted at, from adds of each sort: firm ones
        # hold until the item comes due, provisional ones only until it is taken again.
        self._firm: dict[T, float] = {}
        self._provisional: dict[T, float] = {}
        self._timer: Timer | None = None
        self._timer_deadline = 0.0
        #: Called when an item is queued and no `get` waits to take it (a pool may start a worker).
        self.on_unclaimed: Callable[[], None] | None = None

    def __repr__(self) -> str:
        return (
            f"<WorkQueue {self.name!r}: {len(self._queue)} queued, {len(self._processing)} processing,"
            f" {len(self._waiting)} waiting{', shutting down' if self._shutting_down else ''}>"
        )

    def __len__(self) -> int:
        """Items ready to be handed out (neither waiting for a delay nor being processed)."""
        return len(self._queue)

    def next_ready_at(self, *, superseded: bool = True) -> float | None:
        """When the earliest delayed add comes due (clock time), or None if none is waiting.

        With ``superseded=False``, when the earliest add still wanted comes due: provisional adds of an
        item taken since they were made do not count (the item may come due earlier all the same).
        """
        if superseded:
            return min((entry[0] for entry in self._waiting.values()), default=None)
        return min(itertools.chain(self._firm.values(), self._provisional.values()), default=None)

    @property
    def shutting_down(self) -> bool:
        return self._shutting_down

    def add(self, item: T) -> None:
        """Mark ``item`` as needing processing (dropped once the queue is shutting down)."""
        if self._shutting_down or item in self._dirty:
            return
        self._metrics.added(item)
        self._dirty.add(item)
        if item in self._processing:
            return
        self._queue.append(item)
        self._hand_out()

    async def get(self) -> T:
        """Wait for an item and take it; the caller must call `done` with it when finished.

        Raises `ShutDown` once the queue is shut down and has nothing left to hand out.
        """
        while not self._queue:
            if self._shutting_down:
                raise ShutDown
            getter = asyncio.get_running_loop().create_future()
            self._getters.append(getter)
            try:
                await getter
            except BaseException:
                getter.cancel()
                if getter in self._getters:
                    self._getters.remove(getter)
                # Woken for an item but cancelled before taking it: pass the wake-up on.
                elif self._queue and not getter.cancelled():
                    self._wake_getter()
                raise
        item = self._queue.popleft()
        self._metrics.got(item)
        self._processing.add(item)
        self._dirty.discard(item)
        self._provisional.pop(item, None)
        return item

    def done(self, item: T) -> None:
        """Mark ``item`` as processed; if it was added meanwhile, queue it once more."""
        if item not in self._processing:
            return
        self._metrics.done(item)
        self._processing.remove(item)
        if item in self._dirty:
            self._queue.append(item)
            self._hand_out()
        if not self._processing:
            _wake_all(self._drain_waiters)

    def add_after(self, item: T, delay: float, *, provisional: bool = False) -> None:
        """Add ``item`` after ``delay`` seconds; if it is waiting already, the earliest time wins.

        ``provisional``: processing the item asked for this add, so taking the item again supersedes it
        (see `next_ready_at`).
        """
        if self._shutting_down:
            return
        self._metrics.retried()
        if delay <= 0:
            self.add(item)
            return
        ready_at = self._clock.monotonic() + delay
        wanted = self._provisional if provisional else self._firm
        earlier = wanted.get(item)
        if earlier is None or ready_at < earlier:
            wanted[item] = ready_at
        waiting = self._waiting.get(item)
        if waiting is not None and waiting[0] <= ready_at:
            return
        entry = (ready_at, next(self._sequence), item)
        self._waiting[item] = entry
        heapq.heappush(self._heap, entry)
        if self._timer is None or ready_at < self._timer_deadline:
            self._arm_timer(ready_at)

    def add_rate_limited(self, item: T, *, provisional: bool = False) -> None:
        """Add ``item`` after the delay the rate limiter gives it (one more requeue of it)."""
        self.add_after(item, self._rate_limiter.when(item), provisional=provisional)

    def forget(self, item: T) -> None:
        """Stop backing ``item`` off (it succeeded or was given up); it must still be `done`."""
        self._rate_limiter.forget(item)

    def num_requeues(self, item: T) -> int:
        """Rate-limited adds of ``item`` since it was last forgotten."""
        return self._rate_limiter.num_requeues(item)

    def shut_down(self) -> None:
        """Accept nothing more, drop pending delayed adds, and wake every waiting `get`.

        Items already queued are still handed out. Ends a `shut_down_with_drain` that is waiting.
        """
        self._drain = False
        self._stop()
        _wake_all(self._drain_waiters)

    async def shut_down_with_drain(self) -> None:
        """`shut_down`, then wait until no item is being processed (every taken item is `done`).

        Like client-go, it waits for the processing set to empty, not for the queue: an item queued again
        by its `done` is still handed out, but not waited for. A `shut_down` meanwhile ends the wait.
        """
        self._drain = True
        self._stop()
        while self._processing and self._drain:
            waiter = asyncio.get_running_loop().create_future()
            self._drain_waiters.append(waiter)
            await waiter

    def _stop(self) -> None:
        self._shutting_down = True
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._waiting.clear()
        self._heap.clear()
        self._firm.clear()
        self._provisional.clear()
        _wake_all(self._getters)

    def _hand_out(self) -> None:
        """Wake a waiting `get` for the item just queued, or say that none waits."""
        if not self._wake_getter() and self.on_unclaimed is not None:
            self.on_unclaimed()

    def _wake_getter(self) -> bool:
        while self._getters:
            getter = self._getters.popleft()
            if not getter.done():
                getter.set_result(None)
                return True
        return False

    def _arm_timer(self, deadline: float) -> None:
        if self._timer is not None:
            self._timer.cancel()
        self._timer_deadline = deadline
        self._timer = self._clock.call_at(deadline, self._add_ready)

    def _add_ready(self) -> None:
        # The loop may run a timer a clock-resolution early: whatever was due at its deadline is ready.
        now = max(self._clock.monotonic(), self._timer_deadline)
        self._timer = None
        heap = self._heap
        while heap:
            entry = heap[0]
            ready_at, _, item = entry
            live = self._waiting.get(item) is entry
            if live and ready_at > now:
                break
            # Superseded entries go on the way, so that the timer is armed for a live one.
            heapq.heappop(heap)
            if live:
                del self._waiting[item]
                # Whatever else was wanted of it was merged into this add, as client-go merges it.
                self._firm.pop(item, None)
                self._provisional.pop(item, None)
                self.add(item)
        if heap:
            self._arm_timer(heap[0][0])


def _wake_all(waiters: deque[asyncio.Future[None]]) -> None:
    for waiter in waiters:
        if not waiter.done():
            waiter.set_result(None)
    waiters.clear()
