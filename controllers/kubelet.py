"""The simulated kubelet: every simulated node's kubelet in one controller, in the spirit of kwok's stages.

`Kubelet` plays the node agent for each `NodeConfig` it is given. Per node it registers the Node object
(labels, capacity, addresses, pod CIDR, healthy conditions), renews the node's Lease in ``kube-node-lease``
and posts node status when it changes or every ``node_status_report_frequency`` seconds, as the kubelet does
with leases on. Per pod bound to one of its nodes it plays the container runtime: Pending, then Running with
an address from the node's pod CIDR, Ready once each container's readiness probe would first pass; a pod
being deleted is killed after a short delay and removed with ``grace_period_seconds=0``. Tests steer it with
`Kubelet.fail_pod`, `Kubelet.crash_loop`, `Kubelet.set_ready`, `Kubelet.stop_node` and `Kubelet.start_node`.

It is one `Controller` over Pods whose key space also holds the nodes: ``Request(namespace, pod)`` is a
pod, ``Request("", node)`` one node's heartbeat (a retry), and ``Request(":heartbeats", n)`` the
heartbeats of every node due at one instant, run one after the other in one reconcile: each is still
its own writes (the node's status when due, always its Lease), at the instant it is due, but thousands of
nodes beating together do not cost thousands of trips through the workqueue. A heartbeat that fails is
retried alone, under the node's key. Heartbeats come from one loop timer per instant (clock ``call_at``,
no task), so they never keep a simulation from settling; pod delays are delayed requeues.

What it is not: a kubelet. No containers or probes run, nothing is admitted or evicted (the scheduler
checks resources), no volumes, images or init-container lifecycle; knobs act on a whole pod.
"""

from __future__ import annotations

import contextlib
import heapq
import ipaddress
import itertools
import operator
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import TypeVar

import anyio
import anyio.abc
import attrs
import structlog

from controllers.events import NORMAL, EventRecorder
from controllers.podutil import FAILED, SUCCEEDED
from reconcile import Controller, Manager, Request, Result
from reconcile.clock import Timer
from reconcile.informer import BY_NODE, index_by_node_name
from store import AlreadyExists, FrozenDict, NotFound, Quantity, parse_quantity
from store.frozen import freeze_map, to_tuple
from store.models import (
    Container,
    ContainerState,
    ContainerStateRunning,
    ContainerStateTerminated,
    ContainerStateWaiting,
    ContainerStatus,
    Lease,
    LeaseSpec,
    Node,
    NodeAddress,
    NodeCondition,
    NodeSpec,
    NodeStatus,
    ObjectMeta,
    OwnerReference,
    Pod,
    PodCondition,
    PodIP,
    PodStatus,
    Taint,
    with_fields,
)

log = structlog.get_logger("setpoint.kubelet")

NODE_LEASE_NAMESPACE = "kube-node-lease"
LABEL_HOSTNAME = "kubernetes.io/hostname"
LABEL_OS = "kubernetes.io/os"
LABEL_ARCH = "kubernetes.io/arch"
LABEL_ZONE = "topology.kubernetes.io/zone"

#: The kubelet's container restart backoff: 10 s, doubling, capped at 5 minutes.
INITIAL_CONTAINER_BACKOFF = 10.0
MAX_CONTAINER_BACKOFF = 300.0

PENDING = "Pending"
RUNNING = "Running"

#: The conditions the kubelet owns on a pod, in the order it writes them; others are left as they are.
_KUBELET_POD_CONDITIONS = (
    "PodReadyToStartContainers",
    "Initialized",
    "Ready",
    "ContainersReady",
    "PodScheduled",
)

_KUBELET_POD_CONDITION_TYPES = frozenset(_KUBELET_POD_CONDITIONS)
_TRUE = ("True", "", "")
_FALSE = ("False", "", "")
_CONTAINER_CREATING = ContainerState(waiting=ContainerStateWaiting(reason="ContainerCreating"))
_NO_CONTAINER_STATE = ContainerState()
#: How many shared status values each of the kubelet's caches keeps before it starts afresh.
_MADE_LIMIT = 4096

K = TypeVar("K")
V = TypeVar("V")

#: Node conditions a healthy kubelet reports: (type, status, reason, message).
_HEALTHY_NODE_CONDITIONS = (
    ("NetworkUnavailable", "False", "RouteCreated", "RouteController created a route"),
    ("MemoryPressure", "False", "KubeletHasSufficientMemory", "kubelet has sufficient memory available"),
    ("DiskPressure", "False", "KubeletHasNoDiskPressure", "kubelet has no disk pressure"),
    ("PIDPressure", "False", "KubeletHasSufficientPID", "kubelet has sufficient PID available"),
    ("Ready", "True", "KubeletReady", "kubelet is posting ready status"),
)

_DEFAULT_POD_CIDR_BASE = ipaddress.IPv4Address("10.244.0.0")
_DEFAULT_NODE_IP_BASE = ipaddress.IPv4Address("172.18.0.2")
#: Loop time is kept in microseconds: instants closer than that are the same instant.
_EPSILON = 1e-6
#: The namespace of heartbeat batch keys: no object can have it, so they never mix with pod keys.
HEARTBEATS = ":heartbeats"


def _quantity(value: Quantity | str | int) -> Quantity:
    return value if isinstance(value, Quantity) else parse_quantity(str(value))


def _labels(value: Mapping[str, str] | None) -> FrozenDict[str, str]:
    return freeze_map(value)


def _taints(value: Iterable[Taint] | None) -> tuple[Taint, ...]:
    return to_tuple(value)


def _resources(value: Mapping[str, Quantity | str | int] | None) -> FrozenDict[str, Quantity] | None:
    if value is None:
        return None
    return FrozenDict({name: _quantity(amount) for name, amount in value.items()})


@attrs.frozen(kw_only=True)
class NodeConfig:
    """One simulated node: what its kubelet registers.

    ``allocatable`` defaults to the capacity (``cpu``, ``memory``, ``pods``). ``pod_cidr`` and
    ``internal_ip`` default from ``index`` (10.244.<index>.0/24 and 172.18.0.<index + 2>); ``index``
    itself defaults to the node's position in the kubelet's list.
    """

    name: str
    labels: FrozenDict[str, str] = attrs.field(factory=FrozenDict, converter=_labels)
    cpu: Quantity = attrs.field(default=parse_quantity("4"), converter=_quantity)
    memory: Quantity = attrs.field(default=parse_quantity("16Gi"), converter=_quantity)
    pods: Quantity = attrs.field(default=parse_quantity("110"), converter=_quantity)
    allocatable: FrozenDict[str, Quantity] | None = attrs.field(default=None, converter=_resources)
    zone: str = ""
    taints: tuple[Taint, ...] = attrs.field(default=(), converter=_taints)
    pod_cidr: str = ""
    internal_ip: str = ""
    index: int | None = None

    @property
    def capacity(self) -> FrozenDict[str, Quantity]:
        return FrozenDict({"cpu": self.cpu, "memory": self.memory, "pods": self.pods})

    def node_labels(self) -> FrozenDict[str, str]:
        """The well-known labels a kubelet sets, overridden by the configured ones."""
        labels = {LABEL_ARCH: "amd64", LABEL_HOSTNAME: self.name, LABEL_OS: "linux"}
        if self.zone:
            labels[LABEL_ZONE] = self.zone
        return FrozenDict(labels | dict(self.labels))


class _AddressPool:
    """A node's pod addresses: the lowest free one goes first, a released one is handed out again.

    The network address and the first host (the bridge's gateway, as with host-local IPAM) are never
    given out, nor the IPv4 broadcast address.
    """

    def __init__(self, network: ipaddress.IPv4Network | ipaddress.IPv6Network) -> None:
        self.network = network
        self._base = int(network.network_address)
        self._next = 2
        self._last = network.num_addresses - 2
        self._released: list[int] = []
        #: The addresses handed out and not released, with their offsets into the network.
        self._in_use: dict[str, int] = {}

    def allocate(self) -> str | None:
        if self._released:
            offset = heapq.heappop(self._released)
        elif self._next <= self._last:
            offset = self._next
            self._next += 1
        else:
            return None
        address = _address(self.network.version, self._base + offset)
        self._in_use[address] = offset
        return address

    def release(self, address: str) -> None:
        """Hand ``address`` out again later; one this pool did not hand out (a host's) is ignored."""
        offset = self._in_use.pop(address, None)
        if offset is not None:
            heapq.heappush(self._released, offset)


class _SimulatedNode:
    """What the kubelet keeps about one of its nodes."""

    def __init__(self, config: NodeConfig, index: int) -> None:
        self.config = config
        self.name = config.name
        cidr = config.pod_cidr or f"{_DEFAULT_POD_CIDR_BASE + index * 256}/24"
        self.pod_cidr = str(ipaddress.ip_network(cidr))
        self.internal_ip = config.internal_ip or str(_DEFAULT_NODE_IP_BASE + index)
        self.pool = _AddressPool(ipaddress.ip_network(cidr))
        self.stopped = False
        self.registered = False
        self.last_report: float | None = None
        #: When the next heartbeat is due (loop time), while one is armed.
        self.due: float | None = None
        self.addresses = (
            NodeAddress(type="InternalIP", address=self.internal_ip),
            NodeAddress(type="Hostname", address=self.name),
        )
        #: The Node object last found with the status this kubelet reports (objects are immutable).
        self.checked: Node | None = None


@attrs.define
class _PodRuntime:
    """The simulated container runtime's state of one pod (all its containers share it)."""

    uid: str
    node: str
    start_time: datetime | None = None
    start_at: float | None = None
    address: str = ""
    #: ``status.podIPs`` for the address, made once: every status posted shares it.
    pod_ips: tuple[PodIP, ...] = ()
    running_since: float | None = None
    running_since_time: datetime | None = None
    crashing: bool = False
    #: The restart back-off (flowcontrol.Backoff's entry): 0 while there is none, and when it was set.
    backoff: float = 0.0
    backoff_since: float = 0.0
    restart_at: float | None = None
    restarts: int = 0
    last_termination: ContainerStateTerminated | None = None
    failing: bool = False
    failed_at: datetime | None = None
    ready_override: bool | None = None
    kill_at: float | None = None
    #: The resourceVersion of the last status this kubelet wrote for the pod.
    posted: str = ""


class Kubelet(Controller):
    """The kubelets of the simulated nodes.

    ``startup_delay`` is how long a pod stays Pending (ContainerCreating) once seen; ``ready_delay`` is how
    long a readiness probe takes to pass after its ``initialDelaySeconds`` (containers without one are
    ready when they start); ``kill_delay`` is how long a deleted pod's containers take to stop (never more
    than its grace period). Heartbeats run every ``node_status_update_frequency`` seconds: each renews the
    node's Lease (a ``node_lease_duration_seconds`` lease, renewed at a quarter of it upstream: 10 s as
    well) and posts node status if it changed or ``node_status_report_frequency`` has passed.
    """

    def __init__(
        self,
        manager: Manager,
        nodes: Sequence[NodeConfig],
        *,
        startup_delay: float = 1.0,
        ready_delay: float = 0.0,
        kill_delay: float = 1.0,
        node_status_update_frequency: float = 10.0,
        node_status_report_frequency: float = 300.0,
        node_lease_duration_seconds: int = 40,
        workers: int = 4,
    ) -> None:
        super().__init__("kubelet", self, kind=Pod, workers=workers, changed=self._concerns, selects=_bound)
        if min(startup_delay, ready_delay, kill_delay) < 0:
            raise ValueError("delays must not be negative")
        if node_status_update_frequency <= 0:
            raise ValueError("node_status_update_frequency must be positive")
        self._store = manager.store
        self._clock = manager.clock
        self._startup_delay = startup_delay
        self._ready_delay = ready_delay
        self._kill_delay = kill_delay
        self._update_frequency = node_status_update_frequency
        self._report_frequency = node_status_report_frequency
        self._lease_duration = node_lease_duration_seconds
        self._events = EventRecorder(manager.store, manager.clock, "kubelet")
        self._pods = manager.informer(Pod)
        self._nodes_cache = manager.informer(Node)
        self._leases = manager.informer(Lease)
        self._pods.ensure_index(BY_NODE, index_by_node_name)
        self._nodes: dict[str, _SimulatedNode] = {}
        for position, config in enumerate(nodes):
            if config.name in self._nodes:
                raise ValueError(f"node {config.name!r} is configured twice")
            self._nodes[config.name] = _SimulatedNode(
                config, position if config.index is None else config.index
            )
        _check_disjoint([node.pool.network for node in self._nodes.values()])
        self._runtimes: dict[tuple[str, str], _PodRuntime] = {}
        self._running = False
        #: Heartbeats armed: instant -> the nodes due then (in arming order), and the one timer for it.
        self._due: dict[float, dict[str, _SimulatedNode]] = {}
        self._due_timers: dict[float, Timer] = {}
        #: Heartbeat batches fired and queued: key name -> the nodes to beat.
        self._batches: dict[str, list[str]] = {}
        self._batch_ids = itertools.count()
        #: Frozen values made for pod statuses, shared by the pods that need the same one (bounded).
        self._statuses_made: dict[tuple[object, ...], ContainerStatus] = {}
        self._conditions_made: dict[tuple[object, ...], PodCondition] = {}
        #: Conditions merged: (wanted, ids of the pod's conditions) -> (the outcome, None for the pod's
        #: own; the time of day it used, if any; the pod's conditions, kept alive while their ids are keys).
        self._conditions_merged: dict[
            tuple[object, ...],
            tuple[tuple[PodCondition, ...] | None, datetime | None, tuple[PodCondition, ...]],
        ] = {}
        #: The clock's last time of day, and it in whole seconds.
        self._whole_now: tuple[datetime, datetime] | None = None

    # --- knobs --------------------------------------------------------------------------------

    @property
    def node_names(self) -> tuple[str, ...]:
        return tuple(self._nodes)

    def stop_node(self, name: str) -> None:
        """The node's kubelet stops: no lease renewals, no node or pod status, no pod deletions."""
        node = self._node(name)
        node.stopped = True
        self._disarm(node)

    def start_node(self, name: str) -> None:
        """The node's kubelet comes back: a heartbeat now, then every period; its pods are reconciled."""
        node = self._node(name)
        if not node.stopped:
            return
        node.stopped = False
        if self._running:
            self._arm(node, self._clock.monotonic())
            for pod in self._pods.by_index(BY_NODE, name):
                self.enqueue(Request(pod.metadata.namespace, pod.metadata.name))

    def fail_pod(self, namespace: str, name: str) -> None:
        """The pod's containers exit with an error and the pod is Failed for good."""
        self._knob(namespace, name).failing = True

    def crash_loop(self, namespace: str, name: str, *, crashing: bool = True) -> None:
        """The pod's containers crash and restart: at once the first time, then after the kubelet's
        back-off (10 s doubling to 5 min), which starts afresh after ten minutes without a crash.

        With ``crashing=False`` the next restart succeeds and the containers keep running.
        """
        self._knob(namespace, name).crashing = crashing

    def set_ready(self, namespace: str, name: str, ready: bool) -> None:
        """Make the pod's readiness probes pass (or fail) from now on, whatever their delay."""
        self._knob(namespace, name).ready_override = ready

    def _node(self, name: str) -> _SimulatedNode:
        try:
            return self._nodes[name]
        except KeyError:
            raise KeyError(f"{name!r} is not a simulated node") from None

    def _knob(self, namespace: str, name: str) -> _PodRuntime:
        pod = self._pods.get(name, namespace)
        if pod is None or pod.spec.node_name not in self._nodes:
            raise KeyError(f"pod {namespace}/{name} is not on a simulated node")
        runtime = self._runtime(pod)
        if self._running:
            self.enqueue(Request(namespace, name))
        return runtime

    # --- running ------------------------------------------------------------------------------

    async def run(
        self,
        manager: Manager,
        *,
        task_status: anyio.abc.TaskStatus[None] = anyio.TASK_STATUS_IGNORED,
    ) -> None:
        """Run the controller, with every running node's heartbeat timer armed (first beat at once)."""
        self._running = True
        now = self._clock.monotonic()
        for node in self._nodes.values():
            if not node.stopped:
                self._arm(node, now)
        try:
            await super().run(manager, task_status=task_status)
        finally:
            self._running = False
            for timer in self._due_timers.values():
                timer.cancel()
            self._due_timers.clear()
            self._due.clear()
            self._batches.clear()
            for node in self._nodes.values():
                node.due = None

    def _arm(self, node: _SimulatedNode, deadline: float) -> None:
        """Arm the node's next heartbeat at ``deadline``, with the other nodes due at that instant."""
        self._disarm(node)
        due = self._due.get(deadline)
        if due is None:
            due = self._due[deadline] = {}
            self._due_timers[deadline] = self._clock.call_at(deadline, lambda: self._beat(deadline))
        due[node.name] = node
        node.due = deadline

    def _disarm(self, node: _SimulatedNode) -> None:
        if node.due is None:
            return
        due = self._due.get(node.due)
        if due is not None:
            due.pop(node.name, None)
            if not due:
                del self._due[node.due]
                self._due_timers.pop(node.due).cancel()
        node.due = None

    def _beat(self, deadline: float) -> None:
        self._due_timers.pop(deadline, None)
        due = self._due.pop(deadline, {})
        # The next beat is due a period after this one was, so beats keep a steady cadence.
        following = deadline + self._update_frequency
        for node in due.values():
            node.due = None
            self._arm(node, following)
        batch = str(next(self._batch_ids))
        self._batches[batch] = list(due)
        try:
            self.enqueue(Request(HEARTBEATS, batch))
        except RuntimeError:
            # Between a crash and the restart there is no queue: the next beat comes a period later.
            del self._batches[batch]

    async def reconcile(self, request: Request) -> Result | None:
        if request.namespace == HEARTBEATS:
            await self._heartbeats(request.name)
            return None
        if not request.namespace:
            await self._sync_node(request.name)
            return None
        return await self._sync_pod(request)

    async def _heartbeats(self, batch: str) -> None:
        """Beat every node of the batch, in turn; one that fails is retried alone, with backoff."""
        for name in self._batches.pop(batch, ()):
            try:
                await self._sync_node(name)
            except Exception as exc:
                log.info(
                    "heartbeat failed; retrying", node=name, error=str(exc), error_type=type(exc).__name__
                )
                self.queue.add_rate_limited(Request("", name))

    # --- nodes --------------------------------------------------------------------------------

    async def _sync_node(self, name: str) -> None:
        node = self._nodes.get(name)
        if node is None or node.stopped:
            return
        current = self._nodes_cache.get(name)
        if current is None and not node.registered:
            current = await self._register(node, self._now())
        elif current is not None:
            node.registered = True
            # Decided without awaiting: most beats have no status to report (one every five minutes).
            report = self._node_status_report(node, current)
            if report is not None:
                status, mono = report
                current = await self._store.update_status(with_fields(current, status=status))
                node.last_report = mono
        await self._renew_lease(node, current)

    async def _register(self, node: _SimulatedNode, now: datetime) -> Node | None:
        config = node.config
        spec = NodeSpec(pod_cidr=node.pod_cidr, pod_cidrs=(node.pod_cidr,), taints=config.taints)
        status = NodeStatus(
            capacity=config.capacity,
            allocatable=config.allocatable if config.allocatable is not None else config.capacity,
            conditions=self._node_conditions(None, now),
            addresses=node.addresses,
        )
        registering = Node(
            metadata=ObjectMeta(name=node.name, labels=config.node_labels()), spec=spec, status=status
        )
        try:
            created = await self._store.create(registering)
        except AlreadyExists:
            # Registered before (our cache has not seen it yet): the next beat syncs its status.
            node.registered = True
            return None
        node.registered = True
        node.last_report = self._clock.monotonic()
        await self._events.event(created, NORMAL, "Starting", "Starting kubelet.")
        return created

    def _node_status_report(self, node: _SimulatedNode, current: Node) -> tuple[NodeStatus, float] | None:
        """The node status to write now and the monotonic time of the report, or None if none is due."""
        mono = self._clock.monotonic()
        due = node.last_report is None or mono + _EPSILON >= node.last_report + self._report_frequency
        # The informer still holds the very object found up to date last time: nothing to compare.
        if not due and current is node.checked:
            return None
        config = node.config
        capacity = config.capacity
        allocatable = config.allocatable if config.allocatable is not None else capacity
        addresses = node.addresses
        status = current.status
        changed = (
            status.capacity != capacity
            or status.allocatable != allocatable
            or status.addresses != addresses
            or _condition_values(status.conditions) != _HEALTHY_CONDITION_VALUES
        )
        if not changed and not due:
            node.checked = current
            return None
        # Every value is in normal form (frozen maps, tuples): no converters to run.
        status = with_fields(
            status,
            capacity=capacity,
            allocatable=allocatable,
            addresses=addresses,
            conditions=self._node_conditions(status, self._now()),
        )
        return status, mono

    @staticmethod
    def _node_conditions(current: NodeStatus | None, now: datetime) -> tuple[NodeCondition, ...]:
        conditions = []
        for type_, status, reason, message in _HEALTHY_NODE_CONDITIONS:
            previous = current.condition(type_) if current is not None else None
            same = previous is not None and previous.status == status
            conditions.append(
                NodeCondition(
                    type=type_,
                    status=status,
                    reason=reason,
                    message=message,
                    last_heartbeat_time=now,
                    last_transition_time=previous.last_transition_time if same and previous else now,
                )
            )
        return tuple(conditions)

    async def _renew_lease(self, node: _SimulatedNode, current: Node | None) -> None:
        """One write of the node's Lease: its renewTime moves on; nothing else is read or rebuilt."""
        renewed = self._clock.now()
        lease = self._leases.get(node.name, NODE_LEASE_NAMESPACE)
        if lease is None:
            fresh = Lease(
                metadata=ObjectMeta(
                    name=node.name,
                    namespace=NODE_LEASE_NAMESPACE,
                    owner_references=_node_owner(node, current),
                ),
                spec=LeaseSpec(
                    holder_identity=node.name,
                    lease_duration_seconds=self._lease_duration,
                    renew_time=renewed,
                ),
            )
            with contextlib.suppress(AlreadyExists):  # our cache is behind: the next beat renews it
                await self._store.create(fresh)
            return
        spec = lease.spec
        if spec.holder_identity == node.name and spec.lease_duration_seconds == self._lease_duration:
            spec = with_fields(spec, renew_time=renewed)  # values in normal form: no converters to run
        else:
            spec = attrs.evolve(
                spec,
                holder_identity=node.name,
                lease_duration_seconds=self._lease_duration,
                renew_time=renewed,
            )
        meta = lease.metadata
        if not meta.owner_references and current is not None:
            meta = attrs.evolve(meta, owner_references=_node_owner(node, current))
        await self._store.update(with_fields(lease, metadata=meta, spec=spec))

    # --- pods ---------------------------------------------------------------------------------

    async def _sync_pod(self, request: Request) -> Result | None:
        key = (request.namespace, request.name)
        pod = self._pods.get(request.name, request.namespace)
        runtime = self._runtimes.get(key)
        if runtime is not None and (pod is None or pod.metadata.uid != runtime.uid):
            self._forget(key, runtime)
            runtime = None
        if pod is None:
            return None
        node = self._nodes.get(pod.spec.node_name)
        if node is None or node.stopped:
            return None
        if runtime is None:
            runtime = self._runtimes[key] = _PodRuntime(uid=pod.metadata.uid, node=pod.spec.node_name)
        mono = self._clock.monotonic()
        if pod.metadata.deletion_timestamp is not None:
            return await self._kill(pod, runtime, mono)
        if pod.status.phase in (SUCCEEDED, FAILED) and runtime.failed_at is None:
            return None  # finished by someone else: nothing of ours runs any more
        if runtime.start_at is None:
            runtime.start_time = pod.status.start_time or self._now()
            runtime.start_at = mono + self._startup_delay
        self._advance(pod, runtime, node, mono)
        status, wake_at = self._pod_status(pod, runtime, node, mono)
        if status is not pod.status and status != pod.status:
            written = await self._store.update_status(with_fields(pod, status=status))
            runtime.posted = written.metadata.resource_version
        return None if wake_at is None else Result(requeue_after=max(wake_at - mono, _EPSILON))

    def _concerns(self, old: Pod, new: Pod) -> bool:
        """Whether a pod update calls for a sync: not when it is this kubelet's own status write.

        The sync that wrote it had the pod as the write left it, and a status write changes nothing
        else; what time changes next is already requeued. Upstream's pod config likewise passes status
        changes on as a reconcile, not as an update to sync. A resync (no new version) still syncs.
        """
        meta = new.metadata
        if meta.resource_version == old.metadata.resource_version:
            return True
        runtime = self._runtimes.get((meta.namespace, meta.name))
        return runtime is None or runtime.uid != meta.uid or runtime.posted != meta.resource_version

    def _runtime(self, pod: Pod) -> _PodRuntime:
        key = (pod.metadata.namespace, pod.metadata.name)
        runtime = self._runtimes.get(key)
        if runtime is None or runtime.uid != pod.metadata.uid:
            if runtime is not None:
                self._forget(key, runtime)
            runtime = self._runtimes[key] = _PodRuntime(uid=pod.metadata.uid, node=pod.spec.node_name)
        return runtime

    def _forget(self, key: tuple[str, str], runtime: _PodRuntime) -> None:
        """The pod is gone: its address goes back to its node's pool."""
        del self._runtimes[key]
        node = self._nodes.get(runtime.node)
        if runtime.address and node is not None:
            node.pool.release(runtime.address)

    async def _kill(self, pod: Pod, runtime: _PodRuntime, mono: float) -> Result | None:
        if runtime.kill_at is None:
            grace = pod.metadata.deletion_grace_period_seconds or 0
            runtime.kill_at = mono + min(self._kill_delay, grace)
        if mono + _EPSILON < runtime.kill_at:
            return Result(requeue_after=runtime.kill_at - mono)
        # Containers stopped: deleting with no grace left is what removes the pod (finalizers allowing).
        with contextlib.suppress(NotFound):
            await self._store.delete(
                Pod, pod.metadata.name, pod.metadata.namespace, grace_period_seconds=0, uid=pod.metadata.uid
            )
        return None

    def _advance(self, pod: Pod, runtime: _PodRuntime, node: _SimulatedNode, mono: float) -> None:
        """Move the simulated containers on to ``mono``: start, crash, restart, fail."""
        if runtime.failed_at is not None:
            return
        assert runtime.start_at is not None
        not_started = runtime.running_since is None and runtime.restart_at is None
        if not_started and not runtime.failing and mono + _EPSILON >= runtime.start_at:
            self._assign_address(pod, runtime, node)
            self._run(runtime, mono)
        if runtime.crashing and runtime.running_since is not None:
            self._crash(runtime, mono)
        while runtime.restart_at is not None and mono + _EPSILON >= runtime.restart_at:
            restart = runtime.restart_at
            runtime.restarts += 1
            runtime.restart_at = None
            # Each restart moves the back-off on: 10 s for a fresh one, else doubled up to 5 minutes.
            runtime.backoff = min(runtime.backoff * 2, MAX_CONTAINER_BACKOFF) or INITIAL_CONTAINER_BACKOFF
            runtime.backoff_since = restart
            self._run(runtime, restart)
        if runtime.failing:
            runtime.failed_at = self._now()
            runtime.restart_at = None

    def _run(self, runtime: _PodRuntime, since: float) -> None:
        runtime.running_since = since
        runtime.running_since_time = self._time_at(since)
        if runtime.crashing:
            self._crash(runtime, since)

    def _crash(self, runtime: _PodRuntime, at: float) -> None:
        """The containers exit with an error; the kubelet restarts them after its back-off (doBackOff).

        With no back-off yet, or one last moved on more than twice its 5-minute cap before this crash
        (flowcontrol hasExpired), the restart is at once and the back-off starts afresh.
        """
        runtime.last_termination = ContainerStateTerminated(
            exit_code=1,
            reason="Error",
            started_at=runtime.running_since_time,
            finished_at=self._time_at(at),
        )
        runtime.running_since = None
        if at - runtime.backoff_since > 2 * MAX_CONTAINER_BACKOFF:
            runtime.backoff = 0.0
        runtime.restart_at = at + runtime.backoff

    def _assign_address(self, pod: Pod, runtime: _PodRuntime, node: _SimulatedNode) -> None:
        if runtime.address:
            return
        address = node.internal_ip if pod.spec.host_network else node.pool.allocate()
        if address is None:
            raise RuntimeError(f"no free pod address left in {node.pod_cidr} on node {node.name}")
        runtime.address = address
        runtime.pod_ips = (PodIP(ip=address),) if address else ()

    def _pod_status(
        self, pod: Pod, runtime: _PodRuntime, node: _SimulatedNode, mono: float
    ) -> tuple[PodStatus, float | None]:
        """The status the kubelet would post now, and when it next changes by itself."""
        wake_at: list[float] = []
        started = runtime.running_since is not None or runtime.restart_at is not None
        phase = FAILED if runtime.failed_at is not None else RUNNING if started else PENDING
        if not started and runtime.failed_at is None and runtime.start_at is not None:
            wake_at.append(runtime.start_at)
        if runtime.restart_at is not None:
            wake_at.append(runtime.restart_at)
        statuses = []
        unready = []
        for container in pod.spec.containers:
            ready, ready_at = self._container_ready(container, runtime, mono)
            if ready_at is not None:
                wake_at.append(ready_at)
            statuses.append(self._container_status(pod, container, runtime, ready))
            if not ready:
                unready.append(container.name)
        # Every value is in normal form (tuples, shared frozen values): no converters to run.
        status = with_fields(
            pod.status,
            phase=phase,
            conditions=self._pod_conditions(pod, phase, started, unready),
            host_ip=node.internal_ip,
            pod_ip=runtime.address,
            pod_ips=runtime.pod_ips,
            start_time=runtime.start_time,
            container_statuses=tuple(statuses),
        )
        return status, min(wake_at, default=None)

    def _container_ready(
        self, container: Container, runtime: _PodRuntime, mono: float
    ) -> tuple[bool, float | None]:
        """Whether the container is ready now; if it will be without anything else happening, when."""
        if runtime.failed_at is not None or runtime.running_since is None:
            return False, None
        if runtime.ready_override is not None:
            return runtime.ready_override, None
        probe = container.readiness_probe
        if probe is None:
            return True, None
        ready_at = runtime.running_since + probe.initial_delay_seconds + self._ready_delay
        if mono + _EPSILON >= ready_at:
            return True, None
        return False, ready_at

    def _container_status(
        self, pod: Pod, container: Container, runtime: _PodRuntime, ready: bool
    ) -> ContainerStatus:
        running = runtime.running_since is not None
        if (
            runtime.last_termination is None
            and runtime.failed_at is None
            and (running or runtime.restart_at is None)
        ):
            # Creating, or running and never restarted: nothing of the pod's own in it, so the status is
            # the same for every container of that name, image and readiness started at that instant.
            key = (
                container.name,
                container.image,
                ready,
                running,
                runtime.restarts,
                runtime.running_since_time if running else None,
            )
            shared = self._statuses_made.get(key)
            if shared is None:
                shared = _remember(
                    self._statuses_made, key, self._make_container_status(pod, container, runtime, ready)
                )
            return shared
        return self._make_container_status(pod, container, runtime, ready)

    @staticmethod
    def _make_container_status(
        pod: Pod, container: Container, runtime: _PodRuntime, ready: bool
    ) -> ContainerStatus:
        last_state = ContainerState(terminated=runtime.last_termination) if runtime.last_termination else None
        if runtime.failed_at is not None:
            state = ContainerState(
                terminated=ContainerStateTerminated(
                    exit_code=1,
                    reason="Error",
                    started_at=runtime.running_since_time,
                    finished_at=runtime.failed_at,
                )
            )
        elif runtime.running_since is not None:
            state = ContainerState(running=ContainerStateRunning(started_at=runtime.running_since_time))
        elif runtime.restart_at is not None:
            message = (
                f"back-off {_go_duration(runtime.backoff)} restarting failed container={container.name}"
                f" pod={pod.metadata.name}_{pod.metadata.namespace}({pod.metadata.uid})"
            )
            state = ContainerState(waiting=ContainerStateWaiting(reason="CrashLoopBackOff", message=message))
        else:
            state = _CONTAINER_CREATING
        return ContainerStatus(
            name=container.name,
            image=container.image,
            ready=ready,
            started=runtime.running_since is not None and runtime.failed_at is None,
            restart_count=runtime.restarts,
            state=state,
            last_state=last_state or _NO_CONTAINER_STATE,
        )

    def _pod_conditions(
        self, pod: Pod, phase: str, started: bool, unready: list[str]
    ) -> tuple[PodCondition, ...]:
        """The kubelet's conditions (status/generate.go), keeping transition times that did not change.

        When every one of them is kept, the pod's own conditions are handed back as they are.
        """
        if phase == FAILED:
            ready = ("False", "PodFailed", "")
        elif unready:
            ready = ("False", "ContainersNotReady", f"containers with unready status: [{' '.join(unready)}]")
        else:
            ready = _TRUE
        init_containers = pod.spec.init_containers
        if init_containers and not started:
            names = " ".join(container.name for container in init_containers)
            initialized = (
                "False",
                "ContainersNotInitialized",
                f"containers with incomplete status: [{names}]",
            )
        else:
            initialized = _TRUE
        # The sandbox (network, volumes) is up once the containers start, and torn down once the pod
        # has finished (GeneratePodReadyToStartContainersCondition).
        sandbox = _TRUE if started and phase != FAILED else _FALSE
        # (status, reason, message) of each of _KUBELET_POD_CONDITIONS, in its order.
        wanted = (sandbox, initialized, ready, ready, _TRUE)
        current = pod.status.conditions
        # The outcome depends on nothing else but the time, when a condition changes status: pods synced
        # together mostly hold the very same conditions (shared values), and get the same answer. The
        # key holds the ids of the conditions, which the entry keeps alive, so no other object has them.
        key = (wanted, *map(id, current))
        merged = self._conditions_merged.get(key)
        if merged is not None:
            conditions, at, _ = merged
            if at is None or at == self._now():
                return current if conditions is None else conditions
        conditions, at = self._merge_conditions(current, wanted)
        _remember(self._conditions_merged, key, (None if conditions is current else conditions, at, current))
        return conditions

    def _merge_conditions(
        self, current: tuple[PodCondition, ...], wanted: tuple[tuple[str, str, str], ...]
    ) -> tuple[tuple[PodCondition, ...], datetime | None]:
        """``current`` with ours as ``wanted``, and the time of day used for a change of status, if any.

        ``current`` itself when every one of ours is kept as it is.
        """
        # One pass: the conditions of others keep their order; of each of ours, the first one counts.
        conditions: list[PodCondition] = []
        previous: dict[str, PodCondition] = {}
        for condition in current:
            if condition.type in _KUBELET_POD_CONDITION_TYPES:
                previous.setdefault(condition.type, condition)
            else:
                conditions.append(condition)
        now: datetime | None = None
        for type_, values in zip(_KUBELET_POD_CONDITIONS, wanted, strict=True):
            before = previous.get(type_)
            if before is not None:
                if (before.status, before.reason, before.message) == values:
                    conditions.append(before)
                    continue
                if before.status == values[0]:
                    status, reason, message = values
                    conditions.append(
                        PodCondition(
                            type=type_,
                            status=status,
                            reason=reason,
                            message=message,
                            last_transition_time=before.last_transition_time,
                        )
                    )
                    continue
            if now is None:
                now = self._now()
            conditions.append(self._transitioned(type_, values, now))
        if len(conditions) == len(current) and all(map(operator.is_, conditions, current)):
            return current, now
        return tuple(conditions), now

    def _transitioned(self, type_: str, values: tuple[str, str, str], now: datetime) -> PodCondition:
        """A condition of ours that changed status ``now``: one frozen value shared by every pod."""
        key = (type_, values, now)
        condition = self._conditions_made.get(key)
        if condition is None:
            status, reason, message = values
            condition = PodCondition(
                type=type_, status=status, reason=reason, message=message, last_transition_time=now
            )
            _remember(self._conditions_made, key, condition)
        return condition

    # --- time ---------------------------------------------------------------------------------

    def _now(self) -> datetime:
        # Status timestamps are whole seconds on the wire (metav1.Time): keep them so, or every round
        # trip through a real backend would look like a change. The clock hands out one object per
        # instant, so the whole-second value is made once per instant.
        now = self._clock.now()
        whole = self._whole_now
        if whole is None or whole[0] is not now:
            whole = self._whole_now = (now, now.replace(microsecond=0))
        return whole[1]

    def _time_at(self, mono: float) -> datetime:
        """The time of day at monotonic instant ``mono`` (a past one, when catching up)."""
        elapsed = self._clock.monotonic() - mono
        if elapsed == 0:
            return self._now()
        at = self._clock.now() - timedelta(seconds=elapsed)
        return at.replace(microsecond=0)


def _remember(made: dict[K, V], key: K, value: V) -> V:
    """Keep ``value`` under ``key`` in a cache of values made, which is emptied once it is full."""
    if len(made) >= _MADE_LIMIT:
        made.clear()
    made[key] = value
    return value


def _bound(pod: Pod) -> bool:
    """Whether a pod is on a node: the kubelets watch only theirs (a ``spec.nodeName`` field selector)."""
    return bool(pod.spec.node_name)


def _condition_values(conditions: Sequence[NodeCondition]) -> list[tuple[str, str, str, str]]:
    return [(c.type, c.status, c.reason, c.message) for c in conditions]


#: What a healthy node's conditions say, times aside (what `_condition_values` of them gives).
_HEALTHY_CONDITION_VALUES = [tuple(values) for values in _HEALTHY_NODE_CONDITIONS]


def _node_owner(node: _SimulatedNode, current: Node | None) -> tuple[OwnerReference, ...]:
    """The Lease is owned by its Node (when the node is known) so that it goes when the node goes."""
    if current is None:
        return ()
    return (OwnerReference(api_version="v1", kind="Node", name=node.name, uid=current.metadata.uid),)


def _address(version: int, value: int) -> str:
    """The text of address ``value``: an IPv4 one formatted directly, as `ipaddress` would write it."""
    if version == 4:
        return f"{value >> 24}.{(value >> 16) & 255}.{(value >> 8) & 255}.{value & 255}"
    return str(ipaddress.IPv6Address(value))


def _check_disjoint(networks: Sequence[ipaddress.IPv4Network | ipaddress.IPv6Network]) -> None:
    ordered = sorted(networks, key=lambda net: (net.version, int(net.network_address)))
    for first, second in itertools.pairwise(ordered):
        if first.version == second.version and first.overlaps(second):
            raise ValueError(f"node pod CIDRs {first} and {second} overlap")


def _go_duration(seconds: float) -> str:
    """A whole number of seconds as Go's time.Duration prints it: 10s, 1m20s, 5m0s."""
    whole = int(seconds)
    minutes, rest = divmod(whole, 60)
    hours, minutes = divmod(minutes, 60)
    if hours:
        return f"{hours}h{minutes}m{rest}s"
    if minutes:
        return f"{minutes}m{rest}s"
    return f"{rest}s"
