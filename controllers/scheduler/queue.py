"""The scheduling queue: pending pods in priority order, per-pod backoff, and the unschedulable pool.

A port of kube-scheduler's PriorityQueue (pkg/scheduler/backend/queue). Three places hold a pending pod:

- **activeQ**, a heap by priority (``spec.priority``, default 0), higher first, then by the time the pod
  entered the queue (PrioritySort);
- **backoffQ**, pods waiting out a per-pod backoff of 1 s doubling with every failure up to 10 s,
  counted from their last failure. Rejections and errors are counted apart: after an error the
  backoff follows the run of consecutive errors, otherwise the number of rejections;
- **unschedulable pods**, those no node fitted. They stay until a cluster event one of the plugins that
  rejected them registered for (a node added, a node's labels changed, a bound pod deleted, ...) moves
  them back — to backoffQ if their backoff has not run out, else to activeQ — or until they have waited
  5 minutes (podMaxInUnschedulablePodsDuration). A pod that failed with an error, not a rejection, goes
  straight to backoffQ.

The queue is plain data driven by the caller's clock: every method takes ``now``, and `next_due` says
when the next backoff or timeout falls due, so the scheduler can sleep until then. Three deliberate
differences from upstream: backoff completes exactly when it expires, where upstream polls every second
(and, with SchedulerPopFromBackoffQ, may pop a backing-off pod when activeQ is empty); a pod parked for
5 minutes comes back exactly then, where upstream looks every 30 s (flushUnschedulablePodsLeftover); and
queueing hints are not ported: a rejected pod moves on any event its rejecting plugins registered,
narrowed for node events to the pods that would fit that node (upstream's behaviour with the
SchedulerQueueingHints gate off, preCheckForNode).

Not here: which pods are pending (the scheduler's informer handlers decide), scheduling them.
"""

from __future__ import annotations

import enum
import heapq
import itertools
from collections.abc import Callable, Mapping, Sequence

import attrs

from store.models import Node, Pod

#: Defaults of KubeSchedulerConfiguration (podInitialBackoffSeconds, podMaxBackoffSeconds) and of
#: DefaultPodMaxInUnschedulablePodsDuration.
POD_INITIAL_BACKOFF = 1.0
POD_MAX_BACKOFF = 10.0
POD_MAX_IN_UNSCHEDULABLE_PODS_DURATION = 300.0

ACTIVE = "Active"
BACKOFF = "Backoff"
UNSCHEDULABLE = "Unschedulable"

PodKey = tuple[str, str]


class ActionType(enum.Flag):
    """What happened to an object (framework.ActionType), as a set of flags plugins register for."""

    ADD = enum.auto()
    DELETE = enum.auto()
    UPDATE_NODE_ALLOCATABLE = enum.auto()
    UPDATE_NODE_LABEL = enum.auto()
    UPDATE_NODE_TAINT = enum.auto()
    UPDATE_NODE_CONDITION = enum.auto()
    UPDATE_NODE_ANNOTATION = enum.auto()


NODE = "Node"
POD = "Pod"
WILDCARD = "*"


@attrs.frozen
class ClusterEvent:
    """A change in the cluster that may make rejected pods schedulable: a resource and its actions."""

    resource: str
    action: ActionType
    label: str = ""

    def matches(self, registered: ClusterEvent) -> bool:
        """Whether this event is one ``registered`` (a plugin's registration) asks to hear about."""
        return self.resource == registered.resource and bool(self.action & registered.action)

    @property
    def is_wildcard(self) -> bool:
        return self.resource == WILDCARD


NODE_ADD = ClusterEvent(NODE, ActionType.ADD, "NodeAdd")
ASSIGNED_POD_DELETE = ClusterEvent(POD, ActionType.DELETE, "AssignedPodDelete")
UNSCHEDULABLE_TIMEOUT = ClusterEvent(WILDCARD, ActionType(0), "UnschedulableTimeout")


def node_update_event(old: Node, new: Node) -> ClusterEvent | None:
    """NodeSchedulingPropertiesChange: the scheduling-relevant parts of a node update, if any.

    A heartbeat that only moves condition timestamps is no event at all, so kubelet heartbeats do not
    flush the unschedulable pool.
    """
    action = ActionType(0)
    # Only a node becoming schedulable can help; it counts as a taint change upstream.
    if old.spec.unschedulable != new.spec.unschedulable and not new.spec.unschedulable:
        action |= ActionType.UPDATE_NODE_TAINT
    if old.status.allocatable != new.status.allocatable:
        action |= ActionType.UPDATE_NODE_ALLOCATABLE
    if old.metadata.labels != new.metadata.labels:
        action |= ActionType.UPDATE_NODE_LABEL
    if old.spec.taints != new.spec.taints:
        action |= ActionType.UPDATE_NODE_TAINT
    if _condition_statuses(old) != _condition_statuses(new):
        action |= ActionType.UPDATE_NODE_CONDITION
    if old.metadata.annotations != new.metadata.annotations:
        action |= ActionType.UPDATE_NODE_ANNOTATION
    if not action:
        return None
    return ClusterEvent(NODE, action, "NodeUpdate")


def _condition_statuses(node: Node) -> dict[str, str]:
    return {condition.type: condition.status for condition in node.status.conditions}


def pod_key(pod: Pod) -> PodKey:
    return (pod.metadata.namespace, pod.metadata.name)


def pod_priority(pod: Pod) -> int:
    """corev1helpers.PodPriority: ``spec.priority``, 0 when unset."""
    return pod.spec.priority or 0


def is_pod_updated(old: Pod, new: Pod) -> bool:
    """isPodUpdated: a change other than status and bookkeeping metadata, which may make it fit."""
    return _scheduling_view(old) != _scheduling_view(new)


def _scheduling_view(pod: Pod) -> tuple[object, ...]:
    meta = attrs.evolve(pod.metadata, resource_version="", generation=0, finalizers=())
    return (meta, pod.spec)


@attrs.define(eq=False)
class QueuedPodInfo:
    """A pending pod and its queueing history.

    ``timestamp`` is when it entered the queue or last came back after a failure; ``attempts`` counts
    scheduling attempts; ``unschedulable_count`` the attempts that ended in a rejection and
    ``consecutive_errors_count`` the errors since the last rejection (UnschedulableCount,
    ConsecutiveErrorsCount: the backoff counts these, not the attempts); ``unschedulable_plugins``
    are the plugins that rejected it last time (empty after an error).
    """

    pod: Pod
    timestamp: float
    attempts: int = 0
    unschedulable_count: int = 0
    consecutive_errors_count: int = 0
    unschedulable_plugins: frozenset[str] = frozenset()

    @property
    def key(self) -> PodKey:
        return pod_key(self.pod)


class _Entry:
    """A heap entry: ``order`` sorts it; once removed, its ``info`` is None and pops skip it."""

    __slots__ = ("info", "order")

    def __init__(self, order: tuple[float, float, int], info: QueuedPodInfo) -> None:
        self.order = order
        self.info: QueuedPodInfo | None = info

    def __lt__(self, other: _Entry) -> bool:
        return self.order < other.order


class SchedulingQueue:
    """activeQ, backoffQ and the unschedulable pool, keyed by namespace/name.

    ``events_to_register`` maps a plugin name to the events that may make a pod it rejected
    schedulable. ``on_change`` is called whenever a pod becomes poppable or a due time may have moved,
    so a sleeping scheduling loop can wake up.
    """

    def __init__(
        self,
        *,
        events_to_register: Mapping[str, Sequence[ClusterEvent]],
        initial_backoff: float = POD_INITIAL_BACKOFF,
        max_backoff: float = POD_MAX_BACKOFF,
        max_in_unschedulable: float = POD_MAX_IN_UNSCHEDULABLE_PODS_DURATION,
        on_change: Callable[[], None] | None = None,
    ) -> None:
        self._events_to_register = {name: tuple(events) for name, events in events_to_register.items()}
        self._initial_backoff = initial_backoff
        self._max_backoff = max_backoff
        self._max_in_unschedulable = max_in_unschedulable
        self._on_change = on_change
        self._active: list[_Entry] = []
        self._active_entries: dict[PodKey, _Entry] = {}
        self._backoff: list[_Entry] = []
        self._backoff_entries: dict[PodKey, _Entry] = {}
        # Insertion order is timestamp order: a pod enters only with the current time.
        self._unschedulable: dict[PodKey, QueuedPodInfo] = {}
        self._sequence = 0

    # --- adding and removing pods -----------------------------------------------------------------

    def add(self, pod: Pod, now: float) -> None:
        """A new pending pod: straight to activeQ."""
        self._to_active(QueuedPodInfo(pod, now))

    def update(self, old: Pod, new: Pod, now: float) -> None:
        """A pending pod changed: update it where it is; a real change frees it from the pool."""
        key = pod_key(new)
        active = self._active_entries.get(key)
        if active is not None:
            info = self._info(active)
            info.pod = new
            # The priority may have changed: re-sort, keeping the pod's place among equals.
            self._remove_entry(self._active_entries, key)
            self._push_active(info, sequence=int(active.order[2]))
            return
        backoff = self._backoff_entries.get(key)
        if backoff is not None:
            self._info(backoff).pod = new
            return
        info_in_pool = self._unschedulable.get(key)
        if info_in_pool is not None:
            info_in_pool.pod = new
            if is_pod_updated(old, new):
                del self._unschedulable[key]
                self._requeue(info_in_pool, now)
            return
        # Not queued (it may be in flight): queue it again, as upstream does without queueing hints.
        self._to_active(QueuedPodInfo(new, now))

    def delete(self, pod: Pod) -> None:
        key = pod_key(pod)
        self._remove_entry(self._active_entries, key)
        self._remove_entry(self._backoff_entries, key)
        self._unschedulable.pop(key, None)

    def activate(self, key: PodKey) -> bool:
        """Move a pod from backoffQ or the pool to activeQ now (Activate); False if it is not there."""
        info = self._unschedulable.pop(key, None)
        if info is None:
            entry = self._backoff_entries.get(key)
            if entry is None:
                return False
            info = self._info(entry)
            self._remove_entry(self._backoff_entries, key)
        self._to_active(info)
        return True

    # --- scheduling -------------------------------------------------------------------------------

    def pop(self, now: float) -> QueuedPodInfo | None:
        """The next pod to schedule, after flushing what fell due; None when activeQ is empty."""
        self.flush(now)
        while self._active:
            info = heapq.heappop(self._active).info
            if info is not None:
                del self._active_entries[info.key]
                info.attempts += 1
                return info
        return None

    def add_after_failure(self, info: QueuedPodInfo, now: float) -> bool:
        """AddUnschedulableIfNotPresent: back into the queue after a failed attempt.

        A rejected pod (``unschedulable_plugins`` set) goes to the pool, a pod that failed with an error
        to backoffQ. False, and nothing changes, when the pod is already queued again.
        """
        if info.key in self:
            return False
        if info.unschedulable_plugins:
            info.unschedulable_count += 1
            info.consecutive_errors_count = 0
        else:
            info.consecutive_errors_count += 1
        info.timestamp = now
        if info.unschedulable_plugins:
            self._unschedulable[info.key] = info
            self._changed()
        else:
            self._push_backoff(info)
        return True

    def move_all(
        self, event: ClusterEvent, now: float, *, pre_check: Callable[[Pod], bool] | None = None
    ) -> None:
        """MoveAllToActiveOrBackoffQueue: requeue the pooled pods ``event`` may make schedulable.

        ``pre_check`` (a PreEnqueueCheck) narrows them further: a pod it refuses stays pooled.
        """
        if not self._unschedulable or not self._is_of_interest(event):
            return
        for key, info in list(self._unschedulable.items()):
            # The plugins' registrations first: they are cheap, the pre-check may not be.
            if self._is_worth_requeuing(info, event) and (pre_check is None or pre_check(info.pod)):
                del self._unschedulable[key]
                self._requeue(info, now)

    def flush(self, now: float) -> None:
        """Move pods whose backoff ran out to activeQ, and pods pooled for too long back to the queue."""
        while self._backoff:
            entry = self._backoff[0]
            info = entry.info
            if info is not None and entry.order[0] > now:
                break
            heapq.heappop(self._backoff)
            if info is not None:
                del self._backoff_entries[info.key]
                self._push_active(info)
        # The pool is in timestamp order, so the timed-out pods are a prefix of it.
        expired = list(
            itertools.takewhile(
                # The same sum as `next_due`, so the timer set for it always finds the pod due.
                lambda info: info.timestamp + self._max_in_unschedulable <= now,
                self._unschedulable.values(),
            )
        )
        for info in expired:
            del self._unschedulable[info.key]
            self._requeue(info, now)

    def next_due(self) -> float | None:
        """The earliest time a backoff runs out or a pooled pod times out, if any."""
        due: float | None = None
        while self._backoff and self._backoff[0].info is None:
            heapq.heappop(self._backoff)
        if self._backoff:
            due = self._backoff[0].order[0]
        oldest = next(iter(self._unschedulable.values()), None)
        if oldest is not None:
            timeout = oldest.timestamp + self._max_in_unschedulable
            due = timeout if due is None else min(due, timeout)
        return due

    # --- backoff ------------------------------------------------------------------------------------

    def backoff_duration(self, info: QueuedPodInfo) -> float:
        """getBackoffTime's duration: 1 s for the first failure, doubling per failure, at most 10 s.

        The failures counted are the consecutive errors when the last attempt was one, else the
        rejections (kubernetes#128748); a maximum of 0 turns backoff off.
        """
        count = info.consecutive_errors_count or info.unschedulable_count
        if self._max_backoff == 0 or count == 0:
            return 0.0
        duration = self._initial_backoff
        for _ in range(1, count):
            if duration > self._max_backoff - duration:
                return self._max_backoff
            duration += duration
        return duration

    def backoff_expiry(self, info: QueuedPodInfo) -> float:
        return info.timestamp + self.backoff_duration(info)

    def is_backing_off(self, info: QueuedPodInfo, now: float) -> bool:
        return self.backoff_expiry(info) > now

    # --- reading ------------------------------------------------------------------------------------

    def __contains__(self, key: object) -> bool:
        return key in self._active_entries or key in self._backoff_entries or key in self._unschedulable

    def where(self, key: PodKey) -> str | None:
        """Which sub-queue holds the pod: ``Active``, ``Backoff``, ``Unschedulable`` or None."""
        if key in self._active_entries:
            return ACTIVE
        if key in self._backoff_entries:
            return BACKOFF
        if key in self._unschedulable:
            return UNSCHEDULABLE
        return None

    @property
    def active_count(self) -> int:
        return len(self._active_entries)

    def __len__(self) -> int:
        return len(self._active_entries) + len(self._backoff_entries) + len(self._unschedulable)

    def pending(self) -> dict[str, list[PodKey]]:
        """The keys in each sub-queue (PendingPods), activeQ in pop order; for tests and debugging."""
        active = sorted(entry for entry in self._active if entry.info is not None)
        return {
            ACTIVE: [self._info(entry).key for entry in active],
            BACKOFF: sorted(self._backoff_entries),
            UNSCHEDULABLE: list(self._unschedulable),
        }

    # --- internals ----------------------------------------------------------------------------------

    def _is_of_interest(self, event: ClusterEvent) -> bool:
        if event.is_wildcard:
            return True
        return any(
            event.matches(registered) for events in self._events_to_register.values() for registered in events
        )

    def _is_worth_requeuing(self, info: QueuedPodInfo, event: ClusterEvent) -> bool:
        if not info.unschedulable_plugins or event.is_wildcard:
            return True
        return any(
            event.matches(registered)
            for plugin in info.unschedulable_plugins
            for registered in self._events_to_register.get(plugin, ())
        )

    def _requeue(self, info: QueuedPodInfo, now: float) -> None:
        """requeuePodViaQueueingHint: to backoffQ while backing off, else to activeQ."""
        if self.is_backing_off(info, now):
            self._push_backoff(info)
        else:
            self._push_active(info)

    def _to_active(self, info: QueuedPodInfo) -> None:
        key = info.key
        self._remove_entry(self._backoff_entries, key)
        self._unschedulable.pop(key, None)
        if key in self._active_entries:
            self._remove_entry(self._active_entries, key)
        self._push_active(info)

    def _push_active(self, info: QueuedPodInfo, *, sequence: int | None = None) -> None:
        if sequence is None:
            sequence = self._next_sequence()
        # The sequence breaks ties between equal timestamps in arrival order, deterministically.
        entry = _Entry((-pod_priority(info.pod), info.timestamp, sequence), info)
        self._active_entries[info.key] = entry
        heapq.heappush(self._active, entry)
        self._changed()

    def _push_backoff(self, info: QueuedPodInfo) -> None:
        entry = _Entry((self.backoff_expiry(info), 0.0, self._next_sequence()), info)
        self._backoff_entries[info.key] = entry
        heapq.heappush(self._backoff, entry)
        self._changed()

    def _next_sequence(self) -> int:
        self._sequence += 1
        return self._sequence

    @staticmethod
    def _remove_entry(entries: dict[PodKey, _Entry], key: PodKey) -> None:
        entry = entries.pop(key, None)
        if entry is not None:
            entry.info = None

    @staticmethod
    def _info(entry: _Entry) -> QueuedPodInfo:
        info = entry.info
        assert info is not None, "a live heap entry always holds its pod"
        return info

    def _changed(self) -> None:
        if self._on_change is not None:
            self._on_change()
