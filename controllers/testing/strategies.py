"""Hypothesis strategies for the built-in kinds, and the node faults only a whole cluster has.

Every object drawn is one the store accepts: `pods`, `nodes` (labels, zones, taints, capacities),
`deployments` (replicas, RollingUpdate with int or percent maxSurge/maxUnavailable never both zero,
Recreate, templates) and `services`. `register` makes ``st.from_type(Deployment)`` and friends draw from
them; it runs from the ``hypothesis`` entry point, so installing setpoint is enough.
"""

from __future__ import annotations

import attrs
from hypothesis import strategies as st

from controllers.kubelet import NodeConfig
from reconcile.testing.strategies import dns_labels, label_maps, label_selectors, object_meta, quantities
from store import FrozenDict
from store.models import (
    Container,
    ContainerPort,
    Deployment,
    DeploymentSpec,
    DeploymentStrategy,
    IntOrString,
    LabelSelector,
    Node,
    NodeSpec,
    NodeStatus,
    ObjectMeta,
    Pod,
    PodSpec,
    PodTemplateSpec,
    ResourceRequirements,
    RollingUpdateDeployment,
    Service,
    ServicePort,
    ServiceSpec,
    Taint,
    Toleration,
)
from store.quantity import Quantity, parse_quantity

ZONE_LABEL = "topology.kubernetes.io/zone"
ZONES = ("zone-a", "zone-b")

images = st.sampled_from(["nginx:1.25", "nginx:1.26", "redis:7", "busybox"])

taints = st.builds(
    Taint,
    key=st.sampled_from(["dedicated", "example.com/gpu", "maintenance"]),
    value=st.sampled_from(["", "true", "web"]),
    effect=st.sampled_from(["NoSchedule", "PreferNoSchedule", "NoExecute"]),
)
tolerations = st.one_of(
    st.builds(Toleration, operator=st.just("Exists")),
    st.builds(
        Toleration,
        key=st.sampled_from(["dedicated", "example.com/gpu", "maintenance"]),
        operator=st.just("Equal"),
        value=st.sampled_from(["", "true", "web"]),
        effect=st.sampled_from(["", "NoSchedule", "NoExecute"]),
    ),
)

resource_requirements = st.builds(
    lambda cpu, memory: ResourceRequirements(
        requests=FrozenDict({k: v for k, v in (("cpu", cpu), ("memory", memory)) if v is not None})
    ),
    st.one_of(st.none(), quantities(suffixes=("m",), max_value=2000)),
    st.one_of(st.none(), quantities(suffixes=("Mi",), max_value=2048)),
)


def containers(name: str = "app") -> st.SearchStrategy[Container]:
    return st.builds(
        Container,
        name=st.just(name),
        image=images,
        resources=resource_requirements,
        ports=st.lists(st.builds(ContainerPort, container_port=st.integers(1, 65535)), max_size=1).map(tuple),
    )


def pod_specs() -> st.SearchStrategy[PodSpec]:
    return st.builds(
        PodSpec,
        containers=st.lists(containers(), min_size=1, max_size=1).map(tuple),
        node_selector=st.one_of(
            st.just(FrozenDict()), st.sampled_from(ZONES).map(lambda z: FrozenDict({ZONE_LABEL: z}))
        ),
        tolerations=st.lists(tolerations, max_size=2).map(tuple),
    )


def pods(namespace: str = "default") -> st.SearchStrategy[Pod]:
    """Unbound pods as a user would create them."""
    return st.builds(Pod, metadata=object_meta(namespace=namespace), spec=pod_specs())


def _capacity(cpu: int, memory_gi: int, pods: int) -> FrozenDict[str, Quantity]:
    return FrozenDict(
        {
            "cpu": parse_quantity(str(cpu)),
            "memory": parse_quantity(f"{memory_gi}Gi"),
            "pods": parse_quantity(str(pods)),
        }
    )


def nodes() -> st.SearchStrategy[Node]:
    """Nodes with a zone, labels, taints, a capacity, possibly cordoned."""

    def build(
        name: str, zone: str, labels: FrozenDict[str, str], cap: FrozenDict[str, Quantity], **spec: object
    ) -> Node:
        return Node(
            metadata=ObjectMeta(name=name, labels=FrozenDict(dict(labels) | {ZONE_LABEL: zone})),
            spec=NodeSpec(**spec),  # type: ignore[arg-type]
            status=NodeStatus(capacity=cap, allocatable=cap),
        )

    return st.builds(
        build,
        name=dns_labels,
        zone=st.sampled_from(ZONES),
        labels=label_maps,
        cap=st.builds(_capacity, st.integers(1, 8), st.integers(1, 32), st.integers(1, 110)),
        unschedulable=st.booleans(),
        taints=st.lists(taints, max_size=2, unique_by=lambda t: (t.key, t.effect)).map(tuple),
    )


def node_configs(count: int = 3) -> st.SearchStrategy[list[NodeConfig]]:
    """Simulated nodes for a `Cluster`: spread over the zones, with small capacities."""
    return st.lists(
        st.builds(
            lambda zone, cpu, pods: (zone, cpu, pods),
            st.sampled_from(ZONES),
            st.sampled_from(["2", "4"]),
            st.sampled_from(["10", "110"]),
        ),
        min_size=1,
        max_size=count,
    ).map(
        lambda specs: [
            NodeConfig(name=f"node-{i + 1}", zone=zone, cpu=cpu, pods=pods, index=i + 1)
            for i, (zone, cpu, pods) in enumerate(specs)
        ]
    )


def fenceposts() -> st.SearchStrategy[tuple[IntOrString, IntOrString]]:
    """(maxSurge, maxUnavailable) as ints or percentages; validation rejects both zero."""
    one: st.SearchStrategy[IntOrString] = st.one_of(
        st.integers(0, 3), st.sampled_from(["0%", "25%", "50%", "100%"])
    )
    return st.tuples(one, one).filter(lambda pair: not (pair[0] in (0, "0%") and pair[1] in (0, "0%")))


def deployment_strategies() -> st.SearchStrategy[DeploymentStrategy]:
    rolling = fenceposts().map(
        lambda pair: DeploymentStrategy(
            type="RollingUpdate",
            rolling_update=RollingUpdateDeployment(max_surge=pair[0], max_unavailable=pair[1]),
        )
    )
    return st.one_of(rolling, st.just(DeploymentStrategy(type="Recreate")))


def deployments(
    name: str | st.SearchStrategy[str] | None = None,
    *,
    namespace: str = "default",
    replicas: st.SearchStrategy[int] | None = None,
) -> st.SearchStrategy[Deployment]:
    """Deployments selecting their template's ``app`` label, with any strategy (0–5 replicas unless
    ``replicas`` says otherwise)."""
    names = dns_labels if name is None else (name if isinstance(name, st.SearchStrategy) else st.just(name))

    def build(
        name: str, replicas: int, strategy: DeploymentStrategy, spec: PodSpec, extra: FrozenDict[str, str]
    ) -> Deployment:
        labels = FrozenDict(dict(extra) | {"app": name})
        return Deployment(
            metadata=ObjectMeta(name=name, namespace=namespace),
            spec=DeploymentSpec(
                replicas=replicas,
                selector=LabelSelector(match_labels=FrozenDict({"app": name})),
                template=PodTemplateSpec(metadata=ObjectMeta(labels=labels), spec=spec),
                strategy=strategy,
            ),
        )

    counts = st.integers(0, 5) if replicas is None else replicas
    return st.builds(build, names, counts, deployment_strategies(), pod_specs(), label_maps)


def services(
    app: str | st.SearchStrategy[str] | None = None, *, namespace: str = "default"
) -> st.SearchStrategy[Service]:
    """ClusterIP or NodePort Services selecting ``app=<app>`` on one port."""
    apps = dns_labels if app is None else (app if isinstance(app, st.SearchStrategy) else st.just(app))

    def build(app: str, type_: str, port: int, publish: bool) -> Service:
        return Service(
            metadata=ObjectMeta(name=app, namespace=namespace),
            spec=ServiceSpec(
                type=type_,
                selector=FrozenDict({"app": app}),
                ports=(ServicePort(port=port, target_port=port),),
                publish_not_ready_addresses=publish,
            ),
        )

    return st.builds(
        build, apps, st.sampled_from(["ClusterIP", "NodePort"]), st.integers(1, 65535), st.booleans()
    )


# --- node faults --------------------------------------------------------------------------------


@attrs.frozen
class StopNode:
    """The node's kubelet stops: heartbeats lost, pod status frozen."""

    node: str


@attrs.frozen
class StartNode:
    """The node's kubelet comes back."""

    node: str


@attrs.frozen
class ZoneOutage:
    """Every node of ``zone`` stops at once."""

    zone: str


def node_faults(node_names: list[str], zones: tuple[str, ...] = ZONES) -> st.SearchStrategy[object]:
    return st.one_of(
        st.builds(StopNode, st.sampled_from(node_names)),
        st.builds(StartNode, st.sampled_from(node_names)),
        st.builds(ZoneOutage, st.sampled_from(list(zones))),
    )


def register() -> None:
    """Let ``st.from_type`` draw the built-in kinds (and selectors, metadata, quantities) from here."""
    st.register_type_strategy(Pod, pods())
    st.register_type_strategy(Node, nodes())
    st.register_type_strategy(Deployment, deployments())
    st.register_type_strategy(Service, services())
    st.register_type_strategy(LabelSelector, label_selectors())
    st.register_type_strategy(ObjectMeta, object_meta())
    st.register_type_strategy(Quantity, quantities())


#: The hook Hypothesis runs from setpoint's ``hypothesis`` entry point when it is imported.
_hypothesis_setup_hook = register
