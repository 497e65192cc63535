"""The Scheduler in a simulated cluster: binding, spreading, waiting, backoff and failures, on virtual time.

Nodes are created directly in the store with their allocatable resources (no kubelet runs), pods are
created pending, and the scheduler is the only controller. Times are virtual seconds since the
simulation started. The first tests pin the scheduling queue's rules on their own.
"""

from __future__ import annotations

import itertools
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any

import attrs
import pytest

from controllers.scheduler import Scheduler
from controllers.scheduler.cache import SchedulerCache
from controllers.scheduler.plugins import EVENTS_TO_REGISTER, NODE_AFFINITY, NODE_RESOURCES_FIT
from controllers.scheduler.queue import (
    ACTIVE,
    BACKOFF,
    NODE_ADD,
    UNSCHEDULABLE,
    ActionType,
    ClusterEvent,
    QueuedPodInfo,
    SchedulingQueue,
    node_update_event,
)
from reconcile.informer import BY_NODE
from reconcile.testing import NotSettled, Simulation
from reconcile.trace import Record
from store import FrozenDict, Quantity, parse_quantity
from store.models import (
    Container,
    ContainerPort,
    Event,
    Node,
    NodeCondition,
    NodeSpec,
    NodeStatus,
    ObjectMeta,
    Pod,
    PodSpec,
    ResourceRequirements,
    Taint,
    Toleration,
)

# --- builders -----------------------------------------------------------------------------------


def quantities(**amounts: str) -> FrozenDict[str, Quantity]:
    return FrozenDict({name: parse_quantity(value) for name, value in amounts.items()})


def make_node(
    name: str,
    *,
    cpu: str = "4",
    memory: str = "8Gi",
    labels: Mapping[str, str] | None = None,
    taints: Sequence[Taint] = (),
    unschedulable: bool = False,
) -> Node:
    return Node(
        metadata=ObjectMeta(name=name, labels=FrozenDict(labels or {})),
        spec=NodeSpec(taints=tuple(taints), unschedulable=unschedulable),
        status=NodeStatus(allocatable=quantities(cpu=cpu, memory=memory, pods="110")),
    )


def make_pod(
    name: str,
    *,
    cpu: str = "100m",
    memory: str = "128Mi",
    node_selector: Mapping[str, str] | None = None,
    priority: int | None = None,
    scheduler_name: str = "default-scheduler",
    tolerations: Sequence[Toleration] = (),
    host_port: int | None = None,
    finalizers: Sequence[str] = (),
) -> Pod:
    ports = (ContainerPort(container_port=8080, host_port=host_port),) if host_port else ()
    return Pod(
        metadata=ObjectMeta(name=name, namespace="default", finalizers=tuple(finalizers)),
        spec=PodSpec(
            containers=(
                Container(
                    name="app",
                    image="app:1",
                    ports=ports,
                    resources=ResourceRequirements(requests=quantities(cpu=cpu, memory=memory)),
                ),
            ),
            node_selector=FrozenDict(node_selector or {}),
            priority=priority,
            scheduler_name=scheduler_name,
            tolerations=tuple(tolerations),
        ),
    )


def start_scheduler(sim: Simulation) -> Scheduler:
    scheduler = Scheduler(sim.manager)
    sim.manager.add(scheduler)
    return scheduler


async def get_pod(sim: Simulation, name: str) -> Pod:
    return await sim.store.get(Pod, name, "default")


async def placements(sim: Simulation) -> dict[str, str]:
    return {pod.metadata.name: pod.spec.node_name for pod in (await sim.store.list(Pod)).items}


async def events(sim: Simulation, reason: str, pod: str | None = None) -> list[Event]:
    return [
        event
        for event in (await sim.store.list(Event, namespace="default")).items
        if event.reason == reason and (pod is None or event.involved_object.name == pod)
    ]


def attempts(sim: Simulation, pod: str) -> list[Record]:
    return [record for record in sim.trace.of("schedule") if record.get("pod") == f"default/{pod}"]


async def relabel(sim: Simulation, name: str, labels: Mapping[str, str]) -> None:
    node = await sim.store.get(Node, name)
    await sim.store.update(
        attrs.evolve(node, metadata=attrs.evolve(node.metadata, labels=FrozenDict(labels)))
    )


def run(scenario: Callable[[Simulation], Awaitable[Any]], seed: int = 1) -> Any:
    return Simulation(seed=seed).run(scenario)


# --- the queue's rules ------------------------------------------------------------------------------


def new_queue() -> SchedulingQueue:
    return SchedulingQueue(events_to_register=EVENTS_TO_REGISTER)


@pytest.mark.parametrize(
    ("rejections", "backoff"), [(0, 0.0), (1, 1.0), (2, 2.0), (3, 4.0), (4, 8.0), (5, 10.0), (9, 10.0)]
)
def test_backoff_starts_at_1_second_and_doubles_up_to_10(rejections: int, backoff: float) -> None:
    info = QueuedPodInfo(make_pod("p"), timestamp=0.0, attempts=rejections, unschedulable_count=rejections)
    assert new_queue().backoff_duration(info) == backoff


@pytest.mark.parametrize(
    ("rejections", "errors", "backoff"),
    [
        pytest.param(3, 0, 4.0, id="rejections only"),
        pytest.param(3, 1, 1.0, id="an error after rejections starts its own count"),
        pytest.param(0, 2, 2.0, id="consecutive errors double"),
        pytest.param(1, 0, 1.0, id="a rejection after errors counts rejections only"),
    ],
)
def test_backoff_counts_rejections_and_consecutive_errors_apart(
    rejections: int, errors: int, backoff: float
) -> None:
    # backoffQueue.getBackoffTime: the count is UnschedulableCount, or ConsecutiveErrorsCount when the
    # last attempts failed with errors; how many times the pod was popped does not matter (#128748).
    info = QueuedPodInfo(
        make_pod("p"),
        timestamp=0.0,
        attempts=5,
        unschedulable_count=rejections,
        consecutive_errors_count=errors,
    )
    assert new_queue().backoff_duration(info) == backoff


def test_a_max_backoff_of_zero_disables_backoff() -> None:
    queue = SchedulingQueue(events_to_register=EVENTS_TO_REGISTER, max_backoff=0.0)
    info = QueuedPodInfo(make_pod("p"), timestamp=0.0, attempts=3, unschedulable_count=3)
    assert queue.backoff_duration(info) == 0.0


def test_a_failure_is_counted_as_a_rejection_or_as_an_error() -> None:
    # AddUnschedulableIfNotPresent: a rejection resets the run of errors, an error leaves the rejections.
    queue = new_queue()
    queue.add(make_pod("p"), 0.0)
    info = queue.pop(0.0)
    assert info is not None
    info.unschedulable_plugins = frozenset({NODE_AFFINITY})
    queue.add_after_failure(info, 0.0)
    assert (info.unschedulable_count, info.consecutive_errors_count) == (1, 0)
    queue.move_all(NODE_ADD, 5.0)
    assert queue.pop(5.0) is info
    info.unschedulable_plugins = frozenset()
    queue.add_after_failure(info, 5.0)
    assert (info.unschedulable_count, info.consecutive_errors_count) == (1, 1)
    # Two attempts so far, but one error: 1 s, not 2 s.
    assert queue.next_due() == 6.0
    assert queue.pop(6.0) is info
    info.unschedulable_plugins = frozenset({NODE_AFFINITY})
    queue.add_after_failure(info, 6.0)
    assert (info.unschedulable_count, info.consecutive_errors_count) == (2, 0)


def test_active_queue_pops_higher_priority_first_then_earlier_arrivals() -> None:
    queue = new_queue()
    queue.add(make_pod("early-low"), 0.0)
    queue.add(make_pod("late-high", priority=10), 2.0)
    queue.add(make_pod("late-low"), 1.0)
    expected = [("default", "late-high"), ("default", "early-low"), ("default", "late-low")]
    assert queue.pending()[ACTIVE] == expected
    popped = [info.key for info in iter(lambda: queue.pop(5.0), None)]
    assert popped == expected
    assert len(queue) == 0


def test_a_rejected_pod_waits_in_the_pool_until_an_event_its_plugins_registered() -> None:
    queue = new_queue()
    queue.add(make_pod("p"), 0.0)
    info = queue.pop(0.0)
    assert info is not None
    info.unschedulable_plugins = frozenset({NODE_AFFINITY})
    queue.add_after_failure(info, 0.0)
    queue.move_all(ClusterEvent("Pod", ActionType.DELETE), 0.5)  # NodeAffinity does not care
    assert queue.where(info.key) == UNSCHEDULABLE
    queue.move_all(NODE_ADD, 0.5)  # still within its 1 s backoff
    assert queue.where(info.key) == BACKOFF
    assert queue.pop(0.99) is None
    assert queue.pop(1.0) is info


def test_a_pre_check_keeps_the_pods_it_refuses_in_the_pool() -> None:
    queue = new_queue()
    for name in ("a", "b"):
        queue.add(make_pod(name), 0.0)
        info = queue.pop(0.0)
        assert info is not None
        info.unschedulable_plugins = frozenset({NODE_AFFINITY})
        queue.add_after_failure(info, 0.0)
    queue.move_all(NODE_ADD, 5.0, pre_check=lambda pod: pod.metadata.name == "b")
    assert queue.pending()[UNSCHEDULABLE] == [("default", "a")]
    assert queue.pending()[ACTIVE] == [("default", "b")]


def test_a_pod_that_failed_with_an_error_goes_straight_to_backoff() -> None:
    queue = new_queue()
    queue.add(make_pod("p"), 0.0)
    info = queue.pop(0.0)
    assert info is not None
    queue.add_after_failure(info, 3.0)
    assert queue.where(info.key) == BACKOFF
    assert queue.next_due() == 4.0


def test_pooled_pods_return_after_five_minutes_without_events() -> None:
    queue = new_queue()
    queue.add(make_pod("p"), 0.0)
    info = queue.pop(0.0)
    assert info is not None
    info.unschedulable_plugins = frozenset({NODE_RESOURCES_FIT})
    queue.add_after_failure(info, 10.0)
    assert queue.next_due() == 310.0
    assert queue.pop(309.0) is None
    assert queue.pop(310.0) is info


def test_a_real_change_to_a_pooled_pod_frees_it_but_a_status_change_does_not() -> None:
    queue = new_queue()
    pod = make_pod("p")
    queue.add(pod, 0.0)
    info = queue.pop(0.0)
    assert info is not None
    info.unschedulable_plugins = frozenset({NODE_AFFINITY})
    queue.add_after_failure(info, 0.0)
    status_only = attrs.evolve(pod, status=attrs.evolve(pod.status, message="waiting"))
    queue.update(pod, status_only, 5.0)
    assert queue.where(info.key) == UNSCHEDULABLE
    relabelled = attrs.evolve(pod, metadata=attrs.evolve(pod.metadata, labels=FrozenDict({"a": "b"})))
    queue.update(status_only, relabelled, 5.0)
    assert queue.where(info.key) == ACTIVE


@pytest.mark.parametrize(
    ("change", "action"),
    [
        pytest.param({"labels": {"disk": "ssd"}}, ActionType.UPDATE_NODE_LABEL, id="labels"),
        pytest.param(
            {"taints": (Taint(key="k", effect="NoSchedule"),)}, ActionType.UPDATE_NODE_TAINT, id="taints"
        ),
        pytest.param({"cpu": "8"}, ActionType.UPDATE_NODE_ALLOCATABLE, id="allocatable"),
        pytest.param({"unschedulable": True}, None, id="cordoning helps no pod"),
        pytest.param({}, None, id="nothing relevant"),
    ],
)
def test_node_updates_are_classified_by_what_changed(
    change: dict[str, Any], action: ActionType | None
) -> None:
    old = make_node("n")
    new = make_node("n", **change)
    event = node_update_event(old, new)
    assert (event.action if event else None) == action


def test_a_heartbeat_is_no_node_event_but_a_condition_status_change_is() -> None:
    ready = NodeCondition(type="Ready", status="True")
    old = attrs.evolve(make_node("n"), status=attrs.evolve(make_node("n").status, conditions=(ready,)))
    heartbeat = attrs.evolve(
        old, status=attrs.evolve(old.status, conditions=(attrs.evolve(ready, reason="hb"),))
    )
    not_ready = attrs.evolve(
        old, status=attrs.evolve(old.status, conditions=(attrs.evolve(ready, status="False"),))
    )
    assert node_update_event(old, heartbeat) is None
    event = node_update_event(old, not_ready)
    assert event is not None and event.action == ActionType.UPDATE_NODE_CONDITION


def test_nodes_are_listed_round_robin_across_zones_in_the_order_zones_appeared() -> None:
    cache = SchedulerCache()
    zone = "topology.kubernetes.io/zone"
    for name, where in [("a1", "a"), ("a2", "a"), ("a3", "a"), ("b1", "b"), ("b2", "b"), ("plain", "")]:
        cache.add_node(make_node(name, labels={zone: where} if where else {}))
    assert [info.name for info in cache.node_infos()] == ["a1", "b1", "plain", "a2", "b2", "a3"]
    cache.add_node(make_node("a1", labels={zone: "b"}))  # moved to another zone
    assert [info.name for info in cache.node_infos()] == ["a2", "b1", "plain", "a3", "b2", "a1"]


def test_an_assumed_pod_counts_until_forgotten_and_is_confirmed_by_the_informer() -> None:
    cache = SchedulerCache()
    cache.add_node(make_node("n1"))
    pod = attrs.evolve(make_pod("p", cpu="1"), metadata=ObjectMeta(name="p", namespace="default", uid="u1"))
    bound = attrs.evolve(pod, spec=attrs.evolve(pod.spec, node_name="n1"))
    cache.assume_pod(bound)
    info = cache.node_info("n1")
    assert info is not None and (info.requested.milli_cpu, info.pod_count) == (1000, 1)
    cache.forget_pod(bound)
    info = cache.node_info("n1")
    assert info is not None and (info.requested.milli_cpu, info.pod_count) == (0, 0)
    cache.assume_pod(bound)
    cache.add_pod(bound)  # the informer shows the binding: confirmed, still counted once
    assert not cache.is_assumed(bound)
    cache.forget_pod(bound)  # too late to forget a confirmed pod
    info = cache.node_info("n1")
    assert info is not None and info.pod_count == 1


# --- scenarios --------------------------------------------------------------------------------------


def test_pending_pods_are_bound_and_a_scheduled_event_is_recorded() -> None:
    async def scenario(sim: Simulation) -> None:
        start_scheduler(sim)
        await sim.store.create(make_node("node-a"))
        await sim.store.create(make_pod("web"))
        await sim.settle()
        assert (await get_pod(sim, "web")).spec.node_name == "node-a"
        [scheduled] = await events(sim, "Scheduled", "web")
        assert scheduled.message == "Successfully assigned default/web to node-a"
        assert scheduled.type == "Normal"
        assert scheduled.source.component == "default-scheduler"

    run(scenario)


def test_identical_pods_spread_evenly_over_identical_nodes() -> None:
    async def scenario(sim: Simulation) -> dict[str, str]:
        start_scheduler(sim)
        for name in ("n1", "n2", "n3"):
            await sim.store.create(make_node(name))
        for index in range(9):
            await sim.store.create(make_pod(f"p{index}", cpu="500m", memory="512Mi"))
        await sim.settle()
        return await placements(sim)

    placed = list(run(scenario).values())
    assert {node: placed.count(node) for node in ("n1", "n2", "n3")} == {"n1": 3, "n2": 3, "n3": 3}


def test_an_untolerated_prefer_no_schedule_taint_steers_pods_elsewhere() -> None:
    async def scenario(sim: Simulation) -> dict[str, str]:
        start_scheduler(sim)
        await sim.store.create(make_node("plain-1"))
        await sim.store.create(make_node("plain-2"))
        await sim.store.create(
            make_node(
                "tainted", cpu="64", memory="256Gi", taints=[Taint(key="spot", effect="PreferNoSchedule")]
            )
        )
        for index in range(6):
            await sim.store.create(make_pod(f"p{index}"))
        await sim.settle()
        return await placements(sim)

    assert "tainted" not in run(scenario).values()


def test_a_pod_whose_node_selector_matches_no_node_stays_pending_until_a_node_gets_the_label() -> None:
    async def scenario(sim: Simulation) -> None:
        scheduler = start_scheduler(sim)
        for name in ("n1", "n2", "n3"):
            await sim.store.create(make_node(name))
        await sim.store.create(make_pod("picky", node_selector={"disk": "ssd"}))
        await sim.settle()
        pod = await get_pod(sim, "picky")
        assert pod.spec.node_name == ""
        message = "0/3 nodes are available: 3 node(s) didn't match Pod's node affinity/selector."
        [failed] = await events(sim, "FailedScheduling", "picky")
        assert (failed.type, failed.message) == ("Warning", message)
        condition = pod.status.condition("PodScheduled")
        assert condition is not None
        assert (condition.status, condition.reason, condition.message) == ("False", "Unschedulable", message)
        assert scheduler.scheduling_queue.where(("default", "picky")) == UNSCHEDULABLE

        await sim.advance(30)  # no event, no retry
        assert len(attempts(sim, "picky")) == 1

        await relabel(sim, "n2", {"disk": "ssd"})
        await sim.settle()
        assert (await get_pod(sim, "picky")).spec.node_name == "n2"
        assert [r.get("result") for r in attempts(sim, "picky")] == ["unschedulable", "scheduled"]
        assert attempts(sim, "picky")[-1].time == 30.0

    run(scenario)


def test_the_binding_turns_an_unschedulable_pod_scheduled() -> None:
    async def scenario(sim: Simulation) -> None:
        start_scheduler(sim)
        await sim.store.create(make_node("n1"))
        await sim.store.create(make_pod("picky", node_selector={"disk": "ssd"}))
        await sim.settle()
        await sim.advance(10)
        await relabel(sim, "n1", {"disk": "ssd"})
        await sim.settle()
        condition = (await get_pod(sim, "picky")).status.condition("PodScheduled")
        assert condition is not None
        assert (condition.status, condition.reason, condition.message) == ("True", "", "")
        assert condition.last_transition_time == sim.clock.now().replace(microsecond=0)

    run(scenario)


def test_failed_attempts_back_off_1_2_4_8_then_10_seconds() -> None:
    async def scenario(sim: Simulation) -> None:
        start_scheduler(sim)
        await sim.store.create(make_pod("lonely"))  # no node at all: every attempt fails
        await sim.advance(40)
        times = [record.time for record in attempts(sim, "lonely")]
        assert times == [0.0, 1.0, 3.0, 7.0, 15.0, 25.0, 35.0]
        assert [b - a for a, b in itertools.pairwise(times)] == [1.0, 2.0, 4.0, 8.0, 10.0, 10.0]
        [failed] = await events(sim, "FailedScheduling", "lonely")
        assert (failed.message, failed.count) == ("no nodes available to schedule pods", 7)
        # The PodScheduled condition is written once: an unchanged condition is not written again.
        patches = [r for r in sim.trace.of("write") if r.get("verb") == "patch" and r.get("name") == "lonely"]
        assert len(patches) == 1

    run(scenario)


def test_a_parked_pod_is_retried_after_five_minutes_without_any_event() -> None:
    async def scenario(sim: Simulation) -> None:
        start_scheduler(sim)
        await sim.store.create(make_node("n1"))
        await sim.store.create(make_pod("picky", node_selector={"disk": "ssd"}))
        await sim.settle()
        await sim.advance(299)
        assert len(attempts(sim, "picky")) == 1
        await sim.advance(2)
        assert [record.time for record in attempts(sim, "picky")] == [0.0, 300.0]

    run(scenario)


def test_node_heartbeats_do_not_retry_parked_pods_but_label_changes_do() -> None:
    async def scenario(sim: Simulation) -> None:
        start_scheduler(sim)
        ready = NodeCondition(type="Ready", status="True", last_heartbeat_time=sim.clock.now())
        node = make_node("n1")
        node = await sim.store.create(
            attrs.evolve(node, status=attrs.evolve(node.status, conditions=(ready,)))
        )
        await sim.store.create(make_pod("picky", node_selector={"disk": "ssd"}))
        await sim.settle()
        await sim.advance(5)
        beat = attrs.evolve(ready, last_heartbeat_time=sim.clock.now())
        await sim.store.update_status(
            attrs.evolve(node, status=attrs.evolve(node.status, conditions=(beat,)))
        )
        await sim.settle()
        assert len(attempts(sim, "picky")) == 1
        await relabel(sim, "n1", {"disk": "ssd"})
        await sim.settle()
        assert [record.time for record in attempts(sim, "picky")] == [0.0, 5.0]

    run(scenario)


def test_a_node_event_retries_only_the_parked_pods_that_would_fit_that_node() -> None:
    # preCheckForNode (queueing hints off): a node added or updated moves a parked pod only if the
    # node passes the admission checks for it (resources, node affinity and selector, node name, host
    # ports) and has no NoSchedule/NoExecute taint it does not tolerate.
    async def scenario(sim: Simulation) -> None:
        start_scheduler(sim)
        await sim.store.create(make_node("n1"))
        await sim.store.create(make_pod("picky", node_selector={"disk": "ssd"}))
        await sim.store.create(make_pod("big", cpu="6"))
        await sim.settle()
        await sim.advance(5)
        await sim.store.create(make_node("n2", cpu="8", labels={"disk": "hdd"}))  # fits "big" only
        await sim.settle()
        await relabel(sim, "n1", {"disk": "nvme"})  # helps neither
        await sim.settle()
        await sim.advance(5)
        await sim.store.create(make_node("n3", cpu="2", labels={"disk": "ssd"}))  # fits "picky" only
        await sim.settle()
        assert [record.time for record in attempts(sim, "picky")] == [0.0, 10.0]
        assert [(r.time, r.get("result")) for r in attempts(sim, "big")] == [
            (0.0, "unschedulable"),
            (5.0, "scheduled"),
        ]

    run(scenario)


def test_a_parked_pod_stays_parked_when_a_node_with_a_taint_it_does_not_tolerate_arrives() -> None:
    async def scenario(sim: Simulation) -> None:
        start_scheduler(sim)
        dedicated = [Taint(key="dedicated", value="gpu", effect="NoSchedule")]
        await sim.store.create(make_node("n1", taints=dedicated))
        await sim.store.create(make_pod("web"))
        await sim.settle()
        await sim.advance(5)
        await sim.store.create(make_node("n2", taints=dedicated))
        await sim.settle()
        assert [record.time for record in attempts(sim, "web")] == [0.0]
        await sim.store.create(make_node("n3"))
        await sim.settle()
        assert [(r.time, r.get("result")) for r in attempts(sim, "web")] == [
            (0.0, "unschedulable"),
            (5.0, "scheduled"),
        ]

    run(scenario)


def test_cordoned_nodes_receive_no_pods() -> None:
    async def scenario(sim: Simulation) -> None:
        start_scheduler(sim)
        await sim.store.create(make_node("cordoned", cpu="64", memory="256Gi", unschedulable=True))
        await sim.store.create(make_node("open"))
        for index in range(5):
            await sim.store.create(make_pod(f"p{index}"))
        await sim.settle()
        assert set((await placements(sim)).values()) == {"open"}

    run(scenario)


def test_only_pods_tolerating_the_unschedulable_taint_land_on_a_cordoned_node() -> None:
    async def scenario(sim: Simulation) -> None:
        start_scheduler(sim)
        await sim.store.create(make_node("cordoned", unschedulable=True))
        await sim.store.create(make_pod("plain"))
        tolerant = Toleration(key="node.kubernetes.io/unschedulable", operator="Exists", effect="NoSchedule")
        await sim.store.create(make_pod("tolerant", tolerations=[tolerant]))
        await sim.settle()
        assert await placements(sim) == {"plain": "", "tolerant": "cordoned"}
        [failed] = await events(sim, "FailedScheduling", "plain")
        assert failed.message == "0/1 nodes are available: 1 node(s) were unschedulable."

    run(scenario)


def test_an_untolerated_no_schedule_taint_is_reported_with_its_key_and_value() -> None:
    async def scenario(sim: Simulation) -> None:
        start_scheduler(sim)
        await sim.store.create(
            make_node("gpu", taints=[Taint(key="dedicated", value="gpu", effect="NoSchedule")])
        )
        await sim.store.create(make_pod("web"))
        await sim.settle()
        [failed] = await events(sim, "FailedScheduling", "web")
        assert failed.message == "0/1 nodes are available: 1 node(s) had untolerated taint {dedicated: gpu}."

    run(scenario)


def test_requests_never_exceed_allocatable() -> None:
    async def scenario(sim: Simulation) -> None:
        scheduler = start_scheduler(sim)
        await sim.store.create(make_node("n1", cpu="2", memory="4Gi"))
        await sim.store.create(make_node("n2", cpu="2", memory="4Gi"))
        for index in range(7):
            await sim.store.create(make_pod(f"p{index}", cpu="700m", memory="1Gi"))
        await sim.settle()
        placed = await placements(sim)
        assert sorted(placed.values()) == ["", "", "", "n1", "n1", "n2", "n2"]
        informer = sim.manager.informer(Pod)
        assert scheduler.cache_differences() == []
        for name in ("n1", "n2"):
            on_node = informer.by_index(BY_NODE, name)
            requested = sum(p.spec.containers[0].resources.requests["cpu"].milli_value() for p in on_node)
            assert requested <= 2000
        for name, node in placed.items():
            if not node:
                [failed] = await events(sim, "FailedScheduling", name)
                assert failed.message == "0/2 nodes are available: 2 Insufficient cpu."

    run(scenario)


def test_deleting_a_bound_pod_makes_room_for_a_pending_one() -> None:
    async def scenario(sim: Simulation) -> None:
        start_scheduler(sim)
        await sim.store.create(make_node("small", cpu="1"))
        await sim.store.create(make_pod("first", cpu="1"))
        await sim.settle()
        await sim.store.create(make_pod("second", cpu="1"))
        await sim.settle()
        assert await placements(sim) == {"first": "small", "second": ""}
        await sim.advance(3)
        await sim.store.delete(Pod, "first", "default", grace_period_seconds=0)
        await sim.settle()
        assert await placements(sim) == {"second": "small"}
        assert attempts(sim, "second")[-1].get("result") == "scheduled"

    run(scenario)


def test_a_finished_pod_frees_its_requests() -> None:
    async def scenario(sim: Simulation) -> None:
        scheduler = start_scheduler(sim)
        await sim.store.create(make_node("small", cpu="1"))
        await sim.store.create(make_pod("job", cpu="1"))
        await sim.settle()
        await sim.store.create(make_pod("next", cpu="1"))
        await sim.settle()
        job = await get_pod(sim, "job")
        await sim.store.update_status(attrs.evolve(job, status=attrs.evolve(job.status, phase="Succeeded")))
        await sim.settle()
        assert (await get_pod(sim, "next")).spec.node_name == "small"
        assert scheduler.cache_differences() == []

    run(scenario)


def test_a_refused_binding_is_forgotten_and_retried_after_backoff() -> None:
    async def scenario(sim: Simulation) -> None:
        scheduler = start_scheduler(sim)
        await sim.store.create(make_node("n1"))
        await sim.settle()
        sim.faults.fail_writes(1, error="internal", verbs=["bind"])
        await sim.store.create(make_pod("web"))
        await sim.settle()
        assert [(r.time, r.get("result")) for r in attempts(sim, "web")] == [
            (0.0, "error"),
            (1.0, "scheduled"),
        ]
        [failed] = await events(sim, "FailedScheduling", "web")
        assert failed.message.startswith('running Bind plugin "DefaultBinder": ')
        pod = await get_pod(sim, "web")
        assert pod.spec.node_name == "n1"
        # SchedulerError after the first attempt; the binding of the second made it True.
        condition = pod.status.condition("PodScheduled")
        assert condition is not None and (condition.status, condition.reason) == ("True", "")
        errors = [r for r in sim.trace.of("write") if r.get("verb") == "patch" and r.get("name") == "web"]
        assert len(errors) == 1
        info = scheduler.cache.node_info("n1")
        assert info is not None and info.pod_count == 1
        assert scheduler.cache_differences() == []

    run(scenario)


def test_a_pod_made_again_under_its_name_during_a_watch_gap_replaces_the_old_in_the_cache() -> None:
    async def scenario(sim: Simulation) -> None:
        scheduler = start_scheduler(sim)
        await sim.store.create(make_node("n1"))
        await sim.store.create(make_pod("web", cpu="1"))
        await sim.settle()
        sim.faults.drop_watches(Pod)
        await sim.store.delete(Pod, "web", "default", grace_period_seconds=0)
        await sim.store.create(make_pod("web", cpu="1"))
        sim.faults.clear()
        await sim.settle()
        # The relist shows the bound old pod turned into an unbound new one: one update, one pod.
        assert (await get_pod(sim, "web")).spec.node_name == "n1"
        info = scheduler.cache.node_info("n1")
        assert info is not None and info.pod_count == 1
        assert scheduler.cache_differences() == []

    run(scenario)


def test_a_binding_error_after_a_rejection_backs_off_one_second_not_two() -> None:
    async def scenario(sim: Simulation) -> None:
        start_scheduler(sim)
        await sim.store.create(make_node("n1"))
        await sim.store.create(make_pod("picky", node_selector={"disk": "ssd"}))
        await sim.settle()
        await sim.advance(10)
        sim.faults.fail_writes(1, error="internal", verbs=["bind"])
        await relabel(sim, "n1", {"disk": "ssd"})
        await sim.settle()
        # The second attempt is the first error: its backoff is 1 s whatever came before.
        assert [(r.time, r.get("result")) for r in attempts(sim, "picky")] == [
            (0.0, "unschedulable"),
            (10.0, "error"),
            (11.0, "scheduled"),
        ]

    run(scenario)


def test_an_assumed_pod_counts_before_the_informer_shows_its_binding() -> None:
    async def scenario(sim: Simulation) -> None:
        scheduler = start_scheduler(sim)
        await sim.store.create(make_node("small", cpu="1"))
        await sim.settle()
        sim.faults.delay(Pod, 5.0)  # the scheduler's Pod informer sees everything 5 s late
        first = await sim.store.create(make_pod("first", cpu="1"))
        await sim.store.create(make_pod("second", cpu="1"))
        await sim.advance(7)  # both seen at t=5; the binding of "first" shows only at t=10
        assert (await get_pod(sim, "first")).spec.node_name == "small"
        assert scheduler.cache.is_assumed(first)
        assert [r.get("result") for r in attempts(sim, "second")] == ["unschedulable"]
        await sim.advance(5)
        assert not scheduler.cache.is_assumed(first)
        assert scheduler.cache_differences() == []

    run(scenario)


def test_higher_priority_pods_are_scheduled_first() -> None:
    async def scenario(sim: Simulation) -> None:
        await sim.store.create(make_node("small", cpu="1"))
        await sim.store.create(make_pod("a-low", cpu="1"))
        await sim.store.create(make_pod("b-high", cpu="1", priority=1000))
        start_scheduler(sim)
        await sim.settle()
        assert await placements(sim) == {"a-low": "", "b-high": "small"}

    run(scenario)


def test_pods_of_other_schedulers_are_left_alone_and_pods_being_deleted_are_skipped() -> None:
    async def scenario(sim: Simulation) -> None:
        start_scheduler(sim)
        await sim.store.create(make_node("n1"))
        await sim.store.create(make_pod("theirs", scheduler_name="other-scheduler"))
        await sim.store.create(make_pod("leaving", finalizers=["example.com/hold"]))
        await sim.store.delete(Pod, "leaving", "default")
        await sim.settle()
        assert (await get_pod(sim, "leaving")).metadata.deletion_timestamp is not None
        assert await placements(sim) == {"theirs": "", "leaving": ""}
        assert attempts(sim, "theirs") == []
        [skipped] = await events(sim, "FailedScheduling")
        assert (skipped.involved_object.name, skipped.type, skipped.message) == (
            "leaving",
            "Warning",
            "skip schedule deleting pod: default/leaving",
        )

    run(scenario)


def test_a_parked_pod_that_starts_terminating_is_skipped_once_and_never_placed() -> None:
    # skipPodSchedule: the update frees it from the pool; when popped it is reported and dropped.
    async def scenario(sim: Simulation) -> None:
        scheduler = start_scheduler(sim)
        await sim.store.create(make_node("n1"))
        await sim.store.create(
            make_pod("picky", node_selector={"disk": "ssd"}, finalizers=["example.com/hold"])
        )
        await sim.settle()
        await sim.advance(5)
        await sim.store.delete(Pod, "picky", "default")
        await sim.settle()
        await sim.store.create(make_node("n2", labels={"disk": "ssd"}))
        await sim.settle()
        assert (await get_pod(sim, "picky")).spec.node_name == ""
        assert [event.message for event in await events(sim, "FailedScheduling", "picky")] == [
            "0/1 nodes are available: 1 node(s) didn't match Pod's node affinity/selector.",
            "skip schedule deleting pod: default/picky",
        ]
        assert ("default", "picky") not in scheduler.scheduling_queue

    run(scenario)


def test_a_host_port_is_given_out_once_per_node() -> None:
    async def scenario(sim: Simulation) -> None:
        start_scheduler(sim)
        await sim.store.create(make_node("n1"))
        await sim.store.create(make_pod("first", host_port=80))
        await sim.store.create(make_pod("second", host_port=80))
        await sim.settle()
        assert sorted((await placements(sim)).values()) == ["", "n1"]
        failed = await events(sim, "FailedScheduling")
        assert [event.message for event in failed] == [
            "0/1 nodes are available: 1 node(s) didn't have free ports for the requested pod ports."
        ]

    run(scenario)


def test_the_same_seed_gives_the_same_placements_and_trace() -> None:
    async def scenario(sim: Simulation) -> tuple[dict[str, str], str]:
        start_scheduler(sim)
        for index in range(4):
            await sim.store.create(make_node(f"n{index}"))
        for index in range(12):
            await sim.store.create(make_pod(f"p{index}", cpu="250m"))
        await sim.settle()
        return await placements(sim), sim.trace.digest()

    assert run(scenario, seed=7) == run(scenario, seed=7)


def test_a_pod_whose_pool_timeout_falls_between_two_clock_ticks_is_still_retried() -> None:
    # Pooled at 186.488281, the pod times out at 186.488281 + 300 = 486.48828100000003, and the loop's
    # clock counts microseconds: the timer fires at 486.488281, a hair early. The queue found nothing
    # due, the same timer was set again and fired at once, and virtual time never moved on (found by
    # the scheduling machine). The spy below turns that spin into a failure rather than a hang.
    class SpinGuard:
        def __init__(self, clock: Any) -> None:
            self.clock = clock
            self.armed: dict[float, int] = {}

        def __getattr__(self, name: str) -> Any:
            return getattr(self.clock, name)

        def call_at(self, deadline: float, callback: Callable[[], Any]) -> Any:
            self.armed[deadline] = self.armed.get(deadline, 0) + 1
            assert self.armed[deadline] < 100, f"the timer for {deadline} keeps firing before its pod is due"
            return self.clock.call_at(deadline, callback)

    async def scenario(sim: Simulation) -> list[str]:
        scheduler = start_scheduler(sim)
        scheduler._clock = SpinGuard(sim.clock)  # type: ignore[assignment]
        await sim.store.create(make_node("n1", cpu="1"))
        await sim.advance(186.488281)
        await sim.store.create(make_pod("big", cpu="2"))
        # Settling waits for every task to block between steps, so the loop never idles past the tick.
        # A pod that fits nowhere is tried every five minutes for good: the settle gives up after three.
        with pytest.raises(NotSettled):
            await sim.settle(horizon=400.0, max_steps=3)
        return [str(record.get("result")) for record in sim.trace.of("schedule")]

    # Tried when created, then each time its five minutes in the pool are up.
    assert run(scenario) == ["unschedulable"] * 4


def test_after_a_crash_the_scheduler_rebuilds_its_state_and_finishes_the_work() -> None:
    async def scenario(sim: Simulation) -> None:
        scheduler = start_scheduler(sim)
        await sim.store.create(make_node("n1"))
        await sim.store.create(make_node("n2"))
        await sim.settle()
        sim.faults.crash_after(1, controller="scheduler")  # the second write: after one bind
        for index in range(4):
            await sim.store.create(make_pod(f"p{index}"))
        await sim.settle()
        assert [r.get("controller") for r in sim.trace.of("crash")] == ["scheduler"]
        assert "" not in (await placements(sim)).values()
        assert scheduler.cache_differences() == []

    run(scenario)
