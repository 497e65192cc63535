"""The real scheduler under every fault: no node is ever given more pods than it has room for.

Two nodes with room for one pod each, users creating and deleting pods, and the whole fault schedule:
watch drops, stale, coalesced and delayed caches, crashes between the scheduler's writes, 409 and 500,
clock jumps. `RequestsFitAllocatable` is checked at every committed write.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from hypothesis import HealthCheck, Phase, settings
from hypothesis import strategies as st

from controllers.scheduler import Scheduler
from controllers.testing.invariants import RequestsFitAllocatable
from reconcile.testing import CrashBetweenWrites, DropWatches, FailWrites, Invariant
from reconcile.testing.machine import SimulationMachine, action
from store import FrozenDict, NotFound
from store.models import Container, Node, NodeStatus, ObjectMeta, Pod, PodSpec
from store.quantity import parse_quantity


class SchedulingMachine(SimulationMachine):
    """The default scheduler, two one-pod nodes, and pods coming and going."""

    fault_kinds = ("Pod", "Node")
    fault_controllers = ("scheduler",)
    # A pod that fits nowhere waits in the unschedulable pool and is tried again every 5 minutes: past
    # the longest backoff (10 s), nothing else is left to happen.
    settle_horizon = 20.0

    async def setup(self) -> None:
        for name in ("node-1", "node-2"):
            room = FrozenDict({"cpu": parse_quantity("1"), "pods": parse_quantity("1")})
            node = Node(metadata=ObjectMeta(name=name), status=NodeStatus(capacity=room, allocatable=room))
            await self.simulation.memory.create(node)
        manager = self.simulation.manager
        manager.add(Scheduler(manager))

    def checks(self) -> list[Invariant]:
        return [RequestsFitAllocatable()]

    @action(number=st.integers(0, 3))
    async def create_pod(self, number: int) -> None:
        pod = Pod(
            metadata=ObjectMeta(name=f"p{number}", namespace="default"),
            spec=PodSpec(containers=(Container(name="c", image="busybox"),)),
        )
        with contextlib.suppress(Exception):
            await self.simulation.memory.create(pod)

    @action(number=st.integers(0, 3))
    async def delete_pod(self, number: int) -> None:
        with contextlib.suppress(NotFound):
            await self.simulation.memory.delete(Pod, f"p{number}", "default", grace_period_seconds=0)

    @action(seconds=st.sampled_from([0.5, 2.0, 10.0]))
    async def wait(self, seconds: float) -> None:
        await self.simulation.advance(seconds)


TestSchedulerUnderFaults = SchedulingMachine.TestCase
TestSchedulerUnderFaults.settings = settings(
    settings.default,
    max_examples=100,
    stateful_step_count=20,
    deadline=None,
    phases=[Phase.explicit, Phase.reuse, Phase.generate, Phase.shrink],
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)


def test_a_scheduler_restarted_while_every_watch_is_down_places_no_pod_on_a_full_node() -> None:
    # Found by the machine (60 steps, seed 7002). With every watch down, p2 was bound to node-2; the
    # scheduler crashed on its next write and, restarted, rebuilt its cache from informers that had not
    # relisted yet: node-2 looked empty, and p1 was bound there too.
    with booted() as machine:
        machine.arm(fault=DropWatches(kind=None))
        machine.create_pod(number=2)
        machine.arm(fault=CrashBetweenWrites(after=4))
        machine.arm(fault=FailWrites(count=1, error="conflict"))
        machine.create_pod(number=0)
        machine.create_pod(number=1)
        machine.create_pod(number=0)
        machine.delete_pod(number=0)
        machine.create_pod(number=1)
        machine.arm(fault=DropWatches(kind=None))
        machine.wait(seconds=2.0)
        machine.quiesce()


def test_a_scheduler_that_crashes_just_after_a_binding_does_not_bind_over_it() -> None:
    # Found by the machine once the case above was fixed, with no watch fault at all: p2 was bound to
    # the node p0 had left, the scheduler crashed on the next write (the Scheduled event), and its new
    # cache, built before the watch had brought that binding, showed the node free for p3.
    with booted() as machine:
        for number in range(4):
            machine.create_pod(number=number)
        machine.quiesce()
        machine.arm(fault=CrashBetweenWrites(after=1))
        machine.delete_pod(number=0)
        machine.quiesce()


@contextlib.contextmanager
def booted() -> Iterator[SchedulingMachine]:
    machine = SchedulingMachine()
    try:
        machine.boot(seed=0)
        yield machine
    finally:
        machine.teardown()
