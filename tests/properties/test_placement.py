"""Property: the scheduler never binds a pod where it may not run, and a binding never changes.

Hypothesis draws nodes (capacities, labels, taints, some cordoned), pods (requests, nodeSelectors,
tolerations) and actions (create pods, cordon or uncordon a node, taint a node, delete a pod, let time
pass), and runs them against the Scheduler on virtual time. An independent oracle replays every
committed write to Pods and Nodes, revision by revision, and checks at each binding that the node, as it
was at that revision, is not cordoned (unless tolerated), carries no NoSchedule/NoExecute taint the pod
does not tolerate, matches the pod's nodeSelector, and has room: requests of the pods bound to it stay
within allocatable cpu, memory and pod count. At every write, spec.nodeName never changes once set.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from typing import Any

import anyio
import attrs
from hypothesis import HealthCheck, given, note, settings
from hypothesis import strategies as st

from controllers.scheduler import Scheduler
from reconcile.testing import Simulation
from store import MemoryStore, NotFound
from store.interface import EventType, WatchEvent
from store.memory import MemoryWatch
from store.models import (
    Container,
    Node,
    NodeSpec,
    NodeStatus,
    ObjectMeta,
    Pod,
    PodSpec,
    ResourceRequirements,
    Taint,
    Toleration,
)
from store.quantity import parse_quantity

ZONES = ("a", "b")
TAINTS = (
    Taint(key="dedicated", value="gpu", effect="NoSchedule"),
    Taint(key="maintenance", value="", effect="NoExecute"),
)


class PlacementOracle:
    """Replays Pod and Node writes in revision order and records every broken placement rule."""

    def __init__(self, store: MemoryStore, time_of: Callable[[int], float]) -> None:
        self._time_of = time_of
        self._watches: list[MemoryWatch[Any]] = [store.watch(Node, since=0), store.watch(Pod, since=0)]
        self.nodes: dict[str, Node] = {}
        self.pods: dict[tuple[str, str], Pod] = {}
        self.violations: list[str] = []
        self.bindings = 0
        # Each node's states with the virtual time they were written, oldest first.
        self._history: dict[str, list[tuple[float, int, Node]]] = {}

    def drain(self) -> None:
        """Replay what happened since the last drain."""
        events: list[WatchEvent[Any]] = [e for watch in self._watches for e in watch.ready()]
        for event in sorted(events, key=lambda e: e.revision):
            obj = event.object
            if isinstance(obj, Node):
                if event.type is EventType.DELETED:
                    self.nodes.pop(obj.metadata.name, None)
                else:
                    self.nodes[obj.metadata.name] = obj
                    self._history.setdefault(obj.metadata.name, []).append(
                        (self._time_of(event.revision), event.revision, obj)
                    )
            elif isinstance(obj, Pod):
                self._pod(event, obj)

    def _pod(self, event: WatchEvent[Any], pod: Pod) -> None:
        key = (pod.metadata.namespace, pod.metadata.name)
        before = self.pods.get(key)
        if event.type is EventType.DELETED:
            self.pods.pop(key, None)
            return
        if before is not None and before.spec.node_name and pod.spec.node_name != before.spec.node_name:
            self.violations.append(
                f"r{event.revision}: {key} moved from {before.spec.node_name} to {pod.spec.node_name}"
            )
        self.pods[key] = pod
        if pod.spec.node_name and (before is None or not before.spec.node_name):
            self.bindings += 1
            self._check_binding(event.revision, pod)

    def _could_have_seen(self, name: str, revision: int) -> list[Node]:
        """Every state of the node the scheduler's cache may have held when it bound at ``revision``.

        Time only moves once every cache caught up, so that is the last state written before the
        binding's instant, and any state written at that instant up to the binding.
        """
        instant = self._time_of(revision)
        earlier: list[Node] = []
        same_instant: list[Node] = []
        for written_at, written, state in self._history.get(name, ()):
            if written_at < instant:
                earlier = [state]
            elif written_at == instant and written < revision:
                same_instant.append(state)
        return earlier + same_instant

    def _check_binding(self, revision: int, pod: Pod) -> None:
        name = pod.spec.node_name
        node = self.nodes.get(name)
        where = f"r{revision}: {pod.metadata.name} on {name}"
        if node is None:
            self.violations.append(f"{where}: no such node")
            return
        seen = self._could_have_seen(name, revision)
        for problem in _unfit(pod, node):
            # A broken rule counts when every state the scheduler may have decided on broke it too.
            if seen and all(problem in _unfit(pod, state) for state in seen):
                self.violations.append(f"{where}: {problem}")
        bound = [
            p
            for p in self.pods.values()
            if p.spec.node_name == name and p.status.phase not in ("Succeeded", "Failed")
        ]
        cpu = sum(_request(p, "cpu") for p in bound)
        memory = sum(_request(p, "memory") for p in bound)
        allocatable = node.status.allocatable
        if cpu > parse_quantity(str(allocatable["cpu"])).milli_value():
            self.violations.append(f"{where}: cpu requests {cpu}m exceed allocatable")
        if memory > allocatable["memory"].value():
            self.violations.append(f"{where}: memory requests {memory} exceed allocatable")
        if len(bound) > allocatable["pods"].value():
            self.violations.append(f"{where}: {len(bound)} pods exceed allocatable")


def _unfit(pod: Pod, node: Node) -> list[str]:
    """The node's reasons to refuse the pod: cordon, untolerated taints, an unmatched nodeSelector."""
    problems = []
    tolerations = pod.spec.tolerations
    cordon = Taint(key="node.kubernetes.io/unschedulable", effect="NoSchedule")
    if node.spec.unschedulable and not any(t.tolerates(cordon) for t in tolerations):
        problems.append("node is cordoned")
    for taint in node.spec.taints:
        if taint.effect in ("NoSchedule", "NoExecute") and not any(t.tolerates(taint) for t in tolerations):
            problems.append(f"untolerated taint {taint.key}")
    for key, value in pod.spec.node_selector.items():
        if node.metadata.labels.get(key) != value:
            problems.append(f"nodeSelector {key}={value} not matched")
    return problems


def _request(pod: Pod, resource: str) -> int:
    total = 0
    for container in pod.spec.containers:
        amount = container.resources.requests.get(resource)
        if amount is not None:
            total += amount.milli_value() if resource == "cpu" else amount.value()
    return total


@attrs.frozen
class NodePlan:
    cpu: int
    memory_gi: int
    pods: int
    zone: str
    gpu: bool
    cordoned: bool
    taint: int | None


@attrs.frozen
class PodPlan:
    cpu_m: int
    memory_mi: int
    wants_gpu_zone: str | None
    tolerates: bool


node_plans = st.builds(
    NodePlan,
    cpu=st.integers(1, 4),
    memory_gi=st.integers(1, 8),
    pods=st.integers(1, 6),
    zone=st.sampled_from(ZONES),
    gpu=st.booleans(),
    cordoned=st.sampled_from([False, False, False, True]),
    taint=st.sampled_from([None, None, None, 0, 1]),
)
pod_plans = st.builds(
    PodPlan,
    cpu_m=st.sampled_from([0, 100, 500, 1000, 2500]),
    memory_mi=st.sampled_from([0, 128, 1024, 4096]),
    wants_gpu_zone=st.sampled_from([None, None, None, *ZONES]),
    tolerates=st.booleans(),
)
pod_action = st.tuples(st.just("pod"), pod_plans)
# Pods dominate, so that nodes fill up and every placement rule gets pressure.
actions = st.one_of(
    pod_action,
    pod_action,
    pod_action,
    pod_action,
    st.tuples(st.just("cordon"), st.integers(0, 5)),
    st.tuples(st.just("uncordon"), st.integers(0, 5)),
    st.tuples(st.just("taint"), st.integers(0, 5)),
    st.tuples(st.just("delete"), st.integers(0, 30)),
    st.tuples(st.just("wait"), st.sampled_from([0.5, 2.0, 15.0])),
)


def node(index: int, plan: NodePlan) -> Node:
    labels = {"kubernetes.io/hostname": f"n{index}", "topology.kubernetes.io/zone": plan.zone}
    if plan.gpu:
        labels["gpu"] = "true"
    capacity = {
        "cpu": parse_quantity(str(plan.cpu)),
        "memory": parse_quantity(f"{plan.memory_gi}Gi"),
        "pods": parse_quantity(str(plan.pods)),
    }
    taints = [] if plan.taint is None else [TAINTS[plan.taint]]
    return Node(
        metadata=ObjectMeta(name=f"n{index}", labels=labels),
        spec=NodeSpec(unschedulable=plan.cordoned, taints=taints),
        status=NodeStatus(capacity=capacity, allocatable=capacity),
    )


def pod(index: int, plan: PodPlan) -> Pod:
    requests = {}
    if plan.cpu_m:
        requests["cpu"] = parse_quantity(f"{plan.cpu_m}m")
    if plan.memory_mi:
        requests["memory"] = parse_quantity(f"{plan.memory_mi}Mi")
    selector = (
        {}
        if plan.wants_gpu_zone is None
        else {"gpu": "true", "topology.kubernetes.io/zone": plan.wants_gpu_zone}
    )
    tolerations = [Toleration(operator="Exists")] if plan.tolerates else []
    container = Container(name="c", image="app", resources=ResourceRequirements(requests=requests))
    return Pod(
        metadata=ObjectMeta(name=f"p{index}"),
        spec=PodSpec(containers=[container], node_selector=selector, tolerations=tolerations),
    )


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    nodes=st.lists(node_plans, min_size=1, max_size=6),
    steps=st.lists(actions, max_size=40),
    seed=st.integers(0, 2**16),
)
def test_no_pod_is_ever_bound_where_it_may_not_run_and_bindings_never_change(
    nodes: list[NodePlan], steps: list[tuple[str, Any]], seed: int
) -> None:
    async def scenario(sim: Simulation) -> PlacementOracle:
        def time_of(revision: int) -> float:
            """The virtual time a write was committed at, from the simulation's trace."""
            times = {record.get("revision"): record.time for record in sim.trace.of("write")}
            return times.get(revision, sim.now)

        oracle = PlacementOracle(sim.memory, time_of)
        for index, plan in enumerate(nodes):
            await sim.store.create(node(index, plan))
        sim.manager.add(Scheduler(sim.manager))
        for number, (verb, arg) in enumerate(steps):
            note(f"t={sim.now:.1f} {verb} {arg}")
            await act(sim, number, verb, arg, len(nodes))
            await anyio.sleep(0)
            oracle.drain()
        await sim.advance(30.0)
        oracle.drain()
        return oracle

    oracle = Simulation(seed=seed).run(scenario)
    note(f"{oracle.bindings} bindings checked")
    assert oracle.violations == []


async def act(sim: Simulation, number: int, verb: str, arg: Any, node_count: int) -> None:
    if verb == "pod":
        await sim.store.create(pod(number, arg))
    elif verb in ("cordon", "uncordon", "taint"):
        current = await sim.memory.get(Node, f"n{arg % node_count}")
        if verb == "taint":
            spec = attrs.evolve(current.spec, taints=(*current.spec.taints, TAINTS[number % len(TAINTS)]))
        else:
            spec = attrs.evolve(current.spec, unschedulable=verb == "cordon")
        if spec != current.spec:
            await sim.store.update(attrs.evolve(current, spec=spec))
    elif verb == "delete":
        with contextlib.suppress(NotFound):
            await sim.store.delete(Pod, f"p{arg}", "default", grace_period_seconds=0)
    elif verb == "wait":
        await sim.advance(arg)
