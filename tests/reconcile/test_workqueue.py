"""The workqueue contract, rule by rule, with cases ported from client-go's workqueue tests.

Every scenario runs on a `VirtualClock`, so waits are instant and times are asserted exactly.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Awaitable, Callable, Hashable
from typing import Any, TypeVar

import anyio
import pytest

from reconcile.clock import Timer, VirtualClock
from reconcile.ratelimit import ItemExponentialFailureRateLimiter
from reconcile.workqueue import ShutDown, WorkQueue

R = TypeVar("R")
H = TypeVar("H", bound=Hashable)


def run(scenario: Callable[[VirtualClock], Awaitable[R]], clock: VirtualClock | None = None) -> R:
    """Run ``scenario`` on virtual time; a scenario stuck for an hour of it fails instead of hanging."""

    async def bounded(clock: VirtualClock) -> R:
        with anyio.fail_after(3600.0):
            return await scenario(clock)

    clock = clock or VirtualClock()
    return clock.run(bounded, clock)


async def next_item(queue: WorkQueue[H], within: float = 60.0) -> H | None:
    """The next item handed out within ``within`` seconds, or None if none is."""
    with anyio.move_on_after(within):
        return await queue.get()
    return None


# --- dirty and processing sets ---------------------------------------------------------------------------


def test_an_item_added_many_times_before_it_is_taken_is_processed_once() -> None:
    async def scenario(clock: VirtualClock) -> None:
        queue = WorkQueue[str](clock=clock)
        for _ in range(3):
            queue.add("a")

        assert await queue.get() == "a"
        queue.done("a")
        assert await next_item(queue) is None

    run(scenario)


def test_len_counts_each_queued_item_once() -> None:
    queue = WorkQueue[str](clock=VirtualClock())
    queue.add("foo")
    queue.add("bar")
    queue.add("foo")

    assert len(queue) == 2


def test_items_are_handed_out_in_the_order_they_were_first_added() -> None:
    async def scenario(clock: VirtualClock) -> None:
        queue = WorkQueue[str](clock=clock)
        for item in ["c", "a", "b", "a", "c"]:
            queue.add(item)

        assert [await queue.get() for _ in range(3)] == ["c", "a", "b"]

    run(scenario)


def test_an_item_added_while_processing_is_not_handed_out_before_done() -> None:
    async def scenario(clock: VirtualClock) -> None:
        queue = WorkQueue[str](clock=clock)
        queue.add("a")
        await queue.get()

        queue.add("a")

        assert len(queue) == 0
        assert await next_item(queue) is None
        queue.done("a")
        assert len(queue) == 1

    run(scenario)


def test_an_item_added_while_processing_is_processed_exactly_once_more_after_done() -> None:
    async def scenario(clock: VirtualClock) -> None:
        queue = WorkQueue[str](clock=clock)
        queue.add("foo")
        await queue.get()
        queue.add("foo")
        queue.add("foo")
        queue.done("foo")

        assert await queue.get() == "foo"
        queue.done("foo")
        assert len(queue) == 0
        assert await next_item(queue) is None

    run(scenario)


def test_done_of_an_item_that_is_not_being_processed_is_harmless() -> None:
    async def scenario(clock: VirtualClock) -> None:
        queue = WorkQueue[str](clock=clock)
        queue.done("never-added")
        queue.add("a")
        queue.done("a")  # queued, not taken
        assert len(queue) == 1

        assert await queue.get() == "a"
        queue.done("a")
        queue.done("a")
        assert await next_item(queue) is None

    run(scenario)


def test_get_waits_until_an_item_is_added() -> None:
    async def scenario(clock: VirtualClock) -> None:
        queue = WorkQueue[str](clock=clock)
        got: list[tuple[str, float]] = []

        async def worker() -> None:
            got.append((await queue.get(), clock.monotonic()))

        async with anyio.create_task_group() as tg:
            tg.start_soon(worker)
            await clock.sleep(5.0)
            queue.add("a")

        assert got == [("a", 5.0)]

    run(scenario)


def test_no_two_workers_ever_hold_the_same_item() -> None:
    # client-go's TestBasic: 50 producers add their key 50 times each while 10 workers process slowly.
    async def scenario(clock: VirtualClock) -> None:
        queue = WorkQueue[int](clock=clock)
        in_flight: set[int] = set()
        overlaps: list[int] = []
        processed: Counter[int] = Counter()

        async def produce(key: int) -> None:
            for _ in range(50):
                queue.add(key)
                await clock.sleep(0.001)

        async def work() -> None:
            while True:
                try:
                    key = await queue.get()
                except ShutDown:
                    return
                if key in in_flight:
                    overlaps.append(key)
                in_flight.add(key)
                await clock.sleep(0.003)
                in_flight.discard(key)
                processed[key] += 1
                queue.done(key)

        async with anyio.create_task_group() as workers:
            for _ in range(10):
                workers.start_soon(work)
            async with anyio.create_task_group() as producers:
                for key in range(50):
                    producers.start_soon(produce, key)
            queue.shut_down()
            queue.add(-1)

        assert overlaps == []
        assert set(processed) == set(range(50))
        assert len(queue) == 0

    run(scenario)


def test_every_item_added_again_while_processing_is_processed_again() -> None:
    # client-go's TestAddWhileProcessing: each worker re-adds the item it holds on its first pass.
    async def scenario(clock: VirtualClock) -> None:
        queue = WorkQueue[int](clock=clock)
        processed: Counter[int] = Counter()
        all_processed_twice = anyio.Event()

        async def work() -> None:
            while True:
                try:
                    key = await queue.get()
                except ShutDown:
                    return
                processed[key] += 1
                if processed[key] < 2:
                    queue.add(key)
                await clock.sleep(0.001)
                queue.done(key)
                if processed.total() == 100:
                    all_processed_twice.set()

        async with anyio.create_task_group() as tg:
            for _ in range(10):
                tg.start_soon(work)
            for key in range(50):
                queue.add(key)
            await all_processed_twice.wait()
            queue.shut_down()

        assert processed == dict.fromkeys(range(50), 2)
        assert len(queue) == 0

    run(scenario)


def test_a_cancelled_getter_passes_its_wake_up_to_the_next_getter() -> None:
    async def scenario(clock: VirtualClock) -> None:
        queue = WorkQueue[str](clock=clock)
        loop = asyncio.get_running_loop()
        first = loop.create_task(queue.get())
        second = loop.create_task(queue.get())
        await clock.sleep(0)

        queue.add("a")  # wakes the first getter ...
        first.cancel()  # ... which is cancelled before it can take the item
        await asyncio.wait([first, second], timeout=1.0)

        assert first.cancelled()
        assert second.done()
        assert second.result() == "a"

    run(scenario)


# --- shutdown ----------------------------------------------------------------------------------------------


def test_shut_down_wakes_every_waiting_getter_with_shut_down() -> None:
    async def scenario(clock: VirtualClock) -> None:
        queue = WorkQueue[str](clock=clock)
        outcomes: list[tuple[str, float]] = []

        async def worker() -> None:
            try:
                await queue.get()
            except ShutDown:
                outcomes.append(("shut down", clock.monotonic()))

        async with anyio.create_task_group() as tg:
            for _ in range(3):
                tg.start_soon(worker)
            await clock.sleep(1.0)
            queue.shut_down()

        assert queue.shutting_down
        assert outcomes == [("shut down", 1.0)] * 3

    run(scenario)


def test_queued_items_are_still_handed_out_after_shut_down_then_get_raises() -> None:
    async def scenario(clock: VirtualClock) -> None:
        queue = WorkQueue[str](clock=clock)
        queue.add("a")
        queue.add("b")
        queue.shut_down()

        assert [await queue.get(), await queue.get()] == ["a", "b"]
        with pytest.raises(ShutDown):
            await queue.get()

    run(scenario)


def test_items_added_after_shut_down_are_dropped() -> None:
    async def scenario(clock: VirtualClock) -> None:
        queue = WorkQueue[str](clock=clock)
        queue.shut_down()

        queue.add("a")
        queue.add_after("b", 0.0)
        queue.add_after("c", 1.0)
        queue.add_rate_limited("d")
        await clock.sleep(10.0)

        assert len(queue) == 0
        with pytest.raises(ShutDown):
            await queue.get()

    run(scenario)


def test_shut_down_drops_pending_delayed_adds() -> None:
    async def scenario(clock: VirtualClock) -> None:
        queue = WorkQueue[str](clock=clock)
        queue.add_after("a", 1.0)
        queue.shut_down()
        await clock.sleep(2.0)

        assert len(queue) == 0
        with pytest.raises(ShutDown):
            await queue.get()

    run(scenario)


def test_shut_down_with_drain_waits_until_every_taken_item_is_done() -> None:
    # client-go's TestQueueDrainageUsingShutDownWithDrain.
    async def scenario(clock: VirtualClock) -> None:
        queue = WorkQueue[str](clock=clock)
        queue.add("foo")
        queue.add("bar")
        first, second = await queue.get(), await queue.get()
        drained_at: list[float] = []

        async def drain() -> None:
            await queue.shut_down_with_drain()
            drained_at.append(clock.monotonic())

        async with anyio.create_task_group() as tg:
            tg.start_soon(drain)
            await clock.sleep(0)
            with pytest.raises(ShutDown):
                await queue.get()
            await clock.sleep(1.0)
            queue.done(first)
            await clock.sleep(2.0)
            queue.done(second)

        assert drained_at == [3.0]

    run(scenario)


def test_shut_down_with_drain_returns_at_once_when_nothing_is_being_processed() -> None:
    async def scenario(clock: VirtualClock) -> None:
        queue = WorkQueue[str](clock=clock)
        queue.add("queued")

        await queue.shut_down_with_drain()

        assert clock.monotonic() == 0.0
        assert queue.shutting_down

    run(scenario)


def test_shut_down_ends_a_drain_that_is_waiting() -> None:
    # client-go's TestForceQueueShutdownUsingShutDown.
    async def scenario(clock: VirtualClock) -> None:
        queue = WorkQueue[str](clock=clock)
        queue.add("foo")
        await queue.get()
        drained_at: list[float] = []

        async def drain() -> None:
            await queue.shut_down_with_drain()
            drained_at.append(clock.monotonic())

        async with anyio.create_task_group() as tg:
            tg.start_soon(drain)
            await clock.sleep(1.0)
            queue.shut_down()

        assert drained_at == [1.0]

    run(scenario)


def test_drain_waits_for_the_items_being_processed_not_for_an_item_they_queued_again() -> None:
    # client-go's TestQueueDrainageUsingShutDownWithDrainWithDirtyItem.
    async def scenario(clock: VirtualClock) -> None:
        queue = WorkQueue[str](clock=clock)
        queue.add("foo")
        await queue.get()
        queue.add("foo")

        async with anyio.create_task_group() as tg:
            tg.start_soon(queue.shut_down_with_drain)
            await clock.sleep(0)
            with pytest.raises(ShutDown):
                await queue.get()
            queue.done("foo")

        assert await queue.get() == "foo"
        queue.done("foo")
        with pytest.raises(ShutDown):
            await queue.get()

    run(scenario)


# --- delayed adds ------------------------------------------------------------------------------------------


async def hand_out(queue: WorkQueue[str], clock: VirtualClock, until: float) -> list[tuple[str, float]]:
    """Take and finish every item handed out before ``until``, with the time it was handed out."""
    handed_out: list[tuple[str, float]] = []
    with anyio.move_on_after(until - clock.monotonic()):
        while True:
            item = await queue.get()
            handed_out.append((item, loop_time(clock)))
            queue.done(item)
    return handed_out


def loop_time(clock: VirtualClock) -> float:
    """The virtual time, without the float noise below looptime's microsecond resolution."""
    return round(clock.monotonic(), 6)


def test_add_after_adds_the_item_once_its_delay_has_passed() -> None:
    # client-go's TestSimpleQueue.
    async def scenario(clock: VirtualClock) -> None:
        queue = WorkQueue[str](clock=clock)
        queue.add_after("foo", 0.05)

        assert len(queue) == 0
        assert await hand_out(queue, clock, until=20.0) == [("foo", 0.05)]

    run(scenario)


def test_add_after_with_no_delay_adds_at_once() -> None:
    queue = WorkQueue[str](clock=VirtualClock())
    queue.add_after("a", 0.0)
    queue.add_after("b", -1.0)

    assert len(queue) == 2


def test_delayed_items_are_added_in_the_order_of_their_ready_times() -> None:
    # client-go's TestCopyShifting and TestAddTwoFireEarly.
    async def scenario(clock: VirtualClock) -> None:
        queue = WorkQueue[str](clock=clock)
        queue.add_after("foo", 1.0)
        queue.add_after("bar", 0.5)
        queue.add_after("baz", 0.25)

        handed_out = await hand_out(queue, clock, until=0.75)
        queue.add_after("qux", 2.0)
        handed_out += await hand_out(queue, clock, until=5.0)

        assert handed_out == [
            ("baz", 0.25),
            ("bar", 0.5),
            ("foo", 1.0),
            ("qux", 2.75),
        ]

    run(scenario)


@pytest.mark.parametrize(("first_delay", "second_delay"), [(0.05, 0.07), (0.05, 0.03)])
def test_add_after_of_a_waiting_item_keeps_the_earliest_ready_time(
    first_delay: float, second_delay: float
) -> None:
    # client-go's TestDeduping.
    async def scenario(clock: VirtualClock) -> None:
        queue = WorkQueue[str](clock=clock)
        queue.add_after("foo", first_delay)
        queue.add_after("foo", second_delay)

        handed_out = await hand_out(queue, clock, until=1.0)

        assert handed_out == [("foo", min(first_delay, second_delay))]

    run(scenario)


def test_add_after_of_an_item_being_processed_queues_it_again_once_the_delay_has_passed() -> None:
    async def scenario(clock: VirtualClock) -> None:
        queue = WorkQueue[str](clock=clock)
        queue.add("foo")
        await queue.get()
        queue.add_after("foo", 5.0)
        await clock.sleep(1.0)
        queue.done("foo")

        assert await hand_out(queue, clock, until=20.0) == [("foo", 5.0)]

    run(scenario)


def test_add_after_of_a_queued_item_does_not_queue_it_twice() -> None:
    async def scenario(clock: VirtualClock) -> None:
        queue = WorkQueue[str](clock=clock)
        queue.add("foo")
        queue.add_after("foo", 1.0)
        await clock.sleep(2.0)

        assert len(queue) == 1

    run(scenario)


def test_a_provisional_add_still_comes_due_but_taking_the_item_again_supersedes_it() -> None:
    async def scenario(clock: VirtualClock) -> None:
        queue = WorkQueue[str](clock=clock)
        queue.add_after("foo", 10.0, provisional=True)
        queue.add_after("bar", 20.0)
        assert queue.next_ready_at(superseded=False) == 10.0
        queue.add("foo")
        assert await queue.get() == "foo"  # processed again: it decides anew what it needs
        queue.done("foo")

        assert queue.next_ready_at() == 10.0
        assert queue.next_ready_at(superseded=False) == 20.0
        # As in client-go, the superseded add is not cancelled: foo comes due all the same.
        assert await hand_out(queue, clock, until=30.0) == [("foo", 10.0), ("bar", 20.0)]
        assert queue.next_ready_at(superseded=False) is None

    run(scenario)


def test_a_firm_add_merged_into_a_provisional_one_stays_wanted_when_the_item_is_taken() -> None:
    async def scenario(clock: VirtualClock) -> None:
        queue = WorkQueue[str](clock=clock)
        queue.add_after("foo", 5.0, provisional=True)
        queue.add_after("foo", 8.0)  # merged: the queue keeps one entry, due at 5
        queue.add("foo")
        await queue.get()
        queue.done("foo")

        assert queue.next_ready_at(superseded=False) == 8.0
        assert await hand_out(queue, clock, until=30.0) == [("foo", 5.0)]
        # Coming due consumed every add merged into the entry, the firm one included.
        assert queue.next_ready_at(superseded=False) is None

    run(scenario)


def test_a_provisional_add_made_while_the_item_is_processed_is_wanted_until_it_is_taken_again() -> None:
    async def scenario(clock: VirtualClock) -> None:
        queue = WorkQueue[str](clock=clock)
        queue.add("foo")
        await queue.get()
        queue.add_after("foo", 3.0, provisional=True)  # a reconcile's requeue-after, made as it ends
        queue.done("foo")

        assert queue.next_ready_at(superseded=False) == 3.0
        assert await hand_out(queue, clock, until=10.0) == [("foo", 3.0)]

    run(scenario)


class TimerCountingClock(VirtualClock):
    """A virtual clock that remembers every timer it armed."""

    def __init__(self) -> None:
        super().__init__()
        self.timers: list[asyncio.TimerHandle] = []

    def call_at(self, deadline: float, callback: Callable[[], Any]) -> Timer:
        timer = asyncio.get_running_loop().call_at(deadline, callback)
        self.timers.append(timer)
        return timer

    def armed(self) -> int:
        now = self.monotonic()
        return sum(1 for timer in self.timers if not timer.cancelled() and timer.when() > now)


def test_delayed_adds_keep_at_most_one_timer_armed() -> None:
    counting_clock = TimerCountingClock()

    async def scenario(clock: VirtualClock) -> None:
        queue = WorkQueue[str](clock=clock)
        armed = []
        for delay in [*range(100, 0, -1), *range(101, 201)]:  # every earlier deadline re-arms the timer
            queue.add_after(f"item-{delay}", float(delay))
            armed.append(counting_clock.armed())

        handed_out = await hand_out(queue, clock, until=300.0)

        assert max(armed) == 1
        assert [item for item, _ in handed_out] == [f"item-{delay}" for delay in range(1, 201)]
        assert counting_clock.armed() == 0

    run(scenario, counting_clock)


# --- rate-limited adds -------------------------------------------------------------------------------------


async def backoff_delays(queue: WorkQueue[str], clock: VirtualClock, item: str, times: int) -> list[float]:
    """The delay of each of ``times`` rate-limited adds of ``item``, each taken and done in turn."""
    delays = []
    for _ in range(times):
        added_at = loop_time(clock)
        queue.add_rate_limited(item)
        assert await queue.get() == item
        delays.append(round(loop_time(clock) - added_at, 6))
        queue.done(item)
    return delays


def test_rate_limited_adds_back_off_5ms_10ms_20ms_by_default() -> None:
    async def scenario(clock: VirtualClock) -> None:
        queue = WorkQueue[str](clock=clock)

        delays = await backoff_delays(queue, clock, "foo", times=5)

        assert delays == [0.005, 0.010, 0.020, 0.040, 0.080]
        assert queue.num_requeues("foo") == 5

    run(scenario)


def test_rate_limited_adds_back_off_each_item_on_its_own() -> None:
    # client-go's TestRateLimitingQueue.
    async def scenario(clock: VirtualClock) -> None:
        limiter = ItemExponentialFailureRateLimiter[str](base_delay=0.001, max_delay=1.0)
        queue = WorkQueue[str](clock=clock, rate_limiter=limiter)

        one = await backoff_delays(queue, clock, "one", times=2)
        two = await backoff_delays(queue, clock, "two", times=2)

        assert (one, two) == ([0.001, 0.002], [0.001, 0.002])
        assert (queue.num_requeues("one"), queue.num_requeues("two")) == (2, 2)

    run(scenario)


def test_forget_resets_the_backoff_of_an_item() -> None:
    async def scenario(clock: VirtualClock) -> None:
        queue = WorkQueue[str](clock=clock)
        await backoff_delays(queue, clock, "foo", times=3)

        queue.forget("foo")

        assert queue.num_requeues("foo") == 0
        assert await backoff_delays(queue, clock, "foo", times=1) == [0.005]

    run(scenario)
