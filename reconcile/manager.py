"""Manager: runs shared informers and controllers in one task group, optionally behind leader election.

The manager owns what controllers share: one informer per kind (created on first use), the clock, the
seeded randomness, and the metrics registry. ``await task_group.start(manager.run)`` returns once every
informer has its initial list; controllers then start — at once, or only while this manager holds the
leader lease. Cancelling the task group is the shutdown path. This module is the assembly, not the logic:
caches live in `reconcile.informer`, reconciling in `reconcile.controller`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeVar

import anyio
import anyio.abc
import structlog

from reconcile.clock import Clock, RealClock
from reconcile.controller import Changed, Controller, MapFunc, ReconcileFunc, Selects, Watch
from reconcile.informer import Informer
from reconcile.leaderelection import LeaderElectionConfig, LeaderElector
from reconcile.metrics import Metrics
from reconcile.randomness import Entropy
from reconcile.trace import Trace
from store import Object, Store

M = TypeVar("M", bound=Object)

log = structlog.get_logger("setpoint.manager")


class Manager:
    """Caches, controllers and their shared services for one store."""

    def __init__(
        self,
        store: Store,
        *,
        clock: Clock | None = None,
        entropy: Entropy | None = None,
        metrics: Metrics | None = None,
        leader_election: LeaderElectionConfig | None = None,
        resync: float | None = None,
        trace: Trace | None = None,
    ) -> None:
        self.store = store
        self.clock: Clock = clock or RealClock()
        self.entropy = entropy or Entropy()
        self.metrics = metrics or Metrics()
        self._leader_election = leader_election
        self._elector: LeaderElector | None = None
        self._resync = resync
        self.trace = trace
        self._informers: dict[type[Object], Informer[Any]] = {}
        self._controllers: list[Controller] = []
        self._task_group: anyio.abc.TaskGroup | None = None
        self._controller_group: anyio.abc.TaskGroup | None = None

    # --- wiring -------------------------------------------------------------------------------

    def informer(self, kind: type[M]) -> Informer[M]:
        """The shared informer of ``kind``, created (and started, if running) on first use."""
        informer = self._informers.get(kind)
        if informer is None:
            informer = Informer(
                self.store,
                kind,
                clock=self.clock,
                resync=self._resync,
                # Only a resync draws from it (seeding a stream costs a hash and a Random).
                rng=self.entropy.stream(f"resync/{kind.kind}") if self._resync is not None else None,
                backoff_rng=self.entropy.stream(f"relist/{kind.kind}"),
            )
            self._informers[kind] = informer
            if self._task_group is not None:
                self._task_group.start_soon(informer.run)
        return informer

    def add(self, controller: Controller) -> Controller:
        """Run ``controller`` with this manager (before or after it starts)."""
        self._controllers.append(controller)
        for kind in (controller.kind, *controller.owns, *controller.watches):
            self.informer(kind)
        if self._controller_group is not None:
            self._controller_group.start_soon(controller.run, self)
        return controller

    def controller(
        self,
        name: str,
        *,
        kind: type[Object],
        owns: Sequence[type[Object]] = (),
        watches: Mapping[type[Object], MapFunc | Watch] | None = None,
        changed: Changed | None = None,
        selects: Selects | None = None,
        workers: int = 1,
        timeout: float | None = None,
        max_retries: int | None = None,
    ) -> Callable[[ReconcileFunc], ReconcileFunc]:
        """Register an ``async def reconcile(request)`` function as a controller (a decorator)."""

        def register(func: ReconcileFunc) -> ReconcileFunc:
            self.add(
                Controller(
                    name,
                    func,
                    kind=kind,
                    owns=owns,
                    watches=watches,
                    changed=changed,
                    selects=selects,
                    workers=workers,
                    timeout=timeout,
                    max_retries=max_retries,
                )
            )
            return func

        return register

    def record(self, what: str, **fields: Any) -> None:
        """Note a happening in the trace, when the manager keeps one."""
        if self.trace is not None:
            self.trace.record(what, **fields)

    @property
    def controllers(self) -> tuple[Controller, ...]:
        return tuple(self._controllers)

    @property
    def informers(self) -> tuple[Informer[Any], ...]:
        return tuple(self._informers.values())

    @property
    def is_leader(self) -> bool:
        """Whether this manager's controllers may run (always, without leader election)."""
        if self._leader_election is None:
            return True
        return self._elector is not None and self._elector.is_leader

    @property
    def idle(self) -> bool:
        """No controller has work queued or in progress, and no informer waits to relist."""
        return all(controller.idle for controller in self._controllers) and not any(
            informer.relisting for informer in self._informers.values()
        )

    # --- running ------------------------------------------------------------------------------

    async def run(self, *, task_status: anyio.abc.TaskStatus[None] = anyio.TASK_STATUS_IGNORED) -> None:
        """Start every informer, report started once all have synced, then run the controllers."""
        async with anyio.create_task_group() as tg:
            for informer in list(self._informers.values()):
                await tg.start(informer.run)
            self._task_group = tg
            task_status.started()
            try:
                if self._leader_election is None:
                    await self._run_controllers()
                else:
                    await self._run_elected(self._leader_election)
            finally:
                self._task_group = None

    async def _run_elected(self, config: LeaderElectionConfig) -> None:
        self._elector = LeaderElector(
            self.store,
            config,
            clock=self.clock,
            rng=self.entropy.stream(f"leader/{config.identity}"),
            metrics=self.metrics.leader_election(config.name),
        )
        while True:
            await self._elector.run(self._run_controllers)

    async def _run_controllers(self) -> None:
        async with anyio.create_task_group() as tg:
            for controller in self._controllers:
                await tg.start(controller.run, self)
            self._controller_group = tg
            try:
                await anyio.sleep_forever()
            finally:
                self._controller_group = None
