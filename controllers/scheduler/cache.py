"""The scheduler's cache: what each node has allocatable, what its pods request, and the pods it assumed.

A port of kube-scheduler's backend cache (pkg/scheduler/backend/cache) and of the resource arithmetic in
framework/types.go. The cache is fed by the Node and Pod informers one event at a time and keeps, per
node, the sums the plugins read — requested resources, the same with the scheduler's non-zero defaults,
the pod count and the host ports in use — so no decision ever scans the pods. A pod the scheduler has
chosen a node for is *assumed* onto it at once, before the binding is written, and stays counted until
the informer shows it bound (the assumption is then confirmed) or the binding fails (it is forgotten).

Every value handed out (`NodeInfo`, `Resource`, `PodResources`) is immutable, so a list of node infos is
a consistent snapshot for one scheduling cycle. Nodes are listed in the order of kube-scheduler's node
tree: round-robin across zones, so a search that stops early still spreads over zones.

Not here: the filters and scores (`plugins`), the queue of pending pods (`queue`), talking to the store.
Only cpu, memory, ephemeral-storage and the pod count are accounted; extended resources are not.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import attrs

from store.models import Container, Node, Pod, with_fields
from store.quantity import InvalidQuantity, Quantity, parse_quantity

CPU = "cpu"
MEMORY = "memory"
EPHEMERAL_STORAGE = "ephemeral-storage"
PODS = "pods"

#: The requests the scheduler assumes for a container that states none, for scoring only
#: (schedutil.DefaultMilliCPURequest, DefaultMemoryRequest).
DEFAULT_MILLI_CPU_REQUEST = 100
DEFAULT_MEMORY_REQUEST = 200 * 1024 * 1024

#: Where a host port listens when it names no address (framework.DefaultBindAllHostIP).
DEFAULT_BIND_ALL_HOST_IP = "0.0.0.0"

_ACCOUNTED = (CPU, MEMORY, EPHEMERAL_STORAGE)
_NON_ZERO_DEFAULTS = {CPU: Quantity(DEFAULT_MILLI_CPU_REQUEST, -3), MEMORY: Quantity(DEFAULT_MEMORY_REQUEST)}

_ZONE_LABELS = ("topology.kubernetes.io/zone", "failure-domain.beta.kubernetes.io/zone")
_REGION_LABELS = ("topology.kubernetes.io/region", "failure-domain.beta.kubernetes.io/region")

_Requests = dict[str, Quantity]


@attrs.frozen
class Resource:
    """Amounts of the accounted resources: cpu in millicores, memory and ephemeral storage in bytes."""

    milli_cpu: int = 0
    memory: int = 0
    ephemeral_storage: int = 0

    def __add__(self, other: Resource) -> Resource:
        return Resource(
            self.milli_cpu + other.milli_cpu,
            self.memory + other.memory,
            self.ephemeral_storage + other.ephemeral_storage,
        )

    def __sub__(self, other: Resource) -> Resource:
        return Resource(
            self.milli_cpu - other.milli_cpu,
            self.memory - other.memory,
            self.ephemeral_storage - other.ephemeral_storage,
        )

    def is_zero(self) -> bool:
        return self.milli_cpu == 0 and self.memory == 0 and self.ephemeral_storage == 0


ZERO = Resource()


@attrs.frozen
class HostPort:
    """A host port a pod binds: the address (``0.0.0.0`` for all), the protocol and the port."""

    ip: str
    protocol: str
    port: int

    def conflicts_with(self, other: HostPort) -> bool:
        """HostPortInfo.CheckConflict: the same protocol and port on the same address or on all of them."""
        return (
            self.port == other.port
            and self.protocol == other.protocol
            and (self.ip == other.ip or DEFAULT_BIND_ALL_HOST_IP in (self.ip, other.ip))
        )


@attrs.frozen
class PodResources:
    """What one pod takes from its node, computed once per pod version.

    ``requested`` is what the fit filter checks; ``non_zero`` is the same with the default requests of
    containers that state none, which LeastAllocated scores with; ``host_ports`` are the ports it binds.
    """

    requested: Resource
    non_zero: Resource
    host_ports: tuple[HostPort, ...] = ()


#: The parts of the last spec `pod_resources` read, and its figures for them.
_last_resources: list[Any] = [None, None, None, None, None]


# --- what a pod requests (k8s.io/component-helpers/resource PodRequests) ---------------------------


def pod_resources(pod: Pod) -> PodResources:
    """The requests of ``pod`` with and without the non-zero defaults, and its host ports.

    They are read from the spec's containers, init containers, extras and hostNetwork only, all frozen
    values: pods made from one template share them, so the last pod's figures are reused while those
    parts are the same objects (held here, so that they stay the same objects).
    """
    spec = pod.spec
    last = _last_resources
    if (
        last[0] is spec.containers
        and last[1] is spec.init_containers
        and last[2] is spec.extra
        and last[3] is spec.host_network
    ):
        reused: PodResources = last[4]
        return reused
    resources = PodResources(
        requested=_to_resource(pod_requests(pod)),
        non_zero=_to_resource(pod_requests(pod, non_missing_defaults=True)),
        host_ports=host_ports(pod),
    )
    _last_resources[:] = (spec.containers, spec.init_containers, spec.extra, spec.host_network, resources)
    return resources


def pod_requests(pod: Pod, *, non_missing_defaults: bool = False) -> _Requests:
    """PodRequests: containers summed, then the max with each init container, plus the pod overhead.

    Init containers run one at a time, so the pod needs the largest of them; a restartable init
    container (a sidecar) keeps running, so it adds to the containers and to every later init
    container. With ``non_missing_defaults`` a container that states no cpu or memory request counts
    the scheduler's default for it; one that states zero keeps zero, as upstream.
    """
    total: _Requests = {}
    for container in pod.spec.containers:
        _add_to(total, _container_requests(container, non_missing_defaults))
    sidecars: _Requests = {}
    largest_init: _Requests = {}
    for container in pod.spec.init_containers:
        requests = _container_requests(container, non_missing_defaults)
        if _is_restartable(container):
            _add_to(total, requests)
            _add_to(sidecars, requests)
            running = dict(sidecars)
        else:
            running = dict(requests)
            _add_to(running, sidecars)
        _max_into(largest_init, running)
    _max_into(total, largest_init)
    _add_to(total, _overhead(pod))
    return total


def _container_requests(container: Container, non_missing_defaults: bool) -> _Requests:
    requests = container.resources.requests
    result = {name: requests[name] for name in _ACCOUNTED if name in requests}
    if non_missing_defaults:
        for name, default in _NON_ZERO_DEFAULTS.items():
            if name not in requests:
                result[name] = default
    return result


def _is_restartable(container: Container) -> bool:
    # restartPolicy on an init container is not modelled; it survives in the wire extras.
    return container.extra.get("restartPolicy") == "Always"


def _overhead(pod: Pod) -> _Requests:
    # spec.overhead (set by RuntimeClass admission) is not modelled; read it from the wire extras.
    overhead: Any = pod.spec.extra.get("overhead")
    if not isinstance(overhead, Mapping):
        return {}
    result: _Requests = {}
    for name in _ACCOUNTED:
        value = overhead.get(name)
        if value is None:
            continue
        try:
            result[name] = value if isinstance(value, Quantity) else parse_quantity(str(value))
        except InvalidQuantity:
            continue
    return result


def _add_to(total: _Requests, more: Mapping[str, Quantity]) -> None:
    for name, amount in more.items():
        present = total.get(name)
        total[name] = amount if present is None else present + amount


def _max_into(total: _Requests, other: Mapping[str, Quantity]) -> None:
    for name, amount in other.items():
        present = total.get(name)
        if present is None or amount > present:
            total[name] = amount


def _to_resource(requests: Mapping[str, Quantity]) -> Resource:
    cpu = requests.get(CPU)
    memory = requests.get(MEMORY)
    storage = requests.get(EPHEMERAL_STORAGE)
    return Resource(
        milli_cpu=0 if cpu is None else cpu.milli_value(),
        memory=0 if memory is None else memory.value(),
        ephemeral_storage=0 if storage is None else storage.value(),
    )


def host_ports(pod: Pod) -> tuple[HostPort, ...]:
    """GetHostPorts: the host ports of the containers and of restartable init containers.

    A hostNetwork pod's container ports are host ports: the apiserver defaults ``hostPort`` to
    ``containerPort`` for such pods, which our store does not do, so it is applied here.
    """
    containers = (*(c for c in pod.spec.init_containers if _is_restartable(c)), *pod.spec.containers)
    ports: list[HostPort] = []
    for container in containers:
        for port in container.ports:
            host_port = port.host_port or 0
            if host_port <= 0 and pod.spec.host_network:
                host_port = port.container_port
            if host_port > 0:
                ports.append(
                    HostPort(port.host_ip or DEFAULT_BIND_ALL_HOST_IP, port.protocol or "TCP", host_port)
                )
    return tuple(ports)


# --- what a node offers -------------------------------------------------------------------------


@attrs.frozen
class NodeUsage:
    """The sums over the pods counted on one node."""

    requested: Resource = ZERO
    non_zero_requested: Resource = ZERO
    pod_count: int = 0
    used_ports: tuple[HostPort, ...] = ()

    def plus(self, pod: PodResources) -> NodeUsage:
        return NodeUsage(
            self.requested + pod.requested,
            self.non_zero_requested + pod.non_zero,
            self.pod_count + 1,
            self.used_ports + pod.host_ports if pod.host_ports else self.used_ports,
        )

    def minus(self, pod: PodResources) -> NodeUsage:
        ports = list(self.used_ports)
        for port in pod.host_ports:
            if port in ports:
                ports.remove(port)
        return NodeUsage(
            self.requested - pod.requested,
            self.non_zero_requested - pod.non_zero,
            self.pod_count - 1,
            tuple(ports),
        )


EMPTY_USAGE = NodeUsage()


@attrs.frozen
class NodeInfo:
    """One node as the plugins see it: the Node, what it can hold, and what its pods take."""

    node: Node
    allocatable: Resource
    allowed_pod_number: int
    requested: Resource = ZERO
    non_zero_requested: Resource = ZERO
    pod_count: int = 0
    used_ports: tuple[HostPort, ...] = ()

    @property
    def name(self) -> str:
        return self.node.metadata.name

    @classmethod
    def build(cls, node: Node, usage: NodeUsage = EMPTY_USAGE) -> NodeInfo:
        allocatable, allowed_pods = node_allocatable(node)
        return cls(
            node=node,
            allocatable=allocatable,
            allowed_pod_number=allowed_pods,
            requested=usage.requested,
            non_zero_requested=usage.non_zero_requested,
            pod_count=usage.pod_count,
            used_ports=usage.used_ports,
        )

    @classmethod
    def of(cls, node: Node, pods: Iterable[Pod] = ()) -> NodeInfo:
        """The node with ``pods`` on it (NewNodeInfo(pods...).SetNode(node)); handy in tests."""
        usage = EMPTY_USAGE
        for pod in pods:
            usage = usage.plus(pod_resources(pod))
        return cls.build(node, usage)


def node_allocatable(node: Node) -> tuple[Resource, int]:
    """The node's allocatable resources and how many pods it admits (0 when it does not say)."""
    allocatable = node.status.allocatable
    pods = allocatable.get(PODS)
    return _to_resource(allocatable), 0 if pods is None else pods.value()


def zone_key(node: Node) -> str:
    """utilnode.GetZoneKey: region and zone joined, or "" when the node has neither label."""
    labels = node.metadata.labels
    zone = next((labels[key] for key in _ZONE_LABELS if key in labels), "")
    region = next((labels[key] for key in _REGION_LABELS if key in labels), "")
    if not region and not zone:
        return ""
    return f"{region}:\x00:{zone}"


class _NodeTree:
    """nodeTree: node names per zone, listed round-robin across zones in the order zones appeared."""

    def __init__(self) -> None:
        # Dicts as ordered sets: constant-time add and remove, insertion order kept.
        self._zones: dict[str, dict[str, None]] = {}

    def add(self, zone: str, name: str) -> None:
        self._zones.setdefault(zone, {})[name] = None

    def remove(self, zone: str, name: str) -> None:
        names = self._zones.get(zone)
        if names is not None and name in names:
            del names[name]
            if not names:
                del self._zones[zone]

    def list(self) -> list[str]:
        zones = [list(names) for names in self._zones.values()]
        ordered: list[str] = []
        for index in range(max((len(names) for names in zones), default=0)):
            ordered.extend(names[index] for names in zones if index < len(names))
        return ordered


@attrs.define
class _CachedPod:
    pod: Pod
    node_name: str
    resources: PodResources
    assumed: bool


class SchedulerCache:
    """Node infos kept current from informer events, and the pods the scheduler has assumed.

    Pods are keyed by uid. A pod may be counted on a node the cache does not know (yet); its usage is
    kept and shows once the node arrives, as upstream keeps an "imaginary" node info.
    """

    def __init__(self) -> None:
        self._nodes: dict[str, Node] = {}
        self._zones: dict[str, str] = {}
        self._usage: dict[str, NodeUsage] = {}
        self._infos: dict[str, NodeInfo] = {}
        self._pods: dict[str, _CachedPod] = {}
        self._tree = _NodeTree()
        self._order: list[str] | None = None

    # --- nodes ----------------------------------------------------------------------------------

    def add_node(self, node: Node) -> None:
        """Add or replace a node (an informer add or update)."""
        name = node.metadata.name
        zone = zone_key(node)
        old_zone = self._zones.get(name)
        if old_zone != zone:
            if old_zone is not None:
                self._tree.remove(old_zone, name)
            self._tree.add(zone, name)
            self._zones[name] = zone
            self._order = None
        self._nodes[name] = node
        self._infos[name] = NodeInfo.build(node, self._usage.get(name, EMPTY_USAGE))

    def remove_node(self, node: Node) -> None:
        name = node.metadata.name
        if self._nodes.pop(name, None) is None:
            return
        del self._infos[name]
        self._tree.remove(self._zones.pop(name), name)
        self._order = None

    # --- pods -----------------------------------------------------------------------------------

    def add_pod(self, pod: Pod) -> None:
        """Count a bound pod (an informer add or update); confirms the pod if it was assumed."""
        uid = pod.metadata.uid
        cached = self._pods.get(uid)
        if cached is not None:
            spec = cached.pod.spec
            if cached.node_name == pod.spec.node_name and (spec is pod.spec or spec == pod.spec):
                # Status updates (the kubelet's) change nothing the cache counts.
                cached.pod = pod
                cached.assumed = False
                return
            self._uncount(cached)
        cached = _CachedPod(pod, pod.spec.node_name, pod_resources(pod), assumed=False)
        self._pods[uid] = cached
        self._count(cached)

    def remove_pod(self, pod: Pod) -> bool:
        """Stop counting a pod (deleted or finished); True when it was counted."""
        cached = self._pods.pop(pod.metadata.uid, None)
        if cached is None:
            return False
        self._uncount(cached)
        return True

    def assume_pod(self, pod: Pod) -> None:
        """Count ``pod`` (with ``spec.nodeName`` set to the chosen node) before its binding is written."""
        uid = pod.metadata.uid
        if uid in self._pods:
            raise ValueError(f"pod {pod.metadata.namespace}/{pod.metadata.name} is already in the cache")
        cached = _CachedPod(pod, pod.spec.node_name, pod_resources(pod), assumed=True)
        self._pods[uid] = cached
        self._count(cached)

    def forget_pod(self, pod: Pod) -> None:
        """Undo `assume_pod` after a failed binding; a pod the informer already confirmed stays."""
        cached = self._pods.get(pod.metadata.uid)
        if cached is not None and cached.assumed:
            del self._pods[pod.metadata.uid]
            self._uncount(cached)

    def is_assumed(self, pod: Pod) -> bool:
        cached = self._pods.get(pod.metadata.uid)
        return cached is not None and cached.assumed

    def has_pod(self, pod: Pod) -> bool:
        """Whether the pod is counted on some node, assumed or confirmed."""
        return pod.metadata.uid in self._pods

    def _count(self, cached: _CachedPod) -> None:
        name = cached.node_name
        self._set_usage(name, self._usage.get(name, EMPTY_USAGE).plus(cached.resources))

    def _uncount(self, cached: _CachedPod) -> None:
        name = cached.node_name
        self._set_usage(name, self._usage.get(name, EMPTY_USAGE).minus(cached.resources))

    def _set_usage(self, name: str, usage: NodeUsage) -> None:
        if usage.pod_count == 0:
            self._usage.pop(name, None)
            usage = EMPTY_USAGE
        else:
            self._usage[name] = usage
        node = self._nodes.get(name)
        if node is not None:
            self._infos[name] = with_fields(
                self._infos[name],
                requested=usage.requested,
                non_zero_requested=usage.non_zero_requested,
                pod_count=usage.pod_count,
                used_ports=usage.used_ports,
            )

    # --- reading --------------------------------------------------------------------------------

    def node_infos(self) -> tuple[NodeInfo, ...]:
        """Every known node's info, in node-tree order: the snapshot one scheduling cycle works on."""
        if self._order is None:
            self._order = self._tree.list()
        infos = self._infos
        return tuple(infos[name] for name in self._order)

    def node_info(self, name: str) -> NodeInfo | None:
        return self._infos.get(name)

    def assumed_pods(self) -> list[Pod]:
        """The pods assumed onto a node whose binding the informer has not shown yet."""
        return [cached.pod for cached in self._pods.values() if cached.assumed]
