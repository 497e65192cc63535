"""The vectorised scheduling path decides exactly as the reference path.

The central test is a Hypothesis property: random clusters (capacities, zones, labels, taints,
cordons, pods already bound) and random sequences of operations — schedule a random pod and assume it
where it was placed, confirm or forget an assumption, delete a pod, change or add or remove a node —
are run against the reference algorithm and two vectorised ones (following a `TrackingCache`, and
diffing snapshots), all seeded alike. Every decision must agree: the same node, the same evaluated and
feasible counts, or the same failure with the same message and diagnosis; and afterwards the same
start index and the same random stream state. The targeted tests below pin the parts a random search
reaches rarely.
"""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from typing import Any

import attrs
import numpy as np
import pytest
from hypothesis import HealthCheck, given, note, settings
from hypothesis import strategies as st

from controllers.scheduler import Scheduler
from controllers.scheduler.cache import SchedulerCache
from controllers.scheduler.plugins import pod_info
from controllers.scheduler.scheduler import (
    FitError,
    ReferenceAlgorithm,
    SchedulingFailure,
    select_host,
)
from controllers.scheduler.vectorised import (
    TrackingCache,
    VectorisedAlgorithm,
    new_algorithm,
    select_host_array,
)
from reconcile.testing import Simulation
from store import FrozenDict, Quantity, parse_quantity
from store.models import (
    Affinity,
    Container,
    ContainerPort,
    Node,
    NodeAffinity,
    NodeSelector,
    NodeSelectorRequirement,
    NodeSelectorTerm,
    NodeSpec,
    NodeStatus,
    ObjectMeta,
    Pod,
    PodSpec,
    PreferredSchedulingTerm,
    ResourceRequirements,
    Taint,
    Toleration,
)

ZONE = "topology.kubernetes.io/zone"

# --- builders -------------------------------------------------------------------------------------


def quantities(amounts: Mapping[str, str]) -> FrozenDict[str, Quantity]:
    return FrozenDict({name: parse_quantity(value) for name, value in amounts.items()})


def make_node(
    name: str,
    *,
    labels: Mapping[str, str] | None = None,
    taints: Sequence[Taint] = (),
    unschedulable: bool = False,
    allocatable: Mapping[str, str] | None = None,
) -> Node:
    return Node(
        metadata=ObjectMeta(name=name, labels=FrozenDict({"kubernetes.io/hostname": name, **(labels or {})})),
        spec=NodeSpec(taints=tuple(taints), unschedulable=unschedulable),
        status=NodeStatus(
            allocatable=quantities(allocatable or {"cpu": "4", "memory": "8Gi", "pods": "110"})
        ),
    )


def make_pod(
    name: str,
    *,
    requests: Mapping[str, str] | None = None,
    node: str = "",
    node_selector: Mapping[str, str] | None = None,
    affinity: NodeAffinity | None = None,
    tolerations: Sequence[Toleration] = (),
    host_port: int | None = None,
) -> Pod:
    ports = (ContainerPort(container_port=8080, host_port=host_port),) if host_port else ()
    return Pod(
        metadata=ObjectMeta(name=name, namespace="default", uid=f"uid-{name}"),
        spec=PodSpec(
            containers=(
                Container(
                    name="app",
                    image="app:1",
                    ports=ports,
                    resources=ResourceRequirements(requests=quantities(requests or {})),
                ),
            ),
            node_name=node,
            node_selector=FrozenDict(node_selector or {}),
            affinity=Affinity(node_affinity=affinity) if affinity is not None else None,
            tolerations=tuple(tolerations),
        ),
    )


def on_node(pod: Pod, node: str) -> Pod:
    return attrs.evolve(pod, spec=attrs.evolve(pod.spec, node_name=node))


# --- the three deciders -----------------------------------------------------------------------------


Outcome = tuple[Any, ...]


def outcome(decide: Any) -> Outcome:
    try:
        result = decide()
    except FitError as failure:
        diagnosis = failure.diagnosis
        return ("FitError", str(failure), diagnosis.rejections, diagnosis.unschedulable_plugins)
    except SchedulingFailure as failure:
        return (type(failure).__name__, str(failure))
    return ("ok", result.suggested_host, result.evaluated_nodes, result.feasible_nodes)


class Trio:
    """The reference path, the vectorised path on a TrackingCache, and on snapshots, fed alike."""

    def __init__(self, seed: int, percentage: int) -> None:
        self.reference = ReferenceAlgorithm(random.Random(seed), percentage_of_nodes_to_score=percentage)
        self.tracked = VectorisedAlgorithm(random.Random(seed), percentage_of_nodes_to_score=percentage)
        self.snapshot = VectorisedAlgorithm(random.Random(seed), percentage_of_nodes_to_score=percentage)
        self.plain = SchedulerCache()
        self.tracking = TrackingCache()

    def both(self, method: str, *args: Any) -> None:
        getattr(self.plain, method)(*args)
        getattr(self.tracking, method)(*args)

    def schedule(self, pod: Pod) -> Outcome:
        info = pod_info(pod)
        expected = outcome(lambda: self.reference.schedule(info, self.plain.node_infos()))
        tracked = outcome(lambda: self.tracked.schedule_cached(info, self.tracking))
        snapshot = outcome(lambda: self.snapshot.schedule(info, self.plain.node_infos()))
        assert tracked == expected
        assert snapshot == expected
        for algorithm in (self.tracked, self.snapshot):
            assert algorithm.next_start_node_index == self.reference.next_start_node_index
            assert algorithm.rng.getstate() == self.reference.rng.getstate()
        return expected


# --- strategies -------------------------------------------------------------------------------------

TAINTS = (
    Taint(key="dedicated", value="infra", effect="NoSchedule"),
    Taint(key="gpu", value="", effect="NoExecute"),
    Taint(key="spot", value="yes", effect="PreferNoSchedule"),
    Taint(key="old", value="", effect="PreferNoSchedule"),
)
TOLERATIONS = (
    Toleration(key="dedicated", operator="Equal", value="infra", effect="NoSchedule"),
    Toleration(key="gpu", operator="Exists"),
    Toleration(key="spot", operator="Exists", effect="PreferNoSchedule"),
    Toleration(key="node.kubernetes.io/unschedulable", operator="Exists", effect="NoSchedule"),
    Toleration(operator="Exists"),
)
LABELS = {
    ZONE: ("a", "b", "c"),
    "disk": ("ssd", "hdd"),
    "gen": ("1", "2", "3"),
}


@st.composite
def labels(draw: st.DrawFn) -> dict[str, str]:
    return {
        key: value
        for key, values in LABELS.items()
        if (value := draw(st.sampled_from((None, *values)))) is not None
    }


@st.composite
def nodes(draw: st.DrawFn, name: str) -> Node:
    allocatable = {
        # Small amounts in steps of what pods request, so requests often meet capacity exactly.
        "cpu": draw(st.sampled_from(("0", "200m", "500m", "1", "4"))),
        "memory": draw(st.sampled_from(("0", "512Mi", "1Gi", "4Gi"))),
        "pods": draw(st.sampled_from(("0", "1", "3", "110"))),
    }
    if draw(st.booleans()):
        allocatable["ephemeral-storage"] = draw(st.sampled_from(("0", "1Gi", "10Gi")))
    return make_node(
        name,
        labels=draw(labels()),
        taints=draw(st.lists(st.sampled_from(TAINTS), max_size=2, unique=True)),
        unschedulable=draw(st.integers(0, 9)) == 0,
        allocatable=allocatable,
    )


def requirements() -> st.SearchStrategy[NodeSelectorRequirement]:
    keys = st.sampled_from((*LABELS, "missing"))
    values = st.lists(st.sampled_from(("a", "b", "ssd", "hdd", "1", "2")), min_size=1, max_size=2)
    return st.one_of(
        st.builds(
            lambda k, o, v: NodeSelectorRequirement(key=k, operator=o, values=tuple(v)),
            keys,
            st.sampled_from(("In", "NotIn")),
            values,
        ),
        st.builds(
            lambda k, o: NodeSelectorRequirement(key=k, operator=o),
            keys,
            st.sampled_from(("Exists", "DoesNotExist")),
        ),
        st.builds(
            lambda o, v: NodeSelectorRequirement(key="gen", operator=o, values=(v,)),
            st.sampled_from(("Gt", "Lt")),
            st.sampled_from(("1", "2", "x")),
        ),
    )


def field_requirements(names: Sequence[str]) -> st.SearchStrategy[NodeSelectorRequirement]:
    return st.builds(
        lambda o, v: NodeSelectorRequirement(key="metadata.name", operator=o, values=tuple(v)),
        st.sampled_from(("In", "NotIn")),
        st.lists(st.sampled_from((*names, "ghost")), min_size=1, max_size=2, unique=True),
    )


@st.composite
def terms(draw: st.DrawFn, names: Sequence[str]) -> NodeSelectorTerm:
    fields = draw(st.lists(field_requirements(names), max_size=1)) if draw(st.integers(0, 4)) == 0 else []
    return NodeSelectorTerm(
        match_expressions=tuple(draw(st.lists(requirements(), max_size=2))), match_fields=tuple(fields)
    )


@st.composite
def node_affinities(draw: st.DrawFn, names: Sequence[str]) -> NodeAffinity | None:
    if draw(st.booleans()):
        return None
    required = None
    if draw(st.booleans()):
        required = NodeSelector(
            node_selector_terms=tuple(draw(st.lists(terms(names), min_size=1, max_size=2)))
        )
    preferred = tuple(
        PreferredSchedulingTerm(weight=weight, preference=term)
        for weight, term in draw(st.lists(st.tuples(st.integers(0, 100), terms(names)), max_size=2))
    )
    return NodeAffinity(
        required_during_scheduling_ignored_during_execution=required,
        preferred_during_scheduling_ignored_during_execution=preferred,
    )


@st.composite
def pods(draw: st.DrawFn, name: str, names: Sequence[str]) -> Pod:
    requests = {}
    for resource, values in (
        ("cpu", ("0", "100m", "200m", "250m", "1")),
        ("memory", ("0", "256Mi", "312Mi", "1Gi", "3Gi")),
        ("ephemeral-storage", ("1Gi",)),
    ):
        value = draw(st.sampled_from((None, *values)))
        if value is not None:
            requests[resource] = value
    return make_pod(
        name,
        requests=requests,
        node=draw(st.sampled_from(("", "", "", "", *names[:2], "ghost"))),
        node_selector=draw(st.sampled_from(({}, {}, {}, {"disk": "ssd"}, {ZONE: "a"}, {"gen": "9"}))),
        affinity=draw(node_affinities(names)),
        tolerations=draw(st.lists(st.sampled_from(TOLERATIONS), max_size=2, unique=True)),
        host_port=draw(st.sampled_from((None, None, 80, 80, 8080))),
    )


@st.composite
def clusters(draw: st.DrawFn) -> tuple[list[Node], list[tuple[Pod, str]], int, int]:
    size = draw(st.one_of(st.integers(1, 8), st.integers(1, 8), st.integers(100, 120)))
    names = [f"node-{i}" for i in range(size)]
    cluster = [draw(nodes(name)) for name in names]
    bound = [
        (draw(pods(f"bound-{i}", names)), draw(st.sampled_from(names)))
        for i in range(draw(st.integers(0, 6)))
    ]
    percentage = draw(st.sampled_from((0, 0, 10, 100)))
    return cluster, bound, percentage, draw(st.integers(0, 2**32))


OPERATIONS = (
    "schedule",
    "schedule",
    "schedule",
    "schedule",
    "confirm",
    "forget",
    "delete",
    "node",
    "add",
    "drop",
)


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(cluster=clusters(), data=st.data())
def test_both_paths_choose_the_same_node_or_fail_alike_over_sequences_of_decisions(
    cluster: tuple[list[Node], list[tuple[Pod, str]], int, int], data: st.DataObject
) -> None:
    node_list, bound, percentage, seed = cluster
    trio = Trio(seed, percentage)
    names = [node.metadata.name for node in node_list]
    for node in node_list:
        trio.both("add_node", node)
    for pod, node_name in bound:
        trio.both("add_pod", on_node(pod, node_name))
    assumed: list[Pod] = []
    placed: list[Pod] = []
    for step in range(data.draw(st.integers(1, 12))):
        operation = data.draw(st.sampled_from(OPERATIONS))
        if operation == "schedule":
            pod = data.draw(pods(f"pod-{step}", names))
            result = trio.schedule(pod)
            note(f"schedule {pod.spec} -> {result[:2]}")
            if result[0] == "ok":
                pod = on_node(pod, result[1])
                trio.both("assume_pod", pod)
                assumed.append(pod)
        elif operation == "confirm" and assumed:
            pod = assumed.pop(data.draw(st.integers(0, len(assumed) - 1)))
            trio.both("add_pod", pod)
            placed.append(pod)
        elif operation == "forget" and assumed:
            trio.both("forget_pod", assumed.pop(data.draw(st.integers(0, len(assumed) - 1))))
        elif operation == "delete" and placed:
            trio.both("remove_pod", placed.pop(data.draw(st.integers(0, len(placed) - 1))))
        elif operation in ("node", "add"):
            name = data.draw(st.sampled_from(names)) if operation == "node" else f"node-new-{step}"
            note(f"{operation} {name}")
            trio.both("add_node", data.draw(nodes(name)))
            names = [*dict.fromkeys([*names, name])]
        elif operation == "drop" and len(names) > 1:
            name = names.pop(data.draw(st.integers(0, len(names) - 1)))
            note(f"drop {name}")
            trio.both("remove_node", make_node(name))
    assert trio.tracking.node_infos() == trio.plain.node_infos()


# --- targeted cases -------------------------------------------------------------------------------


@pytest.mark.parametrize("seed", range(20))
def test_select_host_array_picks_and_draws_exactly_as_select_host(seed: int) -> None:
    generator = random.Random(seed)
    scores = [generator.choice((0, 100, 200, 300)) for _ in range(generator.randint(1, 60))]
    reference, vectorised = random.Random(seed), random.Random(seed)
    assert select_host_array(np.array(scores, dtype=np.int64), vectorised) == select_host(scores, reference)
    assert vectorised.getstate() == reference.getstate()


def test_untolerated_taints_fail_with_the_reference_message_and_diagnosis() -> None:
    trio = Trio(seed=1, percentage=0)
    trio.both("add_node", make_node("a", taints=[TAINTS[0]]))
    trio.both("add_node", make_node("b", taints=[TAINTS[1]]))
    trio.both("add_node", make_node("c", unschedulable=True))
    result = trio.schedule(make_pod("p", requests={"cpu": "1"}))
    assert result[0] == "FitError"
    assert result[1] == (
        "0/3 nodes are available: 1 node(s) had untolerated taint {dedicated: infra}, "
        "1 node(s) had untolerated taint {gpu: }, 1 node(s) were unschedulable."
    )


def test_the_search_stops_after_enough_feasible_nodes_and_the_start_rotates() -> None:
    trio = Trio(seed=3, percentage=0)
    for i in range(300):
        trio.both("add_node", make_node(f"n{i}", labels={ZONE: "abc"[i % 3]}))
    first = trio.schedule(make_pod("p1", requests={"cpu": "100m"}))
    # 300 nodes: max(300 * (50 - 300 // 125) // 100, 100) = 144 nodes are enough.
    assert first[0] == "ok" and first[2:] == (144, 144)
    assert trio.tracked.next_start_node_index == 144
    trio.both("assume_pod", on_node(make_pod("p1", requests={"cpu": "100m"}), first[1]))
    second = trio.schedule(make_pod("p2", requests={"cpu": "100m"}))
    assert second[2:] == (144, 144)
    assert trio.tracked.next_start_node_index == 288


def test_the_search_reaches_past_a_first_stretch_with_too_few_feasible_nodes() -> None:
    trio = Trio(seed=5, percentage=0)
    # 400 nodes: 188 feasible ones are enough; every other node of the first 250 is cordoned, so the
    # first 282 nodes examined hold 157 feasible ones and the search goes on past them.
    for i in range(400):
        trio.both("add_node", make_node(f"n{i}", unschedulable=i < 250 and i % 2 == 0))
    first = trio.schedule(make_pod("p1", requests={"cpu": "100m"}))
    assert first[0] == "ok" and first[2:] == (313, 188)
    second = trio.schedule(make_pod("p2", requests={"cpu": "100m"}))
    assert second[0] == "ok" and second[3] == 188


def test_a_cordon_seen_after_the_arrays_were_built_removes_the_node_from_the_search() -> None:
    trio = Trio(seed=1, percentage=0)
    for name in ("a", "b"):
        trio.both("add_node", make_node(name))
    assert trio.schedule(make_pod("p1"))[0] == "ok"
    trio.both("add_node", make_node("a", unschedulable=True))
    assert trio.schedule(make_pod("p2")) == ("ok", "b", 2, 1)


def test_a_node_selector_on_the_hostname_label_picks_that_node_among_many() -> None:
    trio = Trio(seed=1, percentage=0)
    for i in range(150):
        trio.both("add_node", make_node(f"n{i}"))
    result = trio.schedule(make_pod("p", node_selector={"kubernetes.io/hostname": "n77"}))
    assert result == ("ok", "n77", 150, 1)


def test_a_host_port_in_use_rejects_its_node_until_the_pod_is_forgotten() -> None:
    trio = Trio(seed=1, percentage=0)
    trio.both("add_node", make_node("only"))
    holder = on_node(make_pod("holder", host_port=80), "only")
    trio.both("assume_pod", holder)
    assert trio.schedule(make_pod("p", host_port=80))[1] == (
        "0/1 nodes are available: 1 node(s) didn't have free ports for the requested pod ports."
    )
    trio.both("forget_pod", holder)
    assert trio.schedule(make_pod("p", host_port=80))[:2] == ("ok", "only")


def test_auto_leaves_small_clusters_to_the_reference_path_with_the_same_stream() -> None:
    algorithm = new_algorithm("auto", random.Random(1))
    assert isinstance(algorithm, VectorisedAlgorithm) and algorithm.min_nodes > 0
    assert type(new_algorithm("reference", random.Random(1))) is ReferenceAlgorithm
    with pytest.raises(ValueError, match="unknown scheduling algorithm"):
        new_algorithm("fast", random.Random(1))  # type: ignore[arg-type]


@pytest.mark.parametrize("algorithm", ["vectorised", "auto"])
def test_the_scheduler_places_pods_as_the_reference_path_does(algorithm: str) -> None:
    def scenario(kind: str) -> Any:
        async def run(sim: Simulation) -> dict[str, str]:
            sim.manager.add(Scheduler(sim.manager, algorithm=kind))  # type: ignore[arg-type]
            for i in range(6):
                await sim.store.create(make_node(f"n{i}", labels={ZONE: "ab"[i % 2]}))
            for i in range(20):
                await sim.store.create(make_pod(f"p{i}", requests={"cpu": "300m", "memory": "1Gi"}))
            await sim.settle()
            return {pod.metadata.name: pod.spec.node_name for pod in (await sim.store.list(Pod)).items}

        return Simulation(seed=7).run(run)

    placements = scenario(algorithm)
    assert placements == scenario("reference")
    assert all(placements.values())
