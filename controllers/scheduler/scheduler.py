"""The Scheduler: kube-scheduler's default profile, assigning pending pods to nodes.

Two layers, as upstream (pkg/scheduler/schedule_one.go):

- `ReferenceAlgorithm` is one scheduling decision over a snapshot of node infos: filter the nodes
  from a rotating start index until enough feasible ones are found (percentageOfNodesToScore,
  adaptive above 100 nodes), score them, and pick the highest total, breaking ties uniformly with
  one draw from a seeded stream. No feasible node raises `FitError`, whose message is the
  ``FailedScheduling`` text ("0/3 nodes are available: ..."). It is the plain reference path: a
  vectorised implementation must choose the same node for the same inputs and random stream.
- `Scheduler` is the component: it keeps a `SchedulerCache` and a `SchedulingQueue` current from the
  Node and Pod informers, and runs one loop task that pops the next pod, decides, assumes the pod on
  the chosen node, binds it (``store.bind``) and records ``Scheduled`` — or, on failure, puts the pod
  back in the queue, records ``FailedScheduling`` and sets its ``PodScheduled`` condition.

There is no preemption (no PostFilter plugin), so failure messages end after the filter reasons, as
upstream's do when no PostFilter plugin runs. Pods are scheduled one at a time and bound in the loop
itself; the cache's assumption is what lets the next decision count a pod whose binding is not yet
visible in the informer.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, Literal

import anyio
import anyio.abc
import attrs
import structlog

from controllers.events import NORMAL, WARNING, EventRecorder
from controllers.scheduler.cache import NodeInfo, SchedulerCache
from controllers.scheduler.plugins import (
    EVENTS_TO_REGISTER,
    NODE_AFFINITY,
    PodInfo,
    Rejection,
    ScoringError,
    admits,
    pod_info,
    prioritize,
    run_filters,
)
from controllers.scheduler.queue import (
    ASSIGNED_POD_DELETE,
    NODE_ADD,
    QueuedPodInfo,
    SchedulingQueue,
    node_update_event,
)
from reconcile.controller import Controller, Request, Result, current_controller
from reconcile.informer import BY_NODE, DeletedFinalStateUnknown, Informer, final_state, index_by_node_name
from store import StoreError
from store.models import Node, Pod, PodCondition, with_fields
from store.seams import Rng

if TYPE_CHECKING:
    from reconcile.manager import Manager

log = structlog.get_logger("setpoint.scheduler")

DEFAULT_SCHEDULER_NAME = "default-scheduler"

#: schedule_one.go: never fewer feasible nodes than this are looked for, nor less than this percentage.
MIN_FEASIBLE_NODES_TO_FIND = 100
MIN_FEASIBLE_NODES_PERCENTAGE_TO_FIND = 5
#: validation.NoteLengthLimit: event messages longer than this are cut.
NOTE_LENGTH_LIMIT = 1024

POD_SCHEDULED = "PodScheduled"
REASON_UNSCHEDULABLE = "Unschedulable"
REASON_SCHEDULER_ERROR = "SchedulerError"

_TERMINAL_PHASES = ("Succeeded", "Failed")


# --- one scheduling decision ----------------------------------------------------------------------


def num_feasible_nodes_to_find(num_all_nodes: int, percentage_of_nodes_to_score: int = 0) -> int:
    """How many feasible nodes to find before the search stops (numFeasibleNodesToFind).

    Below 100 nodes, all of them. Otherwise the configured percentage, or when 0 the adaptive
    ``50 − nodes/125`` percent with a 5 % floor, and never fewer than 100 nodes.
    """
    if num_all_nodes < MIN_FEASIBLE_NODES_TO_FIND:
        return num_all_nodes
    percentage = percentage_of_nodes_to_score
    if percentage == 0:
        percentage = max(50 - num_all_nodes // 125, MIN_FEASIBLE_NODES_PERCENTAGE_TO_FIND)
    return max(num_all_nodes * percentage // 100, MIN_FEASIBLE_NODES_TO_FIND)


def select_host(scores: Sequence[int], rng: Rng) -> int:
    """The index of a highest score; a tie is broken uniformly, with one draw of ``rng`` (selectHost).

    Upstream picks uniformly among the nodes tied for the top score: by reservoir sampling, one draw
    per tied node, in older releases; by a heap ordered on score and then a random key in newer ones.
    One draw among the k tied nodes gives each the same 1/k, and on a large cluster, where hundreds of
    empty nodes tie, saves hundreds of draws per pod. No tie, no draw.
    """
    highest = max(scores)
    ties = [index for index, score in enumerate(scores) if score == highest]
    return ties[rng.randrange(len(ties))] if len(ties) > 1 else ties[0]


@attrs.frozen
class Diagnosis:
    """Why no node fitted: each rejected node's verdict, in the order the nodes were examined.

    ``absent`` is the verdict for nodes never examined (a PreFilter narrowed the search);
    ``pre_filter_message`` is set when a PreFilter plugin rejected the pod for every node.
    """

    rejections: tuple[tuple[str, Rejection], ...] = ()
    unschedulable_plugins: frozenset[str] = frozenset()
    absent: Rejection | None = None
    pre_filter_message: str = ""


def fit_error_message(num_all_nodes: int, diagnosis: Diagnosis) -> str:
    """FitError.Error(): ``0/N nodes are available: <count> <reason>, ....`` with reasons sorted."""
    message = f"0/{num_all_nodes} nodes are available:"
    if diagnosis.pre_filter_message:
        return f"{message} {diagnosis.pre_filter_message}."
    counts: Counter[str] = Counter()
    for _, rejection in diagnosis.rejections:
        counts.update(rejection.reasons)
    absent = num_all_nodes - len(diagnosis.rejections)
    if diagnosis.absent is not None and absent > 0:
        for reason in diagnosis.absent.reasons:
            counts[reason] += absent
    # Sorted as strings, counts included, as Go's sort.Strings does.
    histogram = sorted(f"{count} {reason}" for reason, count in counts.items())
    if histogram:
        message += f" {', '.join(histogram)}."
    return message


class SchedulingFailure(Exception):
    """An attempt that did not place the pod.

    ``rejected`` tells a verdict (reason ``Unschedulable``) from an error (``SchedulerError``);
    ``unschedulable_plugins`` are the plugins whose events may change the verdict.
    """

    rejected = False
    unschedulable_plugins: frozenset[str] = frozenset()


class NoNodesAvailable(SchedulingFailure):
    rejected = True

    def __init__(self) -> None:
        super().__init__("no nodes available to schedule pods")


class FitError(SchedulingFailure):
    """No node passed the filters."""

    rejected = True

    def __init__(self, pod: Pod, num_all_nodes: int, diagnosis: Diagnosis) -> None:
        super().__init__(fit_error_message(num_all_nodes, diagnosis))
        self.pod = pod
        self.num_all_nodes = num_all_nodes
        self.diagnosis = diagnosis
        self.unschedulable_plugins = diagnosis.unschedulable_plugins


class SchedulingError(SchedulingFailure):
    """The attempt failed for another reason (scoring could not run, the binding was refused)."""


@attrs.frozen
class ScheduleResult:
    suggested_host: str
    evaluated_nodes: int
    feasible_nodes: int


class ReferenceAlgorithm:
    """schedulePod over a snapshot: filter from a rotating start, score, select.

    ``next_start_node_index`` carries over between decisions so every node gets its turn to be
    examined first when the search stops early; ``rng`` is only drawn from to break ties.
    """

    def __init__(self, rng: Rng, *, percentage_of_nodes_to_score: int = 0) -> None:
        self.rng = rng
        self.percentage_of_nodes_to_score = percentage_of_nodes_to_score
        self.next_start_node_index = 0

    def new_cache(self) -> SchedulerCache:
        """A cache for this algorithm to decide from (the vectorised one follows its changes)."""
        return SchedulerCache()

    def schedule_cached(self, pod: PodInfo, cache: SchedulerCache) -> ScheduleResult:
        """`schedule` over the cache's current nodes."""
        return self.schedule(pod, cache.node_infos())

    def schedule(self, pod: PodInfo, nodes: Sequence[NodeInfo]) -> ScheduleResult:
        """The node for ``pod``; raises `NoNodesAvailable`, `FitError` or `SchedulingError`."""
        if not nodes:
            raise NoNodesAvailable()
        feasible, diagnosis = self.find_nodes_that_fit(pod, nodes)
        if not feasible:
            raise FitError(pod.pod, len(nodes), diagnosis)
        evaluated = len(feasible) + len(diagnosis.rejections)
        if len(feasible) == 1:
            return ScheduleResult(feasible[0].name, evaluated, 1)
        try:
            scores = prioritize(pod, feasible)
        except ScoringError as exc:
            raise SchedulingError(str(exc)) from exc
        chosen = feasible[select_host(scores, self.rng)]
        return ScheduleResult(chosen.name, evaluated, len(feasible))

    def find_nodes_that_fit(
        self, pod: PodInfo, nodes: Sequence[NodeInfo]
    ) -> tuple[list[NodeInfo], Diagnosis]:
        """findNodesThatFitPod: the feasible nodes found, and why the examined others were rejected."""
        if pod.pre_filter_rejection is not None:
            rejection = pod.pre_filter_rejection
            return [], Diagnosis(
                unschedulable_plugins=frozenset({rejection.plugin}),
                absent=rejection,
                pre_filter_message=", ".join(rejection.reasons),
            )
        candidates: Sequence[NodeInfo] = nodes
        absent: Rejection | None = None
        plugins: set[str] = set()
        if pod.node_names is not None:
            candidates = [node for node in nodes if node.name in pod.node_names]
            absent = Rejection(NODE_AFFINITY, (f"node(s) didn't satisfy plugin(s) [{NODE_AFFINITY}]",))
            plugins.add(absent.plugin)
        feasible, rejections = self._find_nodes_that_pass_filters(pod, candidates)
        # Rotate even when nothing fits, so every node gets to be examined first in turn.
        self.next_start_node_index = (self.next_start_node_index + len(feasible) + len(rejections)) % len(
            nodes
        )
        plugins.update(rejection.plugin for _, rejection in rejections)
        return feasible, Diagnosis(tuple(rejections), frozenset(plugins), absent)

    def _find_nodes_that_pass_filters(
        self, pod: PodInfo, nodes: Sequence[NodeInfo]
    ) -> tuple[list[NodeInfo], list[tuple[str, Rejection]]]:
        feasible: list[NodeInfo] = []
        rejections: list[tuple[str, Rejection]] = []
        count = len(nodes)
        wanted = num_feasible_nodes_to_find(count, self.percentage_of_nodes_to_score)
        start = self.next_start_node_index
        for offset in range(count):
            node = nodes[(start + offset) % count]
            rejection = run_filters(pod, node)
            if rejection is not None:
                rejections.append((node.name, rejection))
                continue
            feasible.append(node)
            if len(feasible) == wanted:
                break
        return feasible, rejections


def truncate_message(message: str) -> str:
    """truncateMessage: event notes are cut to 1024 characters, ending in `` ...``."""
    if len(message) <= NOTE_LENGTH_LIMIT:
        return message
    suffix = " ..."
    return message[: NOTE_LENGTH_LIMIT - len(suffix)] + suffix


# --- the component --------------------------------------------------------------------------------


def _is_assigned(pod: Pod) -> bool:
    return bool(pod.spec.node_name)


def _is_terminal(pod: Pod) -> bool:
    return pod.status.phase in _TERMINAL_PHASES


class Scheduler(Controller):
    """The default scheduler profile as a controller of a `Manager`.

    Pending pods with ``schedulerName`` ``default-scheduler`` (or ``scheduler_name``) are queued; one
    being deleted is not placed but reported (``skip schedule deleting pod``) when its turn comes. Bound
    pods that have not finished are counted in the cache.
    One loop task schedules them one at a time. Its own work queue is the `SchedulingQueue`, so the
    controller's request queue is not used; `reconcile` retries one named pod at once.
    """

    def __init__(
        self,
        manager: Manager,
        *,
        scheduler_name: str = DEFAULT_SCHEDULER_NAME,
        percentage_of_nodes_to_score: int = 0,
        algorithm: Literal["reference", "vectorised", "auto"] = "auto",
    ) -> None:
        # Imported here: the vectorised path builds on this module's ReferenceAlgorithm.
        from controllers.scheduler.vectorised import new_algorithm  # noqa: PLC0415

        super().__init__("scheduler", self, kind=Pod)
        self.scheduler_name = scheduler_name
        self._manager = manager
        self._store = manager.store
        self._clock = manager.clock
        self._pods = manager.informer(Pod)
        self._nodes = manager.informer(Node)
        self._recorder = EventRecorder(manager.store, manager.clock, scheduler_name)
        # "reference", "vectorised" or "auto" (vectorised on large clusters): one semantics, two speeds.
        self.algorithm = new_algorithm(
            algorithm,
            manager.entropy.stream("scheduler"),
            percentage_of_nodes_to_score=percentage_of_nodes_to_score,
        )
        self.cache = self.algorithm.new_cache()
        self.scheduling_queue = self._new_queue()
        self._wakeup = anyio.Event()
        self._running = False
        self._in_flight: QueuedPodInfo | None = None

    def _new_queue(self) -> SchedulingQueue:
        return SchedulingQueue(events_to_register=EVENTS_TO_REGISTER, on_change=self._wake)

    def _wake(self) -> None:
        self._wakeup.set()

    # --- what the manager and the simulation ask ------------------------------------------------

    @property
    def idle(self) -> bool:
        """No pod ready to schedule and none being scheduled (backoffs may be pending)."""
        return not self._running or (self.scheduling_queue.active_count == 0 and self._in_flight is None)

    def next_requeue(self) -> float | None:
        """When the next backoff runs out or a pooled pod times out (clock time), if any."""
        return self.scheduling_queue.next_due() if self._running else None

    async def reconcile(self, request: Request) -> Result | None:
        """Retry the named pending pod now, skipping what is left of its backoff (queue Activate)."""
        self.scheduling_queue.activate((request.namespace, request.name))
        return None

    async def _run_once(
        self, manager: Manager, task_status: anyio.abc.TaskStatus[None], *, restarted: bool
    ) -> None:
        """Schedule until cancelled; reports started once the caches are synced and the loop runs.

        `Controller.run` restarts it after a `Crash`, from scratch: new cache, new queue, informers
        replayed.
        """
        token = current_controller.set(self.name)
        self.cache = self.algorithm.new_cache()
        self.scheduling_queue = self._new_queue()
        self.algorithm.next_start_node_index = 0
        handlers: list[tuple[Informer[Any], Any]] = []
        try:
            # Like WaitForCacheSync: a decision made before the nodes are listed would be wrong. After
            # a crash the caches list afresh, as a new process's would: a cache whose watch has not yet
            # brought the bindings made just before the crash would let them be made again.
            await self._wait_for_caches([self._nodes, self._pods], restarted=restarted)
            # Nodes first, so the replayed pods find their nodes in the cache.
            node_events, pod_events = _NodeEvents(self), _PodEvents(self)
            self._nodes.add_handler(node_events)
            handlers.append((self._nodes, node_events))
            self._pods.add_handler(pod_events)
            handlers.append((self._pods, pod_events))
            self._running = True
            task_status.started()
            await self._schedule_forever()
        finally:
            self._running = False
            self._in_flight = None
            for informer, handler in handlers:
                informer.remove_handler(handler)
            current_controller.reset(token)

    async def _schedule_forever(self) -> None:
        while True:
            info = self.scheduling_queue.pop(self._clock.monotonic())
            if info is None:
                await self._wait_for_work()
                continue
            self._in_flight = info
            try:
                await self._schedule_one(info)
            except Exception:
                # A bug must not stop the scheduling of every other pod: retry this one with backoff.
                meta = info.pod.metadata
                log.exception("scheduling attempt failed", namespace=meta.namespace, name=meta.name)
                info.unschedulable_plugins = frozenset()
                self.scheduling_queue.add_after_failure(info, self._clock.monotonic())
            finally:
                self._in_flight = None

    async def _wait_for_work(self) -> None:
        wakeup = self._wakeup = anyio.Event()
        due = self.scheduling_queue.next_due()
        timer = None if due is None else self._clock.call_at(due, wakeup.set)
        try:
            await wakeup.wait()
        finally:
            if timer is not None:
                timer.cancel()

    # --- one pod --------------------------------------------------------------------------------

    async def _schedule_one(self, info: QueuedPodInfo) -> None:
        pod = info.pod
        meta = pod.metadata
        if meta.deletion_timestamp is not None:
            # skipPodSchedule: a pod being deleted is reported once and dropped from the queue.
            await self._recorder.event(
                pod, WARNING, "FailedScheduling", f"skip schedule deleting pod: {meta.namespace}/{meta.name}"
            )
            return
        if self.cache.has_pod(pod):
            # Assumed by an earlier attempt and queued again by an update meanwhile (skipPodSchedule).
            return
        try:
            result = self.algorithm.schedule_cached(pod_info(pod), self.cache)
        except SchedulingFailure as failure:
            await self._handle_failure(info, failure)
            return
        node = result.suggested_host
        assumed = with_fields(pod, spec=with_fields(pod.spec, node_name=node))
        self.cache.assume_pod(assumed)
        await self._bind(info, assumed, result)

    async def _bind(self, info: QueuedPodInfo, assumed: Pod, result: ScheduleResult) -> None:
        meta = assumed.metadata
        node = result.suggested_host
        try:
            await self._store.bind(meta.name, meta.namespace, node, uid=meta.uid)
        except Exception as exc:  # any refusal: forget the assumption and retry with backoff
            self.cache.forget_pod(assumed)
            # Forgetting frees what the pod held, as a deleted bound pod would.
            self.scheduling_queue.move_all(ASSIGNED_POD_DELETE, self._clock.monotonic())
            await self._handle_failure(info, SchedulingError(f'running Bind plugin "DefaultBinder": {exc}'))
            return
        self._record(
            info, "scheduled", node=node, evaluated=result.evaluated_nodes, feasible=result.feasible_nodes
        )
        await self._recorder.event(
            assumed, NORMAL, "Scheduled", f"Successfully assigned {meta.namespace}/{meta.name} to {node}"
        )

    async def _handle_failure(self, info: QueuedPodInfo, failure: SchedulingFailure) -> None:
        """handleSchedulingFailure: requeue, record FailedScheduling, set the PodScheduled condition."""
        pod = info.pod
        meta = pod.metadata
        current = self._pods.get(meta.name, meta.namespace)
        # Requeue at once, before any await, so no cluster event can slip in between.
        still_pending = (
            current is not None and current.metadata.uid == meta.uid and self._responsible(current)
        )
        if current is not None and still_pending:
            info.pod = current
            info.unschedulable_plugins = failure.unschedulable_plugins
            self.scheduling_queue.add_after_failure(info, self._clock.monotonic())
        self._record(info, "unschedulable" if failure.rejected else "error")
        message = str(failure)
        log.debug("scheduling failed", namespace=meta.namespace, name=meta.name, reason=message)
        await self._recorder.event(pod, WARNING, "FailedScheduling", truncate_message(message))
        if current is not None and still_pending:
            reason = REASON_UNSCHEDULABLE if failure.rejected else REASON_SCHEDULER_ERROR
            await self._set_pod_scheduled_false(current, reason, message)

    async def _set_pod_scheduled_false(self, pod: Pod, reason: str, message: str) -> None:
        """UpdatePodCondition + patch: only when status, reason or message change."""
        existing = pod.status.condition(POD_SCHEDULED)
        if existing is not None and (existing.status, existing.reason, existing.message) == (
            "False",
            reason,
            message,
        ):
            return
        transition = (
            existing.last_transition_time if existing is not None and existing.status == "False" else None
        )
        condition = PodCondition(
            type=POD_SCHEDULED,
            status="False",
            reason=reason,
            message=message,
            last_transition_time=transition or self._clock.now(),
        )
        conditions = [condition if c.type == POD_SCHEDULED else c for c in pod.status.conditions]
        if existing is None:
            conditions.append(condition)
        body: dict[str, Any] = {"status": {"conditions": self._store.scheme.unstructure(conditions)}}
        try:
            await self._store.patch(Pod, pod.metadata.name, body, pod.metadata.namespace, status=True)
        except StoreError as exc:
            log.info("could not update pod condition", name=pod.metadata.name, error=str(exc))

    def cache_differences(self) -> list[str]:
        """How the cache's per-node sums differ from the pods the Pod informer shows on each node.

        Empty when they agree: for every node, the unfinished pods indexed under it (BY_NODE) plus the
        pods assumed onto it add up to the cache's requests, pod count and host ports. For invariant
        checks; it costs a pass over every pod.
        """
        self._pods.ensure_index(BY_NODE, index_by_node_name)
        assumed: dict[str, list[Pod]] = {}
        for pod in self.cache.assumed_pods():
            assumed.setdefault(pod.spec.node_name, []).append(pod)
        problems: list[str] = []
        for info in self.cache.node_infos():
            bound = [pod for pod in self._pods.by_index(BY_NODE, info.name) if not _is_terminal(pod)]
            expected = NodeInfo.of(info.node, [*bound, *assumed.get(info.name, ())])
            for field in ("requested", "non_zero_requested", "pod_count"):
                cached, summed = getattr(info, field), getattr(expected, field)
                if cached != summed:
                    problems.append(f"{info.name}: {field} is {cached}, its pods add up to {summed}")
            if sorted(expected.used_ports, key=repr) != sorted(info.used_ports, key=repr):
                problems.append(f"{info.name}: host ports {info.used_ports} != {expected.used_ports}")
        return problems

    def _record(self, info: QueuedPodInfo, result: str, **details: str | int) -> None:
        """One attempt in the trace: the pod, which attempt, its result and, when placed, where."""
        meta = info.pod.metadata
        self._manager.record(
            "schedule", pod=f"{meta.namespace}/{meta.name}", attempt=info.attempts, result=result, **details
        )

    # --- informer events ------------------------------------------------------------------------

    def _responsible(self, pod: Pod) -> bool:
        """A pending pod of this scheduler: its scheduler name, no node, not done.

        A pod being deleted stays queued, as upstream: the attempt that pops it skips it.
        """
        return (
            pod.spec.scheduler_name == self.scheduler_name
            and not pod.spec.node_name
            and not _is_terminal(pod)
        )

    def _pod_added(self, pod: Pod) -> None:
        if _is_assigned(pod):
            if not _is_terminal(pod):
                self.cache.add_pod(pod)
        elif self._responsible(pod):
            self.scheduling_queue.add(pod, self._clock.monotonic())

    def _pod_updated(self, old: Pod, new: Pod) -> None:
        if old.metadata.uid != new.metadata.uid:
            # A delete and a create under one name, merged into an update by a relist: the old pod
            # goes, the new one comes (updatePodInCache).
            self._pod_deleted(old)
            self._pod_added(new)
            return
        now = self._clock.monotonic()
        if _is_assigned(new):
            if not _is_assigned(old):
                self.scheduling_queue.delete(new)
            if not _is_terminal(new):
                self.cache.add_pod(new)
            elif self.cache.remove_pod(new):
                # A finished pod leaves its node as a deleted one would.
                self.scheduling_queue.move_all(ASSIGNED_POD_DELETE, now)
        elif self._responsible(new):
            if self._responsible(old):
                self.scheduling_queue.update(old, new, now)
            else:
                self.scheduling_queue.add(new, now)
        else:
            self.scheduling_queue.delete(new)

    def _pod_deleted(self, pod: Pod) -> None:
        if _is_assigned(pod):
            if self.cache.remove_pod(pod):
                self.scheduling_queue.move_all(ASSIGNED_POD_DELETE, self._clock.monotonic())
        else:
            self.scheduling_queue.delete(pod)

    def _node_added(self, node: Node) -> None:
        self.cache.add_node(node)
        self.scheduling_queue.move_all(NODE_ADD, self._clock.monotonic(), pre_check=self._pre_check(node))

    def _node_updated(self, old: Node, new: Node) -> None:
        self.cache.add_node(new)
        event = node_update_event(old, new)
        if event is not None:
            self.scheduling_queue.move_all(event, self._clock.monotonic(), pre_check=self._pre_check(new))

    def _pre_check(self, node: Node) -> Callable[[Pod], bool] | None:
        """preCheckForNode: a node event moves only the parked pods the node, as now cached, may fit."""
        info = self.cache.node_info(node.metadata.name)
        if info is None:
            return None
        return lambda pod: admits(pod_info(pod), info)

    def _node_deleted(self, node: Node) -> None:
        self.cache.remove_node(node)


class _PodEvents:
    def __init__(self, scheduler: Scheduler) -> None:
        self._scheduler = scheduler

    def on_add(self, obj: Pod) -> None:
        self._scheduler._pod_added(obj)

    def on_update(self, old: Pod, new: Pod) -> None:
        self._scheduler._pod_updated(old, new)

    def on_delete(self, obj: Pod | DeletedFinalStateUnknown[Pod]) -> None:
        self._scheduler._pod_deleted(final_state(obj))


class _NodeEvents:
    def __init__(self, scheduler: Scheduler) -> None:
        self._scheduler = scheduler

    def on_add(self, obj: Node) -> None:
        self._scheduler._node_added(obj)

    def on_update(self, old: Node, new: Node) -> None:
        self._scheduler._node_updated(old, new)

    def on_delete(self, obj: Node | DeletedFinalStateUnknown[Node]) -> None:
        self._scheduler._node_deleted(final_state(obj))
