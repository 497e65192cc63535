"""VirtualClock: monotonic time is the virtual loop's while it runs, 0 outside it."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import anyio

from reconcile.clock import VirtualClock


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
