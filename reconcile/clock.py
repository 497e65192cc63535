"""The clock seam: every timestamp, timeout, backoff and timer in setpoint goes through a `Clock`.

Two clocks share one interface. `RealClock` is the time of day and the event loop's monotonic time.
`VirtualClock` runs on an event loop patched by looptime, whose time jumps to the next timer as soon as
nothing is runnable, so ten simulated minutes of grace periods and deadlines pass in milliseconds of wall
time; its time of day starts at a fixed instant and can be jumped to model a wall-clock step.

Both are built on asyncio's loop time (``loop.time()``, ``loop.call_at``), so timers are plain loop
handles: no task per timer. This module is the only place that reads the real time or sleeps directly.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol, TypeVar

import anyio
import looptime

T = TypeVar("T")

#: Where virtual time of day starts unless told otherwise.
DEFAULT_EPOCH = datetime(2026, 1, 1, tzinfo=UTC)


async def yield_to_loop() -> None:
    """Let every other runnable task run first: a bare yield to the event loop, not a wait.

    What ``anyio.lowlevel.checkpoint`` does on asyncio (cancellation is delivered there too), without
    looking the async library up on each call: a controller worker yields between two reconciles, and
    that lookup took 4.8 % of a full-size W3's samples (5,000 nodes, 150,000 pods).
    """
    await asyncio.sleep(0)  # noqa: TID251  # seam: no time passes


class Timer(Protocol):
    """A scheduled callback that can be cancelled (an ``asyncio.TimerHandle``)."""

    def cancel(self) -> None: ...


class Clock(Protocol):
    """What time it is, and how to wait for a time to come."""

    def now(self) -> datetime:
        """The time of day, an aware UTC datetime (what timestamps in objects are made of)."""
        ...

    def monotonic(self) -> float:
        """Seconds on a clock that never goes backwards (durations, deadlines, backoff)."""
        ...

    async def sleep(self, seconds: float) -> None:
        """Wait ``seconds`` of this clock's time."""
        ...

    async def sleep_until(self, deadline: float) -> None:
        """Wait until `monotonic` reaches ``deadline``."""
        ...

    def call_at(self, deadline: float, callback: Callable[[], Any]) -> Timer:
        """Run ``callback`` on the event loop once `monotonic` reaches ``deadline``."""
        ...


class _LoopClock:
    """Monotonic time, sleeps and timers from the running asyncio loop."""

    def monotonic(self) -> float:
        try:
            return asyncio.get_running_loop().time()
        except RuntimeError:
            return self._outside_loop()

    def _outside_loop(self) -> float:
        return time.monotonic()  # noqa: TID251  # seam

    async def sleep(self, seconds: float) -> None:
        await anyio.sleep(max(seconds, 0.0))  # seam

    async def sleep_until(self, deadline: float) -> None:
        await anyio.sleep(max(deadline - self.monotonic(), 0.0))  # seam

    def call_at(self, deadline: float, callback: Callable[[], Any]) -> Timer:
        return asyncio.get_running_loop().call_at(deadline, callback)


class RealClock(_LoopClock):
    """Real time: the time of day from the system, durations from the event loop."""

    def now(self) -> datetime:
        return datetime.now(UTC)  # seam


class VirtualClock(_LoopClock):
    """Simulated time on a looptime event loop: it jumps ahead whenever nothing is runnable.

    ``epoch`` is the time of day at loop time 0. `jump` moves the time of day alone (an NTP step);
    monotonic time, and so every timer, is unaffected, as on a real machine.
    """

    def __init__(self, epoch: datetime = DEFAULT_EPOCH) -> None:
        if epoch.tzinfo is None:
            raise ValueError("epoch must be an aware datetime")
        self._epoch = epoch
        self._offset = 0.0
        #: The last time of day made, by its seconds since the epoch: many reads fall on one instant.
        self._last: tuple[float, datetime] = (0.0, epoch)
        #: The loop time in a `reading` block (None: found from the running loop).
        self._loop_time: Callable[[], float] | None = None
        #: The latest deadline of a timer or sleep of this clock that has run, on loop ``_reached_on``
        #: (`monotonic`).
        self._reached = 0.0
        self._reached_on: asyncio.AbstractEventLoop | None = None

    def monotonic(self) -> float:
        """The loop's time, or the deadline of the last timer or sleep that ran, if that is later.

        looptime counts whole microseconds and runs a timer at the tick nearest its deadline, which
        may be just before it: 186.488281 + 300 is 486.48828100000003, run at 486.488281. Code woken
        there that found its deadline not yet reached, and waited the remaining 3e-14 s, would be
        woken again at once, at the same tick, for good. So time read after a timer or sleep of this
        clock has run is never before its deadline (at most half a microsecond past the loop's).
        """
        read = self._loop_time
        if read is None:
            try:
                loop = asyncio.get_running_loop()
            except RuntimeError:
                return 0.0
            if loop is not self._reached_on:
                return loop.time()
            read = loop.time
        now = read()
        reached = self._reached
        return reached if reached > now else now

    def now(self) -> datetime:
        seconds = self.monotonic() + self._offset
        last_seconds, last = self._last
        if seconds != last_seconds:
            last = self._epoch + timedelta(seconds=seconds)
            self._last = (seconds, last)
        return last

    def jump(self, seconds: float) -> None:
        """Step the time of day by ``seconds`` (negative steps go back), leaving timers alone."""
        self._offset += seconds

    async def sleep(self, seconds: float) -> None:
        await self.sleep_until(self.monotonic() + max(seconds, 0.0))

    async def sleep_until(self, deadline: float) -> None:
        await anyio.sleep(max(deadline - self.monotonic(), 0.0))  # seam
        self._reach(asyncio.get_running_loop(), deadline)

    def call_at(self, deadline: float, callback: Callable[[], Any]) -> Timer:
        loop = asyncio.get_running_loop()

        def run() -> None:
            self._reach(loop, deadline)
            callback()

        return loop.call_at(deadline, run)

    def _reach(self, loop: asyncio.AbstractEventLoop, deadline: float) -> None:
        if loop is not self._reached_on:
            self._reached_on = loop
            self._reached = deadline
        elif deadline > self._reached:
            self._reached = deadline

    @staticmethod
    def new_event_loop() -> asyncio.AbstractEventLoop:
        """An event loop whose time is virtual, starting at 0."""
        # One no-op cycle before each jump is enough: with no I/O in a simulation, an empty ready
        # queue means nothing can happen before the next timer. looptime's default of 42 cycles
        # guards against outside I/O and costs ten times more per jump.
        return looptime.new_event_loop(start=0.0, noop_cycles=0)

    @contextlib.contextmanager
    def reading(self, loop: asyncio.AbstractEventLoop) -> Iterator[None]:
        """Within the block, monotonic time is ``loop``'s, read from it directly.

        For a block that runs ``loop``: rather than finding the running loop on each of the hundreds of
        thousands of reads of a long run. Outside any block, `monotonic` finds the running loop itself.
        """
        self._loop_time = loop.time
        if loop is not self._reached_on:
            self._reached_on, self._reached = loop, 0.0
        try:
            yield
        finally:
            self._loop_time = None

    def run(self, main: Callable[..., Awaitable[T]], *args: Any) -> T:
        """Run ``main(*args)`` to completion on a new virtual-time event loop."""

        async def on_loop() -> T:
            with self.reading(asyncio.get_running_loop()):
                return await main(*args)

        return anyio.run(on_loop, backend="asyncio", backend_options={"loop_factory": self.new_event_loop})
