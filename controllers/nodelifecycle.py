"""NodeLifecycleController: node health from heartbeats, condition taints, rate-limited NoExecute taints.

A port of Kubernetes' pkg/controller/nodelifecycle. Every ``node_monitor_period`` (5 s) one pass looks at
every node: a node is heard from when its Lease in ``kube-node-lease`` is renewed or its Ready condition's
``lastHeartbeatTime`` changes, both observed on this controller's own clock (upstream's nodeHealthMap). A
node not heard from for ``node_monitor_grace_period`` (50 s) gets Ready, MemoryPressure, DiskPressure and
PIDPressure set to Unknown, a ``NodeNotReady`` event, and its pods' Ready condition set to False.

Condition taints with effect NoSchedule (not-ready, unreachable, memory/disk/pid-pressure,
network-unavailable, unschedulable) follow each node update at once. The NoExecute ``not-ready`` and
``unreachable`` taints — the ones that make the taint eviction controller delete pods — go through one
rate-limited queue per zone, whose rate follows the zone's health (`compute_zone_state`): 0.1 nodes/s
normally, 0.01 or 0 in a partially disrupted zone, and none at all while every zone is fully disrupted
("master disruption mode"), when existing NoExecute taints are removed too.

What it is not: it deletes no pods itself (`controllers.tainteviction` does), and it does not reconcile the
beta os/arch node labels upstream still keeps in step.

One `Controller` whose key space holds the nodes (``Request("", node)``: the NoSchedule pass), the pods
(``Request(namespace, pod)``: mark a pod bound to an unhealthy node not ready) and two passes keyed by
namespaces no object can have (``:monitor`` and ``:taint``), so a pass never runs twice at once. The
passes are started by loop timers (clock ``call_at``), never by a task per node, so they do not keep a
simulation from settling.
"""

from __future__ import annotations

import contextlib
import heapq
import itertools
import math
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from datetime import datetime
from enum import StrEnum
from typing import Any, ClassVar, cast

import anyio
import anyio.abc
import attrs
import structlog

from controllers.events import NORMAL, WARNING, EventRecorder
from reconcile import Controller, Manager, Request, Result, Watch
from reconcile.clock import Clock, Timer
from reconcile.informer import BY_NODE, DeletedFinalStateUnknown, final_state, index_by_node_name
from store import Conflict, NotFound, Store
from store.models import Lease, Node, NodeCondition, Pod, Taint

log = structlog.get_logger("setpoint.nodelifecycle")

NODE_LEASE_NAMESPACE = "kube-node-lease"

TAINT_NOT_READY = "node.kubernetes.io/not-ready"
TAINT_UNREACHABLE = "node.kubernetes.io/unreachable"
TAINT_UNSCHEDULABLE = "node.kubernetes.io/unschedulable"
TAINT_MEMORY_PRESSURE = "node.kubernetes.io/memory-pressure"
TAINT_DISK_PRESSURE = "node.kubernetes.io/disk-pressure"
TAINT_PID_PRESSURE = "node.kubernetes.io/pid-pressure"
TAINT_NETWORK_UNAVAILABLE = "node.kubernetes.io/network-unavailable"

NO_SCHEDULE = "NoSchedule"
NO_EXECUTE = "NoExecute"

LABEL_ZONE = "topology.kubernetes.io/zone"
LABEL_REGION = "topology.kubernetes.io/region"
LABEL_ZONE_BETA = "failure-domain.beta.kubernetes.io/zone"
LABEL_REGION_BETA = "failure-domain.beta.kubernetes.io/region"
#: Nodes with this label do not count towards their zone's health.
LABEL_EXCLUDE_DISRUPTION = "node.kubernetes.io/exclude-disruption"

#: The node-lifecycle-controller's defaults (kube-controller-manager flags).
NODE_MONITOR_PERIOD = 5.0
NODE_MONITOR_GRACE_PERIOD = 50.0
NODE_STARTUP_GRACE_PERIOD = 60.0
EVICTION_LIMITER_QPS = 0.1
SECONDARY_EVICTION_LIMITER_QPS = 0.01
LARGE_CLUSTER_SIZE_THRESHOLD = 50
UNHEALTHY_ZONE_THRESHOLD = 0.55
#: Every zone's tainting limiter holds one token at most (scheduler.EvictionRateLimiterBurst).
EVICTION_RATE_LIMITER_BURST = 1
#: How often one node's health update is attempted in a pass before it is skipped (NodeHealthUpdateRetry).
NODE_HEALTH_UPDATE_RETRY = 5
#: How long a tainting attempt waits after the node had no Ready condition to read.
_TAINT_RETRY_DELAY = 0.05
#: A bucket this close to a whole token has it: refilling in float steps must not miss the instant.
_TOKEN_EPSILON = 1e-9

#: Which condition, in which status, calls for which NoSchedule taint.
CONDITION_TAINTS: dict[str, dict[str, str]] = {
    "Ready": {"False": TAINT_NOT_READY, "Unknown": TAINT_UNREACHABLE},
    "MemoryPressure": {"True": TAINT_MEMORY_PRESSURE},
    "DiskPressure": {"True": TAINT_DISK_PRESSURE},
    "NetworkUnavailable": {"True": TAINT_NETWORK_UNAVAILABLE},
    "PIDPressure": {"True": TAINT_PID_PRESSURE},
}
_CONDITION_TAINT_KEYS = frozenset(key for taints in CONDITION_TAINTS.values() for key in taints.values())
#: The conditions set to Unknown when the kubelet goes quiet (NetworkUnavailable belongs to the network).
_KUBELET_CONDITIONS = ("Ready", "MemoryPressure", "DiskPressure", "PIDPressure")

UNREACHABLE_NO_EXECUTE = Taint(key=TAINT_UNREACHABLE, effect=NO_EXECUTE)
NOT_READY_NO_EXECUTE = Taint(key=TAINT_NOT_READY, effect=NO_EXECUTE)

_MONITOR = Request(":monitor", "")
_TAINT = Request(":taint", "")


class ZoneState(StrEnum):
    INITIAL = "Initial"
    NORMAL = "Normal"
    FULL_DISRUPTION = "FullDisruption"
    PARTIAL_DISRUPTION = "PartialDisruption"


# --- pure rules -------------------------------------------------------------------------------


def compute_zone_state(
    ready_conditions: Sequence[NodeCondition | None], unhealthy_threshold: float = UNHEALTHY_ZONE_THRESHOLD
) -> tuple[int, ZoneState]:
    """How many nodes of a zone are not ready, and the zone's state (ComputeZoneState).

    Fully disrupted when no node is ready; partially when more than two are not ready and they are at
    least ``unhealthy_threshold`` of the zone; normal otherwise. A node without a Ready condition is not
    ready.
    """
    ready = 0
    for condition in ready_conditions:
        if condition is not None and condition.status == "True":
            ready += 1
    return zone_state_of(ready, len(ready_conditions) - ready, unhealthy_threshold)


def zone_state_of(
    ready: int, not_ready: int, unhealthy_threshold: float = UNHEALTHY_ZONE_THRESHOLD
) -> tuple[int, ZoneState]:
    """`compute_zone_state` from the counts of ready and not-ready nodes."""
    if ready == 0 and not_ready > 0:
        return not_ready, ZoneState.FULL_DISRUPTION
    if not_ready > 2 and not_ready / (not_ready + ready) >= unhealthy_threshold:
        return not_ready, ZoneState.PARTIAL_DISRUPTION
    return not_ready, ZoneState.NORMAL


def zone_key(node: Node) -> str:
    """The zone a node counts in: region and zone from the topology labels ("" without them)."""
    labels = node.metadata.labels
    zone = labels.get(LABEL_ZONE, labels.get(LABEL_ZONE_BETA, ""))
    region = labels.get(LABEL_REGION, labels.get(LABEL_REGION_BETA, ""))
    if not region and not zone:
        return ""
    return f"{region}:\x00:{zone}"


def condition_taints(node: Node) -> list[Taint]:
    """The NoSchedule taints the node's conditions and ``spec.unschedulable`` call for."""
    taints = []
    for condition in node.status.conditions:
        key = CONDITION_TAINTS.get(condition.type, {}).get(condition.status)
        if key is not None:
            taints.append(Taint(key=key, effect=NO_SCHEDULE))
    if node.spec.unschedulable:
        taints.append(Taint(key=TAINT_UNSCHEDULABLE, effect=NO_SCHEDULE))
    return taints


def _matches(a: Taint, b: Taint) -> bool:
    """Same key and effect: one taint as far as adding and removing go (Taint.MatchTaint)."""
    return a.key == b.key and a.effect == b.effect


def has_taint(taints: Iterable[Taint], template: Taint) -> bool:
    return any(_matches(taint, template) for taint in taints)


# --- the rate-limited timed queue ---------------------------------------------------------------


class TokenBucket:
    """A token bucket asked with `try_accept` (flowcontrol's TokenBucketRateLimiter); qps 0 never accepts.

    It starts full. Time comes from the clock, so on virtual time it refills on virtual time.
    """

    def __init__(self, qps: float, burst: int, clock: Clock) -> None:
        self.qps = qps
        self._burst = burst
        self._clock = clock
        self._tokens = float(burst) if qps > 0 else 0.0
        self._last = clock.monotonic()

    def _refill(self) -> None:
        now = self._clock.monotonic()
        if self.qps > 0 and now > self._last:
            self._tokens = min(self._tokens + (now - self._last) * self.qps, float(self._burst))
        self._last = now

    def try_accept(self) -> bool:
        self._refill()
        if self._tokens >= 1.0 - _TOKEN_EPSILON:
            self._tokens = max(self._tokens - 1.0, 0.0)
            return True
        return False

    def next_token_at(self) -> float:
        """When the next token is there (infinity for a bucket that never fills)."""
        self._refill()
        if self._tokens >= 1.0 - _TOKEN_EPSILON:
            return self._last
        if self.qps <= 0:
            return math.inf
        return self._last + (1.0 - self._tokens) / self.qps


@attrs.define
class TimedValue:
    value: str
    uid: str
    added_at: float
    process_at: float


class RateLimitedTimedQueue:
    """Unique values ordered by when to process them, handed out under a token bucket.

    A port of nodelifecycle/scheduler's RateLimitedTimedQueue. A value is added once until `remove`d:
    after it was processed successfully it stays in the set, so it is not queued again until the node is
    marked reachable. Ties in ``process_at`` keep insertion order, so runs are deterministic.

    Removal is lazy: a heap entry counts only while it is its value's live item, and dead entries are
    dropped as they reach the top (the monitor pass removes and re-adds every waiting node each
    period, which must not cost a heap rebuild per node).
    """

    def __init__(self, qps: float, clock: Clock) -> None:
        self._clock = clock
        self.limiter = TokenBucket(qps, EVICTION_RATE_LIMITER_BURST, clock)
        self._heap: list[tuple[float, int, TimedValue]] = []
        #: The queued item of each value; a heap entry whose item is not here is dead.
        self._live: dict[str, TimedValue] = {}
        self._set: set[str] = set()
        self._order = itertools.count()

    def __len__(self) -> int:
        return len(self._live)

    def __contains__(self, value: object) -> bool:
        """Whether ``value`` is in the set (queued, or processed and not removed since)."""
        return value in self._set

    def add(self, value: str, uid: str) -> bool:
        if value in self._set:
            return False
        now = self._clock.monotonic()
        self._push(TimedValue(value=value, uid=uid, added_at=now, process_at=now))
        self._set.add(value)
        return True

    def remove(self, value: str) -> bool:
        """Forget ``value``: out of the queue, and free to be added again."""
        if value not in self._set:
            return False
        self._set.discard(value)
        self._drop(value)
        return True

    def clear(self) -> None:
        self._heap.clear()
        self._live.clear()
        self._set.clear()

    def _push(self, item: TimedValue) -> None:
        self._live[item.value] = item
        heapq.heappush(self._heap, (item.process_at, next(self._order), item))
        if len(self._heap) > 2 * len(self._live) + 64:
            # Mostly dead entries: rebuild from the live ones, in their order.
            self._heap = [entry for entry in self._heap if self._live.get(entry[2].value) is entry[2]]
            heapq.heapify(self._heap)

    def _drop(self, value: str) -> None:
        self._live.pop(value, None)

    def head(self) -> TimedValue | None:
        heap, live = self._heap, self._live
        while heap and live.get(heap[0][2].value) is not heap[0][2]:
            heapq.heappop(heap)
        return heap[0][2] if heap else None

    async def try_(self, action: Callable[[TimedValue], Awaitable[tuple[bool, float]]]) -> None:
        """Process due values while the limiter allows (Try).

        ``action`` returns (done, wait): a value not done is processed again ``wait`` seconds later.
        """
        item = self.head()
        while item is not None:
            if not self.limiter.try_accept():
                break
            now = self._clock.monotonic()
            if now < item.process_at:
                break
            done, wait = await action(item)
            self._drop(item.value)
            if not done:
                # A new item, so the old heap entry stays dead.
                self._push(attrs.evolve(item, process_at=now + wait))
            item = self.head()

    def next_attempt_at(self) -> float:
        """When `try_` could next make progress (infinity if it never can without a change)."""
        item = self.head()
        if item is None:
            return math.inf
        return max(item.process_at, self.limiter.next_token_at())

    def swap_limiter(self, qps: float) -> None:
        """Use a new rate (SwapLimiter): a new bucket, drained if the old one was empty (burst 1)."""
        if self.limiter.qps == qps:
            return
        new = TokenBucket(max(qps, 0.0), EVICTION_RATE_LIMITER_BURST, self._clock)
        if qps > 0 and not self.limiter.try_accept():
            new.try_accept()
        self.limiter = new


# --- the controller ---------------------------------------------------------------------------


@attrs.define
class _NodeHealth:
    """What the controller last saw of a node, and when, on its own clock (nodeHealthData)."""

    probe_timestamp: float
    ready_transition_timestamp: float
    status_ready: NodeCondition | None
    lease_renew_time: datetime | None = None
    #: The Lease object last looked at (a new one may hold a renewal).
    lease: Lease | None = None


@attrs.define
class _Seen:
    """A node object as the monitor pass last looked at it in full, when that look wrote nothing.

    While the informer still holds that very object (objects are immutable: an update is a new one),
    another look would find the same conditions; only the clock and the node's Lease can move on.
    ``past_grace``: the look found the grace period over and the conditions already Unknown.
    """

    node: Node
    zone: str
    observed: NodeCondition
    current: NodeCondition | None
    past_grace: bool


@attrs.define
class _Steady:
    """A node a monitor pass has nothing to do for but count in its zone (and take in its Lease's
    renewals), for as long as the informer holds ``node`` and ``until`` (the grace period's end) has not
    passed. ``lease`` is the Lease last taken in; ``zone`` is None for a node excluded from its zone's
    health; ``grace`` is the node's grace period (infinite once past it)."""

    node: Node
    health: _NodeHealth
    lease: Lease | None
    until: float
    zone: str | None
    ready: bool
    grace: float


class _SteadyWatch:
    """Tells the monitor pass of its steady nodes' changes as the informers apply them: a new Lease is
    kept for the pass to take in, a new node object has the node looked at again. The pass then needs
    no cache lookup per steady node."""

    def __init__(self, steady: Mapping[str, _Steady], renewals: dict[str, Lease | None], changed: set[str]):
        self._steady = steady
        self._renewals = renewals
        self._changed = changed

    def on_add(self, obj: Node | Lease) -> None:
        self._note(obj, obj)

    def on_update(self, old: Node | Lease, new: Node | Lease) -> None:
        if old is not new:  # a resync changes nothing
            self._note(new, new)

    def on_delete(self, obj: Node | Lease | DeletedFinalStateUnknown[Any]) -> None:
        self._note(final_state(obj), None)

    def _note(self, obj: Node | Lease, now: Node | Lease | None) -> None:
        meta = obj.metadata
        if meta.name not in self._steady:
            return
        if isinstance(obj, Lease):
            if meta.namespace == NODE_LEASE_NAMESPACE:
                self._renewals[meta.name] = cast(Lease | None, now)
        else:
            self._changed.add(meta.name)


class NodeLifecycleController(Controller):
    """Node health, condition taints and rate-limited NoExecute taints (kube-controller-manager's
    node-lifecycle-controller).

    Knobs mirror the controller-manager flags: ``node_monitor_period``, ``node_monitor_grace_period``,
    ``node_startup_grace_period``, ``eviction_limiter_qps`` (--node-eviction-rate),
    ``secondary_eviction_limiter_qps``, ``large_cluster_threshold`` and ``unhealthy_zone_threshold``.
    """

    #: Whether a pass only counts the nodes it would find as it left them (off: every node looked at,
    #: as upstream does; the tests compare both).
    count_steady_nodes: ClassVar[bool] = True

    def __init__(
        self,
        manager: Manager,
        *,
        node_monitor_period: float = NODE_MONITOR_PERIOD,
        node_monitor_grace_period: float = NODE_MONITOR_GRACE_PERIOD,
        node_startup_grace_period: float = NODE_STARTUP_GRACE_PERIOD,
        eviction_limiter_qps: float = EVICTION_LIMITER_QPS,
        secondary_eviction_limiter_qps: float = SECONDARY_EVICTION_LIMITER_QPS,
        large_cluster_threshold: int = LARGE_CLUSTER_SIZE_THRESHOLD,
        unhealthy_zone_threshold: float = UNHEALTHY_ZONE_THRESHOLD,
        workers: int = 8,
    ) -> None:
        super().__init__(
            "node-lifecycle-controller",
            self,
            kind=Node,
            changed=no_schedule_inputs_changed,
            watches={Pod: Watch(_pod_request, changed=pod_node_changed)},
            workers=workers,
        )
        if node_monitor_period <= 0:
            raise ValueError("node_monitor_period must be positive")
        self._store: Store = manager.store
        self._clock = manager.clock
        self._monitor_period = node_monitor_period
        self._grace_period = node_monitor_grace_period
        self._startup_grace_period = node_startup_grace_period
        self.eviction_limiter_qps = eviction_limiter_qps
        self.secondary_eviction_limiter_qps = secondary_eviction_limiter_qps
        self.large_cluster_threshold = large_cluster_threshold
        self.unhealthy_zone_threshold = unhealthy_zone_threshold
        self._events = EventRecorder(manager.store, manager.clock, "node-controller")
        self._nodes = manager.informer(Node)
        self._pods = manager.informer(Pod)
        self._leases = manager.informer(Lease)
        self._pods.ensure_index(BY_NODE, index_by_node_name)
        self._known_nodes: dict[str, Node] = {}
        self._health: dict[str, _NodeHealth] = {}
        self._seen: dict[str, _Seen] = {}
        #: The nodes a pass only counts, and how many of them are ready and not, per zone.
        self._steady: dict[str, _Steady] = {}
        self._steady_counts: dict[str, list[int]] = {}
        self._steady_uncounted = 0
        #: What the informers told of steady nodes since: their new Leases, and which were replaced.
        self._renewals: dict[str, Lease | None] = {}
        self._changed: set[str] = set()
        self._steady_watch = _SteadyWatch(self._steady, self._renewals, self._changed)
        #: Each node's zone key, with the node object it was computed from.
        self._zones: dict[str, tuple[Node, str]] = {}
        self._nodes_to_retry: set[str] = set()
        #: The node each pod was on when last looked at: only a new binding is a pod update here.
        self._pod_nodes: dict[tuple[str, str], str] = {}
        self.zone_states: dict[str, ZoneState] = {}
        self.zone_tainters: dict[str, RateLimitedTimedQueue] = {}
        self._monitor_timer: Timer | None = None
        self._taint_timer: Timer | None = None
        self._taint_timer_at = math.inf
        self._running = False

    @property
    def node_monitor_period(self) -> float:
        """Seconds between two monitor passes."""
        return self._monitor_period

    # --- running ------------------------------------------------------------------------------

    async def run(
        self,
        manager: Manager,
        *,
        task_status: anyio.abc.TaskStatus[None] = anyio.TASK_STATUS_IGNORED,
    ) -> None:
        """Run the controller with the monitor pass on a loop timer (first pass at once)."""
        self._running = True
        self._nodes.add_handler(self._steady_watch)
        self._leases.add_handler(self._steady_watch)
        self._arm_monitor(self._clock.monotonic())
        try:
            await super().run(manager, task_status=task_status)
        finally:
            self._running = False
            self._nodes.remove_handler(self._steady_watch)
            self._leases.remove_handler(self._steady_watch)
            # Unwatched, a steady node could change unseen: the next run looks at every node again.
            for name, entry in list(self._steady.items()):
                self._unsteady(name, entry, None)
            for timer in (self._monitor_timer, self._taint_timer):
                if timer is not None:
                    timer.cancel()
            self._monitor_timer = self._taint_timer = None
            self._taint_timer_at = math.inf

    def _arm_monitor(self, deadline: float) -> None:
        self._monitor_timer = self._clock.call_at(deadline, lambda: self._monitor_tick(deadline))

    def _monitor_tick(self, deadline: float) -> None:
        # A steady cadence: the next pass is due a period after this one was.
        self._arm_monitor(deadline + self._monitor_period)
        with contextlib.suppress(RuntimeError):  # between a crash and the restart there is no queue
            self.enqueue(_MONITOR)

    def _arm_tainting(self, deadline: float) -> None:
        """Make sure a tainting pass runs at ``deadline`` (the earliest one asked for wins)."""
        if not self._running or deadline == math.inf or deadline >= self._taint_timer_at:
            return
        if self._taint_timer is not None:
            self._taint_timer.cancel()
        self._taint_timer_at = deadline

        def fire() -> None:
            self._taint_timer = None
            self._taint_timer_at = math.inf
            with contextlib.suppress(RuntimeError):
                self.enqueue(_TAINT)

        self._taint_timer = self._clock.call_at(max(deadline, self._clock.monotonic()), fire)

    async def reconcile(self, request: Request) -> Result | None:
        if request == _MONITOR:
            await self.monitor_node_health()
            # Tainting runs under its own key, so two passes never take from one queue at once. With
            # every zone's queue empty the pass would find nothing to do (upstream's 100 ms pass idles).
            if any(tainter.head() is not None for tainter in self.zone_tainters.values()):
                self.enqueue(_TAINT)
        elif request == _TAINT:
            await self._no_execute_tainting_pass()
        elif request.namespace:
            await self._process_pod(request)
        else:
            await self._no_schedule_tainting_pass(request.name)
        return None

    # --- NoSchedule condition taints ----------------------------------------------------------------

    async def _no_schedule_tainting_pass(self, name: str) -> None:
        node = self._nodes.get(name)
        if node is None:
            return
        wanted = condition_taints(node)
        present = [
            taint
            for taint in node.spec.taints
            if taint.effect == NO_SCHEDULE
            and (taint.key == TAINT_UNSCHEDULABLE or taint.key in _CONDITION_TAINT_KEYS)
        ]
        to_add = [taint for taint in wanted if not has_taint(present, taint)]
        to_remove = [taint for taint in present if not has_taint(wanted, taint)]
        if to_add or to_remove:
            await self._swap_taints(name, to_add, to_remove)

    async def _swap_taints(self, name: str, to_add: Sequence[Taint], to_remove: Sequence[Taint]) -> bool:
        """Add and remove taints on the node, from its latest version (SwapNodeControllerTaint).

        Taints are added with ``timeAdded`` now; one already present (same key and effect) is kept as it
        is. Returns False when the node is gone.
        """
        now = self._clock.now().replace(microsecond=0)
        for _ in range(NODE_HEALTH_UPDATE_RETRY):
            try:
                node = await self._store.get(Node, name)
            except NotFound:
                return False
            taints = [taint for taint in node.spec.taints if not has_taint(to_remove, taint)]
            taints += [
                attrs.evolve(taint, time_added=now) for taint in to_add if not has_taint(taints, taint)
            ]
            if tuple(taints) == node.spec.taints:
                return True
            try:
                updated = await self._store.update(
                    attrs.evolve(node, spec=attrs.evolve(node.spec, taints=tuple(taints)))
                )
            except Conflict:
                continue
            except NotFound:
                return False
            # Passes decide from the cache: let it see this write before anything looks again.
            await self._nodes.wait_for(int(updated.metadata.resource_version))
            return True
        raise Conflict(f"could not update the taints of node {name}: too many conflicts")

    # --- the monitor pass -----------------------------------------------------------------------

    async def monitor_node_health(self) -> None:
        """One pass over every node (monitorNodeHealth): health, pods, NoExecute queueing, zones.

        A node whose look would find what the last one found, with nothing to do (healthy, no taint to
        remove, grace period running), is only counted in its zone: it is *steady* (`_Steady`) until its
        node object or Lease is replaced, or its grace period ends. That is most nodes of most passes.
        """
        nodes = self._nodes.list()
        known = self._known_nodes
        steady = self._steady
        # Every node listed is steady, unchanged and counted in its zone (so the zone has a state):
        # none to register.
        all_steady = len(steady) == len(nodes) and not self._changed and not self._steady_uncounted
        for node in () if all_steady else nodes:
            name = node.metadata.name
            entry = steady.get(name)
            if entry is not None and entry.node is node and entry.zone is not None:
                continue  # known, and its zone is counted, so it has a state
            zone = self._zone_of(node)
            if zone not in self.zone_states:
                self._add_zone(zone)
            if name not in known:
                await self._record_node_event(
                    node, "RegisteredNode", f"Registered Node {node.metadata.name} in Controller"
                )
                known[name] = node
                await self.mark_node_as_reachable(node)
        # Every node listed is known now: as many known as listed means none is gone.
        if len(known) != len(nodes):
            names = {node.metadata.name for node in nodes}
            for name in [name for name in known if name not in names]:
                gone = known.pop(name)
                self._health.pop(name, None)
                self._seen.pop(name, None)
                self._zones.pop(name, None)
                self._nodes_to_retry.discard(name)
                entry = steady.get(name)
                if entry is not None:
                    self._unsteady(name, entry, None)
                await self._record_node_event(gone, "RemovingNode", f"Removing Node {name} from Controller")

        # Per zone, how many counted nodes are ready and how many not: the steady ones to start with.
        zone_counts = {zone: list(counts) for zone, counts in self._steady_counts.items() if any(counts)}
        renewals, changed = self._renewals, self._changed
        # The clock is read again after each await: between two, no time passes.
        now = self._clock.monotonic()
        for node in nodes:
            name = node.metadata.name
            entry = steady.get(name)
            if entry is not None:
                # The informer still holds this node object (it told of no other since).
                if entry.node is node and name not in changed:
                    lease = renewals.pop(name, entry.lease)
                    if lease is not entry.lease:
                        self._renewed(entry, lease, now)
                    if now <= entry.until:
                        continue
                self._unsteady(name, entry, zone_counts)
            seen = self._unchanged(node, now)
            if seen is None:
                await self._monitor_node(node, zone_counts)
                now = self._clock.monotonic()
            else:
                # What _monitor_node would do with the same conditions, without redoing the look.
                if LABEL_EXCLUDE_DISRUPTION not in node.metadata.labels:
                    _count(zone_counts, seen.zone, seen.current)
                if self._taints_to_judge(node, seen):
                    await self._process_taint_based_eviction(node, seen.observed)
                    now = self._clock.monotonic()
            self._steady_if_idle(node)
        await self._handle_disruption(zone_counts, nodes)

    @staticmethod
    def _renewed(entry: _Steady, lease: Lease | None, now: float) -> None:
        """Take in a steady node's new Lease, as `_unchanged` does: a renewal is a heartbeat."""
        entry.lease = lease
        if _take_in_lease(entry.health, lease, now):
            entry.until = now + entry.grace

    def _steady_if_idle(self, node: Node) -> None:
        """Count the node as steady if the pass just done had nothing to do for it but count it."""
        name = node.metadata.name
        seen = self._seen.get(name)
        if seen is None or seen.node is not node or name in self._nodes_to_retry:
            return
        health = self._health.get(name)
        if (
            health is None
            or not self.count_steady_nodes
            or not self._running
            or self._nodes.get(name) is not node
            or self._leases.get(name, NODE_LEASE_NAMESPACE) is not health.lease
        ):
            return
        if self._taints_to_judge(node, seen):
            return
        current = seen.current
        if seen.past_grace:
            grace = math.inf
        else:
            grace = self._grace_period if current is not None else self._startup_grace_period
        zone = None if LABEL_EXCLUDE_DISRUPTION in node.metadata.labels else seen.zone
        ready = current is not None and current.status == "True"
        until = health.probe_timestamp + grace
        self._steady[name] = _Steady(node, health, health.lease, until, zone, ready, grace)
        if zone is None:
            self._steady_uncounted += 1
        else:
            _count(self._steady_counts, zone, current)

    def _unsteady(self, name: str, entry: _Steady, zone_counts: dict[str, list[int]] | None) -> None:
        """The node is to be looked at again: out of the steady ones and their counts."""
        del self._steady[name]
        self._renewals.pop(name, None)
        self._changed.discard(name)
        if entry.zone is None:
            self._steady_uncounted -= 1
        else:
            slot = 0 if entry.ready else 1
            self._steady_counts[entry.zone][slot] -= 1
            if zone_counts is not None:
                zone_counts[entry.zone][slot] -= 1

    def _zone_of(self, node: Node) -> str:
        name = node.metadata.name
        cached = self._zones.get(name)
        if cached is not None and cached[0] is node:
            return cached[1]
        zone = zone_key(node)
        self._zones[name] = (node, zone)
        return zone

    def _unchanged(self, node: Node, now: float) -> _Seen | None:
        """The last full look at the node, if looking again would find the same (else None).

        That is when the informer holds the same node object, the node is not being retried, and the
        grace period is not newly over. A renewed Lease is taken in here, as the full look does.
        """
        name = node.metadata.name
        seen = self._seen.get(name)
        if seen is None or seen.node is not node or name in self._nodes_to_retry:
            return None
        health = self._health.get(name)
        if health is None:
            return None
        _take_in_lease(health, self._leases.get(name, NODE_LEASE_NAMESPACE), now)
        grace = self._grace_period if seen.current is not None else self._startup_grace_period
        if now > health.probe_timestamp + grace and not seen.past_grace:
            return None
        return seen

    def _taints_to_judge(self, node: Node, seen: _Seen) -> bool:
        """Whether the pass must judge the node's NoExecute taints: it posted a Ready condition, and is
        not ready or still has something to undo (`_reachable_already`)."""
        return seen.current is not None and not (
            seen.observed.status == "True" and self._reachable_already(node, seen.zone)
        )

    def _reachable_already(self, node: Node, zone: str) -> bool:
        """Whether marking the node reachable would change nothing: no NoExecute condition taint to
        remove (on the freshest copy) and nothing of it in its zone's queue."""
        name = node.metadata.name
        tainter = self.zone_tainters.get(zone)
        if tainter is not None and name in tainter:
            return False
        taints = (self._nodes.get(name) or node).spec.taints
        # Most nodes have no taint at all: no generator to make for them.
        return not taints or not any(
            taint.effect == NO_EXECUTE and taint.key in (TAINT_UNREACHABLE, TAINT_NOT_READY)
            for taint in taints
        )

    async def _monitor_node(self, node: Node, zone_counts: dict[str, list[int]]) -> None:
        name = node.metadata.name
        for _ in range(NODE_HEALTH_UPDATE_RETRY):
            try:
                observed, current = await self._try_update_node_health(node)
                break
            except NotFound:
                return
            except Conflict:
                try:
                    node = await self._store.get(Node, name)
                except NotFound:
                    return
        else:
            log.warning("could not update node health; no pods will be evicted", node=name)
            return
        if LABEL_EXCLUDE_DISRUPTION not in node.metadata.labels:
            _count(zone_counts, zone_key(node), current)
        if current is None:
            return
        await self._process_taint_based_eviction(node, observed)
        went_unready = current.status != "True" and observed.status == "True"
        if went_unready:
            await self._events.event(node, NORMAL, "NodeNotReady", f"Node {name} status is now: NodeNotReady")
        if went_unready or (name in self._nodes_to_retry and observed.status != "True"):
            pods = self._pods.by_index(BY_NODE, name)
            if not await self.mark_pods_not_ready(pods, name):
                self._nodes_to_retry.add(name)
                return
        self._nodes_to_retry.discard(name)

    async def _try_update_node_health(self, node: Node) -> tuple[NodeCondition, NodeCondition | None]:
        """Refresh what we know of the node and mark it Unknown once silent too long (tryUpdateNodeHealth).

        Returns the Ready condition as observed and as it is now (None if the node never posted one).
        """
        name = node.metadata.name
        now = self._clock.monotonic()
        health = self._health.get(name)
        current = node.status.condition("Ready")
        created = node.metadata.creation_timestamp
        if current is None:
            # Never posted: treat it as Unknown since its creation, with the longer startup grace.
            observed = NodeCondition(
                type="Ready", status="Unknown", last_heartbeat_time=created, last_transition_time=created
            )
            grace = self._startup_grace_period
            if health is None:
                created_at = now - self._age(created)
                health = _NodeHealth(
                    probe_timestamp=created_at, ready_transition_timestamp=created_at, status_ready=None
                )
            else:
                health.status_ready = None
        else:
            observed = current
            grace = self._grace_period
        saved = health.status_ready if health is not None else None
        saved_renew = health.lease_renew_time if health is not None else None
        if (
            health is None
            or (saved is None and current is not None)
            or (saved is not None and current is None)
        ):
            health = _NodeHealth(probe_timestamp=now, ready_transition_timestamp=now, status_ready=current)
        elif (
            saved is not None
            and current is not None
            and saved.last_heartbeat_time != current.last_heartbeat_time
        ):
            transition = (
                now
                if saved.last_transition_time != current.last_transition_time
                else health.ready_transition_timestamp
            )
            health = _NodeHealth(
                probe_timestamp=now, ready_transition_timestamp=transition, status_ready=current
            )
        health.lease_renew_time = saved_renew
        lease = health.lease = self._leases.get(name, NODE_LEASE_NAMESPACE)
        renewed = lease.spec.renew_time if lease is not None else None
        if renewed is not None and (saved_renew is None or saved_renew < renewed):
            # A renewed lease is a heartbeat even if the kubelet never posted a status.
            health.lease_renew_time = renewed
            health.probe_timestamp = now
        self._health[name] = health
        zone = self._zone_of(node)
        if now <= health.probe_timestamp + grace:
            self._seen[name] = _Seen(node, zone, observed, current, past_grace=False)
            return observed, current
        updated = self._unknown_conditions(node)
        new_ready = updated.status.condition("Ready")
        if new_ready == observed:
            self._seen[name] = _Seen(node, zone, observed, new_ready, past_grace=True)
            return observed, new_ready
        self._seen.pop(name, None)
        await self._store.update_status(updated)
        health.status_ready = new_ready
        health.ready_transition_timestamp = now
        return observed, new_ready

    def _age(self, created: datetime | None) -> float:
        if created is None:
            return 0.0
        return max((self._clock.now() - created).total_seconds(), 0.0)

    def _unknown_conditions(self, node: Node) -> Node:
        """The node with the kubelet's conditions Unknown: it stopped posting, or never did."""
        now = self._clock.now().replace(microsecond=0)
        conditions = list(node.status.conditions)
        for type_ in _KUBELET_CONDITIONS:
            index = next((i for i, c in enumerate(conditions) if c.type == type_), None)
            if index is None:
                conditions.append(
                    NodeCondition(
                        type=type_,
                        status="Unknown",
                        reason="NodeStatusNeverUpdated",
                        message="Kubelet never posted node status.",
                        last_heartbeat_time=node.metadata.creation_timestamp,
                        last_transition_time=now,
                    )
                )
            elif conditions[index].status != "Unknown":
                conditions[index] = attrs.evolve(
                    conditions[index],
                    status="Unknown",
                    reason="NodeStatusUnknown",
                    message="Kubelet stopped posting node status.",
                    last_transition_time=now,
                )
        return attrs.evolve(node, status=attrs.evolve(node.status, conditions=tuple(conditions)))

    async def _record_node_event(self, node: Node, reason: str, message: str) -> None:
        await self._events.event(node, NORMAL, reason, f"Node {node.metadata.name} event: {message}")

    # --- pods -----------------------------------------------------------------------------------

    async def mark_pods_not_ready(self, pods: Iterable[Pod], node_name: str) -> bool:
        """Set the Ready condition of the node's pods to False (MarkPodsNotReady); False if any failed."""
        ok = True
        now = self._clock.now().replace(microsecond=0)
        for pod in pods:
            if pod.spec.node_name != node_name:
                continue
            ready = pod.status.condition("Ready")
            if ready is None or ready.status == "False":
                continue
            conditions = tuple(
                attrs.evolve(c, status="False", last_transition_time=now) if c.type == "Ready" else c
                for c in pod.status.conditions
            )
            try:
                await self._store.update_status(
                    attrs.evolve(pod, status=attrs.evolve(pod.status, conditions=conditions))
                )
            except NotFound:
                continue
            except Conflict as exc:
                log.info("could not mark pod not ready", pod=pod.metadata.name, error=str(exc))
                ok = False
            await self._events.event(pod, WARNING, "NodeNotReady", "Node is not ready")
        return ok

    async def _process_pod(self, request: Request) -> None:
        """A pod newly bound to a node we last saw not ready is not ready either (processPod).

        Only a pod's first sighting or a change of its node counts, as with upstream's podUpdated:
        reacting to every status write would fight a kubelet that reports the pod ready again.
        """
        key = (request.namespace, request.name)
        pod = self._pods.get(request.name, request.namespace)
        if pod is None:
            self._pod_nodes.pop(key, None)
            return
        if not pod.spec.node_name or self._pod_nodes.get(key) == pod.spec.node_name:
            return
        self._pod_nodes[key] = pod.spec.node_name
        health = self._health.get(pod.spec.node_name)
        if health is None or health.status_ready is None or self._nodes.get(pod.spec.node_name) is None:
            return
        if health.status_ready.status != "True" and not await self.mark_pods_not_ready(
            [pod], pod.spec.node_name
        ):
            del self._pod_nodes[key]  # so that the retry looks again
            raise RuntimeError(f"could not mark pod {request} not ready; retrying")

    # --- NoExecute taints -----------------------------------------------------------------------

    async def _process_taint_based_eviction(self, node: Node, observed: NodeCondition) -> None:
        name = node.metadata.name
        # The pass's list may predate a tainting pass's write: judge the taints on the freshest copy.
        node = self._nodes.get(name) or node
        if observed.status == "False":
            if has_taint(node.spec.taints, UNREACHABLE_NO_EXECUTE):
                # The node was unreachable and now says it is not ready: swap at once, no queueing.
                await self._swap_taints(name, [NOT_READY_NO_EXECUTE], [UNREACHABLE_NO_EXECUTE])
            else:
                self._mark_node_for_tainting(node, NOT_READY_NO_EXECUTE)
        elif observed.status == "Unknown":
            if has_taint(node.spec.taints, NOT_READY_NO_EXECUTE):
                await self._swap_taints(name, [UNREACHABLE_NO_EXECUTE], [NOT_READY_NO_EXECUTE])
            else:
                self._mark_node_for_tainting(node, UNREACHABLE_NO_EXECUTE)
        elif observed.status == "True":
            await self.mark_node_as_reachable(node)

    def _mark_node_for_tainting(self, node: Node, taint: Taint) -> None:
        tainter = self.zone_tainters[zone_key(node)]
        if not has_taint(node.spec.taints, taint):
            tainter.remove(node.metadata.name)
        tainter.add(node.metadata.name, node.metadata.uid)

    async def mark_node_as_reachable(self, node: Node) -> bool:
        """Remove both NoExecute taints and forget the node in its zone's queue (markNodeAsReachable)."""
        name = node.metadata.name
        current = self._nodes.get(name) or node
        if has_taint(current.spec.taints, UNREACHABLE_NO_EXECUTE) or has_taint(
            current.spec.taints, NOT_READY_NO_EXECUTE
        ):
            await self._swap_taints(name, [], [UNREACHABLE_NO_EXECUTE, NOT_READY_NO_EXECUTE])
        tainter = self.zone_tainters.get(zone_key(node))
        return tainter is not None and tainter.remove(name)

    async def _no_execute_tainting_pass(self) -> None:
        """Taint the queued nodes each zone's limiter lets through (doNoExecuteTaintingPass)."""
        for zone in sorted(self.zone_tainters):
            tainter = self.zone_tainters[zone]
            await tainter.try_(self._taint_one)
            self._arm_tainting(tainter.next_attempt_at())

    async def _taint_one(self, item: TimedValue) -> tuple[bool, float]:
        node = self._nodes.get(item.value)
        if node is None:
            return True, 0.0
        ready = node.status.condition("Ready")
        if ready is None:
            return False, _TAINT_RETRY_DELAY
        # Unreachable and not-ready are exclusive, the way the Ready condition's values are.
        if ready.status == "False":
            add, remove = NOT_READY_NO_EXECUTE, UNREACHABLE_NO_EXECUTE
        elif ready.status == "Unknown":
            add, remove = UNREACHABLE_NO_EXECUTE, NOT_READY_NO_EXECUTE
        else:
            return True, 0.0
        try:
            done = await self._swap_taints(item.value, [add], [remove])
        except Conflict:
            return False, 0.0
        return done, 0.0

    # --- zones ----------------------------------------------------------------------------------

    def _add_zone(self, zone: str) -> None:
        if zone not in self.zone_states:
            self.zone_states[zone] = ZoneState.INITIAL
            self.zone_tainters[zone] = RateLimitedTimedQueue(self.eviction_limiter_qps, self._clock)

    def zone_qps(self, state: ZoneState, zone_size: int) -> float:
        """The tainting rate of a zone in ``state`` (setLimiterInZone, ReducedQPSFunc, HealthyQPSFunc)."""
        if state is ZoneState.PARTIAL_DISRUPTION:
            return self.secondary_eviction_limiter_qps if zone_size > self.large_cluster_threshold else 0.0
        return self.eviction_limiter_qps

    def _set_limiter_in_zone(self, zone: str, zone_size: int, state: ZoneState) -> None:
        if state is not ZoneState.INITIAL:
            self.zone_tainters[zone].swap_limiter(self.zone_qps(state, zone_size))

    async def _handle_disruption(self, zone_counts: dict[str, list[int]], nodes: Sequence[Node]) -> None:
        """Zone states from the counts of ready and not-ready nodes per zone, and what follows from
        them (handleDisruption). A zone without a counted node has no state."""
        sizes = {
            zone: ready + not_ready for zone, (ready, not_ready) in zone_counts.items() if ready + not_ready
        }
        new_states: dict[str, ZoneState] = {}
        all_are_fully_disrupted = True
        for zone in sorted(sizes):
            ready, not_ready = zone_counts[zone]
            _, state = zone_state_of(ready, not_ready, self.unhealthy_zone_threshold)
            if state is not ZoneState.FULL_DISRUPTION:
                all_are_fully_disrupted = False
            new_states[zone] = state
            self.zone_states.setdefault(zone, ZoneState.INITIAL)
        for zone in [zone for zone in self.zone_states if zone not in sizes]:
            del self.zone_states[zone]
        all_were_fully_disrupted = all(
            state is ZoneState.FULL_DISRUPTION for state in self.zone_states.values()
        )
        if all_are_fully_disrupted and all_were_fully_disrupted:
            return
        if all_are_fully_disrupted:
            log.info("every node is not ready; entering master disruption mode")
            for node in nodes:
                await self.mark_node_as_reachable(node)
            for zone in self.zone_states:
                self.zone_tainters[zone].swap_limiter(0.0)
                self.zone_states[zone] = ZoneState.FULL_DISRUPTION
            return
        if all_were_fully_disrupted:
            log.info("some nodes are ready again; exiting master disruption mode")
            now = self._clock.monotonic()
            for node in nodes:
                health = self._health.get(node.metadata.name)
                if health is not None:
                    health.probe_timestamp = health.ready_transition_timestamp = now
            for zone in self.zone_states:
                self._set_limiter_in_zone(zone, sizes[zone], new_states[zone])
                self.zone_states[zone] = new_states[zone]
            return
        for zone, state in self.zone_states.items():
            new_state = new_states[zone]
            if state is not new_state:
                log.info("zone changed state", zone=zone, state=new_state.value)
                self._set_limiter_in_zone(zone, sizes[zone], new_state)
                self.zone_states[zone] = new_state


def _take_in_lease(health: _NodeHealth, lease: Lease | None, now: float) -> bool:
    """Note ``lease`` as the node's Lease last looked at; a renewal newer than the last one taken in is
    a heartbeat at ``now``. Whether it was one."""
    health.lease = lease
    renewed = lease.spec.renew_time if lease is not None else None
    if renewed is None or (health.lease_renew_time is not None and health.lease_renew_time >= renewed):
        return False
    health.lease_renew_time = renewed
    health.probe_timestamp = now
    return True


def _count(zone_counts: dict[str, list[int]], zone: str, ready: NodeCondition | None) -> None:
    """Count a node in its zone: ready (its Ready condition True) or not (anything else, or none)."""
    counts = zone_counts.get(zone)
    if counts is None:
        counts = zone_counts[zone] = [0, 0]
    counts[0 if ready is not None and ready.status == "True" else 1] += 1


def _condition_statuses(node: Node) -> tuple[tuple[str, str], ...]:
    return tuple((condition.type, condition.status) for condition in node.status.conditions)


def no_schedule_inputs_changed(old: Node, new: Node) -> bool:
    """Whether a node update can change what the NoSchedule pass does: the conditions' statuses, the
    taints or ``spec.unschedulable`` changed (a heartbeat's new ``lastHeartbeatTime`` alone cannot).

    A resync (an update of a node to itself) passes, as every node update does upstream.
    """
    if old is new:
        return True
    old_spec, new_spec = old.spec, new.spec
    return (
        old_spec.taints != new_spec.taints
        or old_spec.unschedulable != new_spec.unschedulable
        or _condition_statuses(old) != _condition_statuses(new)
    )


def pod_node_changed(old: Pod, new: Pod) -> bool:
    """Whether a pod update concerns the controller: the pod got its node (podUpdated)."""
    return old.spec.node_name != new.spec.node_name


def _pod_request(pod: Pod) -> Iterable[Request]:
    return (Request(pod.metadata.namespace, pod.metadata.name),) if pod.spec.node_name else ()
