"""VirtualClock: monotonic time is the virtual loop's while it runs, 0 outside it."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import anyio

from reconcile import Controller, Manager, Request, Result
from reconcile.clock import VirtualClock
from store import MemoryStore
from store.models import ConfigMap, ObjectMeta


def test_monotonic_time_is_the_loop_time_while_running_and_zero_outside() -> None:
    clock = VirtualClock()
    seen: list[float] = []

    async def scenario() -> None:
        seen.append(clock.monotonic())
        await anyio.sleep(5)
        seen.append(clock.monotonic())
        assert clock.monotonic() == asyncio.get_running_loop().time()
        seen.append((clock.now() - clock.now()).total_seconds())

    assert clock.monotonic() == 0.0
    clock.run(scenario)
    assert seen == [0.0, 5.0, 0.0]
    assert clock.monotonic() == 0.0  # the loop is gone: outside any loop again
    assert "monotonic" not in vars(clock)
    # A second run has a loop of its own, from 0.
    clock.run(scenario)
    assert seen[3:] == [0.0, 5.0, 0.0]


def test_a_clock_reading_a_loop_tells_its_time_between_runs_and_forgets_it_after_the_block() -> None:
    clock = VirtualClock()
    loop = VirtualClock.new_event_loop()
    try:
        with clock.reading(loop):
            loop.run_until_complete(asyncio.sleep(7))
            assert clock.monotonic() == loop.time() == 7.0
            assert clock.now() - clock.now() == timedelta(0)
        assert clock.monotonic() == 0.0  # no loop runs, and none is read any more
        assert "monotonic" not in vars(clock)
    finally:
        loop.close()


def test_code_woken_by_a_timer_or_a_sleep_finds_its_deadline_reached() -> None:
    # The loop runs a timer at the tick nearest its deadline: 186.488281 + 300 = 486.48828100000003 runs
    # at 486.488281. Woken there, code that waits out what is left of its deadline would be woken again
    # at once, at the same tick, for ever: virtual time would never move on.
    deadline = 186.488281 + 300.0
    seen: dict[str, float] = {}

    async def main() -> None:
        loop = asyncio.get_running_loop()
        clock.call_at(deadline, lambda: seen.setdefault("timer", clock.monotonic()))
        await clock.sleep_until(deadline)
        seen["sleep"], seen["loop"] = clock.monotonic(), loop.time()

    clock = VirtualClock()
    clock.run(main)
    assert seen["timer"] >= deadline and seen["sleep"] >= deadline
    assert seen["loop"] == 486.488281  # timers still run at the nearest tick


def test_a_reconciler_waiting_out_an_off_tick_deadline_is_woken_once_it_is_reached() -> None:
    target = 186.488281 + 300.0
    calls: list[float] = []

    async def main() -> None:
        async def reconcile(request: Request) -> Result | None:
            calls.append(clock.monotonic())
            assert len(calls) < 10, "woken again and again before the deadline"
            return None if clock.monotonic() >= target else Result(requeue_after=target - clock.monotonic())

        manager = Manager(MemoryStore(), clock=clock)
        manager.add(Controller("waiter", reconcile, kind=ConfigMap))
        async with anyio.create_task_group() as tg:
            await tg.start(manager.run)
            await clock.sleep(186.488281)
            await manager.store.create(ConfigMap(metadata=ObjectMeta(name="a", namespace="default")))
            await clock.sleep(400.0)
            tg.cancel_scope.cancel()

    clock = VirtualClock()
    clock.run(main)
    assert len(calls) == 2 and calls[1] >= target
