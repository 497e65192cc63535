"""NodeLifecycleController: heartbeats, Unknown after the grace period, condition taints, zones, rate limits.

The pure rules (ComputeZoneState, zone keys, condition taints, the rate-limited queue) are table tests
ported from node_lifecycle_controller_test.go and rate_limited_queue_test.go. The rest runs a whole
`Cluster` (or a kubelet and the controller alone, where the thresholds need changing) on virtual time.

Timings on a 3-node Cluster, with a node stopped at t=11 s (its last lease renewal was at t=10 s): the
monitor pass at t=10 runs before the kubelet's renewal at that instant reaches the cache, so the
renewal is observed at t=15; the node is past its 50 s grace only at a pass strictly after t=65, so Ready
goes Unknown at t=70 (60 s after the last heartbeat: 5 s to observe it, 50 s of grace, 5 s to the next
pass). The unreachable NoSchedule taint follows at once; the NoExecute one at the next pass (t=75), when
the observed condition is Unknown; pods tolerate it for 300 s and are deleted at t=375.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from datetime import timedelta
from typing import TypeVar
from unittest.mock import patch

import anyio
import attrs
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from controllers.cluster import Cluster
from controllers.kubelet import LABEL_ZONE, Kubelet, NodeConfig
from controllers.nodelifecycle import (
    LABEL_EXCLUDE_DISRUPTION,
    NO_EXECUTE,
    NO_SCHEDULE,
    NODE_MONITOR_PERIOD,
    TAINT_DISK_PRESSURE,
    TAINT_MEMORY_PRESSURE,
    TAINT_NETWORK_UNAVAILABLE,
    TAINT_NOT_READY,
    TAINT_PID_PRESSURE,
    TAINT_UNREACHABLE,
    TAINT_UNSCHEDULABLE,
    NodeLifecycleController,
    RateLimitedTimedQueue,
    TimedValue,
    ZoneState,
    compute_zone_state,
    condition_taints,
    zone_key,
)
from controllers.podutil import is_pod_ready
from reconcile.clock import DEFAULT_EPOCH
from reconcile.testing import Simulation
from store import FrozenDict
from store.models import (
    Container,
    Deployment,
    DeploymentSpec,
    LabelSelector,
    Node,
    NodeCondition,
    NodeSpec,
    NodeStatus,
    ObjectMeta,
    Pod,
    PodSpec,
    PodTemplateSpec,
)

T = TypeVar("T")

STOP_AT = 11.0


# --- pure rules -------------------------------------------------------------------------------


def ready(status: str | None) -> NodeCondition | None:
    return None if status is None else NodeCondition(type="Ready", status=status)


@pytest.mark.parametrize(
    ("statuses", "unhealthy", "state"),
    [
        # No disruption: one ready node.
        (["True"], 0, ZoneState.NORMAL),
        # Zones down: a zone whose only node is Unknown.
        (["Unknown"], 1, ZoneState.FULL_DISRUPTION),
        # Nodes without any Ready condition count as not ready: the zone is fully disrupted.
        ([None, None, None, None], 4, ZoneState.FULL_DISRUPTION),
        # Three of four unhealthy: more than two and at least 55 %.
        (["Unknown", "Unknown", "Unknown", "True"], 3, ZoneState.PARTIAL_DISRUPTION),
        # Two of five unhealthy: not more than two, so normal whatever the ratio.
        (["Unknown", "Unknown", "True", "True", "True"], 2, ZoneState.NORMAL),
        # One more fails: three of five is 60 %.
        (["Unknown", "Unknown", "Unknown", "True", "True"], 3, ZoneState.PARTIAL_DISRUPTION),
        # Less than two down, then the last healthy node fails.
        (["Unknown", "Unknown", "True"], 2, ZoneState.NORMAL),
        (["Unknown", "Unknown", "Unknown"], 3, ZoneState.FULL_DISRUPTION),
        # Ready condition removed from the only node.
        ([None], 1, ZoneState.FULL_DISRUPTION),
        # False counts like Unknown.
        (["False", "False", "False", "True", "True"], 3, ZoneState.PARTIAL_DISRUPTION),
        # Threshold edge: 3 of 6 is 50 % < 55 %; 4 of 7 is 57 %.
        (["False"] * 3 + ["True"] * 3, 3, ZoneState.NORMAL),
        (["False"] * 4 + ["True"] * 3, 4, ZoneState.PARTIAL_DISRUPTION),
        # An empty zone is normal.
        ([], 0, ZoneState.NORMAL),
    ],
)
def test_compute_zone_state_counts_not_ready_nodes_against_the_threshold(
    statuses: list[str | None], unhealthy: int, state: ZoneState
) -> None:
    assert compute_zone_state([ready(s) for s in statuses]) == (unhealthy, state)


def node(labels: Mapping[str, str] | None = None, /, **status: str) -> Node:
    return Node(
        metadata=ObjectMeta(name="n", labels=FrozenDict(labels or {})),
        status=NodeStatus(conditions=tuple(NodeCondition(type=t, status=s) for t, s in status.items())),
    )


def test_zone_key_joins_region_and_zone_and_is_empty_without_topology_labels() -> None:
    assert zone_key(node()) == ""
    assert zone_key(node({LABEL_ZONE: "a"})) == ":\x00:a"
    assert zone_key(node({"topology.kubernetes.io/region": "r", LABEL_ZONE: "a"})) == "r:\x00:a"
    assert zone_key(node({"failure-domain.beta.kubernetes.io/zone": "b"})) == ":\x00:b"


@pytest.mark.parametrize(
    ("conditions", "unschedulable", "keys"),
    [
        ({"Ready": "True"}, False, []),
        ({"Ready": "False"}, False, [TAINT_NOT_READY]),
        ({"Ready": "Unknown"}, False, [TAINT_UNREACHABLE]),
        ({"MemoryPressure": "True"}, False, [TAINT_MEMORY_PRESSURE]),
        ({"DiskPressure": "True"}, False, [TAINT_DISK_PRESSURE]),
        ({"PIDPressure": "True"}, False, [TAINT_PID_PRESSURE]),
        ({"NetworkUnavailable": "True"}, False, [TAINT_NETWORK_UNAVAILABLE]),
        ({"MemoryPressure": "Unknown", "NetworkUnavailable": "False"}, False, []),
        ({"Ready": "True"}, True, [TAINT_UNSCHEDULABLE]),
    ],
)
def test_conditions_map_to_no_schedule_taints(
    conditions: dict[str, str], unschedulable: bool, keys: list[str]
) -> None:
    subject = node(**conditions)
    subject = Node(
        metadata=subject.metadata, spec=NodeSpec(unschedulable=unschedulable), status=subject.status
    )
    taints = condition_taints(subject)
    assert [t.key for t in taints] == keys
    assert all(t.effect == NO_SCHEDULE for t in taints)


class FakeClock:
    """Just enough of a Clock for the queue: monotonic time set by the test."""

    def __init__(self) -> None:
        self.time = 0.0

    def monotonic(self) -> float:
        return self.time


def run_sync(coro: Awaitable[T]) -> T:
    async def main() -> T:
        return await coro

    return anyio.run(main)


def test_rate_limited_queue_adds_a_value_once_until_removed() -> None:
    queue = RateLimitedTimedQueue(10.0, FakeClock())  # type: ignore[arg-type]
    assert queue.add("first", "1")
    assert not queue.add("first", "1")
    assert queue.add("second", "2")
    assert queue.remove("first")
    assert not queue.remove("first")
    assert [queue.head().value] == ["second"]  # type: ignore[union-attr]


def test_rate_limited_queue_processes_one_value_per_token_in_order() -> None:
    clock = FakeClock()
    queue = RateLimitedTimedQueue(0.1, clock)  # type: ignore[arg-type]
    for name in ("first", "second", "third"):
        queue.add(name, name)
    done: list[str] = []

    async def action(item: TimedValue) -> tuple[bool, float]:
        done.append(item.value)
        return True, 0.0

    run_sync(queue.try_(action))
    assert done == ["first"]  # the bucket holds one token
    assert queue.next_attempt_at() == pytest.approx(10.0)
    clock.time = 9.9
    run_sync(queue.try_(action))
    assert done == ["first"]
    clock.time = 10.0
    run_sync(queue.try_(action))
    assert done == ["first", "second"]
    # Processed values stay in the set: they are not queued again until removed.
    assert not queue.add("first", "first")


def test_rate_limited_queue_retries_a_failed_value_after_its_wait() -> None:
    clock = FakeClock()
    queue = RateLimitedTimedQueue(1000.0, clock)  # type: ignore[arg-type]
    queue.add("flaky", "1")
    attempts: list[float] = []

    async def action(item: TimedValue) -> tuple[bool, float]:
        attempts.append(clock.time)
        return len(attempts) > 1, 5.0

    run_sync(queue.try_(action))
    assert attempts == [0.0] and queue.head() is not None
    assert queue.head().process_at == 5.0  # type: ignore[union-attr]
    clock.time = 5.0
    run_sync(queue.try_(action))
    assert attempts == [0.0, 5.0] and queue.head() is None


def test_a_value_removed_and_added_again_goes_to_the_back_of_the_queue() -> None:
    """markNodeForTainting's Remove-then-Add each pass: the value is queued anew, once."""
    clock = FakeClock()
    queue = RateLimitedTimedQueue(1000.0, clock)  # type: ignore[arg-type]
    for name in ("a", "b", "c"):
        queue.add(name, name)
    for _ in range(200):  # many re-adds leave many dead heap entries behind
        clock.time += 0.001
        queue.remove("a")
        queue.add("a", "a")
    assert len(queue) == 3
    done: list[str] = []

    async def action(item: TimedValue) -> tuple[bool, float]:
        done.append(item.value)
        return True, 0.0

    for _ in range(3):  # one token at a time (burst 1)
        run_sync(queue.try_(action))
        clock.time += 1.0
    assert done == ["b", "c", "a"]
    assert len(queue) == 0 and queue.head() is None


def test_a_retried_value_waits_behind_values_due_before_it() -> None:
    """A value processed without success is queued again at its new time, not at its old place."""
    clock = FakeClock()
    queue = RateLimitedTimedQueue(1000.0, clock)  # type: ignore[arg-type]
    queue.add("retry", "1")
    clock.time = 1.0
    queue.add("later", "2")
    clock.time = 2.0
    done: list[str] = []

    async def action(item: TimedValue) -> tuple[bool, float]:
        done.append(item.value)
        return item.value != "retry" or len(done) > 2, 10.0

    run_sync(queue.try_(action))
    clock.time = 3.0
    run_sync(queue.try_(action))
    assert done == ["retry", "later"]
    assert queue.head().value == "retry" and queue.next_attempt_at() == 12.0  # type: ignore[union-attr]


def test_swap_limiter_to_zero_stops_processing_and_a_new_rate_starts_drained() -> None:
    clock = FakeClock()
    queue = RateLimitedTimedQueue(0.1, clock)  # type: ignore[arg-type]
    queue.add("a", "a")
    queue.swap_limiter(0.0)
    done: list[str] = []

    async def action(item: TimedValue) -> tuple[bool, float]:
        done.append(item.value)
        return True, 0.0

    run_sync(queue.try_(action))
    assert done == [] and queue.limiter.qps == 0.0
    # The old limiter had no token to give, so the new one starts empty too (burst 1).
    queue.swap_limiter(0.01)
    run_sync(queue.try_(action))
    assert done == []
    clock.time = 100.0
    run_sync(queue.try_(action))
    assert done == ["a"]


# --- on a cluster -----------------------------------------------------------------------------


def web(replicas: int = 3) -> Deployment:
    labels = {"app": "web"}
    return Deployment(
        metadata=ObjectMeta(name="web", namespace="default"),
        spec=DeploymentSpec(
            replicas=replicas,
            selector=LabelSelector(match_labels=FrozenDict(labels)),
            template=PodTemplateSpec(
                metadata=ObjectMeta(labels=FrozenDict(labels)),
                spec=PodSpec(containers=(Container(name="web", image="web:1"),)),
            ),
        ),
    )


async def run_until(cluster: Cluster, at: float) -> None:
    await cluster.advance(at - cluster.now)


async def first_time(cluster: Cluster, until: float, check: Callable[[], Awaitable[bool]]) -> float | None:
    """The first whole virtual second, up to ``until``, at which ``check`` holds."""
    while cluster.now < until:
        await cluster.advance(1.0)
        if await check():
            return cluster.now
    return None


def taint_keys(node: Node, effect: str) -> list[str]:
    return [taint.key for taint in node.spec.taints if taint.effect == effect]


async def start_web(cluster: Cluster) -> str:
    """Run a 3-replica Deployment, stop the node of its first pod at STOP_AT; returns that node."""
    await cluster.apply([web()])
    await cluster.settle()
    pods = await cluster.list(Pod, namespace="default")
    victim = sorted(pods, key=lambda p: p.metadata.name)[0].spec.node_name
    await run_until(cluster, STOP_AT)
    cluster.stop_node(victim)
    return victim


def node_lifecycle_reconciles(cluster: Cluster) -> int:
    """controller_runtime_reconcile_total of the node lifecycle controller, over every result."""
    return sum(cluster.manager.metrics.controller("node-lifecycle-controller").reconcile_total.values())


def test_an_idle_cluster_runs_the_monitor_pass_every_period_and_no_tainting_pass() -> None:
    async def scenario(cluster: Cluster) -> int:
        await cluster.settle()
        before = node_lifecycle_reconciles(cluster)
        await cluster.advance(102.5)  # off the 5 s grid: a pass due at the very end may not have run
        return node_lifecycle_reconciles(cluster) - before

    # 20 monitor passes of 5 s; with no node queued for a NoExecute taint, no tainting pass follows them.
    assert Cluster(nodes=3, seed=1).run(scenario) == 20


async def registrations(cluster: Cluster) -> list[tuple[str, str]]:
    """(reason, node) of the RegisteredNode and RemovingNode events, in order."""
    return [
        (event.reason, event.involved_object.name)
        for event in await cluster.events()
        if event.reason in ("RegisteredNode", "RemovingNode")
    ]


def test_a_deleted_node_is_forgotten_at_the_next_pass_and_a_new_one_registered() -> None:
    async def scenario(cluster: Cluster) -> list[tuple[str, str]]:
        await cluster.settle()
        cluster.stop_node("node-2")
        await cluster.store.delete(Node, "node-2")
        await cluster.advance(5.0)
        await cluster.store.create(Node(metadata=ObjectMeta(name="node-9")))
        await cluster.advance(5.0)
        return await registrations(cluster)

    assert Cluster(nodes=3, seed=1).run(scenario) == [
        ("RegisteredNode", "node-1"),
        ("RegisteredNode", "node-2"),
        ("RegisteredNode", "node-3"),
        ("RemovingNode", "node-2"),
        ("RegisteredNode", "node-9"),
    ]


def test_a_node_replaced_between_two_passes_is_both_registered_and_forgotten() -> None:
    async def scenario(cluster: Cluster) -> list[tuple[str, str]]:
        await cluster.settle()
        cluster.stop_node("node-2")
        await cluster.store.delete(Node, "node-2")
        await cluster.store.create(Node(metadata=ObjectMeta(name="node-9")))
        await cluster.advance(5.0)
        return (await registrations(cluster))[3:]

    # As many nodes as before, but not the same ones.
    assert Cluster(nodes=3, seed=1).run(scenario) == [
        ("RegisteredNode", "node-9"),
        ("RemovingNode", "node-2"),
    ]


def test_a_silent_node_goes_unknown_after_the_grace_period_and_its_pods_not_ready() -> None:
    async def scenario(cluster: Cluster) -> None:
        victim = await start_web(cluster)
        await run_until(cluster, 69.5)
        assert (await cluster.get(Node, victim)).status.condition("Ready").status == "True"  # type: ignore[union-attr]
        await run_until(cluster, 70.5)
        silent = await cluster.get(Node, victim)
        for type_ in ("Ready", "MemoryPressure", "DiskPressure", "PIDPressure"):
            condition = silent.status.condition(type_)
            assert condition is not None
            assert (condition.status, condition.reason, condition.message) == (
                "Unknown",
                "NodeStatusUnknown",
                "Kubelet stopped posting node status.",
            )
            assert condition.last_transition_time == DEFAULT_EPOCH + timedelta(seconds=70)
        network = silent.status.condition("NetworkUnavailable")
        assert network is not None and network.status == "False"
        messages = [e.message for e in await cluster.events(involving=silent) if e.reason == "NodeNotReady"]
        assert messages == [f"Node {victim} status is now: NodeNotReady"]
        pods = await cluster.list(Pod, namespace="default")
        on_victim = [p for p in pods if p.spec.node_name == victim]
        assert on_victim and not any(is_pod_ready(p) for p in on_victim)
        assert all(is_pod_ready(p) for p in pods if p.spec.node_name != victim)
        [pod_event] = [e for e in await cluster.events(involving=on_victim[0]) if e.reason == "NodeNotReady"]
        assert (pod_event.type, pod_event.message) == ("Warning", "Node is not ready")

    Cluster(nodes=3, seed=1).run(scenario)


def test_unreachable_no_schedule_taint_comes_at_once_and_no_execute_at_the_next_pass() -> None:
    async def scenario(cluster: Cluster) -> dict[str, float]:
        victim = await start_web(cluster)
        await run_until(cluster, 100)
        tainted = await cluster.get(Node, victim)
        return {
            taint.effect: (taint.time_added - DEFAULT_EPOCH).total_seconds()
            for taint in tainted.spec.taints
            if taint.key == TAINT_UNREACHABLE and taint.time_added is not None
        }

    assert Cluster(nodes=3, seed=1).run(scenario) == {NO_SCHEDULE: 70.0, NO_EXECUTE: 75.0}


def test_pods_of_a_dead_node_are_evicted_at_375s_and_replaced_on_other_nodes() -> None:
    async def scenario(cluster: Cluster) -> None:
        victim = await start_web(cluster)
        await run_until(cluster, 374.5)
        pods = await cluster.list(Pod, namespace="default")
        assert len(pods) == 3 and all(p.metadata.deletion_timestamp is None for p in pods)
        await run_until(cluster, 375.5)
        [evicted] = [p for p in await cluster.list(Pod, namespace="default") if p.spec.node_name == victim]
        assert evicted.metadata.deletion_timestamp is not None
        target = evicted.status.condition("DisruptionTarget")
        assert target is not None and target.reason == "DeletionByTaintManager"
        await cluster.settle()
        pods = await cluster.list(Pod, namespace="default")
        live = [p for p in pods if p.metadata.deletion_timestamp is None]
        assert len(live) == 3 and all(p.spec.node_name != victim and is_pod_ready(p) for p in live)
        deployment = await cluster.get(Deployment, "web", "default")
        assert deployment.status.available_replicas == 3

    Cluster(nodes=3, seed=1).run(scenario)


def test_a_node_that_comes_back_loses_its_taints_and_its_pods_are_ready_again() -> None:
    async def scenario(cluster: Cluster) -> None:
        victim = await start_web(cluster)
        await run_until(cluster, 100)
        assert TAINT_UNREACHABLE in taint_keys(await cluster.get(Node, victim), NO_EXECUTE)
        cluster.start_node(victim)
        await run_until(cluster, 110)
        back = await cluster.get(Node, victim)
        assert back.status.condition("Ready").status == "True"  # type: ignore[union-attr]
        assert back.spec.taints == ()
        await run_until(cluster, 500)
        pods = await cluster.list(Pod, namespace="default")
        assert len(pods) == 3 and all(is_pod_ready(p) and p.metadata.deletion_timestamp is None for p in pods)

    Cluster(nodes=3, seed=1).run(scenario)


def test_no_execute_taints_are_never_added_when_every_zone_is_down() -> None:
    async def scenario(cluster: Cluster) -> None:
        await cluster.apply([web()])
        await cluster.settle()
        await run_until(cluster, STOP_AT)
        for name in ("node-1", "node-2", "node-3"):
            cluster.stop_node(name)
        while cluster.now < 500:
            await cluster.advance(5)
            for down in await cluster.list(Node):
                assert taint_keys(down, NO_EXECUTE) == []
        nodes = await cluster.list(Node)
        assert all(n.status.condition("Ready").status == "Unknown" for n in nodes)  # type: ignore[union-attr]
        assert all(TAINT_UNREACHABLE in taint_keys(n, NO_SCHEDULE) for n in nodes)
        pods = await cluster.list(Pod, namespace="default")
        assert len(pods) == 3 and all(p.metadata.deletion_timestamp is None for p in pods)

    Cluster(nodes=3, seed=1).run(scenario)


def test_master_disruption_mode_removes_no_execute_taints_already_added() -> None:
    async def scenario(cluster: Cluster) -> None:
        await run_until(cluster, STOP_AT)
        cluster.stop_node("node-1")
        await run_until(cluster, 80)
        assert taint_keys(await cluster.get(Node, "node-1"), NO_EXECUTE) == [TAINT_UNREACHABLE]
        cluster.stop_node("node-2")
        cluster.stop_node("node-3")
        await run_until(cluster, 200)
        for down in await cluster.list(Node):
            assert taint_keys(down, NO_EXECUTE) == []

    Cluster(nodes=3, seed=1).run(scenario)


# --- zones with their own thresholds ------------------------------------------------------------


def zoned_simulation(
    zones: dict[str, int], **knobs: float
) -> tuple[Simulation, Kubelet, NodeLifecycleController]:
    sim = Simulation(seed=2)
    configs = [
        NodeConfig(name=f"{zone}-{i}", zone=zone)
        for zone, count in zones.items()
        for i in range(1, count + 1)
    ]
    kubelet = Kubelet(sim.manager, configs)
    controller = NodeLifecycleController(sim.manager, **knobs)  # type: ignore[arg-type]
    sim.manager.add(kubelet)
    sim.manager.add(controller)
    return sim, kubelet, controller


async def no_execute_times(sim: Simulation, names: list[str], until: float) -> dict[str, float]:
    """When each of the nodes got its NoExecute taint (its timeAdded), after running until ``until``."""
    await sim.advance(until - sim.now)
    times: dict[str, float] = {}
    for name in names:
        for taint in (await sim.store.get(Node, name)).spec.taints:
            if taint.effect == NO_EXECUTE and taint.time_added is not None:
                times[name] = (taint.time_added - DEFAULT_EPOCH).total_seconds()
    return times


def test_a_partially_disrupted_small_zone_stops_tainting_while_other_zones_go_on() -> None:
    sim, kubelet, controller = zoned_simulation({"a": 5, "b": 3})

    async def scenario(sim: Simulation) -> dict[str, float]:
        await sim.advance(STOP_AT)
        for name in ("a-1", "a-2", "a-3", "b-1"):
            kubelet.stop_node(name)
        times = await no_execute_times(sim, ["a-1", "a-2", "a-3", "b-1"], 400)
        assert controller.zone_states[":\x00:a"] is ZoneState.PARTIAL_DISRUPTION
        assert controller.zone_states[":\x00:b"] is ZoneState.NORMAL
        return times

    assert sim.run(scenario) == {"b-1": 75.0}


def test_a_partially_disrupted_large_zone_taints_at_the_secondary_rate() -> None:
    sim, kubelet, controller = zoned_simulation({"a": 6}, large_cluster_threshold=4)

    async def scenario(sim: Simulation) -> list[float]:
        await sim.advance(STOP_AT)
        stopped = ["a-1", "a-2", "a-3", "a-4"]
        for name in stopped:
            kubelet.stop_node(name)
        times = await no_execute_times(sim, stopped, 380)
        assert controller.zone_states[":\x00:a"] is ZoneState.PARTIAL_DISRUPTION
        return sorted(times.values())

    # 0.01 nodes/s with a burst of one: one node at once, then one every 100 s.
    assert sim.run(scenario) == [75.0, 175.0, 275.0, 375.0]


def test_a_normal_zone_taints_at_most_one_node_every_ten_seconds() -> None:
    sim, kubelet, _ = zoned_simulation({"a": 20})

    async def scenario(sim: Simulation) -> list[float]:
        await sim.advance(STOP_AT)
        stopped = ["a-1", "a-2", "a-3"]
        for name in stopped:
            kubelet.stop_node(name)
        return sorted((await no_execute_times(sim, stopped, 120)).values())

    assert sim.run(scenario) == [75.0, 85.0, 95.0]


# --- steady nodes: counted, not looked at ---------------------------------------------------------

_ZONES = ("a", "b", "c")
_steps = st.lists(
    st.tuples(
        st.sampled_from(["stop", "start", "exclude", "include", "cordon", "uncordon", "move"]),
        st.integers(0, 6),
        st.floats(0.5, 90.0).map(lambda seconds: round(seconds, 1)),
    ),
    min_size=1,
    max_size=8,
)


def health_story(steps: list[tuple[str, int, float]], *, count_steady: bool) -> tuple[str, list[str]]:
    """Run node failures, returns and relabellings on seven zoned nodes (``move``: to a zone of its own
    and back); the trace's digest and the zone states each pass ended with."""
    configs = [NodeConfig(name=f"node-{i}", zone=_ZONES[i % 3]) for i in range(7)]

    async def scenario(cluster: Cluster) -> tuple[str, list[str]]:
        lifecycle = next(c for c in cluster.controllers if isinstance(c, NodeLifecycleController))
        await cluster.apply([web(replicas=6)])
        await cluster.settle()
        states: list[str] = []
        for action, index, wait in steps:
            name = f"node-{index}"
            if action == "stop":
                cluster.stop_node(name)
            elif action == "start":
                cluster.start_node(name)
            else:
                node = await cluster.get(Node, name)
                labels = dict(node.metadata.labels)
                if action == "exclude":
                    labels[LABEL_EXCLUDE_DISRUPTION] = ""
                elif action == "include":
                    labels.pop(LABEL_EXCLUDE_DISRUPTION, None)
                elif action == "move":
                    labels[LABEL_ZONE] = "d" if labels[LABEL_ZONE] != "d" else _ZONES[index % 3]
                node = attrs.evolve(
                    node,
                    metadata=attrs.evolve(node.metadata, labels=FrozenDict(labels)),
                    spec=attrs.evolve(node.spec, unschedulable=action == "cordon")
                    if action in ("cordon", "uncordon")
                    else node.spec,
                )
                await cluster.store.update(node)
            end = cluster.now + wait
            while cluster.now < end:
                await cluster.advance(min(NODE_MONITOR_PERIOD, end - cluster.now))
                states.append(repr(sorted(lifecycle.zone_states.items())))
        await cluster.advance(400)
        assert cluster.simulation is not None
        return cluster.simulation.trace.digest(), states

    with patch.object(NodeLifecycleController, "count_steady_nodes", count_steady):
        return Cluster(nodes=configs, seed=3).run(scenario)


@settings(max_examples=15, deadline=None)
@given(_steps)
def test_a_pass_counting_steady_nodes_does_what_looking_at_every_node_does(
    steps: list[tuple[str, int, float]],
) -> None:
    assert health_story(steps, count_steady=True) == health_story(steps, count_steady=False)
