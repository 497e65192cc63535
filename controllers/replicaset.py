"""The ReplicaSet controller: keeps as many active pods as a ReplicaSet asks for, and reports them.

A port of pkg/controller/replicaset (replica_set.go, replica_set_utils.go) with the parts of
pkg/controller it leans on (controller_utils.go's pod control and FilterActivePods,
controller_ref_manager.go's PodControllerRefManager). One sync of a ReplicaSet:

1. claims pods: adopts active orphans its selector matches (after re-reading the ReplicaSet from the store
   to be sure it is not being deleted), releases the ones it controls whose labels stopped matching, and
   ignores pods some other controller controls;
2. if its expectations are satisfied (see `reconcile.expectations`), creates or deletes pods to make the
   count right: at most `BURST_REPLICAS` per sync, creates in slow-start batches of 1, 2, 4, … that stop at
   the first failed batch, deletes chosen by `controllers.ranking`;
3. writes status — replicas, fullyLabeledReplicas, readyReplicas, availableReplicas, terminatingReplicas
   (the pods it controls that are being deleted and not finished), observedGeneration and the
   ReplicaFailure condition — when it changed.

Pods are created from the template with generateName ``<replicaset>-`` and a controller ownerReference; a
scheduler binds them. Events (SuccessfulCreate, FailedCreate, SuccessfulDelete, FailedDelete) are recorded
as ``replicaset-controller``. Reads come from the informer caches, writes go to the store.
This module does not schedule, run or garbage-collect pods.
"""

from __future__ import annotations

import contextlib
import heapq
import itertools
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any, Generic, TypeVar, cast

import attrs
import structlog

from controllers.events import NORMAL, WARNING, EventRecorder
from controllers.podutil import is_pod_active, is_pod_available, is_pod_ready, is_pod_terminating
from controllers.ranking import (
    FirstRulesKey,
    RankFacts,
    RankTail,
    cut_key,
    deletion_order,
    first_rules_key,
    pods_to_delete_of_candidates,
    pods_to_delete_on_nodes,
    rank_facts,
    rank_tail,
)
from reconcile import Controller, Manager, Request, Result, WorkQueue
from reconcile.controller import request_for
from reconcile.expectations import UIDTrackingControllerExpectations
from reconcile.informer import (
    BY_CONTROLLER,
    BY_OWNER,
    DeletedFinalStateUnknown,
    Key,
    controller_bucket,
    final_state,
    index_by_controller,
    index_by_owner_uid,
    key_of,
)
from store import Forbidden, FrozenDict, NotFound, Object, Selector, Store, StoreError
from store.models import (
    ObjectMeta,
    OwnerReference,
    Pod,
    PodTemplateSpec,
    ReplicaSet,
    ReplicaSetCondition,
    ReplicaSetStatus,
    with_fields,
)
from store.selectors import InvalidSelector

#: The most pods one sync creates or deletes (BurstReplicas).
BURST_REPLICAS = 500
#: The first slow-start batch of creates; each successful batch doubles the next.
SLOW_START_INITIAL_BATCH_SIZE = 1
#: How often a failed status write is retried (after a fresh read) before the sync fails.
STATUS_UPDATE_RETRIES = 1

COMPONENT = "replicaset-controller"
REPLICA_FAILURE = "ReplicaFailure"
FAILED_CREATE = "FailedCreate"
SUCCESSFUL_CREATE = "SuccessfulCreate"
FAILED_DELETE = "FailedDelete"
SUCCESSFUL_DELETE = "SuccessfulDelete"

M = TypeVar("M", bound=Object)

#: Pods tallied by that same bucket and by `pod_facts`: what a sync adds up, without visiting the pods.
POD_FACTS = "namespace/controller-uid: active, ready, labels, terminating"
#: Active pods tallied by namespace and by (node name, labels): who is doubled up on a node.
POD_PLACEMENT = "namespace: node, labels of active pods"

#: Active pods by namespace, controller uid and node name: a scale-down reads only the nodes it needs.
BY_CONTROLLER_NODE = "namespace/controller-uid/node: active pods"
#: Active pods tallied by controller bucket and by (`rank_facts`, `rank_tail`): where a scale-down's
#: cut falls, and whether the pods tied at it are alike.
POD_RANK_FACTS = "namespace/controller-uid: node, phase, ready, deletion cost, later rules of active pods"

#: The longest valid pod name; a generateName prefix must leave room within it.
_MAX_NAME_LENGTH = 253

log = structlog.get_logger("setpoint.replicaset")

#: Where a node's pods fall against the scale-down's cut: all before it, all at it, all after it.
_BELOW, _TIED, _ABOVE = frozenset({-1}), frozenset({0}), frozenset({1})


class PodControlError(Exception):
    """Creating or deleting a pod failed; the message is what the ReplicaFailure condition says."""


# --- pod facts and pod control ----------------------------------------------------------------


def filter_active_pods(pods: Sequence[Pod]) -> list[Pod]:
    """The pods neither finished nor being deleted (FilterActivePods)."""
    return [pod for pod in pods if is_pod_active(pod)]


PodFacts = tuple[bool, bool, FrozenDict[str, str], bool]
PodPlacement = tuple[str, FrozenDict[str, str]]


def pod_namespace(pod: Pod) -> str:
    return pod.metadata.namespace


def pod_placement(pod: Pod) -> PodPlacement | None:
    """What the scale-down ranking counts of an active pod: its node and its labels (None if inactive)."""
    return (pod.spec.node_name, pod.metadata.labels) if is_pod_active(pod) else None


def pod_facts(pod: Pod) -> PodFacts:
    """What a ReplicaSet's status counts of a pod: active, ready, its labels, and terminating."""
    return (is_pod_active(pod), pod.status.ready, pod.metadata.labels, is_pod_terminating(pod))


#: What the scale-down ranking reads of an active pod (bar its uid); None for a pod it passes over.
PodRankFacts = tuple[RankFacts, RankTail] | None


def pod_rank_facts(pod: Pod) -> PodRankFacts:
    """What the scale-down ranking reads of ``pod``, if it is active (the others are not ranked)."""
    return (rank_facts(pod), rank_tail(pod)) if is_pod_active(pod) else None


def index_active_by_controller_and_node(pod: Pod) -> Iterable[str]:
    if not is_pod_active(pod):
        return ()
    return (f"{controller_bucket(pod)}/{pod.spec.node_name}",)


def pod_key(pod: Pod) -> str:
    """``namespace/name``: how expectations name a pod (PodKey)."""
    return f"{pod.metadata.namespace}/{pod.metadata.name}"


def controller_ref(owner: Object) -> OwnerReference:
    """The ownerReference that makes ``owner`` the controller of what it creates (NewControllerRef)."""
    return OwnerReference(
        api_version=owner.api_version,
        kind=owner.kind,
        name=owner.metadata.name,
        uid=owner.metadata.uid,
        controller=True,
        block_owner_deletion=True,
    )


def pod_from_template(template: PodTemplateSpec, parent: Object, ref: OwnerReference | None) -> Pod:
    """A new pod for ``parent`` with the template's metadata and spec (GetPodFromTemplate)."""
    prefix = f"{parent.metadata.name}-"
    metadata = ObjectMeta(
        generate_name=prefix if len(prefix) <= _MAX_NAME_LENGTH else parent.metadata.name,
        namespace=parent.metadata.namespace,
        labels=template.metadata.labels,
        annotations=template.metadata.annotations,
        finalizers=template.metadata.finalizers,
        owner_references=() if ref is None else (ref,),
    )
    return Pod(metadata=metadata, spec=template.spec)


def namespace_terminating(error: StoreError) -> bool:
    """Whether a create failed only because its namespace is being deleted (NamespaceTerminatingCause)."""
    return isinstance(error, Forbidden) and "because it is being terminated" in error.message


class SlowStartFailure(Exception):
    """A slow-start batch failed: ``successes`` calls had succeeded; ``error`` is the first failure."""

    def __init__(self, successes: int, error: Exception) -> None:
        super().__init__(str(error))
        self.successes = successes
        self.error = error


async def slow_start_batch(count: int, initial_batch_size: int, call: Callable[[], Awaitable[None]]) -> int:
    """Call ``call`` ``count`` times in batches of ``initial_batch_size``, doubling while all succeed.

    The whole batch is attempted; if any call in it fails, later batches are skipped and the first error
    is raised as a `SlowStartFailure` carrying how many calls succeeded. Returns the number of successes.
    Calls within a batch run one after another: against an in-process store that costs nothing, and it
    keeps the order of writes deterministic.
    """
    remaining = count
    successes = 0
    batch_size = min(remaining, initial_batch_size)
    while batch_size > 0:
        log.debug("slow start batch", size=batch_size)
        errors: list[Exception] = []
        for _ in range(batch_size):
            try:
                await call()
            except Exception as exc:
                errors.append(exc)
        successes += batch_size - len(errors)
        if errors:
            raise SlowStartFailure(successes, errors[0])
        remaining -= batch_size
        batch_size = min(2 * batch_size, remaining)
    return successes


# --- status -----------------------------------------------------------------------------------


def get_condition(status: ReplicaSetStatus, type_: str) -> ReplicaSetCondition | None:
    for condition in status.conditions:
        if condition.type == type_:
            return condition
    return None


def set_condition(status: ReplicaSetStatus, condition: ReplicaSetCondition) -> ReplicaSetStatus:
    """``status`` with ``condition`` in place of its type, unless one with that status and reason is there."""
    current = get_condition(status, condition.type)
    if current is not None and current.status == condition.status and current.reason == condition.reason:
        return status
    others = tuple(c for c in status.conditions if c.type != condition.type)
    return attrs.evolve(status, conditions=(*others, condition))


def remove_condition(status: ReplicaSetStatus, type_: str) -> ReplicaSetStatus:
    return attrs.evolve(status, conditions=tuple(c for c in status.conditions if c.type != type_))


@attrs.frozen
class PodCounts:
    """What a ReplicaSet's status reports of its active pods."""

    replicas: int
    fully_labeled: int
    ready: int
    available: int


def calculate_status(
    rs: ReplicaSet,
    pods: Sequence[Pod],
    terminating_pods: Sequence[Pod],
    manage_error: Exception | None,
    now: datetime,
) -> ReplicaSetStatus:
    """The status ``rs`` should report for its active ``pods`` and its ``terminating_pods``.

    observedGeneration is set on write.
    """
    return status_with_counts(rs, count_pods(rs, pods, now), len(terminating_pods), manage_error, now)


def count_pods(rs: ReplicaSet, pods: Sequence[Pod], now: datetime) -> PodCounts:
    """Count ``pods`` as the status of ``rs`` reports them."""
    template_labels = rs.spec.template.metadata.labels
    wanted = template_labels.items()
    min_ready_seconds = rs.spec.min_ready_seconds
    fully_labeled = ready = available = 0
    # Pods made from one template share its label mapping: the verdict of the last mapping is reused.
    last_labels: object = None
    last_full = False
    for pod in pods:
        labels = pod.metadata.labels
        if labels is not last_labels:
            last_labels, last_full = labels, labels.items() >= wanted
        if last_full:
            fully_labeled += 1
        if pod.status.ready:
            ready += 1
            if min_ready_seconds == 0 or is_pod_available(pod, min_ready_seconds, now):
                available += 1
    return PodCounts(len(pods), fully_labeled, ready, available)


def status_with_counts(
    rs: ReplicaSet, counts: PodCounts, terminating: int, manage_error: Exception | None, now: datetime
) -> ReplicaSetStatus:
    """The status ``rs`` should report for active pods that add up to ``counts``, and ``terminating``
    pods being deleted."""
    status = rs.status
    failure = get_condition(status, REPLICA_FAILURE)
    if manage_error is not None and failure is None:
        diff = counts.replicas - rs.spec.replicas
        reason = FAILED_CREATE if diff < 0 else FAILED_DELETE if diff > 0 else ""
        condition = ReplicaSetCondition(
            type=REPLICA_FAILURE,
            status="True",
            # Whole seconds, as a metav1.Time is stored (and as a serialising store would keep it).
            last_transition_time=now.replace(microsecond=0),
            reason=reason,
            message=str(manage_error),
        )
        status = set_condition(status, condition)
    elif manage_error is None and failure is not None:
        status = remove_condition(status, REPLICA_FAILURE)
    # Counts are plain ints and the rest is the stored status: nothing for converters to do.
    return with_fields(
        status,
        replicas=counts.replicas,
        fully_labeled_replicas=counts.fully_labeled,
        ready_replicas=counts.ready,
        available_replicas=counts.available,
        terminating_replicas=terminating,
    )


# --- claiming pods ----------------------------------------------------------------------------


def selector_of(rs: ReplicaSet) -> Selector:
    """The ReplicaSet's pod selector (none selects nothing); raises InvalidSelector if malformed."""
    if rs.spec.selector is None:
        return Selector.nothing()
    return rs.spec.selector.as_selector()


class PodControllerRefManager:
    """Claims pods for one controller object: adopt matching orphans, release non-matching pods it owns.

    Pods another controller controls are left alone. ``can_adopt`` runs at most once, before the first
    adoption; if it raises, every adoption fails with that reason. Make a new manager for each sync.
    """

    def __init__(
        self,
        store: Store,
        controller: Object,
        selector: Selector,
        can_adopt: Callable[[], Awaitable[None]] | None = None,
    ) -> None:
        self._store = store
        self._controller = controller
        self._selector = selector
        self._can_adopt = can_adopt
        self._adoption_checked = False
        self._adoption_error: Exception | None = None

    async def claim_pods(self, pods: Sequence[Pod], *filters: Callable[[Pod], bool]) -> list[Pod]:
        """The pods now controlled by the controller; raises an ExceptionGroup if any claim failed."""
        claimed: list[Pod] = []
        errors: list[Exception] = []

        def matches(pod: Pod) -> bool:
            return self._selector.matches(pod.metadata.labels) and all(check(pod) for check in filters)

        uid = self._controller.metadata.uid
        # Pods made from one template share its label mapping: one that matched matches again.
        matched_labels: object = None
        for pod in pods:
            meta = pod.metadata
            ref = meta.controller_ref()
            owned = ref is not None and ref.uid == uid and not filters
            # Already ours and still matching: the common case, decided without a write or a suspension.
            if owned and (meta.labels is matched_labels or self._selector.matches(meta.labels)):
                matched_labels = meta.labels
                claimed.append(pod)
                continue
            try:
                if await self._claim(pod, matches):
                    claimed.append(pod)
            except (StoreError, AdoptionRefused) as exc:
                errors.append(exc)
        if errors:
            raise ExceptionGroup("could not claim every pod", errors)
        return claimed

    async def _claim(self, pod: Pod, matches: Callable[[Pod], bool]) -> bool:
        controller = self._controller.metadata
        ref = pod.metadata.controller_ref()
        if ref is not None:
            if ref.uid != controller.uid:
                return False
            if matches(pod):
                # Already ours; keeping what we own takes no write, so it is fine even while deleting.
                return True
            if controller.deletion_timestamp is None:
                await self.release_pod(pod)
            return False
        if controller.deletion_timestamp is not None or not matches(pod):
            return False
        if pod.metadata.deletion_timestamp is not None:
            return False
        try:
            await self.adopt_pod(pod)
        except NotFound:
            return False
        return True

    async def adopt_pod(self, pod: Pod) -> Pod:
        """Make the controller the pod's controller, if it may adopt at all (checked once)."""
        await self._check_can_adopt(pod)
        ours = controller_ref(self._controller)
        # Like the strategic merge patch upstream sends: an existing reference with our uid is replaced.
        refs = [ref for ref in pod.metadata.owner_references if ref.uid != ours.uid]
        metadata = attrs.evolve(pod.metadata, owner_references=(*refs, ours))
        # The cached resourceVersion makes this conditional: a pod changed meanwhile is a Conflict.
        return await self._store.update(attrs.evolve(pod, metadata=metadata))

    async def release_pod(self, pod: Pod) -> None:
        """Remove the controller's reference from the pod; a pod that is gone needs no release."""
        uid = self._controller.metadata.uid
        log.info("releasing pod", pod=pod.metadata.name)
        refs = tuple(ref for ref in pod.metadata.owner_references if ref.uid != uid)
        with contextlib.suppress(NotFound):
            await self._store.update(
                attrs.evolve(pod, metadata=attrs.evolve(pod.metadata, owner_references=refs))
            )

    async def _check_can_adopt(self, pod: Pod) -> None:
        if not self._adoption_checked:
            self._adoption_checked = True
            if self._can_adopt is not None:
                try:
                    await self._can_adopt()
                except Exception as exc:
                    self._adoption_error = exc
        if self._adoption_error is not None:
            meta = pod.metadata
            raise AdoptionRefused(
                f"can't adopt Pod {meta.namespace}/{meta.name} ({meta.uid}): {self._adoption_error}"
            )


class AdoptionRefused(Exception):
    """The controller may not adopt now: re-reading it failed, or showed it is being deleted."""


async def recheck_deletion_timestamp(store: Store, rs: ReplicaSet) -> None:
    """Refuse adoption unless an uncached read shows ``rs`` still exists and is not being deleted."""
    meta = rs.metadata
    try:
        fresh = await store.get(ReplicaSet, meta.name, meta.namespace)
    except StoreError as exc:
        raise AdoptionRefused(f"can't recheck DeletionTimestamp: {exc}") from exc
    if fresh.metadata.uid != meta.uid:
        raise AdoptionRefused(
            f"can't recheck DeletionTimestamp: original ReplicaSet {meta.namespace}/{meta.name} is gone:"
            f" got uid {fresh.metadata.uid}, wanted {meta.uid}"
        )
    if fresh.metadata.deletion_timestamp is not None:
        raise AdoptionRefused(
            f"{meta.namespace}/{meta.name} has just been deleted at {fresh.metadata.deletion_timestamp}"
        )


# --- the controller -----------------------------------------------------------------------------


class ReplicaSetController(Controller):
    """Reconciles ReplicaSets: the right number of pods, adopted and released by selector, and status."""

    def __init__(self, manager: Manager, *, workers: int = 5, burst_replicas: int = BURST_REPLICAS) -> None:
        super().__init__("replicaset", self, kind=ReplicaSet, workers=workers)
        self._store = manager.store
        self._clock = manager.clock
        self._burst_replicas = burst_replicas
        self._recorder = EventRecorder(manager.store, manager.clock, COMPONENT)
        self._replica_sets = manager.informer(ReplicaSet)
        self._pods = manager.informer(Pod)
        self._replica_sets.ensure_index(BY_OWNER, index_by_owner_uid)
        self._pods.ensure_index(BY_CONTROLLER, index_by_controller)
        self._pods.ensure_tally(POD_FACTS, controller_bucket, pod_facts)
        self._pods.ensure_tally(POD_PLACEMENT, pod_namespace, pod_placement)
        self._pods.ensure_index(BY_CONTROLLER_NODE, index_active_by_controller_and_node)
        self._pods.ensure_tally(POD_RANK_FACTS, controller_bucket, pod_rank_facts)
        self._run_queue: WorkQueue[Request] | None = None
        self._expectations: UIDTrackingControllerExpectations[Request] = UIDTrackingControllerExpectations(
            self._clock
        )
        # Pod events lower expectations as well as enqueue, so they need handlers of their own; the
        # ReplicaSets themselves are enqueued by the base class, this handler only forgets expectations.
        self._replica_sets.add_handler(
            _Handler(_ignore, self.on_replica_set_updated, self.on_replica_set_deleted)
        )
        self._pods.add_handler(_Handler(self.on_pod_added, self.on_pod_updated, self.on_pod_deleted))

    @property
    def expectations(self) -> UIDTrackingControllerExpectations[Request]:
        """The expectations of the current run."""
        run = self._current_run()
        return self._expectations if run is None else run[1]

    def _current_run(self) -> tuple[WorkQueue[Request], UIDTrackingControllerExpectations[Request]] | None:
        """This run's queue and expectations; None while the controller is not running.

        Expectations live as long as one run: a restart (after a crash, or on regaining leadership) comes
        with a fresh queue, and starts with no expectations, as a restarted controller-manager does.
        """
        try:
            queue = self.queue
        except RuntimeError:
            return None
        if queue is not self._run_queue:
            self._run_queue = queue
            self._expectations = UIDTrackingControllerExpectations(self._clock)
        return queue, self._expectations

    # --- lookups --------------------------------------------------------------------------------

    def resolve_controller_ref(self, namespace: str, ref: OwnerReference) -> ReplicaSet | None:
        """The ReplicaSet a controller reference names, if it exists with that uid."""
        if ref.kind != ReplicaSet.kind:
            return None
        rs = self._replica_sets.get(ref.name, namespace)
        if rs is None or rs.metadata.uid != ref.uid:
            return None
        return rs

    def pod_replica_sets(self, pod: Pod) -> list[ReplicaSet]:
        """The ReplicaSets in the pod's namespace whose (non-empty, valid) selector matches it."""
        labels = pod.metadata.labels
        if not labels:
            return []
        matching = []
        for rs in self._replica_sets.list(namespace=pod.metadata.namespace):
            try:
                selector = selector_of(rs)
            except InvalidSelector:
                continue
            # A ReplicaSet with an empty selector would match everything: it matches nothing instead.
            if not selector.empty() and selector.matches(labels):
                matching.append(rs)
        if len(matching) > 1:
            log.error(
                "user error! more than one ReplicaSet is selecting pods with labels",
                labels=dict(labels),
                replica_sets=[rs.metadata.name for rs in matching],
            )
        return matching

    def replica_sets_with_same_controller(self, rs: ReplicaSet) -> list[ReplicaSet]:
        """The ReplicaSets controlled by ``rs``'s controller (``rs`` included); none if it has none."""
        ref = rs.metadata.controller_ref()
        if ref is None:
            return []
        return [
            sibling
            for sibling in self._replica_sets.by_index(BY_OWNER, ref.uid)
            if (sibling_ref := sibling.metadata.controller_ref()) is not None and sibling_ref.uid == ref.uid
        ]

    def claimable_pods(self, rs: ReplicaSet) -> list[Pod]:
        """The pods of the namespace that ``rs`` controls or nothing controls, in key order.

        Upstream lists the whole namespace, so that pods it controls that no longer match are found and
        released; pods other controllers control are skipped anyway. An index finds the same pods.
        """
        namespace = rs.metadata.namespace
        owned = self._pods.by_index(BY_CONTROLLER, f"{namespace}/{rs.metadata.uid}")
        orphans = self._pods.by_index(BY_CONTROLLER, f"{namespace}/")
        if not orphans:
            return owned
        return list(heapq.merge(owned, orphans, key=key_of))

    def settled_counts(self, rs: ReplicaSet, selector: Selector) -> PodCounts | None:
        """The counts of the active pods ``rs`` controls, when claiming pods would change nothing.

        That is when every one of them still matches the selector (nothing to release) and no active
        orphan does (nothing to adopt); the counts then come from the pod informer's tally without a
        pass over the pods. None when a claim is due, or when availability depends on the time
        (minReadySeconds), which only a pass over the pods can tell.
        """
        if rs.spec.min_ready_seconds > 0:
            return None
        namespace = rs.metadata.namespace
        for orphan in self._pods.by_index(BY_CONTROLLER, f"{namespace}/"):
            if is_pod_active(orphan) and selector.matches(orphan.metadata.labels):
                return None
        wanted = rs.spec.template.metadata.labels.items()
        replicas = fully_labeled = ready = 0
        tally = cast(Mapping[PodFacts, int], self._pods.tally(POD_FACTS, f"{namespace}/{rs.metadata.uid}"))
        for (active, is_ready, labels, _), count in tally.items():
            if not active:
                continue
            if not selector.matches(labels):
                return None
            replicas += count
            if labels.items() >= wanted:
                fully_labeled += count
            if is_ready:
                ready += count
        return PodCounts(replicas, fully_labeled, ready, ready)

    def terminating_count(self, rs: ReplicaSet, selector: Selector) -> int:
        """How many pods ``rs`` controls and selects are being deleted and not finished.

        FilterTerminatingPods then FilterClaimedPods: no claim is made for them, so they are counted
        as the cache has them, from the pod informer's tally.
        """
        tally = cast(
            Mapping[PodFacts, int], self._pods.tally(POD_FACTS, f"{rs.metadata.namespace}/{rs.metadata.uid}")
        )
        return sum(
            count
            for (_, _, labels, terminating), count in tally.items()
            if terminating and selector.matches(labels)
        )

    def related_pods_on_nodes(self, rs: ReplicaSet) -> dict[str, int]:
        """How many active pods each node has that a ReplicaSet with ``rs``'s controller selects.

        Those are the pods that make a pod doubled up on its node (getIndirectlyRelatedPods); the
        counts come from the pod informer's tally, not from a pass over the namespace's pods.
        """
        selectors = []
        for sibling in self.replica_sets_with_same_controller(rs):
            try:
                selectors.append(selector_of(sibling))
            except InvalidSelector:
                continue
        on_node: dict[str, int] = {}
        if not selectors:
            return on_node
        tally = cast(
            Mapping[PodPlacement | None, int], self._pods.tally(POD_PLACEMENT, rs.metadata.namespace)
        )
        # The tally has an entry per node for each label set, and pods share a few label sets.
        selected: dict[FrozenDict[str, str], bool] = {}
        for placement, count in tally.items():
            if placement is None:
                continue  # the inactive pods, which make no pod doubled up
            node, labels = placement
            verdict = selected.get(labels)
            if verdict is None:
                verdict = selected[labels] = any(selector.matches(labels) for selector in selectors)
            if verdict:
                on_node[node] = on_node.get(node, 0) + count
        return on_node

    def pods_to_delete(self, rs: ReplicaSet, count: int) -> list[Pod]:
        """`pods_to_delete_on_nodes` of the active pods ``rs`` controls, visiting only those it may pick.

        The tally of their ranking facts tells the first-rules key of the ``count``-th pod to go; only
        the pods on nodes holding pods at or below that key are read, through the per-node index. When
        the pods tied at that key are alike (as pods started together are), only as many of them are
        read as are deleted.
        """
        bucket = f"{rs.metadata.namespace}/{rs.metadata.uid}"
        tally = cast(Mapping[PodRankFacts, int], self._pods.tally(POD_RANK_FACTS, bucket))
        counts: dict[RankFacts, int] = {}
        for entry, number in tally.items():
            if entry is not None:
                facts = entry[0]
                counts[facts] = counts.get(facts, 0) + number
        related = self.related_pods_on_nodes(rs)
        rank_of = related.get
        # Facts differ by node, their keys only by the node's rank: the cut is found among the few keys.
        keys: dict[RankFacts, FirstRulesKey] = {}
        by_key: dict[FirstRulesKey, int] = {}
        for facts, number in counts.items():
            key = keys[facts] = first_rules_key(facts, rank_of)
            by_key[key] = by_key.get(key, 0) + number
        boundary = cut_key(by_key.items(), count)
        if boundary is None:
            # Deleting them all: no need to rank.
            return filter_active_pods(self._pods.by_index(BY_CONTROLLER, bucket))[:count]
        if len({entry[1] for entry in tally if entry is not None and keys[entry[0]] == boundary}) == 1:
            return self._pods_to_delete_of_alike_ties(bucket, keys, related, boundary, count)
        nodes = {facts[0] for facts, key in keys.items() if key <= boundary}
        # Every pod of those nodes: the ranking reads each one's facts once and passes over those
        # beyond the cut.
        candidates = [
            pod for node in nodes for pod in self._pods.by_index(BY_CONTROLLER_NODE, f"{bucket}/{node}")
        ]
        candidates.sort(key=key_of)
        return pods_to_delete_of_candidates(candidates, related, boundary, count, self._clock.now())

    def _pods_to_delete_of_alike_ties(
        self,
        bucket: str,
        keys: Mapping[RankFacts, FirstRulesKey],
        related: Mapping[str, int],
        boundary: FirstRulesKey,
        count: int,
    ) -> list[Pod]:
        """`pods_to_delete`, when the pods tied at the cut are alike on every later rule.

        Alike pods all rank equal, so the ranking keeps the first of them in key order: those are read
        (as they come, node by node, merged), not the whole tied class. The pods before the cut go too.
        """
        rank_of = related.get
        pods = self._pods

        def key_at(pod: Pod) -> FirstRulesKey:
            return first_rules_key(rank_facts(pod), rank_of)

        # Where each node's pods fall against the cut, from the tally: a node whose pods all fall on
        # one side is taken (or passed over) whole, without a look at its pods.
        sides: dict[str, set[int]] = {}
        for facts, key in keys.items():
            side = -1 if key < boundary else 0 if key == boundary else 1
            sides.setdefault(facts[0], set()).add(side)
        chosen: list[Pod] = []
        tied: list[Sequence[Key]] = []
        for node, on_node in sides.items():
            if on_node == _ABOVE:
                continue
            if on_node == _BELOW:
                chosen.extend(pods.by_index(BY_CONTROLLER_NODE, f"{bucket}/{node}"))
            elif on_node == _TIED:
                tied.append(pods.keys_by_index(BY_CONTROLLER_NODE, f"{bucket}/{node}"))
            else:
                tied_here: list[Key] = []
                for pod in pods.by_index(BY_CONTROLLER_NODE, f"{bucket}/{node}"):
                    key = key_at(pod)
                    if key < boundary:
                        chosen.append(pod)
                    elif key == boundary:
                        tied_here.append(key_of(pod))
                tied.append(tied_here)
        # The tied pods are alike: the first of them in key order go, merged from each node's sorted keys.
        for namespace, name in itertools.islice(heapq.merge(*tied), count - len(chosen)):
            chosen.append(cast(Pod, pods.get(name, namespace)))
        chosen.sort(key=key_of)
        return deletion_order(chosen, related, self._clock.now())

    # --- events -----------------------------------------------------------------------------------

    def on_replica_set_updated(self, old: ReplicaSet, new: ReplicaSet) -> None:
        if old.metadata.uid != new.metadata.uid:
            # Deleted and recreated between two observations: the old one's delete was never seen.
            self.on_replica_set_deleted(old)

    def on_replica_set_deleted(self, obj: ReplicaSet | DeletedFinalStateUnknown[Any]) -> None:
        """Forget the ReplicaSet's expectations, so one recreated under its name starts clean."""
        run = self._current_run()
        if run is not None:
            run[1].delete_expectations(request_for(final_state(obj)))

    def on_pod_added(self, pod: Pod) -> None:
        """A pod's creation is observed: its controller's expectations drop; orphans wake matchers."""
        if pod.metadata.deletion_timestamp is not None:
            # Seen for the first time already being deleted (e.g. after a restart): not a creation.
            self.on_pod_deleted(pod)
            return
        run = self._current_run()
        if run is None:
            return
        queue, expectations = run
        ref = pod.metadata.controller_ref()
        if ref is not None:
            rs = self.resolve_controller_ref(pod.metadata.namespace, ref)
            if rs is not None:
                request = request_for(rs)
                expectations.creation_observed(request)
                queue.add(request)
            return
        # An orphan: no one waits for its creation, but whoever matches may want to adopt it.
        for rs in self.pod_replica_sets(pod):
            queue.add(request_for(rs))

    def on_pod_updated(self, old: Pod, new: Pod) -> None:
        """Wake the old and new controllers (or matching ReplicaSets of an orphan) of a changed pod."""
        if old.metadata.resource_version == new.metadata.resource_version:
            return  # a resync: nothing changed
        labels_changed = old.metadata.labels != new.metadata.labels
        if new.metadata.deletion_timestamp is not None:
            # A graceful delete begins: replace the pod now rather than when the kubelet removes it.
            self.on_pod_deleted(new)
            if labels_changed:
                self.on_pod_deleted(old)
            return
        run = self._current_run()
        if run is None:
            return
        queue, _ = run
        new_ref, old_ref = new.metadata.controller_ref(), old.metadata.controller_ref()
        ref_changed = new_ref != old_ref
        if ref_changed and old_ref is not None:
            previous = self.resolve_controller_ref(old.metadata.namespace, old_ref)
            if previous is not None:
                queue.add(request_for(previous))
        if new_ref is not None:
            rs = self.resolve_controller_ref(new.metadata.namespace, new_ref)
            if rs is None:
                return
            request = request_for(rs)
            queue.add(request)
            if not is_pod_ready(old) and is_pod_ready(new) and rs.spec.min_ready_seconds > 0:
                # Come back once the pod can count as available; the extra second absorbs clock skew.
                queue.add_after(request, rs.spec.min_ready_seconds + 1.0)
            return
        if labels_changed or ref_changed:
            for rs in self.pod_replica_sets(new):
                queue.add(request_for(rs))

    def on_pod_deleted(self, obj: Pod | DeletedFinalStateUnknown[Any]) -> None:
        """A pod's deletion is observed (once, however often reported): its controller is woken."""
        pod = final_state(obj)
        ref = pod.metadata.controller_ref()
        if ref is None:
            return  # nobody cares about an orphan going away
        run = self._current_run()
        if run is None:
            return
        queue, expectations = run
        rs = self.resolve_controller_ref(pod.metadata.namespace, ref)
        if rs is None:
            return
        request = request_for(rs)
        expectations.deletion_observed(request, pod_key(pod))
        queue.add(request)

    # --- sync -------------------------------------------------------------------------------------

    async def reconcile(self, request: Request) -> Result | None:
        expectations = self.expectations
        rs = self._replica_sets.get(request.name, request.namespace)
        if rs is None:
            expectations.delete_expectations(request)
            return None
        # Expectations first, pods second: a pod observed in between then counts in both.
        needs_sync = expectations.satisfied_expectations(request)
        try:
            selector = selector_of(rs)
        except InvalidSelector as exc:
            log.error("invalid selector; not syncing", error=str(exc))
            return None
        settled = self.settled_counts(rs, selector)
        if settled is None:
            claimed: list[Pod] | None = await self._claim_pods(
                rs, selector, filter_active_pods(self.claimable_pods(rs))
            )
            count = len(claimed or ())
        else:
            # Claiming would change nothing: the pods are the active ones it controls, visited only
            # to choose which to delete.
            claimed, count = None, settled.replicas
        manage_error: Exception | None = None
        if needs_sync and rs.metadata.deletion_timestamp is None:
            manage_error = await self._manage_replicas(count, claimed, rs, request, expectations)
        now = self._clock.now()
        counts = settled if settled is not None else count_pods(rs, claimed or (), now)
        status = status_with_counts(rs, counts, self.terminating_count(rs, selector), manage_error, now)
        updated = await self._update_status(rs, status)
        if manage_error is not None:
            raise manage_error
        return self._requeue(updated, request, expectations)

    def _requeue(
        self, rs: ReplicaSet, request: Request, expectations: UIDTrackingControllerExpectations[Request]
    ) -> Result | None:
        delays = []
        spec, status = rs.spec, rs.status
        all_ready = status.ready_replicas == spec.replicas
        if spec.min_ready_seconds > 0 and all_ready and status.available_replicas != spec.replicas:
            # A last line of defence should the availability requeue from the pod event go missing.
            # Upstream waits exactly minReadySeconds and relies on processing latency to land past the
            # (strict) availability boundary; on a virtual clock nothing takes time, so the requeue gets
            # the same extra second the pod-ready requeue has.
            delays.append(spec.min_ready_seconds + 1.0)
        if not expectations.satisfied_expectations(request):
            # Upstream relies on the periodic informer resync to come back once expectations expire;
            # here nothing else would, should an event they wait for never be delivered.
            expires_in = expectations.expires_in(request)
            if expires_in is not None:
                delays.append(expires_in + 1.0)
        return Result(requeue_after=min(delays)) if delays else None

    async def _claim_pods(self, rs: ReplicaSet, selector: Selector, pods: Sequence[Pod]) -> list[Pod]:
        async def can_adopt() -> None:
            await recheck_deletion_timestamp(self._store, rs)

        return await PodControllerRefManager(self._store, rs, selector, can_adopt).claim_pods(pods)

    async def _manage_replicas(
        self,
        count: int,
        claimed: Sequence[Pod] | None,
        rs: ReplicaSet,
        request: Request,
        expectations: UIDTrackingControllerExpectations[Request],
    ) -> Exception | None:
        """Create or delete pods towards spec.replicas; the first error, if any (expectations kept right).

        ``count`` active pods are claimed: ``claimed``, or when None, the active pods ``rs`` controls.
        """
        diff = count - rs.spec.replicas
        if diff < 0:
            wanted = min(-diff, self._burst_replicas)
            # Expect them before creating any: the informer may report a pod before create returns.
            expectations.expect_creations(request, wanted)
            log.info("too few replicas", need=rs.spec.replicas, creating=wanted)
            try:
                await slow_start_batch(wanted, SLOW_START_INITIAL_BATCH_SIZE, lambda: self._create_pod(rs))
            except SlowStartFailure as failure:
                skipped = wanted - failure.successes
                log.info("slow-start failure; skipping creation of pods", skipped=skipped)
                # The informer will never report the creates that failed or were not tried.
                expectations.lower_expectations(request, skipped, 0)
                return failure.error
            return None
        if diff > 0:
            surplus = min(diff, self._burst_replicas)
            log.info("too many replicas", need=rs.spec.replicas, deleting=surplus)
            if claimed is None:
                victims = self.pods_to_delete(rs, surplus)
            else:
                victims = pods_to_delete_on_nodes(
                    claimed, self.related_pods_on_nodes(rs), surplus, self._clock.now()
                )
            expectations.expect_deletions(request, [pod_key(pod) for pod in victims])
            errors: list[Exception] = []
            for pod in victims:
                try:
                    await self._delete_pod(rs, pod)
                except NotFound:
                    expectations.deletion_observed(request, pod_key(pod))
                except PodControlError as exc:
                    # The informer will never report a delete that did not happen.
                    expectations.deletion_observed(request, pod_key(pod))
                    errors.append(exc)
            return errors[0] if errors else None
        return None

    async def _create_pod(self, rs: ReplicaSet) -> None:
        pod = pod_from_template(rs.spec.template, rs, controller_ref(rs))
        if not pod.metadata.labels:
            raise PodControlError("unable to create pods, no labels")
        try:
            created = await self._store.create(pod)
        except StoreError as exc:
            if namespace_terminating(exc):
                # Every create will fail until the namespace is gone: nothing to do, nothing to report.
                return
            await self._recorder.event(rs, WARNING, FAILED_CREATE, f"Error creating: {exc}")
            raise
        await self._recorder.event(rs, NORMAL, SUCCESSFUL_CREATE, f"Created pod: {created.metadata.name}")

    async def _delete_pod(self, rs: ReplicaSet, pod: Pod) -> None:
        name = pod.metadata.name
        try:
            await self._store.delete(Pod, name, pod.metadata.namespace)
        except NotFound:
            raise
        except StoreError as exc:
            await self._recorder.event(rs, WARNING, FAILED_DELETE, f"Error deleting: {exc}")
            raise PodControlError(f"unable to delete pods: {exc}") from exc
        await self._recorder.event(rs, NORMAL, SUCCESSFUL_DELETE, f"Deleted pod: {name}")

    async def _update_status(self, rs: ReplicaSet, status: ReplicaSetStatus) -> ReplicaSet:
        """Write ``status`` (with observedGeneration) if it changed, retrying once on a fresh read."""
        generation = rs.metadata.generation
        if status == rs.status and generation == rs.status.observed_generation:
            return rs
        status = with_fields(status, observed_generation=generation)
        current, retries = rs, STATUS_UPDATE_RETRIES
        while True:
            try:
                return await self._store.update_status(with_fields(current, status=status))
            except StoreError:
                if retries == 0:
                    raise
                retries -= 1
                current = await self._store.get(ReplicaSet, rs.metadata.name, rs.metadata.namespace)


def _ignore(obj: object) -> None:
    pass


class _Handler(Generic[M]):
    """Informer notifications passed to three functions."""

    def __init__(
        self,
        on_add: Callable[[M], None],
        on_update: Callable[[M, M], None],
        on_delete: Callable[[M | DeletedFinalStateUnknown[Any]], None],
    ) -> None:
        self.on_add = on_add
        self.on_update = on_update
        self.on_delete = on_delete
