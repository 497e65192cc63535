"""ClusterHarness: a settled, seeded `Cluster` on virtual time, for tests with or without pytest.

From synchronous code (a pytest fixture, a script, a notebook) the harness owns a virtual-time event
loop and runs coroutines on it, the cluster staying up between them::

    with ClusterHarness(nodes=3, seed=7) as harness:
        harness.run(lambda cluster: cluster.apply(objects))
        harness.settle()

From async code already on a virtual-time loop (``VirtualClock().run(main)``), ``async with`` gives
the started, settled cluster::

    async def main() -> None:
        async with ClusterHarness(nodes=3, seed=7) as cluster:
            await cluster.apply(objects)
            await cluster.settle()
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterable
from types import TracebackType
from typing import Self, TypeVar

from controllers.cluster import Cluster
from reconcile.clock import VirtualClock
from store import Scheme

T = TypeVar("T")


class ClusterHarness:
    """Builds a `Cluster` (virtual time, ``seed``), starts it, settles it, and stops it at the end."""

    def __init__(
        self,
        *,
        nodes: int = 3,
        seed: int = 0,
        controllers: Iterable[str] | None = None,
        scheme: Scheme | None = None,
    ) -> None:
        self.cluster = Cluster(nodes=nodes, seed=seed, controllers=controllers, scheme=scheme)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._main: asyncio.Task[None] | None = None
        self._stop: asyncio.Event | None = None

    @property
    def clock(self) -> VirtualClock:
        simulation = self.cluster.simulation
        assert simulation is not None
        return simulation.clock

    @property
    def now(self) -> float:
        """Virtual seconds since the harness started (its loop's time)."""
        return self._loop.time() if self._loop is not None and not self._loop.is_closed() else 0.0

    # --- async ------------------------------------------------------------------------------------

    async def __aenter__(self) -> Cluster:
        await self.cluster.__aenter__()
        await self.cluster.settle()
        return self.cluster

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.cluster.__aexit__(exc_type, exc, tb)

    # --- sync -------------------------------------------------------------------------------------

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def start(self) -> Cluster:
        """Start the cluster on a new virtual-time loop and settle it."""
        loop = self._loop = VirtualClock.new_event_loop()
        self._stop = asyncio.Event()
        started: asyncio.Future[None] = loop.create_future()

        async def serve() -> None:
            async with self as _:
                started.set_result(None)
                assert self._stop is not None
                await self._stop.wait()

        self._main = loop.create_task(serve())
        loop.run_until_complete(asyncio.wait([started, self._main], return_when=asyncio.FIRST_COMPLETED))
        if self._main.done():
            self._main.result()
        return self.cluster

    def run(self, scenario: Callable[[Cluster], Awaitable[T]]) -> T:
        """Run ``scenario(cluster)`` on the harness's loop, everything else running meanwhile."""
        if self._loop is None:
            raise RuntimeError("start the harness first (or use it as a context manager)")

        async def call() -> T:
            return await scenario(self.cluster)

        return self._loop.run_until_complete(call())

    def settle(self) -> float:
        """Run until the controllers are quiet; returns the virtual time it took."""
        return self.run(lambda cluster: cluster.settle())

    def advance(self, seconds: float) -> None:
        """Let ``seconds`` of virtual time pass."""
        self.run(lambda cluster: cluster.advance(seconds))

    def close(self) -> None:
        loop, main = self._loop, self._main
        if loop is None or loop.is_closed():
            return
        if main is not None and not main.done():
            assert self._stop is not None
            self._stop.set()
            loop.run_until_complete(main)
        loop.close()
