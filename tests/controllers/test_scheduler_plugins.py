"""Table tests of the scheduler's plugins and decision, ported from kube-scheduler's own tests.

Cases come from noderesources/{fit,least_allocated,balanced_allocation}_test.go,
tainttoleration/taint_toleration_test.go, nodeaffinity/node_affinity_test.go,
nodeports/node_ports_test.go, nodeunschedulable/node_unschedulable_test.go,
nodename/node_name_test.go, framework/types_test.go (TestFitError_Error, TestPodInfoCalculateResources)
and schedule_one_test.go (TestNumFeasibleNodesToFind, TestFairEvaluationForNodes, selectHost).
Cases about extended resources, hugepages, added (scheduler-configured) affinity and queueing hints
are left out: those features are not ported.
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Callable, Mapping, Sequence

import pytest

from controllers.scheduler.cache import (
    DEFAULT_MEMORY_REQUEST,
    DEFAULT_MILLI_CPU_REQUEST,
    HostPort,
    NodeInfo,
    PodResources,
    Resource,
    pod_resources,
)
from controllers.scheduler.plugins import (
    ERR_REASON_AFFINITY_CONFLICT,
    ERR_REASON_NODE_AFFINITY,
    ERR_REASON_NODE_NAME,
    ERR_REASON_NODE_PORTS,
    ERR_REASON_UNSCHEDULABLE,
    NODE_AFFINITY,
    NODE_RESOURCES_FIT,
    NODE_UNSCHEDULABLE,
    SCORE_PLUGINS,
    TAINT_TOLERATION,
    PodInfo,
    Rejection,
    balanced_allocation_score,
    default_normalize_score,
    insufficient_resources,
    is_best_effort,
    least_allocated_score,
    node_affinity,
    node_affinity_score,
    node_name,
    node_ports,
    node_unschedulable,
    pod_info,
    prioritize,
    run_filters,
    taint_toleration,
    taint_toleration_score,
)
from controllers.scheduler.scheduler import (
    Diagnosis,
    FitError,
    NoNodesAvailable,
    ReferenceAlgorithm,
    SchedulingError,
    fit_error_message,
    num_feasible_nodes_to_find,
    select_host,
    truncate_message,
)
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

# --- builders, in the spirit of upstream's st.MakePod / st.MakeNode --------------------------------


def resources(**amounts: str | int) -> FrozenDict[str, Quantity]:
    """A ResourceList; keyword ``ephemeral_storage`` is ``ephemeral-storage``."""
    return FrozenDict({name.replace("_", "-"): parse_quantity(str(value)) for name, value in amounts.items()})


def container(
    ports: Sequence[ContainerPort] = (), extra: Mapping[str, object] | None = None, **requests: str | int
) -> Container:
    return Container(
        name="c",
        image="busybox",
        ports=tuple(ports),
        resources=ResourceRequirements(requests=resources(**requests)),
        extra=FrozenDict(extra or {}),
    )


def make_pod(
    *containers: Container,
    init: Sequence[Container] = (),
    node_selector: Mapping[str, str] | None = None,
    affinity: NodeAffinity | None = None,
    tolerations: Sequence[Toleration] = (),
    node: str = "",
    host_network: bool = False,
    overhead: Mapping[str, str] | None = None,
) -> Pod:
    return Pod(
        metadata=ObjectMeta(name="pod", namespace="default", uid="pod-uid"),
        spec=PodSpec(
            containers=containers,
            init_containers=tuple(init),
            node_selector=FrozenDict(node_selector or {}),
            affinity=Affinity(node_affinity=affinity) if affinity is not None else None,
            tolerations=tuple(tolerations),
            node_name=node,
            host_network=host_network,
            extra=FrozenDict({"overhead": overhead} if overhead else {}),
        ),
    )


def resource_pod(*usage: tuple[int, int], init: Sequence[tuple[int, int]] = (), storage: int = 0) -> Pod:
    """newResourcePod: one container per (milliCPU, memory), requesting pods and storage as 0 too."""

    def one(milli_cpu: int, memory: int) -> Container:
        return container(cpu=f"{milli_cpu}m", memory=memory, pods=0, ephemeral_storage=storage)

    return make_pod(*(one(*u) for u in usage), init=[one(*u) for u in init])


def make_node(
    name: str = "node",
    *,
    labels: Mapping[str, str] | None = None,
    taints: Sequence[Taint] = (),
    unschedulable: bool = False,
    **allocatable: str | int,
) -> Node:
    return Node(
        metadata=ObjectMeta(name=name, labels=FrozenDict(labels or {})),
        spec=NodeSpec(taints=tuple(taints), unschedulable=unschedulable),
        status=NodeStatus(allocatable=resources(**allocatable)),
    )


def verdict(
    check: Callable[[PodInfo, NodeInfo], Rejection | None], pod: Pod, node: NodeInfo
) -> Rejection | None:
    return check(pod_info(pod), node)


def requirement(key: str, operator: str, *values: str) -> NodeSelectorRequirement:
    return NodeSelectorRequirement(key=key, operator=operator, values=values)


def required(*terms: NodeSelectorTerm) -> NodeAffinity:
    return NodeAffinity(
        required_during_scheduling_ignored_during_execution=NodeSelector(node_selector_terms=terms)
    )


def term(
    *expressions: NodeSelectorRequirement, fields: Sequence[NodeSelectorRequirement] = ()
) -> NodeSelectorTerm:
    return NodeSelectorTerm(match_expressions=expressions, match_fields=tuple(fields))


# --- NodeResourcesFit filter (fit_test.go) ---------------------------------------------------------

FIT_NODE = make_node(cpu="10m", memory=20, pods=32, ephemeral_storage=20)

ENOUGH_REQUESTS = [
    ("no resources requested always fits", make_pod(), [(10, 20)], ()),
    (
        "too many resources fails",
        resource_pod((1, 1)),
        [(10, 20)],
        ("Insufficient cpu", "Insufficient memory"),
    ),
    (
        "too many resources fails due to init container cpu",
        resource_pod((1, 1), init=[(3, 1)]),
        [(8, 19)],
        ("Insufficient cpu",),
    ),
    (
        "too many resources fails due to highest init container cpu",
        resource_pod((1, 1), init=[(3, 1), (2, 1)]),
        [(8, 19)],
        ("Insufficient cpu",),
    ),
    (
        "too many resources fails due to init container memory",
        resource_pod((1, 1), init=[(1, 3)]),
        [(9, 19)],
        ("Insufficient memory",),
    ),
    (
        "too many resources fails due to highest init container memory",
        resource_pod((1, 1), init=[(1, 3), (1, 2)]),
        [(9, 19)],
        ("Insufficient memory",),
    ),
    (
        "init container fits because it's the max, not sum, of containers and init containers",
        resource_pod((1, 1), init=[(1, 1)]),
        [(9, 19)],
        (),
    ),
    (
        "multiple init containers fit because it's the max, not sum, of containers and init containers",
        resource_pod((1, 1), init=[(1, 1), (1, 1)]),
        [(9, 19)],
        (),
    ),
    ("both resources fit", resource_pod((1, 1)), [(5, 5)], ()),
    ("one resource memory fits", resource_pod((2, 1)), [(9, 5)], ("Insufficient cpu",)),
    ("one resource cpu fits", resource_pod((1, 2)), [(5, 19)], ("Insufficient memory",)),
    ("equal edge case", resource_pod((5, 1)), [(5, 19)], ()),
    ("equal edge case for init container", resource_pod((4, 1), init=[(5, 1)]), [(5, 19)], ()),
    (
        "skip checking resource request with quantity zero",
        make_pod(container(cpu=0, memory=0)),
        [(20, 30)],
        (),
    ),
]


@pytest.mark.parametrize(
    ("pod", "existing", "reasons"), [c[1:] for c in ENOUGH_REQUESTS], ids=[c[0] for c in ENOUGH_REQUESTS]
)
def test_fit_reports_every_insufficient_resource(
    pod: Pod, existing: list[tuple[int, int]], reasons: tuple[str, ...]
) -> None:
    node = NodeInfo.of(FIT_NODE, [resource_pod(usage) for usage in existing])
    assert insufficient_resources(pod_info(pod), node) == reasons


@pytest.mark.parametrize(
    ("overhead", "reasons"),
    [
        pytest.param({"cpu": "3m", "memory": "13"}, (), id="resources + pod overhead fits"),
        pytest.param(
            {"cpu": "1m", "memory": "15"},
            ("Insufficient memory",),
            id="requests + overhead does not fit for memory",
        ),
    ],
)
def test_fit_adds_the_pod_overhead_to_its_requests(
    overhead: dict[str, str], reasons: tuple[str, ...]
) -> None:
    pod = make_pod(container(cpu="1m", memory=1), overhead=overhead)
    node = NodeInfo.of(FIT_NODE, [resource_pod((5, 5))])
    assert insufficient_resources(pod_info(pod), node) == reasons


def test_fit_rejection_names_the_plugin_and_keeps_all_reasons() -> None:
    node = NodeInfo.of(FIT_NODE, [resource_pod((10, 20))])
    assert verdict(run_filters, resource_pod((1, 1)), node) == Rejection(
        NODE_RESOURCES_FIT, ("Insufficient cpu", "Insufficient memory")
    )


@pytest.mark.parametrize(
    "pod",
    [
        pytest.param(make_pod(), id="even without specified resources"),
        pytest.param(resource_pod((1, 1)), id="even if both resources fit"),
        pytest.param(resource_pod((5, 1)), id="even for equal edge case"),
        pytest.param(
            resource_pod((5, 1), init=[(5, 1)]), id="even for equal edge case due to init container"
        ),
    ],
)
def test_fit_fails_with_too_many_pods_when_no_pod_slot_is_left(pod: Pod) -> None:
    node = NodeInfo.of(make_node(cpu="10m", memory=20, pods=1), [resource_pod((5, 5))])
    assert insufficient_resources(pod_info(pod), node)[:1] == ("Too many pods",)


def test_a_node_without_allocatable_pods_admits_no_pod() -> None:
    node = NodeInfo.of(make_node(cpu="4", memory="8Gi"))
    assert insufficient_resources(pod_info(make_pod()), node) == ("Too many pods",)


@pytest.mark.parametrize(
    ("pod", "existing", "reasons"),
    [
        pytest.param(
            resource_pod((1, 1)), resource_pod((2, 10)), (), id="empty storage requested, and pod fits"
        ),
        pytest.param(
            resource_pod((0, 0), storage=25),
            resource_pod((2, 2)),
            ("Insufficient ephemeral-storage",),
            id="storage ephemeral local storage request exceeds allocatable",
        ),
        pytest.param(
            resource_pod((0, 0), storage=5),
            resource_pod((2, 2), storage=10),
            (),
            id="ephemeral local storage is sufficient",
        ),
        pytest.param(resource_pod((0, 0), storage=10), resource_pod((2, 2)), (), id="pod fits"),
    ],
)
def test_fit_checks_ephemeral_storage(pod: Pod, existing: Pod, reasons: tuple[str, ...]) -> None:
    node = NodeInfo.of(FIT_NODE, [existing])
    assert insufficient_resources(pod_info(pod), node) == reasons


# --- what a pod requests (TestPodInfoCalculateResources, PodRequests) ---------------------------------


@pytest.mark.parametrize(
    ("pod", "requested", "non_zero"),
    [
        pytest.param(
            make_pod(container()),
            Resource(),
            Resource(DEFAULT_MILLI_CPU_REQUEST, DEFAULT_MEMORY_REQUEST),
            id="requestless container",
        ),
        pytest.param(
            make_pod(container(cpu="500m", memory="500Mi")),
            Resource(500, 500 * 2**20),
            Resource(500, 500 * 2**20),
            id="1X container with requests",
        ),
        pytest.param(
            make_pod(container(cpu="500m", memory="500Mi"), container(cpu="700m", memory="800Mi")),
            Resource(1200, 1300 * 2**20),
            Resource(1200, 1300 * 2**20),
            id="2X container with requests",
        ),
        pytest.param(
            make_pod(container(cpu=0, memory=0)),
            Resource(),
            Resource(),
            id="requests stated as zero stay zero for scoring",
        ),
        pytest.param(
            make_pod(container(cpu="500m"), init=[container(cpu="1", memory="1Gi")]),
            Resource(1000, 2**30),
            Resource(1000, 2**30),
            id="the largest init container wins over the sum of containers",
        ),
        pytest.param(
            make_pod(
                container(cpu="500m", memory="500Mi"),
                init=[
                    container(cpu="500m", memory="500Mi", extra={"restartPolicy": "Always"}),
                    container(cpu="700m"),
                ],
            ),
            Resource(1200, 1000 * 2**20),
            Resource(1200, 1000 * 2**20),
            id="a sidecar adds to the containers and to the init containers after it",
        ),
    ],
)
def test_pod_requests_sum_containers_and_take_the_max_with_init_containers(
    pod: Pod, requested: Resource, non_zero: Resource
) -> None:
    computed = pod_resources(pod)
    assert (computed.requested, computed.non_zero) == (requested, non_zero)


def test_pod_resources_of_pods_sharing_a_template_and_of_pods_that_do_not() -> None:
    # Pods made from one template share its containers, so their figures are worked out once; any other
    # part that counts (init containers, overhead, hostNetwork, other containers) gets its own figures.
    web = container(ports=[ContainerPort(container_port=80)], cpu="500m", memory="500Mi")
    first = make_pod(web)
    second = Pod(metadata=ObjectMeta(name="second", namespace="default"), spec=first.spec)
    alone = PodResources(requested=Resource(500, 500 * 2**20), non_zero=Resource(500, 500 * 2**20))
    assert pod_resources(first) == alone
    assert pod_resources(second) is pod_resources(first)
    shared = first.spec.containers
    others = {
        "init": (
            Pod(spec=PodSpec(containers=shared, init_containers=(container(cpu="1"),))),
            Resource(1000, 500 * 2**20),
        ),
        "overhead": (
            Pod(spec=PodSpec(containers=shared, extra=FrozenDict({"overhead": {"cpu": "250m"}}))),
            Resource(750, 500 * 2**20),
        ),
        "host network": (Pod(spec=PodSpec(containers=shared, host_network=True)), alone.requested),
        "containers": (make_pod(container(cpu="700m")), Resource(700, 0)),
    }
    for name, (pod, requested) in others.items():
        assert pod_resources(pod).requested == requested, name
        assert pod_resources(first) == alone, name
    assert pod_resources(others["host network"][0]).host_ports == (HostPort("0.0.0.0", "TCP", 80),)


# --- NodeResourcesFit score, LeastAllocated (least_allocated_test.go) --------------------------------


def least_node(name: str) -> Node:
    return make_node(name, cpu="4000", memory="10000")


def req(cpu: int, memory: int) -> Container:
    """st.MakePod().Req: a container requesting whole cpus and bytes of memory."""
    return container(cpu=cpu, memory=memory)


def scores_of(
    score: Callable[..., int], pod: Pod, nodes: Sequence[tuple[Node, Sequence[Pod]]], **kwargs: object
) -> list[int]:
    info = pod_info(pod)
    return [score(info, NodeInfo.of(node, pods), **kwargs) for node, pods in nodes]


REQUESTED = make_pod(req(1000, 2000), req(2000, 3000))

LEAST_ALLOCATED = [
    (
        "nothing scheduled, nothing requested",
        make_pod(),
        [(least_node("node1"), []), (least_node("node2"), [])],
        [100, 100],
    ),
    (
        "nothing scheduled, resources requested, differently sized nodes",
        REQUESTED,
        [(least_node("node1"), []), (make_node("node2", cpu="6000", memory="10000"), [])],
        [37, 50],
    ),
    (
        "no resources requested, pods scheduled",
        make_pod(),
        [
            (least_node("node1"), [make_pod(), make_pod()]),
            (least_node("node2"), [make_pod(), make_pod()]),
        ],
        [100, 100],
    ),
    (
        "no resources requested, pods scheduled with resources",
        make_pod(),
        [
            (
                make_node("node1", cpu="10000", memory="20000"),
                [make_pod(req(3000, 0)), make_pod(req(3000, 0))],
            ),
            (
                make_node("node2", cpu="10000", memory="20000"),
                [make_pod(req(3000, 0)), make_pod(req(3000, 5000))],
            ),
        ],
        [70, 57],
    ),
    (
        "resources requested, pods scheduled with resources",
        REQUESTED,
        [
            (make_node("node1", cpu="10000", memory="20000"), [make_pod(req(3000, 0))]),
            (make_node("node2", cpu="10000", memory="20000"), [make_pod(req(3000, 5000))]),
        ],
        [57, 45],
    ),
    (
        "resources requested, pods scheduled with resources, differently sized nodes",
        REQUESTED,
        [
            (make_node("node1", cpu="10000", memory="20000"), [make_pod(req(3000, 0))]),
            (make_node("node2", cpu="10000", memory="50000"), [make_pod(req(3000, 5000))]),
        ],
        [57, 60],
    ),
    (
        "requested resources exceed node capacity",
        make_pod(req(3000, 0)),
        [
            (least_node("node1"), [make_pod(req(3000, 0))]),
            (least_node("node2"), [make_pod(req(3000, 5000))]),
        ],
        [50, 25],
    ),
    (
        "zero node resources, pods scheduled with resources",
        make_pod(),
        [(make_node("node1"), [make_pod(req(3000, 0))]), (make_node("node2"), [make_pod(req(3000, 5000))])],
        [0, 0],
    ),
]


@pytest.mark.parametrize(
    ("pod", "nodes", "expected"), [c[1:] for c in LEAST_ALLOCATED], ids=[c[0] for c in LEAST_ALLOCATED]
)
def test_least_allocated_favours_the_node_with_most_free_capacity(
    pod: Pod, nodes: list[tuple[Node, list[Pod]]], expected: list[int]
) -> None:
    assert scores_of(least_allocated_score, pod, nodes) == expected


def test_least_allocated_weighs_resources_by_their_configured_weights() -> None:
    # (25·1 + 50·2) / 3 = 41 and (50·1 + 50·2) / 3 = 50
    nodes: list[tuple[Node, Sequence[Pod]]] = [
        (least_node("node1"), []),
        (make_node("node2", cpu="6000", memory="10000"), []),
    ]
    weights = (("memory", 2), ("cpu", 1))
    assert scores_of(least_allocated_score, REQUESTED, nodes, resources=weights) == [41, 50]


def test_least_allocated_counts_default_requests_for_containers_without_any() -> None:
    # 100m of 1 cpu and 200Mi of 2000Mi used by the pod itself: (90 + 90) / 2
    node = make_node("node1", cpu="1", memory="2000Mi")
    assert scores_of(least_allocated_score, make_pod(container()), [(node, [])]) == [90]


# --- NodeResourcesBalancedAllocation (balanced_allocation_test.go) ----------------------------------

CPU_ONLY = make_pod(container(cpu="1000m", memory=0), container(cpu="2000m", memory=0))
CPU_AND_MEMORY = make_pod(container(cpu="1000m", memory=2000), container(cpu="2000m", memory=3000))


def balanced_node(name: str, milli_cpu: int, memory: int) -> Node:
    return make_node(name, cpu=f"{milli_cpu}m", memory=memory)


BALANCED = [
    (
        # cpu 3000/4000 and memory 5000/10000: std 0.125, (1 − 0.125)·100; then 0.5 and 0.5: 100
        "nothing scheduled, resources requested, differently sized machines",
        CPU_AND_MEMORY,
        [(balanced_node("machine1", 4000, 10000), []), (balanced_node("machine2", 6000, 10000), [])],
        [87, 100],
    ),
    (
        # 0.6 and 0.25: std 0.175 → 82; 0.6 and 0.5: std 0.05 → 95
        "resources requested, pods scheduled with resources",
        CPU_AND_MEMORY,
        [
            (balanced_node("machine1", 10000, 20000), [CPU_ONLY]),
            (balanced_node("machine2", 10000, 20000), [CPU_AND_MEMORY]),
        ],
        [82, 95],
    ),
    (
        # 0.6 and 0.2: std 0.2 → 80
        "resources requested, pods scheduled with resources, differently sized machines",
        CPU_AND_MEMORY,
        [
            (balanced_node("machine1", 10000, 20000), [CPU_ONLY]),
            (balanced_node("machine2", 10000, 50000), [CPU_AND_MEMORY]),
        ],
        [82, 80],
    ),
    (
        # cpu 6000/4000 caps at 1: with memory 0, std 0.5 → 50; with memory 0.5, std 0.25 → 75
        "requested resources exceed node capacity",
        CPU_ONLY,
        [
            (balanced_node("machine1", 4000, 10000), [CPU_ONLY]),
            (balanced_node("machine2", 4000, 10000), [CPU_AND_MEMORY]),
        ],
        [50, 75],
    ),
    (
        "zero node resources, pods scheduled with resources",
        CPU_AND_MEMORY,
        [(balanced_node("machine1", 0, 0), [CPU_ONLY]), (balanced_node("machine2", 0, 0), [CPU_AND_MEMORY])],
        [100, 100],
    ),
]


@pytest.mark.parametrize(
    ("pod", "nodes", "expected"), [c[1:] for c in BALANCED], ids=[c[0] for c in BALANCED]
)
def test_balanced_allocation_favours_even_cpu_and_memory_use(
    pod: Pod, nodes: list[tuple[Node, list[Pod]]], expected: list[int]
) -> None:
    assert scores_of(balanced_allocation_score, pod, nodes) == expected


def test_balanced_allocation_uses_actual_requests_not_the_non_zero_defaults() -> None:
    # Existing requestless pods add nothing: cpu 3000/10000 and memory 5000/20000 → std 0.025 → 97
    node = balanced_node("machine1", 10000, 20000)
    assert scores_of(balanced_allocation_score, CPU_AND_MEMORY, [(node, [make_pod(container())])]) == [97]


@pytest.mark.parametrize(
    ("pod", "best_effort"),
    [
        pytest.param(make_pod(), True, id="no containers"),
        pytest.param(make_pod(container()), True, id="containers without requests"),
        pytest.param(CPU_ONLY, False, id="cpu requested"),
    ],
)
def test_balanced_allocation_skips_best_effort_pods(pod: Pod, best_effort: bool) -> None:
    assert is_best_effort(pod_info(pod)) is best_effort


# --- TaintToleration (taint_toleration_test.go) ----------------------------------------------------


def tainted(name: str, *taints: tuple[str, str, str]) -> Node:
    return make_node(name, taints=[Taint(key=k, value=v, effect=e) for k, v, e in taints])


def tolerating(*tolerations: tuple[str, str, str, str]) -> Pod:
    return make_pod(
        tolerations=[Toleration(key=k, operator=o, value=v, effect=e) for k, o, v, e in tolerations]
    )


TAINT_FILTER = [
    (
        "A pod having no tolerations can't be scheduled onto a node with nonempty taints",
        tolerating(),
        tainted("nodeA", ("dedicated", "user1", "NoSchedule")),
        "node(s) had untolerated taint {dedicated: user1}",
    ),
    (
        "A pod which can be scheduled on a dedicated node assigned to user1 with effect NoSchedule",
        tolerating(("dedicated", "", "user1", "NoSchedule")),
        tainted("nodeA", ("dedicated", "user1", "NoSchedule")),
        None,
    ),
    (
        "A pod which can't be scheduled on a dedicated node assigned to user2 with effect NoSchedule",
        tolerating(("dedicated", "Equal", "user2", "NoSchedule")),
        tainted("nodeA", ("dedicated", "user1", "NoSchedule")),
        "node(s) had untolerated taint {dedicated: user1}",
    ),
    (
        "A pod can be scheduled onto the node, with a toleration of operator Exists tolerating the taint",
        tolerating(("foo", "Exists", "", "NoSchedule")),
        tainted("nodeA", ("foo", "bar", "NoSchedule")),
        None,
    ),
    (
        "A pod has multiple tolerations, node has multiple taints, all the taints are tolerated",
        tolerating(("dedicated", "Equal", "user2", "NoSchedule"), ("foo", "Exists", "", "NoSchedule")),
        tainted("nodeA", ("dedicated", "user2", "NoSchedule"), ("foo", "bar", "NoSchedule")),
        None,
    ),
    (
        "A pod has a toleration that keys and values match the taint, but (non-empty) effect doesn't match",
        tolerating(("foo", "Equal", "bar", "PreferNoSchedule")),
        tainted("nodeA", ("foo", "bar", "NoSchedule")),
        "node(s) had untolerated taint {foo: bar}",
    ),
    (
        "The pod has a toleration that keys and values match the taint, the effect of toleration is empty",
        tolerating(("foo", "Equal", "bar", "")),
        tainted("nodeA", ("foo", "bar", "NoSchedule")),
        None,
    ),
    (
        "The pod has a toleration that doesn't match, but the effect of taint on node is PreferNoSchedule",
        tolerating(("dedicated", "Equal", "user2", "NoSchedule")),
        tainted("nodeA", ("dedicated", "user1", "PreferNoSchedule")),
        None,
    ),
    (
        "The pod has no toleration, but the effect of taint on node is PreferNoSchedule",
        tolerating(),
        tainted("nodeA", ("dedicated", "user1", "PreferNoSchedule")),
        None,
    ),
    (
        "A NoExecute taint must be tolerated too",
        tolerating(),
        tainted("nodeA", ("node.kubernetes.io/not-ready", "", "NoExecute")),
        "node(s) had untolerated taint {node.kubernetes.io/not-ready: }",
    ),
]


@pytest.mark.parametrize(
    ("pod", "node", "reason"), [c[1:] for c in TAINT_FILTER], ids=[c[0] for c in TAINT_FILTER]
)
def test_taint_toleration_rejects_untolerated_no_schedule_and_no_execute_taints(
    pod: Pod, node: Node, reason: str | None
) -> None:
    expected = None if reason is None else Rejection(TAINT_TOLERATION, (reason,))
    assert verdict(taint_toleration, pod, NodeInfo.of(node)) == expected


TAINT_SCORE = [
    (
        "node with taints tolerated by the pod, gets a higher score than those node with intolerable taints",
        tolerating(("foo", "Equal", "bar", "PreferNoSchedule")),
        [
            tainted("nodeA", ("foo", "bar", "PreferNoSchedule")),
            tainted("nodeB", ("foo", "blah", "PreferNoSchedule")),
        ],
        [100, 0],
    ),
    (
        "the nodes that all of their taints are tolerated by the pod, get the same score",
        tolerating(
            ("cpu-type", "Equal", "arm64", "PreferNoSchedule"),
            ("disk-type", "Equal", "ssd", "PreferNoSchedule"),
        ),
        [
            tainted("nodeA"),
            tainted("nodeB", ("cpu-type", "arm64", "PreferNoSchedule")),
            tainted(
                "nodeC", ("cpu-type", "arm64", "PreferNoSchedule"), ("disk-type", "ssd", "PreferNoSchedule")
            ),
        ],
        [100, 100, 100],
    ),
    (
        "the more intolerable taints a node has, the lower score it gets",
        tolerating(("foo", "Equal", "bar", "PreferNoSchedule")),
        [
            tainted("nodeA"),
            tainted("nodeB", ("cpu-type", "arm64", "PreferNoSchedule")),
            tainted(
                "nodeC", ("cpu-type", "arm64", "PreferNoSchedule"), ("disk-type", "ssd", "PreferNoSchedule")
            ),
        ],
        [100, 50, 0],
    ),
    (
        "only taints and tolerations that have effect PreferNoSchedule are checked",
        tolerating(("cpu-type", "Equal", "arm64", "NoSchedule"), ("disk-type", "Equal", "ssd", "NoSchedule")),
        [
            tainted("nodeA"),
            tainted("nodeB", ("cpu-type", "arm64", "NoSchedule")),
            tainted(
                "nodeC", ("cpu-type", "arm64", "PreferNoSchedule"), ("disk-type", "ssd", "PreferNoSchedule")
            ),
        ],
        [100, 100, 0],
    ),
    (
        "Default behaviour No taints and tolerations, lands on node with no taints",
        tolerating(),
        [tainted("nodeA"), tainted("nodeB", ("cpu-type", "arm64", "PreferNoSchedule"))],
        [100, 0],
    ),
]


@pytest.mark.parametrize(
    ("pod", "nodes", "expected"), [c[1:] for c in TAINT_SCORE], ids=[c[0] for c in TAINT_SCORE]
)
def test_taint_toleration_score_counts_intolerable_prefer_no_schedule_taints_reversed(
    pod: Pod, nodes: list[Node], expected: list[int]
) -> None:
    raw = scores_of(taint_toleration_score, pod, [(node, []) for node in nodes])
    assert default_normalize_score(raw, reverse=True) == expected


# --- NodeAffinity (node_affinity_test.go) -----------------------------------------------------------

AFFINITY_FILTER = [
    ("missing labels", make_pod(node_selector={"foo": "bar"}), {}, "node1", False),
    ("same labels", make_pod(node_selector={"foo": "bar"}), {"foo": "bar"}, "node1", True),
    (
        "node labels are superset",
        make_pod(node_selector={"foo": "bar"}),
        {"foo": "bar", "baz": "blah"},
        "node1",
        True,
    ),
    (
        "node labels are subset",
        make_pod(node_selector={"foo": "bar", "baz": "blah"}),
        {"foo": "bar"},
        "node1",
        False,
    ),
    (
        "Pod with matchExpressions using In operator that matches the existing node",
        make_pod(affinity=required(term(requirement("foo", "In", "bar", "value2")))),
        {"foo": "bar"},
        "node1",
        True,
    ),
    (
        "Pod with matchExpressions using Gt operator that matches the existing node",
        make_pod(affinity=required(term(requirement("kernel-version", "Gt", "0204")))),
        {"kernel-version": "0206"},
        "node1",
        True,
    ),
    (
        "Pod with matchExpressions using Lt operator that does not match the existing node",
        make_pod(affinity=required(term(requirement("kernel-version", "Lt", "0204")))),
        {"kernel-version": "0206"},
        "node1",
        False,
    ),
    (
        "Pod with matchExpressions using NotIn operator that matches the existing node",
        make_pod(affinity=required(term(requirement("mem-type", "NotIn", "DDR", "DDR2")))),
        {"mem-type": "DDR3"},
        "node1",
        True,
    ),
    (
        "Pod with matchExpressions using Exists operator that matches the existing node",
        make_pod(affinity=required(term(requirement("GPU", "Exists")))),
        {"GPU": "NVIDIA-GRID-K1"},
        "node1",
        True,
    ),
    (
        "Pod with matchExpressions using DoesNotExist operator on a present label does not match",
        make_pod(affinity=required(term(requirement("GPU", "DoesNotExist")))),
        {"GPU": "NVIDIA-GRID-K1"},
        "node1",
        False,
    ),
    (
        "Pod with affinity that don't match node's labels won't schedule onto the node",
        make_pod(affinity=required(term(requirement("foo", "In", "value1", "value2")))),
        {"foo": "bar"},
        "node1",
        False,
    ),
    (
        "Pod with empty MatchExpressions is not a valid value will match no objects and won't schedule",
        make_pod(affinity=required(term())),
        {"foo": "bar"},
        "node1",
        False,
    ),
    ("Pod with no Affinity will schedule onto a node", make_pod(), {"foo": "bar"}, "node1", True),
    (
        "Pod with Affinity but nil NodeSelector will schedule onto a node",
        make_pod(affinity=NodeAffinity()),
        {"foo": "bar"},
        "node1",
        True,
    ),
    (
        "Pod with multiple matchExpressions ANDed that matches the existing node",
        make_pod(
            affinity=required(term(requirement("GPU", "Exists"), requirement("GPU", "NotIn", "AMD", "INTER")))
        ),
        {"GPU": "NVIDIA-GRID-K1"},
        "node1",
        True,
    ),
    (
        "Pod with multiple matchExpressions ANDed that doesn't match the existing node",
        make_pod(
            affinity=required(term(requirement("GPU", "Exists"), requirement("GPU", "In", "AMD", "INTER")))
        ),
        {"GPU": "NVIDIA-GRID-K1"},
        "node1",
        False,
    ),
    (
        "Pod with multiple NodeSelectorTerms ORed in affinity, matches the node's labels",
        make_pod(
            affinity=required(
                term(requirement("foo", "In", "bar", "value2")),
                term(requirement("diffkey", "In", "wrong", "value2")),
            )
        ),
        {"foo": "bar"},
        "node1",
        True,
    ),
    (
        "Pod with an Affinity and a PodSpec.NodeSelector both are satisfied, will schedule onto the node",
        make_pod(node_selector={"foo": "bar"}, affinity=required(term(requirement("foo", "Exists")))),
        {"foo": "bar"},
        "node1",
        True,
    ),
    (
        "Pod with an Affinity matches node's labels but the PodSpec.NodeSelector is not satisfied",
        make_pod(node_selector={"foo": "bar"}, affinity=required(term(requirement("foo", "Exists")))),
        {"foo": "barrrrrr"},
        "node1",
        False,
    ),
    (
        "Pod with an invalid value in Affinity term won't be scheduled onto the node",
        make_pod(affinity=required(term(requirement("foo", "NotIn", "invalid value: ___@#$%^")))),
        {"foo": "bar"},
        "node1",
        False,
    ),
    (
        "Pod with matchFields using In operator that matches the existing node",
        make_pod(affinity=required(term(fields=[requirement("metadata.name", "In", "node1")]))),
        {},
        "node1",
        True,
    ),
    (
        "Pod with matchFields using In operator that does not match the existing node",
        make_pod(affinity=required(term(fields=[requirement("metadata.name", "In", "node1")]))),
        {},
        "node2",
        False,
    ),
    (
        "Pod with two terms: matchFields does not match, but matchExpressions matches",
        make_pod(
            affinity=required(
                term(fields=[requirement("metadata.name", "In", "node1")]),
                term(requirement("foo", "In", "bar")),
            )
        ),
        {"foo": "bar"},
        "node2",
        True,
    ),
    (
        "Pod with one term: matchFields does not match, but matchExpressions matches",
        make_pod(
            affinity=required(
                term(requirement("foo", "In", "bar"), fields=[requirement("metadata.name", "In", "node1")])
            )
        ),
        {"foo": "bar"},
        "node2",
        False,
    ),
    (
        "Pod with one term: both matchFields and matchExpressions match",
        make_pod(
            affinity=required(
                term(requirement("foo", "In", "bar"), fields=[requirement("metadata.name", "In", "node1")])
            )
        ),
        {"foo": "bar"},
        "node1",
        True,
    ),
    (
        "Pod with two terms: both matchFields and matchExpressions do not match",
        make_pod(
            affinity=required(
                term(fields=[requirement("metadata.name", "In", "node1")]),
                term(requirement("foo", "In", "not-match-to-bar")),
            )
        ),
        {"foo": "bar"},
        "node2",
        False,
    ),
    (
        "matchFields NotIn excludes the named node only",
        make_pod(affinity=required(term(fields=[requirement("metadata.name", "NotIn", "node1")]))),
        {},
        "node2",
        True,
    ),
]


@pytest.mark.parametrize(
    ("pod", "labels", "name", "fits"), [c[1:] for c in AFFINITY_FILTER], ids=[c[0] for c in AFFINITY_FILTER]
)
def test_node_affinity_filter_matches_node_selector_and_required_terms(
    pod: Pod, labels: dict[str, str], name: str, fits: bool
) -> None:
    expected = None if fits else Rejection(NODE_AFFINITY, (ERR_REASON_NODE_AFFINITY,))
    assert verdict(node_affinity, pod, NodeInfo.of(make_node(name, labels=labels))) == expected


@pytest.mark.parametrize(
    ("affinity", "node_names", "conflict"),
    [
        pytest.param(
            required(term(fields=[requirement("metadata.name", "In", "node1")])),
            frozenset({"node1"}),
            False,
            id="Pod with matchFields using In operator",
        ),
        pytest.param(
            required(
                term(fields=[requirement("metadata.name", "In", "node1")]),
                term(requirement("foo", "In", "bar")),
            ),
            None,
            False,
            id="a term without node names allows every node",
        ),
        pytest.param(
            required(
                term(fields=[requirement("metadata.name", "In", "node1")]),
                term(fields=[requirement("metadata.name", "In", "node2")]),
            ),
            frozenset({"node1", "node2"}),
            False,
            id="Pod with two terms of node.Name affinity",
        ),
        pytest.param(
            required(
                term(
                    fields=[
                        requirement("metadata.name", "In", "node1"),
                        requirement("metadata.name", "In", "node2"),
                    ]
                )
            ),
            None,
            True,
            id="Pod with two conflicting mach field requirements",
        ),
    ],
)
def test_node_affinity_pre_filter_narrows_the_search_to_named_nodes(
    affinity: NodeAffinity, node_names: frozenset[str] | None, conflict: bool
) -> None:
    info = pod_info(make_pod(affinity=affinity))
    assert info.node_names == node_names
    expected = Rejection(NODE_AFFINITY, (ERR_REASON_AFFINITY_CONFLICT,)) if conflict else None
    assert info.pre_filter_rejection == expected


def preferred(*terms: tuple[int, NodeSelectorTerm]) -> NodeAffinity:
    return NodeAffinity(
        preferred_during_scheduling_ignored_during_execution=tuple(
            PreferredSchedulingTerm(weight=w, preference=t) for w, t in terms
        )
    )


AFFINITY_1 = preferred((2, term(requirement("foo", "In", "bar"))))
AFFINITY_2 = preferred(
    (2, term(requirement("foo", "In", "bar"))),
    (4, term(requirement("key", "In", "value"))),
    (
        5,
        term(
            requirement("foo", "In", "bar"), requirement("key", "In", "value"), requirement("az", "In", "az1")
        ),
    ),
)
LABEL_1 = {"foo": "bar"}
LABEL_2 = {"key": "value"}
LABEL_3 = {"az": "az1"}
LABEL_4 = {"abc": "az11", "def": "az22"}
LABEL_5 = {"foo": "bar", "key": "value", "az": "az1"}

AFFINITY_SCORE = [
    (
        "no node matches preferred scheduling requirements in NodeAffinity of pod so all priorities are 0",
        AFFINITY_1,
        [("node1", LABEL_4), ("node2", LABEL_2), ("node3", LABEL_3)],
        [0, 0, 0],
    ),
    (
        "only node1 matches the preferred scheduling requirements of pod",
        AFFINITY_1,
        [("node1", LABEL_1), ("node2", LABEL_2), ("node3", LABEL_3)],
        [100, 0, 0],
    ),
    (
        "all nodes matches the preferred scheduling requirements of pod but with different priorities",
        AFFINITY_2,
        [("node1", LABEL_1), ("node5", LABEL_5), ("node2", LABEL_2)],
        [18, 100, 36],
    ),
]


@pytest.mark.parametrize(
    ("affinity", "nodes", "expected"), [c[1:] for c in AFFINITY_SCORE], ids=[c[0] for c in AFFINITY_SCORE]
)
def test_node_affinity_score_sums_matching_preferred_weights_normalised(
    affinity: NodeAffinity, nodes: list[tuple[str, dict[str, str]]], expected: list[int]
) -> None:
    candidates: list[tuple[Node, Sequence[Pod]]] = [
        (make_node(name, labels=labels), []) for name, labels in nodes
    ]
    raw = scores_of(node_affinity_score, make_pod(affinity=affinity), candidates)
    assert default_normalize_score(raw, reverse=False) == expected


def test_node_affinity_scoring_is_skipped_without_preferred_terms() -> None:
    plugin = next(p for p in SCORE_PLUGINS if p.name == NODE_AFFINITY)
    assert plugin.skip(pod_info(make_pod()))


def test_a_broken_preferred_term_fails_the_scoring_with_upstreams_message() -> None:
    info = pod_info(make_pod(affinity=preferred((2, term(requirement("invalid key", "In", "bar"))))))
    assert info.pre_score_error == (
        'running PreScore plugin "NodeAffinity": [0].matchExpressions[0].key: Invalid value: "invalid key": '
        "name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an "
        "alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is "
        "'([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')"
    )


# --- NodePorts (node_ports_test.go) -------------------------------------------------------------------


def port_pod(*host_ports: str, host_network: bool = False) -> Pod:
    """newPod(host, "PROTO/IP/port", ...)."""
    ports = []
    for spec in host_ports:
        protocol, ip, port = spec.split("/")
        ports.append(
            ContainerPort(container_port=int(port), host_port=int(port), host_ip=ip, protocol=protocol)
        )
    return make_pod(container(ports=ports), host_network=host_network)


NODE_PORTS = [
    ("skip filter", make_pod(), port_pod(), True),
    ("other port", port_pod("UDP/127.0.0.1/8080"), port_pod("UDP/127.0.0.1/9090"), True),
    ("same udp port", port_pod("UDP/127.0.0.1/8080"), port_pod("UDP/127.0.0.1/8080"), False),
    ("same tcp port", port_pod("TCP/127.0.0.1/8080"), port_pod("TCP/127.0.0.1/8080"), False),
    ("different host ip", port_pod("TCP/127.0.0.1/8080"), port_pod("TCP/127.0.0.2/8080"), True),
    ("different protocol", port_pod("UDP/127.0.0.1/8080"), port_pod("TCP/127.0.0.1/8080"), True),
    (
        "second udp port conflict",
        port_pod("UDP/127.0.0.1/8000", "UDP/127.0.0.1/8080"),
        port_pod("UDP/127.0.0.1/8080"),
        False,
    ),
    (
        "first tcp port conflict",
        port_pod("TCP/127.0.0.1/8001", "UDP/127.0.0.1/8080"),
        port_pod("TCP/127.0.0.1/8001", "UDP/127.0.0.1/8081"),
        False,
    ),
    (
        "first tcp port conflict due to 0.0.0.0 hostIP",
        port_pod("TCP/0.0.0.0/8001"),
        port_pod("TCP/127.0.0.1/8001"),
        False,
    ),
    (
        "TCP hostPort conflict due to 0.0.0.0 hostIP",
        port_pod("TCP/10.0.10.10/8001", "TCP/0.0.0.0/8001"),
        port_pod("TCP/127.0.0.1/8001"),
        False,
    ),
    (
        "second tcp port conflict to 0.0.0.0 hostIP",
        port_pod("TCP/127.0.0.1/8001"),
        port_pod("TCP/0.0.0.0/8001"),
        False,
    ),
    ("second different protocol", port_pod("UDP/127.0.0.1/8001"), port_pod("TCP/0.0.0.0/8001"), True),
    (
        "UDP hostPort conflict due to 0.0.0.0 hostIP",
        port_pod("UDP/127.0.0.1/8001"),
        port_pod("TCP/0.0.0.0/8001", "UDP/0.0.0.0/8001"),
        False,
    ),
]


@pytest.mark.parametrize(
    ("pod", "existing", "fits"), [c[1:] for c in NODE_PORTS], ids=[c[0] for c in NODE_PORTS]
)
def test_node_ports_rejects_host_port_conflicts(pod: Pod, existing: Pod, fits: bool) -> None:
    expected = None if fits else Rejection("NodePorts", (ERR_REASON_NODE_PORTS,))
    assert verdict(node_ports, pod, NodeInfo.of(make_node("m1"), [existing])) == expected


def test_container_ports_of_a_host_network_pod_are_host_ports() -> None:
    web = make_pod(container(ports=[ContainerPort(container_port=80)]), host_network=True)
    node = NodeInfo.of(make_node("m1"), [web])
    assert verdict(node_ports, web, node) == Rejection("NodePorts", (ERR_REASON_NODE_PORTS,))
    plain = make_pod(container(ports=[ContainerPort(container_port=80)]))
    assert verdict(node_ports, plain, node) is None


# --- NodeUnschedulable and NodeName (node_unschedulable_test.go, node_name_test.go) -----------------


@pytest.mark.parametrize(
    ("pod", "unschedulable", "fits"),
    [
        pytest.param(make_pod(), True, False, id="Does not schedule pod to unschedulable node"),
        pytest.param(make_pod(), False, True, id="Schedule pod to normal node"),
        pytest.param(
            make_pod(tolerations=[Toleration(key="node.kubernetes.io/unschedulable", effect="NoSchedule")]),
            True,
            True,
            id="Schedule pod with toleration to unschedulable node",
        ),
    ],
)
def test_node_unschedulable_rejects_cordoned_nodes_unless_tolerated(
    pod: Pod, unschedulable: bool, fits: bool
) -> None:
    expected = None if fits else Rejection(NODE_UNSCHEDULABLE, (ERR_REASON_UNSCHEDULABLE,))
    assert verdict(node_unschedulable, pod, NodeInfo.of(make_node(unschedulable=unschedulable))) == expected


@pytest.mark.parametrize(
    ("wanted", "name", "fits"),
    [
        pytest.param("", "foo", True, id="no host specified"),
        pytest.param("foo", "foo", True, id="host matches"),
        pytest.param("bar", "foo", False, id="host doesn't match"),
    ],
)
def test_node_name_rejects_other_nodes_than_the_requested_one(wanted: str, name: str, fits: bool) -> None:
    expected = None if fits else Rejection("NodeName", (ERR_REASON_NODE_NAME,))
    assert verdict(node_name, make_pod(node=wanted), NodeInfo.of(make_node(name))) == expected


def test_the_first_rejecting_filter_gives_the_verdict_in_profile_order() -> None:
    # Cordoned, tainted and too small: NodeUnschedulable comes first in the default profile.
    node = make_node(unschedulable=True, taints=[Taint(key="k", effect="NoSchedule")], cpu="1m", pods=1)
    assert verdict(run_filters, resource_pod((5, 5)), NodeInfo.of(node)) == Rejection(
        NODE_UNSCHEDULABLE, (ERR_REASON_UNSCHEDULABLE,)
    )


# --- composition of scores ------------------------------------------------------------------------


def test_scores_are_weighted_sums_with_the_default_weights() -> None:
    # TaintToleration (3) outweighs LeastAllocated (1) and BalancedAllocation (1).
    pod = make_pod(container(cpu="1", memory="1Gi"))
    clean = NodeInfo.of(make_node("clean", cpu="2", memory="4Gi", pods=10))
    tainted_but_empty = NodeInfo.of(
        make_node(
            "tainted", cpu="8", memory="16Gi", pods=10, taints=[Taint(key="k", effect="PreferNoSchedule")]
        )
    )
    totals = prioritize(pod_info(pod), [clean, tainted_but_empty])
    # clean: 3·100 + (50+75)//2 + int((1 − |0.5−0.25|/2)·100) = 300 + 62 + 87
    # tainted: 3·0 + (87+93)//2 + int((1 − |0.125−0.0625|/2)·100) = 0 + 90 + 96
    assert totals == [449, 186]


# --- numFeasibleNodesToFind (schedule_one_test.go) ---------------------------------------------------


@pytest.mark.parametrize(
    ("percentage", "nodes", "wanted"),
    [
        pytest.param(0, 10, 10, id="not set percentageOfNodesToScore and nodes number not more than 50"),
        pytest.param(40, 10, 10, id="set percentageOfNodesToScore and nodes number not more than 50"),
        pytest.param(0, 1000, 420, id="not set percentageOfNodesToScore and nodes number more than 50"),
        pytest.param(40, 1000, 400, id="set percentageOfNodesToScore and nodes number more than 50"),
        pytest.param(0, 6000, 300, id="not set percentageOfNodesToScore and nodes number more than 50*125"),
        pytest.param(40, 6000, 2400, id="set percentageOfNodesToScore and nodes number more than 50*125"),
        pytest.param(0, 100, 100, id="exactly 100 nodes are all searched"),
        pytest.param(5, 1000, 100, id="never fewer than 100 nodes"),
    ],
)
def test_num_feasible_nodes_to_find_adapts_to_the_cluster_size(
    percentage: int, nodes: int, wanted: int
) -> None:
    assert num_feasible_nodes_to_find(nodes, percentage) == wanted


def test_search_starts_where_the_previous_one_stopped_so_nodes_are_evaluated_fairly() -> None:
    # TestFairEvaluationForNodes: 500 fitting nodes, 230 searched per pod, the start rotating.
    nodes = [NodeInfo.of(make_node(f"node-{i}", cpu="1", memory="1Gi", pods=10)) for i in range(500)]
    algorithm = ReferenceAlgorithm(random.Random(0))
    wanted = num_feasible_nodes_to_find(500)
    for attempt in range(5):
        result = algorithm.schedule(pod_info(make_pod()), nodes)
        assert result.feasible_nodes == wanted
        assert algorithm.next_start_node_index == (attempt + 1) * wanted % 500


# --- selectHost --------------------------------------------------------------------------------


def test_select_host_picks_the_highest_score() -> None:
    assert select_host([10, 30, 20], random.Random(0)) == 1


def test_select_host_breaks_ties_uniformly_and_reproducibly() -> None:
    picks = Counter(select_host([5, 9, 9, 1, 9], random.Random(seed)) for seed in range(3000))
    assert set(picks) == {1, 2, 4}
    assert all(900 < count < 1100 for count in picks.values())
    assert [select_host([9, 9, 9], random.Random(7)) for _ in range(3)] == [
        select_host([9, 9, 9], random.Random(7)) for _ in range(3)
    ]


def test_select_host_draws_nothing_without_a_tie() -> None:
    rng = random.Random(3)
    assert select_host([9, 2, 9, 4, 10], rng) == 4
    assert rng.random() == random.Random(3).random()


def test_select_host_draws_once_among_the_tied_nodes() -> None:
    rng, twin = random.Random(3), random.Random(3)
    chosen = select_host([9, 2, 9, 4, 9, 9], rng)
    assert chosen == [0, 2, 4, 5][twin.randrange(4)]
    assert rng.getstate() == twin.getstate()


# --- the FailedScheduling message (types_test.go TestFitError_Error) ---------------------------------


def rejected(*reasons_per_node: tuple[str, ...], plugin: str = "Filter") -> tuple[tuple[str, Rejection], ...]:
    return tuple((f"node{i}", Rejection(plugin, reasons)) for i, reasons in enumerate(reasons_per_node, 1))


@pytest.mark.parametrize(
    ("num_nodes", "diagnosis", "message"),
    [
        pytest.param(
            3,
            Diagnosis(pre_filter_message="Node(s) failed PreFilter plugin FalsePreFilter"),
            "0/3 nodes are available: Node(s) failed PreFilter plugin FalsePreFilter.",
            id="nodes failed Prefilter plugin",
        ),
        pytest.param(
            3,
            Diagnosis(rejected(*[("Node(s) failed Filter plugin FalseFilter-1",)] * 3)),
            "0/3 nodes are available: 3 Node(s) failed Filter plugin FalseFilter-1.",
            id="nodes failed one Filter plugin",
        ),
        pytest.param(
            3,
            Diagnosis(
                rejected(
                    ("Node(s) failed Filter plugin FalseFilter-1",),
                    ("Node(s) failed Filter plugin FalseFilter-1",),
                    ("Node(s) failed Filter plugin FalseFilter-2",),
                )
            ),
            "0/3 nodes are available: 1 Node(s) failed Filter plugin FalseFilter-2, "
            "2 Node(s) failed Filter plugin FalseFilter-1.",
            id="nodes failed two Filter plugins",
        ),
        pytest.param(
            3,
            Diagnosis(
                rejected(
                    (ERR_REASON_NODE_AFFINITY,),
                    ("Insufficient cpu",),
                    ("Insufficient cpu",),
                )
            ),
            "0/3 nodes are available: 1 node(s) didn't match Pod's node affinity/selector, "
            "2 Insufficient cpu.",
            id="reasons are counted and sorted",
        ),
        pytest.param(
            12,
            Diagnosis(
                rejected(
                    *[("Insufficient cpu", "Insufficient memory")] * 10,
                    (ERR_REASON_UNSCHEDULABLE,),
                    (ERR_REASON_UNSCHEDULABLE,),
                )
            ),
            "0/12 nodes are available: 10 Insufficient cpu, 10 Insufficient memory, "
            "2 node(s) were unschedulable.",
            id="sorted as strings, counts included, each reason of a node counted",
        ),
        pytest.param(
            3,
            Diagnosis(
                rejected(("Insufficient cpu",)),
                absent=Rejection(NODE_AFFINITY, ("node(s) didn't satisfy plugin(s) [NodeAffinity]",)),
            ),
            "0/3 nodes are available: 1 Insufficient cpu, 2 node(s) didn't satisfy plugin(s) [NodeAffinity].",
            id="nodes a PreFilter result left out are counted with its reason",
        ),
    ],
)
def test_failed_scheduling_message_counts_sorted_reasons(
    num_nodes: int, diagnosis: Diagnosis, message: str
) -> None:
    assert fit_error_message(num_nodes, diagnosis) == message


def test_the_decision_raises_fit_error_with_the_failed_scheduling_message() -> None:
    nodes = [
        NodeInfo.of(make_node("a", labels={"disk": "hdd"}, cpu="4", pods=10)),
        NodeInfo.of(make_node("b", labels={"disk": "ssd"}, cpu="1", pods=10)),
        NodeInfo.of(make_node("c", labels={"disk": "ssd"}, cpu="1", pods=10)),
    ]
    pod = make_pod(container(cpu="2"), node_selector={"disk": "ssd"})
    with pytest.raises(FitError) as raised:
        ReferenceAlgorithm(random.Random(0)).schedule(pod_info(pod), nodes)
    assert str(raised.value) == (
        "0/3 nodes are available: 1 node(s) didn't match Pod's node affinity/selector, 2 Insufficient cpu."
    )
    assert raised.value.unschedulable_plugins == {NODE_AFFINITY, NODE_RESOURCES_FIT}


def test_a_pre_filter_conflict_rejects_every_node_with_its_message() -> None:
    pod = make_pod(
        affinity=required(
            term(
                fields=[
                    requirement("metadata.name", "In", "node1"),
                    requirement("metadata.name", "In", "node2"),
                ]
            )
        )
    )
    nodes = [NodeInfo.of(make_node(f"node{i}", pods=10)) for i in (1, 2)]
    with pytest.raises(FitError, match=r"^0/2 nodes are available: pod affinity terms conflict\.$"):
        ReferenceAlgorithm(random.Random(0)).schedule(pod_info(pod), nodes)


def test_no_nodes_at_all_is_its_own_failure() -> None:
    with pytest.raises(NoNodesAvailable, match=r"^no nodes available to schedule pods$"):
        ReferenceAlgorithm(random.Random(0)).schedule(pod_info(make_pod()), [])


def test_a_scoring_error_fails_the_attempt_as_an_error_not_a_rejection() -> None:
    pod = make_pod(affinity=preferred((1, term(requirement("bad key!", "Exists")))))
    nodes = [NodeInfo.of(make_node(f"n{i}", pods=10)) for i in range(2)]
    with pytest.raises(SchedulingError) as raised:
        ReferenceAlgorithm(random.Random(0)).schedule(pod_info(pod), nodes)
    assert not raised.value.rejected


def test_event_messages_are_cut_to_the_note_length_limit() -> None:
    assert truncate_message("x" * 1024) == "x" * 1024
    assert truncate_message("x" * 2000) == "x" * 1020 + " ..."
