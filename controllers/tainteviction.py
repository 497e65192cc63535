"""TaintEvictionController: pods on a node with NoExecute taints they do not tolerate are deleted.

A port of Kubernetes' pkg/controller/tainteviction (the taint manager). For every pod bound to a node with
NoExecute taints: a taint the pod does not tolerate means deletion at once; when every taint is tolerated,
the smallest ``tolerationSeconds`` among the tolerations used is how long the pod may stay, counted from
when the eviction was first scheduled; tolerations without ``tolerationSeconds`` mean for ever. A scheduled
eviction is cancelled (event ``TaintManagerEviction``, "Cancelling deletion of Pod ns/name") when the taints
go or the pod goes. An eviction that comes due records "Marking for deletion Pod ns/name", adds the
``DisruptionTarget`` condition to the pod's status and deletes it (gracefully: the kubelet finishes it).

The store gives every pod the not-ready/unreachable tolerations of 300 s (store.strategy), so pods on a node
the node lifecycle controller has tainted unreachable go about 300 s after the taint.

One `Controller` whose keys are nodes (``Request("", node)``: re-examine the node's pods when its NoExecute
taints change) and pods (``Request(namespace, pod)``: re-examine a pod whose node or tolerations changed,
or whose eviction is due). Scheduled evictions are delayed requeues of the pod's key, not tasks or timers
that would need cancelling: a requeue that finds its eviction cancelled or moved does nothing. What it is
not: it taints nothing (`controllers.nodelifecycle` does) and honours no PodDisruptionBudget, as upstream.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime

import attrs
import structlog

from controllers.events import NORMAL, EventRecorder
from reconcile import Controller, Manager, Request, Result, Watch
from reconcile.informer import BY_NODE, index_by_node_name
from store import Conflict, NotFound, Store
from store.models import Node, ObjectMeta, Pod, PodCondition, Taint, Toleration

log = structlog.get_logger("setpoint.tainteviction")

NO_EXECUTE = "NoExecute"
DISRUPTION_TARGET = "DisruptionTarget"
REASON_DELETION_BY_TAINT_MANAGER = "DeletionByTaintManager"
MESSAGE_DELETION_BY_TAINT_MANAGER = "Taint manager: deleting due to NoExecute taint"
#: How many times the condition-and-delete step is tried before the eviction is given up (retries).
DELETE_RETRIES = 5


def no_execute_taints(taints: Iterable[Taint]) -> tuple[Taint, ...]:
    return tuple(taint for taint in taints if taint.effect == NO_EXECUTE)


def matching_tolerations(
    taints: Sequence[Taint], tolerations: Sequence[Toleration]
) -> tuple[bool, list[Toleration]]:
    """Whether every taint is tolerated, and the first toleration of each (GetMatchingTolerations)."""
    used: list[Toleration] = []
    for taint in taints:
        toleration = next((t for t in tolerations if t.tolerates(taint)), None)
        if toleration is None:
            return False, []
        used.append(toleration)
    return True, used


def min_toleration_seconds(tolerations: Sequence[Toleration]) -> float | None:
    """How long the tolerations let a pod stay: 0 for none, None for ever (getMinTolerationTime)."""
    if not tolerations:
        return 0.0
    bounded = [t.toleration_seconds for t in tolerations if t.toleration_seconds is not None]
    if any(seconds <= 0 for seconds in bounded):
        return 0.0
    return float(min(bounded)) if bounded else None


@attrs.define
class _Eviction:
    """A scheduled deletion of one pod (a TimedWorker): created at, due at (monotonic clock)."""

    created_at: float
    fire_at: float


class TaintEvictionController(Controller):
    """Deletes pods from nodes with NoExecute taints they do not tolerate (taint-eviction-controller)."""

    def __init__(self, manager: Manager, *, workers: int = 8) -> None:
        super().__init__(
            "taint-eviction-controller",
            self,
            kind=Node,
            changed=no_execute_taints_changed,
            watches={Pod: Watch(_pod_request, changed=pod_placement_changed)},
            workers=workers,
        )
        self._store: Store = manager.store
        self._clock = manager.clock
        self._events = EventRecorder(manager.store, manager.clock, "taint-eviction-controller")
        self._nodes = manager.informer(Node)
        self._pods = manager.informer(Pod)
        self._pods.ensure_index(BY_NODE, index_by_node_name)
        #: Node name -> its NoExecute taints, for nodes that have any (taintedNodes).
        self._tainted: dict[str, tuple[Taint, ...]] = {}
        #: Nodes seen deleted: when one comes back, its pods are looked at whatever its taints.
        self._deleted: set[str] = set()
        self._evictions: dict[tuple[str, str], _Eviction] = {}
        #: What each pod's last examination saw: (node, tolerations); only a change is a pod update.
        self._seen: dict[tuple[str, str], tuple[str, tuple[Toleration, ...]]] = {}

    def scheduled_eviction(self, namespace: str, name: str) -> float | None:
        """When the pod's eviction is due (monotonic clock), if one is scheduled."""
        eviction = self._evictions.get((namespace, name))
        return None if eviction is None else eviction.fire_at

    async def reconcile(self, request: Request) -> Result | None:
        if request.namespace:
            return await self._handle_pod(request.namespace, request.name)
        await self._handle_node(request.name)
        return None

    # --- nodes ----------------------------------------------------------------------------------

    async def _handle_node(self, name: str) -> None:
        node = self._nodes.get(name)
        if node is None:
            self._tainted.pop(name, None)
            self._deleted.add(name)
            return
        taints = no_execute_taints(node.spec.taints)
        if taints == self._tainted.get(name, ()) and name not in self._deleted:
            return  # the NoExecute taints did not change: nothing to re-examine
        # A node added back (upstream handles every node add): its pods' evictions may be stale.
        self._deleted.discard(name)
        if taints:
            self._tainted[name] = taints
        else:
            self._tainted.pop(name, None)
        pods = self._pods.by_index(BY_NODE, name)
        now = self._clock.monotonic()
        for pod in pods:
            key = (pod.metadata.namespace, pod.metadata.name)
            self._seen[key] = (pod.spec.node_name, pod.spec.tolerations)
            if not taints:
                await self._cancel(pod)
            else:
                await self._process_pod_on_node(pod, taints, now)

    # --- pods -----------------------------------------------------------------------------------

    async def _handle_pod(self, namespace: str, name: str) -> Result | None:
        key = (namespace, name)
        pod = self._pods.get(name, namespace)
        if pod is None:
            self._seen.pop(key, None)
            if key in self._evictions:
                del self._evictions[key]
                await self._cancel_event(namespace, name, None)
            return None
        eviction = self._evictions.get(key)
        now = self._clock.monotonic()
        if eviction is not None and eviction.fire_at <= now:
            del self._evictions[key]
            await self._evict(pod)
            return None
        seen = (pod.spec.node_name, pod.spec.tolerations)
        if self._seen.get(key) != seen:
            self._seen[key] = seen
            taints = self._tainted.get(pod.spec.node_name) if pod.spec.node_name else None
            if taints:
                await self._process_pod_on_node(pod, taints, now)
        return self._requeue_for(key, now)

    def _requeue_for(self, key: tuple[str, str], now: float) -> Result | None:
        eviction = self._evictions.get(key)
        if eviction is None or eviction.fire_at <= now:
            return None
        return Result(requeue_after=eviction.fire_at - now)

    async def _process_pod_on_node(self, pod: Pod, taints: Sequence[Taint], now: float) -> None:
        """Schedule, keep or cancel the pod's eviction for the node's NoExecute taints (processPodOnNode)."""
        key = (pod.metadata.namespace, pod.metadata.name)
        tolerated, used = matching_tolerations(taints, pod.spec.tolerations)
        existing = self._evictions.get(key)
        if not tolerated:
            if existing is not None and existing.fire_at <= now:
                return  # already due: it is being deleted at once anyway
            # Deleted at once: a longer eviction scheduled before is replaced.
            await self._cancel(pod)
            self._schedule(key, now, now)
            return
        seconds = min_toleration_seconds(used)
        if seconds is None:
            await self._cancel(pod)
            return
        fire_at = now + seconds
        if existing is not None:
            # An eviction scheduled earlier keeps counting from when it was scheduled.
            if existing.created_at + seconds < fire_at:
                return
            if existing.fire_at == existing.created_at + seconds:
                return  # scheduled at this very instant for the same time: nothing to change
            await self._cancel(pod)
            self._schedule(key, existing.created_at, existing.created_at + seconds)
            return
        self._schedule(key, now, fire_at)

    def _schedule(self, key: tuple[str, str], created_at: float, fire_at: float) -> None:
        if key in self._evictions:
            return
        self._evictions[key] = _Eviction(created_at=created_at, fire_at=fire_at)
        delay = fire_at - self._clock.monotonic()
        request = Request(*key)
        if delay > 0:
            self.queue.add_after(request, delay)
        else:
            self.enqueue(request)

    async def _cancel(self, pod: Pod) -> None:
        key = (pod.metadata.namespace, pod.metadata.name)
        if self._evictions.pop(key, None) is not None:
            await self._cancel_event(pod.metadata.namespace, pod.metadata.name, pod)

    async def _cancel_event(self, namespace: str, name: str, pod: Pod | None) -> None:
        target = pod or Pod(metadata=ObjectMeta(name=name, namespace=namespace))
        await self._events.event(
            target, NORMAL, "TaintManagerEviction", f"Cancelling deletion of Pod {namespace}/{name}"
        )

    async def _evict(self, pod: Pod) -> None:
        """Record, mark DisruptionTarget and delete (deletePodHandler, addConditionAndDeletePod)."""
        namespace, name = pod.metadata.namespace, pod.metadata.name
        log.info("deleting pod", pod=f"{namespace}/{name}")
        await self._events.event(
            pod, NORMAL, "TaintManagerEviction", f"Marking for deletion Pod {namespace}/{name}"
        )
        for _ in range(DELETE_RETRIES):
            try:
                await self._add_condition_and_delete(namespace, name)
                return
            except NotFound:
                return
            except Conflict as exc:
                log.info("could not delete pod; retrying", pod=f"{namespace}/{name}", error=str(exc))
        log.warning("gave up deleting pod", pod=f"{namespace}/{name}")

    async def _add_condition_and_delete(self, namespace: str, name: str) -> None:
        pod = await self._store.get(Pod, name, namespace)
        conditions = _with_disruption_target(pod.status.conditions, self._clock.now().replace(microsecond=0))
        if conditions != pod.status.conditions:
            pod = await self._store.update_status(
                attrs.evolve(pod, status=attrs.evolve(pod.status, conditions=conditions))
            )
        await self._store.delete(Pod, name, namespace)


def _with_disruption_target(conditions: Sequence[PodCondition], now: datetime) -> tuple[PodCondition, ...]:
    """The conditions with DisruptionTarget=True by the taint manager (UpdatePodCondition)."""
    wanted = PodCondition(
        type=DISRUPTION_TARGET,
        status="True",
        reason=REASON_DELETION_BY_TAINT_MANAGER,
        message=MESSAGE_DELETION_BY_TAINT_MANAGER,
    )
    existing = next((c for c in conditions if c.type == DISRUPTION_TARGET), None)
    if existing is None:
        return (*conditions, attrs.evolve(wanted, last_transition_time=now))
    if (existing.status, existing.reason, existing.message) == (wanted.status, wanted.reason, wanted.message):
        return tuple(conditions)
    since = existing.last_transition_time if existing.status == wanted.status else now
    replaced = attrs.evolve(wanted, last_transition_time=since)
    return tuple(replaced if c.type == DISRUPTION_TARGET else c for c in conditions)


def no_execute_taints_changed(old: Node, new: Node) -> bool:
    """Whether a node update concerns the controller: its NoExecute taints changed (handleNodeUpdate).

    A Lease renewal is no node update at all; a status report or a NoSchedule taint changes nothing here.
    """
    return old.spec.taints is not new.spec.taints and no_execute_taints(old.spec.taints) != no_execute_taints(
        new.spec.taints
    )


def pod_placement_changed(old: Pod, new: Pod) -> bool:
    """Whether a pod update concerns the controller: its node or tolerations changed (PodUpdated)."""
    return old.spec.node_name != new.spec.node_name or old.spec.tolerations != new.spec.tolerations


def _pod_request(pod: Pod) -> Iterable[Request]:
    # A pod on no node has nothing to be evicted from (upstream drops it in handlePodUpdate).
    return (Request(pod.metadata.namespace, pod.metadata.name),) if pod.spec.node_name else ()
