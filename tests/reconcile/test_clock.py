"""VirtualClock: monotonic time is the virtual loop's while it runs, 0 outside it."""

from __future__ import annotations

import asyncio

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
