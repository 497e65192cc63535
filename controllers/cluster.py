"""Cluster: a whole Kubernetes-like control plane in one process — store, manager, built-in controllers
and simulated nodes — on virtual time (the default, seeded and deterministic) or on real time.

Use it as an async context manager, or run a scenario on a fresh virtual-time loop::

    async def scenario(cluster: Cluster) -> None:
        await cluster.apply(load_paths(["examples/myblog"]))
        await cluster.settle()

    Cluster(nodes=3, seed=1).run(scenario)

This is assembly only: each controller's behaviour lives in its own module.
"""

from __future__ import annotations

import builtins
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from contextlib import AsyncExitStack
from types import TracebackType
from typing import Any, Self, TypeVar

import anyio
import attrs

from controllers.deployment import DeploymentController
from controllers.endpoints import EndpointsController
from controllers.events import creation_order
from controllers.garbagecollector import GarbageCollector
from controllers.kubelet import Kubelet, NodeConfig
from controllers.nodelifecycle import NodeLifecycleController
from controllers.replicaset import ReplicaSetController
from controllers.scheduler import Scheduler
from controllers.tainteviction import TaintEvictionController
from reconcile import Manager, RealClock
from reconcile.metrics import Metrics
from reconcile.randomness import Entropy
from reconcile.testing import Simulation
from reconcile.testing.simulation import NotSettled
from store import AlreadyExists, MemoryStore, Object, Scheme, Store
from store.models import Event, Namespace

T = TypeVar("T")
K = TypeVar("K", bound=Object)

#: On real time, how long a cluster must stay quiet to count as settled, and how often that is checked.
QUIET_SECONDS = 0.5
POLL_SECONDS = 0.05

#: The built-in controllers a Cluster can run, by name.
CONTROLLERS = (
    "deployment",
    "replicaset",
    "scheduler",
    "garbagecollector",
    "endpoints",
    "nodelifecycle",
    "tainteviction",
)


def default_nodes(count: int, labels: Mapping[str, Mapping[str, str]] | None = None) -> list[NodeConfig]:
    """``count`` identical worker nodes named node-1…node-N, with extra labels per node name."""
    labels = labels or {}
    return [
        NodeConfig(name=f"node-{index}", labels=dict(labels.get(f"node-{index}", {})), index=index)
        for index in range(1, count + 1)
    ]


class Cluster:
    """The store, the manager, the built-in controllers and the simulated kubelet, wired together.

    ``controllers`` names the built-in controllers to run (all of `CONTROLLERS` by default);
    ``metrics`` is the manager's `Metrics` (a fresh registry by default; clusters built one after
    another, as a test's examples are, may share one, as a restarted controller-manager's series do).
    """

    def __init__(
        self,
        *,
        nodes: int | Sequence[NodeConfig] = 3,
        node_labels: Mapping[str, Mapping[str, str]] | None = None,
        seed: int = 0,
        virtual: bool = True,
        scheme: Scheme | None = None,
        store: Store | None = None,
        controllers: Iterable[str] | None = None,
        metrics: Metrics | None = None,
    ) -> None:
        self.node_configs = list(nodes) if not isinstance(nodes, int) else default_nodes(nodes, node_labels)
        self.seed = seed
        self.virtual = virtual
        if store is not None and virtual:
            raise ValueError(
                "a cluster on a store of its own (such as EtcdStore) runs on real time: virtual=False"
            )
        if virtual:
            self.simulation: Simulation | None = Simulation(seed=seed, scheme=scheme, metrics=metrics)
            self.store: Store = self.simulation.store
            self.manager = self.simulation.manager
        else:
            self.simulation = None
            clock = RealClock()
            entropy = Entropy(seed)
            self.store = store or MemoryStore(scheme, clock=clock, rng=entropy.stream("store"))
            self.manager = Manager(self.store, clock=clock, entropy=entropy, metrics=metrics)
        self.clock = self.manager.clock
        self.kubelet = Kubelet(self.manager, self.node_configs)
        builders = {
            "deployment": DeploymentController,
            "replicaset": ReplicaSetController,
            "scheduler": Scheduler,
            "garbagecollector": GarbageCollector,
            "endpoints": EndpointsController,
            "nodelifecycle": NodeLifecycleController,
            "tainteviction": TaintEvictionController,
        }
        chosen = list(builders) if controllers is None else list(controllers)
        unknown = sorted(set(chosen) - set(builders))
        if unknown:
            raise ValueError(f"unknown controllers {unknown}; choose from {sorted(builders)}")
        self.controllers: list[Any] = [builders[name](self.manager) for name in chosen]
        self._stack: AsyncExitStack | None = None

    # --- running ------------------------------------------------------------------------------

    def run(self, scenario: Callable[[Cluster], Awaitable[T]]) -> T:
        """Run ``scenario(self)`` with the cluster up, on a new event loop (virtual or real)."""

        async def main() -> T:
            async with self:
                return await scenario(self)

        if self.simulation is not None:
            return self.simulation.clock.run(main)
        return anyio.run(main)

    async def __aenter__(self) -> Self:
        stack = AsyncExitStack()
        for component in (self.kubelet, *self.controllers):
            self.manager.add(component)
        if self.simulation is not None:
            await stack.enter_async_context(self.simulation)
        else:
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
            await stack.__aexit__(exc_type, exc, tb)

    async def settle(self, *, horizon: float = 60.0, max_steps: int = 100_000) -> float:
        """Run until the controllers are quiet; returns the time it took.

        On real time, quiet means no work queued or running and no requeue due within ``horizon`` for
        `QUIET_SECONDS` in a row (watch events from a remote store take a moment to arrive); it is
        checked every `POLL_SECONDS`, at most ``max_steps`` times.
        """
        if self.simulation is not None:
            return await self.simulation.settle(horizon=horizon, max_steps=max_steps)
        start = self.now
        quiet_since: float | None = None
        for _ in range(max_steps):
            due = min(
                (d for c in self.manager.controllers if (d := c.next_requeue()) is not None), default=None
            )
            if self.manager.idle and (due is None or due > self.now + horizon):
                quiet_since = self.now if quiet_since is None else quiet_since
                if self.now - quiet_since >= QUIET_SECONDS:
                    return quiet_since - start
            else:
                quiet_since = None
            await self.clock.sleep(POLL_SECONDS)
        raise NotSettled(f"not settled after {max_steps} checks ({self.now - start:.1f} s)")

    async def advance(self, seconds: float) -> None:
        """Let ``seconds`` pass with everything running."""
        await self.clock.sleep(seconds)

    @property
    def now(self) -> float:
        return self.clock.monotonic()

    # --- what a user does ---------------------------------------------------------------------

    async def apply(self, objects: Iterable[Object]) -> list[Object]:
        """Create each object, or update it in place when it exists (namespaces first, as kubectl does)."""
        applied: list[Object] = []
        for obj in sorted(objects, key=lambda o: not isinstance(o, Namespace)):
            try:
                applied.append(await self.store.create(obj))
            except AlreadyExists:
                current = await self.store.get(type(obj), obj.metadata.name, obj.metadata.namespace)
                metadata = attrs.evolve(
                    obj.metadata, resource_version=current.metadata.resource_version, uid=""
                )
                applied.append(await self.store.update(attrs.evolve(obj, metadata=metadata)))
        return applied

    def stop_node(self, name: str) -> None:
        """The node's kubelet stops: no heartbeats, no pod status changes."""
        self.kubelet.stop_node(name)

    def start_node(self, name: str) -> None:
        self.kubelet.start_node(name)

    async def get(self, kind: type[K], name: str, namespace: str = "") -> K:
        return await self.store.get(kind, name, namespace)

    async def list(self, kind: type[K], **selectors: Any) -> list[K]:
        return list((await self.store.list(kind, **selectors)).items)

    async def events(
        self, involving: Object | None = None, namespace: str | None = None
    ) -> builtins.list[Event]:
        """Events in the order they were first recorded, optionally only those about one object."""
        events = await self.list(Event, namespace=namespace)
        if involving is not None:
            events = [e for e in events if e.involved_object.uid == involving.metadata.uid]
        return sorted(events, key=creation_order)
