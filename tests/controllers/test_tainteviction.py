"""TaintEvictionController on virtual time: immediate, delayed and cancelled evictions.

Only the taint eviction controller runs: the test creates a node and binds pods to it, then changes the
node's taints by hand. With no kubelet, a deleted bound pod stays terminating (deletionTimestamp set), which
is what the assertions look at. Cases follow taint_eviction_test.go; the toleration rules are table tests.
"""

from __future__ import annotations

import pytest

from controllers.tainteviction import (
    DISRUPTION_TARGET,
    TaintEvictionController,
    matching_tolerations,
    min_toleration_seconds,
)
from reconcile.testing import Simulation
from store.models import Container, Event, Node, NodeSpec, ObjectMeta, Pod, PodSpec, Taint, Toleration

NOT_READY = "node.kubernetes.io/not-ready"
DEDICATED = Taint(key="example.com/dedicated", value="db", effect="NoExecute")


@pytest.mark.parametrize(
    ("seconds", "expected"),
    [
        ([], 0.0),
        ([None], None),
        ([None, 30], 30.0),
        ([60, 30, None], 30.0),
        ([0, 30], 0.0),
        ([-5], 0.0),
    ],
)
def test_min_toleration_time_is_the_smallest_bound_zero_for_none_and_for_ever_when_unbounded(
    seconds: list[int | None], expected: float | None
) -> None:
    tolerations = [Toleration(operator="Exists", toleration_seconds=s) for s in seconds]
    assert min_toleration_seconds(tolerations) == expected


def test_matching_tolerations_needs_every_taint_tolerated_and_uses_the_first_match() -> None:
    exists = Toleration(key=DEDICATED.key, operator="Exists", effect="NoExecute", toleration_seconds=10)
    equal = Toleration(key=DEDICATED.key, value="db", effect="NoExecute")
    other = Taint(key="example.com/other", effect="NoExecute")
    assert matching_tolerations([DEDICATED], [exists, equal]) == (True, [exists])
    assert matching_tolerations([DEDICATED, other], [exists]) == (False, [])
    assert matching_tolerations([], []) == (True, [])


def simulation() -> Simulation:
    sim = Simulation(seed=3)
    sim.manager.add(TaintEvictionController(sim.manager))
    return sim


async def set_taints(sim: Simulation, *taints: Taint) -> None:
    try:
        node = await sim.store.get(Node, "node-1")
    except Exception:
        await sim.store.create(Node(metadata=ObjectMeta(name="node-1"), spec=NodeSpec(taints=taints)))
    else:
        await sim.store.update(Node(metadata=node.metadata, spec=NodeSpec(taints=taints), status=node.status))
    await sim.settle(horizon=0.5)  # not so far as to reach a scheduled eviction


async def bound_pod(sim: Simulation, name: str, *tolerations: Toleration) -> None:
    pod = Pod(
        metadata=ObjectMeta(name=name, namespace="default"),
        spec=PodSpec(containers=(Container(name="c", image="i"),), tolerations=tolerations),
    )
    await sim.store.create(pod)
    await sim.store.bind(name, "default", "node-1")
    await sim.settle(horizon=0.5)  # not so far as to reach a scheduled eviction


async def deleting(sim: Simulation, name: str) -> bool:
    return (await sim.store.get(Pod, name, "default")).metadata.deletion_timestamp is not None


async def messages(sim: Simulation, name: str) -> list[str]:
    events = (await sim.store.list(Event, namespace="default")).items
    return [
        e.message for e in events if e.involved_object.name == name and e.reason == "TaintManagerEviction"
    ]


def test_a_pod_not_tolerating_a_no_execute_taint_is_deleted_at_once_with_disruption_target() -> None:
    async def scenario(sim: Simulation) -> None:
        await set_taints(sim)
        await bound_pod(sim, "web")
        assert not await deleting(sim, "web")
        await set_taints(sim, DEDICATED)
        pod = await sim.store.get(Pod, "web", "default")
        assert pod.metadata.deletion_timestamp is not None
        target = pod.status.condition(DISRUPTION_TARGET)
        assert target is not None
        assert (target.status, target.reason, target.message) == (
            "True",
            "DeletionByTaintManager",
            "Taint manager: deleting due to NoExecute taint",
        )
        assert await messages(sim, "web") == ["Marking for deletion Pod default/web"]

    simulation().run(scenario)


def test_a_pod_bound_to_an_already_tainted_node_is_deleted_at_once() -> None:
    async def scenario(sim: Simulation) -> None:
        await set_taints(sim, DEDICATED)
        await bound_pod(sim, "late")
        assert await deleting(sim, "late")

    simulation().run(scenario)


def test_toleration_seconds_delay_the_deletion_by_the_smallest_of_them() -> None:
    other = Taint(key="example.com/other", effect="NoExecute")
    tolerations = (
        Toleration(key=DEDICATED.key, operator="Exists", effect="NoExecute", toleration_seconds=60),
        Toleration(key=other.key, operator="Exists", effect="NoExecute", toleration_seconds=30),
    )

    async def scenario(sim: Simulation) -> None:
        await set_taints(sim)
        await bound_pod(sim, "patient", *tolerations)
        tainted_at = sim.now
        await set_taints(sim, DEDICATED, other)
        await sim.advance(tainted_at + 29.5 - sim.now)
        assert not await deleting(sim, "patient")
        await sim.advance(1.0)
        assert await deleting(sim, "patient")

    simulation().run(scenario)


def test_removing_the_taint_cancels_a_scheduled_deletion_with_an_event() -> None:
    toleration = Toleration(key=DEDICATED.key, operator="Exists", effect="NoExecute", toleration_seconds=60)

    async def scenario(sim: Simulation) -> None:
        await set_taints(sim)
        await bound_pod(sim, "spared", toleration)
        await set_taints(sim, DEDICATED)
        await sim.advance(20)
        await set_taints(sim)
        await sim.advance(100)
        assert not await deleting(sim, "spared")
        assert await messages(sim, "spared") == ["Cancelling deletion of Pod default/spared"]

    simulation().run(scenario)


def test_a_toleration_without_seconds_tolerates_for_ever() -> None:
    toleration = Toleration(key=DEDICATED.key, operator="Exists", effect="NoExecute")

    async def scenario(sim: Simulation) -> None:
        await set_taints(sim)
        await bound_pod(sim, "forever", toleration)
        await set_taints(sim, DEDICATED)
        await sim.advance(3600)
        assert not await deleting(sim, "forever")
        assert await messages(sim, "forever") == []

    simulation().run(scenario)


def test_default_not_ready_toleration_evicts_after_300_seconds() -> None:
    async def scenario(sim: Simulation) -> None:
        await set_taints(sim)
        await bound_pod(sim, "default-tolerations")
        tainted_at = sim.now
        await set_taints(sim, Taint(key=NOT_READY, effect="NoExecute"))
        await sim.advance(tainted_at + 299.5 - sim.now)
        assert not await deleting(sim, "default-tolerations")
        await sim.advance(1.0)
        assert await deleting(sim, "default-tolerations")

    simulation().run(scenario)


def test_a_pod_deleted_before_its_eviction_cancels_it() -> None:
    toleration = Toleration(key=DEDICATED.key, operator="Exists", effect="NoExecute", toleration_seconds=60)

    async def scenario(sim: Simulation) -> None:
        await set_taints(sim)
        await bound_pod(sim, "gone", toleration)
        await set_taints(sim, DEDICATED)
        await sim.store.delete(Pod, "gone", "default", grace_period_seconds=0)
        await sim.advance(100)
        assert await messages(sim, "gone") == ["Cancelling deletion of Pod default/gone"]

    simulation().run(scenario)


def test_a_node_deleted_and_added_back_without_taints_cancels_its_pods_evictions() -> None:
    # handleNodeUpdate: a node add is always looked at; with no NoExecute taint every pod's scheduled
    # eviction is cancelled, even if the taints that scheduled it went with the deleted node.
    toleration = Toleration(key=DEDICATED.key, operator="Exists", effect="NoExecute", toleration_seconds=60)

    async def scenario(sim: Simulation) -> None:
        await set_taints(sim)
        await bound_pod(sim, "spared", toleration)
        await set_taints(sim, DEDICATED)
        await sim.advance(10)
        await sim.store.delete(Node, "node-1")
        await sim.settle(horizon=0.5)
        await set_taints(sim)  # created anew, untainted
        await sim.advance(100)
        assert not await deleting(sim, "spared")
        assert await messages(sim, "spared") == ["Cancelling deletion of Pod default/spared"]

    simulation().run(scenario)
