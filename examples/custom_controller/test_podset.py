"""The PodSet operator under the toolkit: Hypothesis draws user actions and fault schedules, checks the
invariants at every write and after every settle, and shrinks any failure to a replayable story.

Run it with ``.venv/bin/pytest examples/custom_controller``; a failure prints its seed, the steps that
led to it and where the story was written: ``reconcile.testing.replay(path)`` runs it again.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable
from typing import Any, ClassVar

import attrs
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from podset import PodSet, controlled_by, podset, podset_controller, podset_scheme

from controllers.garbagecollector import GarbageCollector
from controllers.testing.invariants import AtMostOneControllerOwner
from reconcile import Controller, Manager
from reconcile.testing import Invariant, SimulationMachine, World, action
from reconcile.testing.faults import Coalesce, CrashBetweenWrites, Delay, DropWatches, FailWrites, Stale
from reconcile.testing.simulation import Simulation
from store import Conflict, FrozenDict, NotFound, Scheme
from store.models import Container, ObjectMeta, Pod, PodSpec

NAMES = ("web", "api")


class PodSetConverges(Invariant):
    """After a settle each PodSet controls exactly spec.replicas live pods, says so in its status, and
    has observed its latest generation."""

    kinds = (PodSet, Pod)

    def on_settled(self, world: World, simulation: Simulation) -> Iterable[str]:
        pods = [p for p in world.list(Pod) if p.metadata.deletion_timestamp is None]
        for ps in world.list(PodSet):
            if ps.metadata.deletion_timestamp is not None:
                continue
            name = ps.metadata.name
            owned = sorted(p.metadata.name for p in pods if controlled_by(p, ps))
            if len(owned) != ps.spec.replicas:
                yield f"PodSet {name} wants {ps.spec.replicas} pods but controls {owned}"
            if ps.status.replicas != ps.spec.replicas:
                yield f"PodSet {name} status.replicas {ps.status.replicas}, spec.replicas {ps.spec.replicas}"
            if ps.status.observed_generation != ps.metadata.generation:
                yield f"PodSet {name} observedGeneration {ps.status.observed_generation} != generation"


class PodSetBounded(Invariant):
    """At every write, a PodSet controls no more live pods than the most replicas it may be acting on:
    those of the generations from its observedGeneration to its latest."""

    kinds = (PodSet, Pod)

    def __init__(self) -> None:
        self._replicas: dict[tuple[str, int], int] = {}

    def on_write(self, world: World, event: Any) -> Iterable[str]:
        if isinstance(event.object, PodSet):
            ps = event.object
            self._replicas.setdefault((ps.metadata.uid, ps.metadata.generation), ps.spec.replicas)
        pods = [p for p in world.list(Pod) if p.metadata.deletion_timestamp is None]
        for ps in world.list(PodSet):
            uid = ps.metadata.uid
            first = max(ps.status.observed_generation, 1)
            limit = max(
                (self._replicas.get((uid, g), 0) for g in range(first, ps.metadata.generation + 1)), default=0
            )
            owned = [p.metadata.name for p in pods if controlled_by(p, ps)]
            if len(owned) > limit:
                yield f"PodSet {ps.metadata.name} controls {len(owned)} pods {owned}, at most {limit} allowed"


class PodSetMachine(SimulationMachine):
    """Users create, scale and delete PodSets, delete pods and leave stray pods that match a selector."""

    fault_kinds = ("PodSet", "Pod")
    fault_controllers = ("podset",)
    stability_window = 10.0
    #: The controller under test (the broken variants in tests/toolkit swap it).
    controller: ClassVar[Callable[[Manager], Controller]] = staticmethod(podset_controller)
    #: Whether deleting a PodSet deletes its pods (the garbage collector follows every kind: it costs).
    collect_garbage: ClassVar[bool] = True

    def scheme(self) -> Scheme:
        return podset_scheme()

    async def setup(self) -> None:
        manager = self.simulation.manager
        manager.add(type(self).controller(manager))
        if self.collect_garbage:
            manager.add(GarbageCollector(manager))

    def checks(self) -> list[Invariant]:
        return [PodSetConverges(), PodSetBounded(), AtMostOneControllerOwner()]

    @action(name=st.sampled_from(NAMES), replicas=st.integers(0, 3))
    async def create_podset(self, name: str, replicas: int) -> None:
        with contextlib.suppress(Exception):
            await self.simulation.store.create(podset(name, replicas))

    @action(name=st.sampled_from(NAMES), replicas=st.integers(0, 3))
    async def scale(self, name: str, replicas: int) -> None:
        await self._edit(name, lambda ps: attrs.evolve(ps, spec=attrs.evolve(ps.spec, replicas=replicas)))

    @action(name=st.sampled_from(NAMES))
    async def delete_podset(self, name: str) -> None:
        with contextlib.suppress(NotFound):
            await self.simulation.memory.delete(PodSet, name, "default")

    @action(index=st.integers(0, 5))
    async def delete_pod(self, index: int) -> None:
        pods = (await self.simulation.memory.list(Pod)).items
        if pods:
            pod = pods[index % len(pods)]
            await self.simulation.memory.delete(
                Pod, pod.metadata.name, pod.metadata.namespace, grace_period_seconds=0
            )

    @action(app=st.sampled_from(NAMES), number=st.integers(0, 2))
    async def create_stray_pod(self, app: str, number: int) -> None:
        """A pod nobody owns that matches a PodSet's selector: PodSets must leave it alone."""
        stray = Pod(
            metadata=ObjectMeta(name=f"stray-{app}-{number}", labels=FrozenDict({"app": app})),
            spec=PodSpec(containers=(Container(name="c", image="busybox"),)),
        )
        with contextlib.suppress(Exception):
            await self.simulation.memory.create(stray)

    @action(seconds=st.sampled_from([0.5, 2.0, 10.0]))
    async def wait(self, seconds: float) -> None:
        await self.simulation.advance(seconds)

    async def _edit(self, name: str, change: Callable[[Any], Any]) -> None:
        """Read, change, write — again on a conflict — as kubectl does."""
        memory = self.simulation.memory
        while True:
            try:
                current = await memory.get(PodSet, name, "default")
                await memory.update(change(current))
                return
            except NotFound:
                return
            except Conflict:
                continue


PodSetMachine.TestCase.settings = settings(
    max_examples=60,
    stateful_step_count=12,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
TestPodSet = PodSetMachine.TestCase


def test_a_podset_scaled_down_before_its_own_create_is_seen_waits_for_it() -> None:
    """The story the machine once shrank a failure to: the pod watch lags, the PodSet creates web-0 and
    is scaled to 0 before its cache shows web-0. Acting then would report generation 2 as done with
    web-0 still running; with expectations it waits for web-0 to show up, then deletes it."""

    async def story(sim: Simulation) -> tuple[list[tuple[int, int]], list[str]]:
        sim.manager.add(podset_controller(sim.manager))
        Delay("Pod", seconds=5.0).arm(sim)
        await sim.memory.create(podset("web", 1))
        await sim.advance(1.0)  # web-0 is created; the controller's pod cache shows it at t=5
        current = await sim.memory.get(PodSet, "web", "default")
        await sim.memory.update(attrs.evolve(current, spec=attrs.evolve(current.spec, replicas=0)))
        seen: list[tuple[int, int]] = []  # (observedGeneration, live pods) at each status write
        for _ in range(20):
            await sim.advance(0.5)
            ps = await sim.memory.get(PodSet, "web", "default")
            live = [p for p in (await sim.memory.list(Pod)).items if p.metadata.deletion_timestamp is None]
            seen.append((ps.status.observed_generation, len(live)))
        sim.faults.clear()
        await sim.settle()
        return seen, [p.metadata.name for p in (await sim.memory.list(Pod)).items]

    seen, remaining = Simulation(seed=1, scheme=podset_scheme()).run(story)
    assert all(pods == 0 for generation, pods in seen if generation == 2), seen
    assert seen[-1] == (2, 0)
    assert remaining == []


def test_a_podset_made_again_under_its_name_takes_its_pods_names_once_they_are_collected() -> None:
    """A story the machine found: the pod watch drops, PodSet api (one pod, api-0) is deleted and made
    again. The new PodSet's create of api-0 meets the old pod, which the garbage collector deletes only
    once its cache has relisted; that deletion names the old PodSet, so nothing would wake the new one.
    It asks to be requeued after AlreadyExists, and ends with an api-0 of its own."""

    async def story(sim: Simulation) -> tuple[str, str, int]:
        sim.manager.add(podset_controller(sim.manager))
        sim.manager.add(GarbageCollector(sim.manager))
        await sim.memory.create(podset("api", 1))
        await sim.settle()
        DropWatches(kind="Pod").arm(sim)
        await sim.memory.delete(PodSet, "api", "default")
        again = await sim.memory.create(podset("api", 1))
        sim.faults.clear()
        await sim.settle()
        pod = await sim.memory.get(Pod, "api-0", "default")
        owner = pod.metadata.controller_ref()
        current = await sim.memory.get(PodSet, "api", "default")
        return again.metadata.uid, owner.uid if owner else "", current.status.replicas

    uid, owner, replicas = Simulation(seed=0, scheme=podset_scheme()).run(story)
    assert (owner, replicas) == (uid, 1)


def test_a_podset_whose_pod_is_deleted_unseen_comes_back_when_its_expectations_expire() -> None:
    """A story the machine found with longer runs: the pod watch lags, api-0 is made again after a
    crash and a user deletes it before the controller's cache shows it; then every watch drops. The
    relist shows neither the creation nor the deletion, so no event wakes PodSet api, whose expectations
    wait for api-0 until they expire. As the ReplicaSet controller does in place of Kubernetes' periodic
    informer resync, the PodSet asks to come back once they have expired, and makes api-0 again."""
    machine = PodSetMachine()
    try:
        machine.boot(seed=4023)
        machine.arm(fault=FailWrites(count=1, error="conflict", kind=None))
        machine.arm(fault=Delay(kind="Pod", seconds=0.5))
        machine.create_podset(name="web", replicas=0)
        machine.create_podset(name="web", replicas=1)
        machine.create_podset(name="api", replicas=1)
        machine.wait(seconds=10.0)
        machine.delete_pod(index=2)
        machine.arm(fault=Stale(kind="PodSet", revisions=5))
        machine.wait(seconds=10.0)
        machine.delete_pod(index=1)
        machine.arm(fault=CrashBetweenWrites(after=2, controller="podset"))
        machine.wait(seconds=10.0)
        machine.delete_pod(index=4)
        machine.delete_pod(index=1)
        machine.wait(seconds=0.5)
        machine.arm(fault=Delay(kind="Pod", seconds=2.0))
        machine.create_podset(name="web", replicas=3)
        machine.delete_pod(index=0)  # api-0, whose creation the pod cache has not shown yet
        machine.arm(fault=DropWatches(kind=None))
        machine.settle()  # checks PodSetConverges: api controls one pod again
    finally:
        machine.teardown()


def test_a_podset_replaced_twice_while_its_events_are_coalesced_still_has_its_old_pods_collected() -> None:
    """A story the machine found with 150-step runs: PodSet events arrive late and coalesced. web (uid A)
    makes web-0; then web is deleted, made again (B) and deleted again in one gap, so the caches see one
    event, the deletion of B. The informer told its handlers that B was deleted, and the garbage
    collector, whose graph knew only A, never collected web-0; the next web found its pod's name taken
    for good. The informer now reports the object it held, A, as deleted (a tombstone, as a relist
    would)."""
    machine = PodSetMachine()
    try:
        machine.boot(seed=0)
        machine.arm(fault=Coalesce(kind="PodSet"))
        machine.arm(fault=Delay(kind="PodSet", seconds=0.5))
        machine.create_podset(name="web", replicas=1)
        machine.wait(seconds=0.5)
        machine.delete_podset(name="web")
        machine.create_podset(name="web", replicas=0)
        machine.delete_podset(name="web")
        machine.wait(seconds=0.5)
        machine.create_podset(name="web", replicas=1)
        machine.settle()  # checks PodSetConverges: web controls web-0 again
    finally:
        machine.teardown()


def test_a_late_pod_of_an_earlier_podset_of_the_same_name_does_not_meet_the_new_ones_expectations() -> None:
    """A story the machine found with 150-step runs: the pod cache lags three revisions. api (uid A) made
    api-0, which a user deleted; api was made again (B) and made api-0 in turn. A's api-0 showed up in
    the cache then, and met B's expectations, which are kept by name; so B, scaled to 0, went on from a
    cache without its own api-0 and recorded 0 pods for the new generation while api-0 ran. A pod now
    meets the expectations of the PodSet its controller reference names only if the uid matches, as
    upstream's resolveControllerRef requires."""
    machine = PodSetMachine()
    try:
        machine.boot(seed=0)
        machine.arm(fault=Stale(kind="Pod", revisions=3))
        machine.create_podset(name="api", replicas=0)
        machine.scale(name="api", replicas=1)
        machine.delete_pod(index=0)
        machine.delete_podset(name="api")
        machine.create_podset(name="api", replicas=1)
        machine.scale(name="api", replicas=0)  # checks PodSetBounded at every write
        machine.settle()
    finally:
        machine.teardown()
