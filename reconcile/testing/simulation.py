"""Simulation: a store, a manager and its controllers on virtual time, from one seed.

Everything runs on a `VirtualClock`: when nothing is runnable, time jumps to the next timer, so grace
periods, deadlines and backoffs of many minutes pass in milliseconds. The store, uids, reconcile ids and
every jitter draw from one `Entropy`, so the same seed and the same scenario give the same `Trace` —
every write with its revision, every reconcile, every fault — and the same digest, in any process.

The `Faults` switchboard perturbs the run (see `reconcile.testing.faults`); `settle` runs until the
controllers have nothing left to do.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from contextlib import AsyncExitStack
from datetime import datetime
from types import TracebackType
from typing import Self, TypeVar

import anyio

from reconcile.clock import DEFAULT_EPOCH, VirtualClock, yield_to_loop
from reconcile.manager import Manager
from reconcile.metrics import Metrics
from reconcile.randomness import Entropy
from reconcile.testing.faults import Faults, FaultyStore
from reconcile.trace import Trace
from store import MemoryStore, Scheme

T = TypeVar("T")


class NotSettled(AssertionError):
    """`Simulation.settle` ran out of steps or time before the controllers went quiet."""


class Simulation:
    """A deterministic in-process control plane for tests: ``Simulation(seed=1).run(scenario)``."""

    def __init__(
        self,
        *,
        seed: int = 0,
        scheme: Scheme | None = None,
        epoch: datetime = DEFAULT_EPOCH,
        history: int = 20_000,
        resync: float | None = None,
        metrics: Metrics | None = None,
    ) -> None:
        self.seed = seed
        self.clock = VirtualClock(epoch)
        self.entropy = Entropy(seed)
        self.trace = Trace(self.clock)
        self.faults = Faults()
        self.memory = MemoryStore(scheme, clock=self.clock, rng=self.entropy.stream("store"), history=history)
        self.store = FaultyStore(self.memory, self.faults, self.trace, self.clock)
        self.manager = Manager(
            self.store,
            clock=self.clock,
            entropy=self.entropy,
            trace=self.trace,
            resync=resync,
            metrics=metrics,
        )
        self._stack: AsyncExitStack | None = None
        # The latest time of day shown before a step of the clock (see `rewound`).
        self._latest_time_of_day: datetime | None = None

    def run(self, scenario: Callable[[Simulation], Awaitable[T]]) -> T:
        """Run ``scenario(self)`` on a new virtual-time event loop with the manager started."""

        async def main() -> T:
            async with self:
                return await scenario(self)

        return self.clock.run(main)

    async def __aenter__(self) -> Self:
        stack = AsyncExitStack()
        task_group = await stack.enter_async_context(anyio.create_task_group())
        stack.callback(task_group.cancel_scope.cancel)
        await task_group.start(self.manager.run)
        self._stack = stack
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        stack, self._stack = self._stack, None
        if stack is not None:
            if exc_type is None and self.manager.idle:
                # Nothing queued or in progress: stop the controllers as a manager does (queues shut
                # down, idle workers return), so that only the informers and the manager are left to
                # cancel. Unwinding every worker by cancellation costs more than the rest of the
                # shutdown together, and leaves cycles (errors, tracebacks, frames) to collect.
                for controller in self.manager.controllers:
                    controller.stop()
                await all_tasks_blocked()
            await stack.__aexit__(exc_type, exc, tb)

    @property
    def now(self) -> float:
        """Virtual seconds since the simulation started."""
        return self.clock.monotonic()

    def jump_clock(self, seconds: float) -> None:
        """Step the time of day by ``seconds`` (an NTP step), leaving timers alone; noted as a fault."""
        now = self.clock.now()
        if self._latest_time_of_day is None or now > self._latest_time_of_day:
            self._latest_time_of_day = now
        self.clock.jump(seconds)
        self.trace.record("fault", fault="clock-jump", seconds=seconds)

    def rewound(self) -> float:
        """Seconds the time of day is still behind the latest it showed before a step back (0 if none).

        Until it catches up, times stamped now are older than times stamped before the step.
        """
        latest = self._latest_time_of_day
        return 0.0 if latest is None else max((latest - self.clock.now()).total_seconds(), 0.0)

    async def advance(self, seconds: float) -> None:
        """Let ``seconds`` of virtual time pass, with everything running meanwhile."""
        await self.clock.sleep(seconds)

    async def settle(self, *, horizon: float = 60.0, max_steps: int = 100_000) -> float:
        """Run until quiet: every task blocked, every queue empty, no requeue due within ``horizon``.

        Timers that are not controller work (heartbeats, lease renewals) do not keep a simulation from
        settling. Returns the virtual time it took; raises `NotSettled` after ``max_steps`` steps.
        """
        start = self.now
        for _ in range(max_steps):
            await all_tasks_blocked()
            if self.manager.idle:
                due = self._next_requeue()
                if due is None or due > self.now + horizon:
                    return self.now - start
                await self.clock.sleep_until(due)
            else:
                # A reconcile is waiting on time itself: let the clock reach the next timer.
                await self.clock.sleep_until(_next_timer())
        raise NotSettled(f"not settled after {max_steps} steps ({self.now - start:.1f} virtual seconds)")

    def _next_requeue(self) -> float | None:
        deadlines = [
            deadline
            for controller in self.manager.controllers
            if (deadline := controller.next_requeue()) is not None
        ]
        return min(deadlines, default=None)


async def all_tasks_blocked() -> None:
    """Return once every other task waits on something (a future, a timer), without moving time.

    ``anyio.wait_all_tasks_blocked`` polls with a 0.1 s sleep, which on a virtual clock would let
    time pass; this only yields to the loop.
    """
    this = asyncio.current_task()
    loop = asyncio.get_running_loop()
    # asyncio's queue of runnable callbacks: a task that can run has its step in it, and a future
    # that completes puts its waiters' wake-ups in it, so once it is empty every other task waits.
    ready = getattr(loop, "_ready", None)
    while True:
        await yield_to_loop()
        if ready is not None:
            if not ready:
                return
        elif all(task is this or _blocked(task) for task in asyncio.all_tasks()):
            return  # a loop without that queue (uvloop): ask every task


def _blocked(task: asyncio.Task[object]) -> bool:
    waiter = getattr(task, "_fut_waiter", None)
    return waiter is not None and not waiter.done()


def _next_timer() -> float:
    loop = asyncio.get_running_loop()
    # The loop's timer heap: the earliest live timer is when anything can happen next.
    scheduled = getattr(loop, "_scheduled", [])
    live = [handle.when() for handle in scheduled if not handle.cancelled()]
    return min(live, default=loop.time())
