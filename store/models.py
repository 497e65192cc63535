"""The typed Kubernetes kinds: frozen attrs values, snake_case in Python, camelCase on the wire.

Every class here is an immutable value (``@attrs.frozen``): readers share objects freely and writers make
new ones with `attrs.evolve`. Collections are tuples and `FrozenDict`; converters accept lists and dicts
so objects are pleasant to build by hand. Each class carries an ``extra`` mapping that holds the valid
wire fields nothing here acts on (volumes, env ``valueFrom``, securityContext, …) so they survive a round
trip. Conversion to and from the wire form lives in `store.scheme`; validation and defaulting in
`store.strategy`. The fields are those the built-in controllers, scheduler and kubelet simulator need.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any, ClassVar, TypeVar, cast

import attrs

from store.frozen import EMPTY, FrozenDict, freeze, freeze_map, to_tuple
from store.quantity import Quantity
from store.selectors import Selector, selector_from_structured

#: Field metadata key naming the wire (camelCase) name when the generic rule gets it wrong.
WIRE = "wire"
#: Field metadata key marking a timestamp serialised with microseconds (metav1.MicroTime).
MICRO_TIME = "micro_time"
#: Field metadata key marking a field written even when empty (a required field, no omitempty upstream).
EMIT_EMPTY = "emit_empty"

T = TypeVar("T")
IntOrString = int | str
ResourceList = FrozenDict[str, Quantity]


def _map() -> Any:
    return attrs.field(default=EMPTY, converter=freeze_map)


def _seq() -> Any:
    return attrs.field(default=(), converter=to_tuple)


def _micro_time() -> Any:
    return attrs.field(default=None, metadata={MICRO_TIME: True})


@attrs.frozen(kw_only=True)
class Model:
    """Base of every model: ``extra`` keeps the wire fields the class does not model."""

    extra: FrozenDict[str, Any] = attrs.field(default=EMPTY, converter=freeze, repr=False)


# --- metadata ---------------------------------------------------------------------------------


@attrs.frozen(kw_only=True)
class OwnerReference(Model):
    api_version: str
    kind: str
    name: str
    uid: str
    controller: bool | None = None
    block_owner_deletion: bool | None = None


@attrs.frozen(kw_only=True)
class ObjectMeta(Model):
    name: str = ""
    generate_name: str = ""
    namespace: str = ""
    uid: str = ""
    resource_version: str = ""
    generation: int = 0
    creation_timestamp: datetime | None = None
    deletion_timestamp: datetime | None = None
    deletion_grace_period_seconds: int | None = None
    labels: FrozenDict[str, str] = _map()
    annotations: FrozenDict[str, str] = _map()
    owner_references: tuple[OwnerReference, ...] = _seq()
    finalizers: tuple[str, ...] = _seq()

    def controller_ref(self) -> OwnerReference | None:
        """The owner reference with ``controller: true``, if any."""
        for ref in self.owner_references:
            if ref.controller:
                return ref
        return None


@attrs.frozen(kw_only=True)
class Object(Model):
    """Base of every kind: a model with ``metadata``; the store is written against this type."""

    api_version: ClassVar[str] = ""
    kind: ClassVar[str] = ""
    metadata: ObjectMeta = ObjectMeta()


def replace(obj: T, **changes: Any) -> T:
    """``attrs.evolve`` for code generic over kinds, where the type checker cannot see the fields."""
    return attrs.evolve(obj, **changes)  # type: ignore[misc]


_FIELD_NAMES: dict[type[Any], tuple[str, ...]] = {}


def _field_names(cls: type[Any]) -> tuple[str, ...]:
    names = _FIELD_NAMES.get(cls)
    if names is None:
        names = _FIELD_NAMES[cls] = tuple(field.name for field in attrs.fields(cls))
    return names


_Copier = Callable[[Any, dict[str, Any]], Any]
#: Copiers by class and the names changed, in the order given (callers name the same fields each time).
_COPIERS: dict[tuple[Any, ...], _Copier] = {}


def _filler(cls: type[Any]) -> type[Any]:
    """A subclass of ``cls`` whose instances take plain attribute stores, to fill in a copy of ``cls``.

    Frozen models refuse attribute stores, and storing past them one call per field costs about ten
    times a plain store. A copy is made as an instance of this class, filled in with plain stores (which
    the interpreter specialises to a slot write), then made a ``cls``: the filler adds no slots, so the
    two share one layout and the object is the same as one ``cls`` made.
    """
    plain = {"__setattr__": object.__setattr__, "__delattr__": object.__delattr__}
    return type(cls.__name__, (cls,), {"__slots__": (), **plain})


_FILLERS: dict[type[Any], type[Any]] = {}


def _copier(cls: type[Any], changed: tuple[str, ...]) -> _Copier:
    """A function copying an instance of ``cls`` with the fields ``changed`` taken from its second argument.

    Generated, as attrs generates its methods, one straight line per field: each kept field is read
    from the original and each changed one from the changes, and stored, as plain attribute accesses the
    interpreter specialises, with no loop and no name lookup. A name that is not a field is ignored.
    """
    filler = _FILLERS.get(cls)
    if filler is None:
        filler = _FILLERS[cls] = _filler(cls)
    namespace: dict[str, Any] = {"_new": object.__new__, "_filler": filler, "_cls": cls}
    lines = ["def copy(obj, changes):", "    new = _new(_filler)"]
    for name in _field_names(cls):
        lines.append(
            f"    new.{name} = changes[{name!r}]" if name in changed else f"    new.{name} = obj.{name}"
        )
    lines += ["    new.__class__ = _cls", "    return new"]
    exec("\n".join(lines), namespace)  # field names are identifiers, from attrs.fields
    copy: _Copier = namespace["copy"]
    _COPIERS[(cls, *changed)] = copy
    return copy


def with_fields(obj: T, **changes: Any) -> T:
    """A copy of ``obj`` with ``changes``, skipping converters: for values already in normal form.

    Several times as fast as `attrs.evolve`; the store stamps every write with it. A name that is not a
    field is ignored.
    """
    cls = type(obj)
    copy = _COPIERS.get((cls, *changes))
    if copy is None:
        copy = _copier(cls, tuple(changes))
    return cast(T, copy(obj, changes))


def status_of(obj: Object) -> Any:
    """The ``status`` of a kind that has one (None otherwise), for code generic over kinds."""
    return getattr(obj, "status", None)


@attrs.frozen(kw_only=True)
class LabelSelectorRequirement(Model):
    key: str
    operator: str
    values: tuple[str, ...] = _seq()


@attrs.frozen(kw_only=True)
class LabelSelector(Model):
    """The structured selector of the API (``matchLabels`` + ``matchExpressions``, ANDed)."""

    match_labels: FrozenDict[str, str] = _map()
    match_expressions: tuple[LabelSelectorRequirement, ...] = _seq()

    def as_selector(self) -> Selector:
        """The compiled selector; an empty LabelSelector selects everything.

        Compiled once per instance: objects are shared by the store, every cache and every reader, so a
        controller meets the same LabelSelector sync after sync (see `_COMPILED_SELECTORS`).
        """
        entry = _COMPILED_SELECTORS.get(id(self))
        if entry is not None and entry[0] is self:
            return entry[1]
        compiled = selector_from_structured(
            self.match_labels,
            [(e.key, e.operator, e.values) for e in self.match_expressions],
        )
        if len(_COMPILED_SELECTORS) >= _COMPILED_SELECTORS_MAX:
            _COMPILED_SELECTORS.clear()
        _COMPILED_SELECTORS[id(self)] = (self, compiled)
        return compiled


#: `LabelSelector.as_selector`'s results by the identity of the instance, which is cheaper to look up
#: than an equal value (hashing a selector walks its labels and expressions). Each entry holds its
#: instance, so an id is not reused while it is cached; the table is bounded and dropped whole when full
#: (a cluster of 5,000 Deployments reads 10,000 selectors in turn, which an LRU of a few thousand
#: would miss every time).
_COMPILED_SELECTORS: dict[int, tuple[LabelSelector, Selector]] = {}
_COMPILED_SELECTORS_MAX = 1 << 16


@attrs.frozen(kw_only=True)
class ObjectReference(Model):
    api_version: str = ""
    kind: str = ""
    namespace: str = ""
    name: str = ""
    uid: str = ""
    resource_version: str = ""
    field_path: str = ""


# --- pods -------------------------------------------------------------------------------------


@attrs.frozen(kw_only=True)
class ContainerPort(Model):
    name: str = ""
    container_port: int
    host_port: int | None = None
    host_ip: str = attrs.field(default="", metadata={WIRE: "hostIP"})
    protocol: str = "TCP"


@attrs.frozen(kw_only=True)
class EnvVar(Model):
    name: str
    value: str | None = None


@attrs.frozen(kw_only=True)
class ResourceRequirements(Model):
    limits: ResourceList = _map()
    requests: ResourceList = _map()


@attrs.frozen(kw_only=True)
class HTTPGetAction(Model):
    path: str = ""
    port: IntOrString
    host: str = ""
    scheme: str = "HTTP"


@attrs.frozen(kw_only=True)
class TCPSocketAction(Model):
    port: IntOrString
    host: str = ""


@attrs.frozen(kw_only=True)
class ExecAction(Model):
    command: tuple[str, ...] = _seq()


@attrs.frozen(kw_only=True)
class Probe(Model):
    http_get: HTTPGetAction | None = None
    tcp_socket: TCPSocketAction | None = None
    exec: ExecAction | None = None
    initial_delay_seconds: int = 0
    timeout_seconds: int = 1
    period_seconds: int = 10
    success_threshold: int = 1
    failure_threshold: int = 3


@attrs.frozen(kw_only=True)
class Container(Model):
    name: str
    image: str = ""
    command: tuple[str, ...] = _seq()
    args: tuple[str, ...] = _seq()
    ports: tuple[ContainerPort, ...] = _seq()
    env: tuple[EnvVar, ...] = _seq()
    resources: ResourceRequirements = ResourceRequirements()
    readiness_probe: Probe | None = None
    liveness_probe: Probe | None = None
    startup_probe: Probe | None = None
    image_pull_policy: str = ""


@attrs.frozen(kw_only=True)
class Toleration(Model):
    key: str = ""
    operator: str = ""
    value: str = ""
    effect: str = ""
    toleration_seconds: int | None = None

    def tolerates(self, taint: Taint) -> bool:
        """Whether this toleration matches ``taint`` (v1 Toleration.ToleratesTaint)."""
        if self.effect and self.effect != taint.effect:
            return False
        if self.key and self.key != taint.key:
            return False
        if self.operator == "Exists":
            return True
        if self.operator in ("", "Equal"):
            return self.value == taint.value
        return False


@attrs.frozen(kw_only=True)
class NodeSelectorRequirement(Model):
    key: str
    operator: str
    values: tuple[str, ...] = _seq()


@attrs.frozen(kw_only=True)
class NodeSelectorTerm(Model):
    match_expressions: tuple[NodeSelectorRequirement, ...] = _seq()
    match_fields: tuple[NodeSelectorRequirement, ...] = _seq()


@attrs.frozen(kw_only=True)
class NodeSelector(Model):
    node_selector_terms: tuple[NodeSelectorTerm, ...] = _seq()


@attrs.frozen(kw_only=True)
class PreferredSchedulingTerm(Model):
    weight: int
    preference: NodeSelectorTerm


@attrs.frozen(kw_only=True)
class NodeAffinity(Model):
    required_during_scheduling_ignored_during_execution: NodeSelector | None = None
    preferred_during_scheduling_ignored_during_execution: tuple[PreferredSchedulingTerm, ...] = _seq()


@attrs.frozen(kw_only=True)
class Affinity(Model):
    node_affinity: NodeAffinity | None = None


@attrs.frozen(kw_only=True)
class PodSpec(Model):
    containers: tuple[Container, ...] = _seq()
    init_containers: tuple[Container, ...] = _seq()
    node_name: str = ""
    node_selector: FrozenDict[str, str] = _map()
    affinity: Affinity | None = None
    tolerations: tuple[Toleration, ...] = _seq()
    scheduler_name: str = "default-scheduler"
    priority_class_name: str = ""
    priority: int | None = None
    host_network: bool = False
    restart_policy: str = "Always"
    termination_grace_period_seconds: int | None = 30
    service_account_name: str = ""


@attrs.frozen(kw_only=True)
class PodTemplateSpec(Model):
    metadata: ObjectMeta = ObjectMeta()
    spec: PodSpec = PodSpec()


@attrs.frozen(kw_only=True)
class PodCondition(Model):
    type: str
    status: str
    last_probe_time: datetime | None = None
    last_transition_time: datetime | None = None
    reason: str = ""
    message: str = ""


@attrs.frozen(kw_only=True)
class ContainerStateRunning(Model):
    started_at: datetime | None = None


@attrs.frozen(kw_only=True)
class ContainerStateWaiting(Model):
    reason: str = ""
    message: str = ""


@attrs.frozen(kw_only=True)
class ContainerStateTerminated(Model):
    exit_code: int = 0
    reason: str = ""
    message: str = ""
    started_at: datetime | None = None
    finished_at: datetime | None = None


@attrs.frozen(kw_only=True)
class ContainerState(Model):
    running: ContainerStateRunning | None = None
    waiting: ContainerStateWaiting | None = None
    terminated: ContainerStateTerminated | None = None


@attrs.frozen(kw_only=True)
class ContainerStatus(Model):
    name: str
    ready: bool = attrs.field(default=False, metadata={EMIT_EMPTY: True})
    started: bool | None = None
    restart_count: int = attrs.field(default=0, metadata={EMIT_EMPTY: True})
    image: str = attrs.field(default="", metadata={EMIT_EMPTY: True})
    image_id: str = attrs.field(default="", metadata={WIRE: "imageID", EMIT_EMPTY: True})
    container_id: str = attrs.field(default="", metadata={WIRE: "containerID"})
    state: ContainerState = ContainerState()
    last_state: ContainerState = ContainerState()


@attrs.frozen(kw_only=True)
class PodIP(Model):
    ip: str


@attrs.frozen(kw_only=True)
class PodStatus(Model):
    phase: str = ""
    conditions: tuple[PodCondition, ...] = _seq()
    message: str = ""
    reason: str = ""
    nominated_node_name: str = ""
    host_ip: str = ""
    pod_ip: str = ""
    pod_ips: tuple[PodIP, ...] = _seq()
    start_time: datetime | None = None
    container_statuses: tuple[ContainerStatus, ...] = _seq()
    qos_class: str = ""

    def condition(self, type_: str) -> PodCondition | None:
        """The first condition of type ``type_``, if any."""
        for condition in self.conditions:
            if condition.type == type_:
                return condition
        return None

    @property
    def ready(self) -> bool:
        """Whether the Ready condition is True."""
        condition = self.condition("Ready")
        return condition is not None and condition.status == "True"


@attrs.frozen(kw_only=True)
class Pod(Object):
    api_version: ClassVar[str] = "v1"
    kind: ClassVar[str] = "Pod"
    spec: PodSpec = PodSpec()
    status: PodStatus = PodStatus()


# --- nodes ------------------------------------------------------------------------------------


@attrs.frozen(kw_only=True)
class Taint(Model):
    key: str
    value: str = ""
    effect: str
    time_added: datetime | None = None


@attrs.frozen(kw_only=True)
class NodeSpec(Model):
    pod_cidr: str = ""
    pod_cidrs: tuple[str, ...] = _seq()
    provider_id: str = ""
    unschedulable: bool = False
    taints: tuple[Taint, ...] = _seq()


@attrs.frozen(kw_only=True)
class NodeCondition(Model):
    type: str
    status: str
    last_heartbeat_time: datetime | None = None
    last_transition_time: datetime | None = None
    reason: str = ""
    message: str = ""


@attrs.frozen(kw_only=True)
class NodeAddress(Model):
    type: str
    address: str


@attrs.frozen(kw_only=True)
class NodeStatus(Model):
    capacity: ResourceList = _map()
    allocatable: ResourceList = _map()
    phase: str = ""
    conditions: tuple[NodeCondition, ...] = _seq()
    addresses: tuple[NodeAddress, ...] = _seq()

    def condition(self, type_: str) -> NodeCondition | None:
        for condition in self.conditions:
            if condition.type == type_:
                return condition
        return None


@attrs.frozen(kw_only=True)
class Node(Object):
    api_version: ClassVar[str] = "v1"
    kind: ClassVar[str] = "Node"
    spec: NodeSpec = NodeSpec()
    status: NodeStatus = NodeStatus()


# --- namespaces, services, endpoints ------------------------------------------------------------


@attrs.frozen(kw_only=True)
class NamespaceSpec(Model):
    finalizers: tuple[str, ...] = _seq()


@attrs.frozen(kw_only=True)
class NamespaceStatus(Model):
    phase: str = ""


@attrs.frozen(kw_only=True)
class Namespace(Object):
    api_version: ClassVar[str] = "v1"
    kind: ClassVar[str] = "Namespace"
    spec: NamespaceSpec = NamespaceSpec()
    status: NamespaceStatus = NamespaceStatus()


@attrs.frozen(kw_only=True)
class ServicePort(Model):
    name: str = ""
    protocol: str = "TCP"
    app_protocol: str | None = None
    port: int
    target_port: IntOrString | None = None
    node_port: int | None = None


@attrs.frozen(kw_only=True)
class ServiceSpec(Model):
    type: str = "ClusterIP"
    selector: FrozenDict[str, str] = _map()
    ports: tuple[ServicePort, ...] = _seq()
    cluster_ip: str = ""
    cluster_ips: tuple[str, ...] = _seq()
    external_ips: tuple[str, ...] = _seq()
    external_name: str = ""
    session_affinity: str = ""
    publish_not_ready_addresses: bool = False


@attrs.frozen(kw_only=True)
class ServiceStatus(Model):
    pass


@attrs.frozen(kw_only=True)
class Service(Object):
    api_version: ClassVar[str] = "v1"
    kind: ClassVar[str] = "Service"
    spec: ServiceSpec = ServiceSpec()
    status: ServiceStatus = ServiceStatus()


@attrs.frozen(kw_only=True)
class EndpointAddress(Model):
    ip: str
    hostname: str = ""
    node_name: str | None = None
    target_ref: ObjectReference | None = None


@attrs.frozen(kw_only=True)
class EndpointPort(Model):
    name: str = ""
    port: int
    protocol: str = "TCP"
    app_protocol: str | None = None


@attrs.frozen(kw_only=True)
class EndpointSubset(Model):
    addresses: tuple[EndpointAddress, ...] = _seq()
    not_ready_addresses: tuple[EndpointAddress, ...] = _seq()
    ports: tuple[EndpointPort, ...] = _seq()


@attrs.frozen(kw_only=True)
class Endpoints(Object):
    api_version: ClassVar[str] = "v1"
    kind: ClassVar[str] = "Endpoints"
    subsets: tuple[EndpointSubset, ...] = _seq()


# --- configuration ----------------------------------------------------------------------------


@attrs.frozen(kw_only=True)
class ConfigMap(Object):
    api_version: ClassVar[str] = "v1"
    kind: ClassVar[str] = "ConfigMap"
    data: FrozenDict[str, str] = _map()
    binary_data: FrozenDict[str, str] = _map()
    immutable: bool | None = None


@attrs.frozen(kw_only=True)
class Secret(Object):
    """A Secret; ``data`` holds base64 strings as on the wire, ``string_data`` plain ones.

    As the apiserver does, the store writes ``string_data`` into ``data`` and keeps none of it.
    """

    api_version: ClassVar[str] = "v1"
    kind: ClassVar[str] = "Secret"
    type: str = "Opaque"
    data: FrozenDict[str, str] = _map()
    string_data: FrozenDict[str, str] = _map()
    immutable: bool | None = None


# --- events and leases ------------------------------------------------------------------------


@attrs.frozen(kw_only=True)
class EventSource(Model):
    component: str = ""
    host: str = ""


@attrs.frozen(kw_only=True)
class Event(Object):
    """A core/v1 Event: what happened to ``involved_object``, as ``kubectl get events`` shows it."""

    api_version: ClassVar[str] = "v1"
    kind: ClassVar[str] = "Event"
    involved_object: ObjectReference = ObjectReference()
    reason: str = ""
    message: str = ""
    source: EventSource = EventSource()
    first_timestamp: datetime | None = None
    last_timestamp: datetime | None = None
    count: int = 0
    type: str = "Normal"
    event_time: datetime | None = _micro_time()
    action: str = ""
    reporting_component: str = ""
    reporting_instance: str = ""


@attrs.frozen(kw_only=True)
class LeaseSpec(Model):
    holder_identity: str | None = None
    lease_duration_seconds: int | None = None
    acquire_time: datetime | None = _micro_time()
    renew_time: datetime | None = _micro_time()
    lease_transitions: int | None = None


@attrs.frozen(kw_only=True)
class Lease(Object):
    api_version: ClassVar[str] = "coordination.k8s.io/v1"
    kind: ClassVar[str] = "Lease"
    spec: LeaseSpec = LeaseSpec()


# --- apps -------------------------------------------------------------------------------------


@attrs.frozen(kw_only=True)
class ReplicaSetSpec(Model):
    replicas: int = 1
    min_ready_seconds: int = 0
    selector: LabelSelector | None = None
    template: PodTemplateSpec = PodTemplateSpec()


@attrs.frozen(kw_only=True)
class ReplicaSetCondition(Model):
    type: str
    status: str
    last_transition_time: datetime | None = None
    reason: str = ""
    message: str = ""


@attrs.frozen(kw_only=True)
class ReplicaSetStatus(Model):
    replicas: int = 0
    fully_labeled_replicas: int = 0
    ready_replicas: int = 0
    available_replicas: int = 0
    terminating_replicas: int | None = None
    observed_generation: int = 0
    conditions: tuple[ReplicaSetCondition, ...] = _seq()


@attrs.frozen(kw_only=True)
class ReplicaSet(Object):
    api_version: ClassVar[str] = "apps/v1"
    kind: ClassVar[str] = "ReplicaSet"
    spec: ReplicaSetSpec = ReplicaSetSpec()
    status: ReplicaSetStatus = ReplicaSetStatus()


@attrs.frozen(kw_only=True)
class RollingUpdateDeployment(Model):
    max_unavailable: IntOrString | None = None
    max_surge: IntOrString | None = None


@attrs.frozen(kw_only=True)
class DeploymentStrategy(Model):
    type: str = "RollingUpdate"
    rolling_update: RollingUpdateDeployment | None = None


@attrs.frozen(kw_only=True)
class DeploymentSpec(Model):
    replicas: int = 1
    selector: LabelSelector | None = None
    template: PodTemplateSpec = PodTemplateSpec()
    strategy: DeploymentStrategy = DeploymentStrategy()
    min_ready_seconds: int = 0
    revision_history_limit: int | None = 10
    paused: bool = False
    progress_deadline_seconds: int | None = 600


@attrs.frozen(kw_only=True)
class DeploymentCondition(Model):
    type: str
    status: str
    last_update_time: datetime | None = None
    last_transition_time: datetime | None = None
    reason: str = ""
    message: str = ""


@attrs.frozen(kw_only=True)
class DeploymentStatus(Model):
    observed_generation: int = 0
    replicas: int = 0
    updated_replicas: int = 0
    ready_replicas: int = 0
    available_replicas: int = 0
    unavailable_replicas: int = 0
    terminating_replicas: int | None = None
    conditions: tuple[DeploymentCondition, ...] = _seq()
    collision_count: int | None = None

    def condition(self, type_: str) -> DeploymentCondition | None:
        for condition in self.conditions:
            if condition.type == type_:
                return condition
        return None


@attrs.frozen(kw_only=True)
class Deployment(Object):
    api_version: ClassVar[str] = "apps/v1"
    kind: ClassVar[str] = "Deployment"
    spec: DeploymentSpec = DeploymentSpec()
    status: DeploymentStatus = DeploymentStatus()


# --- custom kinds without a class of their own ------------------------------------------------


@attrs.frozen(kw_only=True)
class GenericObject(Object):
    """A custom kind as plain frozen data: ``spec``, ``status``, and the rest of the top level in ``extra``.

    Not used directly: `Scheme.register_generic` makes a subclass per kind, so every kind stays a class.
    """

    api_version: ClassVar[str] = ""
    kind: ClassVar[str] = ""
    spec: FrozenDict[str, Any] = attrs.field(default=EMPTY, converter=freeze)
    status: FrozenDict[str, Any] = attrs.field(default=EMPTY, converter=freeze)
