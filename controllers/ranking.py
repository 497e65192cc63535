"""Which pods go first when a ReplicaSet scales down: Kubernetes' ``ActivePodsWithRanks`` ordering.

Ported from pkg/controller/controller_utils.go (``ActivePodsWithRanks.Less``) and
pkg/controller/replicaset/replica_set.go (``getPodsRankedByRelatedPodsOnSameNode``, ``getPodsToDelete``).
A pod sorts earlier — is deleted sooner — when, rule by rule, the first rule that tells two pods apart
says so:

1. unassigned to a node before assigned;
2. phase Pending before Unknown before Running;
3. not ready before ready;
4. lower ``controller.kubernetes.io/pod-deletion-cost`` before higher;
5. higher rank (more active related pods on the same node: doubled up) before lower;
6. when both are ready, ready more recently before ready longer (in log₂ buckets of the time since,
   ties broken by uid, when logarithmic scale-down is on — the Kubernetes default);
7. more container restarts before fewer;
8. created more recently before created earlier (log₂ buckets and uid again).

Missing timestamps count as the zero time, which sorts first. This module only orders pods; it neither
reads caches nor deletes anything.
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime, timedelta

import attrs

from controllers.podutil import is_pod_active, is_pod_ready, ready_condition
from store.models import Pod

#: The annotation users set to say how much it costs to delete a pod (core.PodDeletionCost).
POD_DELETION_COST = "controller.kubernetes.io/pod-deletion-cost"

_INT32_MIN = -(2**31)
_INT32_MAX = 2**31 - 1

#: podPhaseToOrdinal: a phase not listed (including none yet) ranks as Pending.
_PHASE_ORDINAL = {"Pending": 0, "Unknown": 1, "Running": 2}


def deletion_cost(pod: Pod) -> int:
    """The pod's deletion cost: the annotation as an int32, 0 when absent or malformed.

    As in GetDeletionCostFromPodAnnotations, a leading ``+`` or leading zeros make the value invalid.
    """
    value = pod.metadata.annotations.get(POD_DELETION_COST)
    if value is None or not _valid_first_digit(value):
        return 0
    digits = value[1:] if value.startswith("-") else value
    if not digits.isascii() or not digits.isdigit():
        return 0
    cost = int(value)
    return cost if _INT32_MIN <= cost <= _INT32_MAX else 0


def _valid_first_digit(value: str) -> bool:
    if not value:
        return False
    first = value[0]
    return first == "-" or value == "0" or "1" <= first <= "9"


def pod_ready_time(pod: Pod) -> datetime | None:
    """When a ready pod turned ready (None when not ready, or when the condition has no time)."""
    if not is_pod_ready(pod):
        return None
    condition = ready_condition(pod)
    return None if condition is None else condition.last_transition_time


def max_container_restarts(pod: Pod) -> int:
    return max((status.restart_count for status in pod.status.container_statuses), default=0)


def logarithmic_rank_diff(first: datetime, second: datetime, now: datetime) -> int:
    """How many log₂ buckets of age (in nanoseconds, as Go measures it) separate two instants.

    Negative when ``first`` is the more recent. An instant at or after ``now`` is in bucket -1.
    """
    return _age_bucket(now - first) - _age_bucket(now - second)


def _age_bucket(age: timedelta) -> int:
    nanoseconds = (age.days * 86_400 + age.seconds) * 1_000_000_000 + age.microseconds * 1_000
    return int(math.log2(nanoseconds)) if nanoseconds > 0 else -1


def _after_or_zero(first: datetime | None, second: datetime | None) -> bool:
    """afterOrZero: the zero time first, then the later instant first."""
    if first is None or second is None:
        return first is None
    return first > second


class _Ranked:
    """One pod's facts for the ranking, derived once; ``<`` is ``ActivePodsWithRanks.Less``.

    A scale-down ranks every active pod of a ReplicaSet: deriving readiness, cost, restarts and age
    buckets once per pod, instead of once per comparison, keeps the comparisons themselves cheap.
    ``==`` means neither goes first, so sorts and `heapq.nsmallest` keep such pods in their order.
    """

    __slots__ = (
        "assigned",
        "cost",
        "created",
        "created_bucket",
        "phase",
        "pod",
        "rank",
        "ready",
        "ready_bucket",
        "ready_since",
        "restarts",
        "uid",
        "use_buckets",
    )

    def __init__(self, pod: Pod, rank: int, now: datetime | None, logarithmic: bool) -> None:
        status, meta = pod.status, pod.metadata
        self.pod = pod
        self.assigned = bool(pod.spec.node_name)
        self.phase = _PHASE_ORDINAL.get(status.phase, 0)
        self.ready = ready = status.ready  # is_pod_ready
        annotations = meta.annotations
        self.cost = deletion_cost(pod) if annotations and POD_DELETION_COST in annotations else 0
        self.rank = rank
        self.ready_since = pod_ready_time(pod) if ready else None
        self.restarts = max_container_restarts(pod) if status.container_statuses else 0
        self.created = meta.creation_timestamp
        self.uid = meta.uid
        self.use_buckets = use_buckets = logarithmic and now is not None
        self.ready_bucket = _bucket_at(now, self.ready_since) if use_buckets and ready else 0
        self.created_bucket = _bucket_at(now, self.created) if use_buckets else 0

    def __lt__(self, other: _Ranked) -> bool:
        if self.assigned != other.assigned:
            return not self.assigned
        if self.phase != other.phase:
            return self.phase < other.phase
        if self.ready != other.ready:
            return not self.ready
        if self.cost != other.cost:
            return self.cost < other.cost
        if self.rank != other.rank:
            return self.rank > other.rank
        if self.ready and other.ready and self.ready_since != other.ready_since:
            return self._newer_first(
                other, self.ready_since, other.ready_since, self.ready_bucket, other.ready_bucket
            )
        if self.restarts != other.restarts:
            return self.restarts > other.restarts
        if self.created != other.created:
            return self._newer_first(
                other, self.created, other.created, self.created_bucket, other.created_bucket
            )
        return False

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _Ranked) and not self < other and not other < self

    __hash__ = None  # type: ignore[assignment]

    def _newer_first(
        self,
        other: _Ranked,
        mine: datetime | None,
        theirs: datetime | None,
        my_bucket: int,
        their_bucket: int,
    ) -> bool:
        if not self.use_buckets or mine is None or theirs is None:
            return _after_or_zero(mine, theirs)
        if my_bucket == their_bucket:
            # Pods of one age bucket are told apart by uid: arbitrary, but the same on every sync.
            return self.uid < other.uid
        return my_bucket < their_bucket


def _bucket_at(now: datetime | None, instant: datetime | None) -> int:
    return 0 if now is None or instant is None else _age_bucket(now - instant)


@attrs.frozen
class ActivePodsWithRanks:
    """Pods with their ranks, ordered for deletion by `less` (``now`` None turns the buckets off)."""

    pods: Sequence[Pod]
    ranks: Sequence[int]
    now: datetime | None
    logarithmic_scale_down: bool = True
    _ranked: list[_Ranked] = attrs.field(init=False, eq=False, repr=False)

    def __attrs_post_init__(self) -> None:
        if len(self.pods) != len(self.ranks):
            raise ValueError("every pod needs a rank")
        ranked = [
            _Ranked(pod, rank, self.now, self.logarithmic_scale_down)
            for pod, rank in zip(self.pods, self.ranks, strict=True)
        ]
        object.__setattr__(self, "_ranked", ranked)

    def less(self, i: int, j: int) -> bool:
        """Whether pod ``i`` should be deleted before pod ``j``."""
        return self._ranked[i] < self._ranked[j]

    def sorted(self) -> list[Pod]:
        """The pods, first to be deleted first (a stable sort: equal pods keep their order)."""
        return [ranked.pod for ranked in sorted(self._ranked)]

    def first(self, count: int) -> list[Pod]:
        """The first ``count`` pods of `sorted`, found without sorting them all."""
        return [ranked.pod for ranked in heapq.nsmallest(count, self._ranked)]


def related_pods_on_nodes(related: Sequence[Pod]) -> dict[str, int]:
    """How many active pods of ``related`` each node (spec.nodeName, "" for none) has."""
    on_node: dict[str, int] = {}
    for pod in related:
        if is_pod_active(pod):
            on_node[pod.spec.node_name] = on_node.get(pod.spec.node_name, 0) + 1
    return on_node


def ranked_by_related_pods_on_same_node(pods: Sequence[Pod], related: Sequence[Pod]) -> list[int]:
    """Each pod's rank: how many active pods of ``related`` share its node (its spec.nodeName)."""
    on_node = related_pods_on_nodes(related)
    return [on_node.get(pod.spec.node_name, 0) for pod in pods]


def pods_to_delete(
    pods: Sequence[Pod], related: Sequence[Pod], count: int, now: datetime | None
) -> list[Pod]:
    """The ``count`` pods of ``pods`` to delete first; ``related`` are the pods that decide doubling up."""
    return pods_to_delete_on_nodes(pods, related_pods_on_nodes(related), count, now)


def pods_to_delete_on_nodes(
    pods: Sequence[Pod], related_on_node: Mapping[str, int], count: int, now: datetime | None
) -> list[Pod]:
    """`pods_to_delete`, given how many active related pods each node has."""
    if count >= len(pods):
        # Deleting them all: no need to rank.
        return list(pods[:count])
    if count <= 0:
        return []
    # Rules 1-5 are a plain lexicographic key: pods it puts before the count-th pod's key are deleted
    # whatever the later rules say, and pods it puts after are kept. Only the pods tied with the
    # count-th on that key need the full comparison, so most pods are never fully ranked.
    rank_of = related_on_node.get
    prefixes = [first_rules_key(rank_facts(pod), rank_of) for pod in pods]
    return _choose(pods, prefixes, heapq.nsmallest(count, prefixes)[-1], count, now)


#: What rules 1-4 look at in a pod: its node name, phase ordinal, readiness and deletion cost.
RankFacts = tuple[str, int, bool, int]
#: What rules 6-8 look at in a pod: when it turned ready (None unless ready), restarts, creation time.
RankTail = tuple[datetime | None, int, datetime | None]
#: The key of rules 1-5, compared as a tuple: smaller is deleted sooner.
FirstRulesKey = tuple[bool, int, bool, int, int]


def rank_facts(pod: Pod) -> RankFacts:
    """What the first rules of the ranking read of ``pod`` (rule 5 adds its node's doubled-up count)."""
    status = pod.status
    annotations = pod.metadata.annotations
    cost = deletion_cost(pod) if annotations and POD_DELETION_COST in annotations else 0
    return (pod.spec.node_name, _PHASE_ORDINAL.get(status.phase, 0), status.ready, cost)


def rank_tail(pod: Pod) -> RankTail:
    """What the later rules of the ranking read of ``pod``, bar its uid.

    Pods with the same first-rules key and the same tail are alike: neither goes before the other,
    whatever the time and however their uids compare (uids only break ties between different times).
    """
    status = pod.status
    ready_since = pod_ready_time(pod) if status.ready else None
    restarts = max_container_restarts(pod) if status.container_statuses else 0
    return (ready_since, restarts, pod.metadata.creation_timestamp)


def first_rules_key(facts: RankFacts, rank_of: Callable[[str, int], int]) -> FirstRulesKey:
    """The key of rules 1-5 for a pod with ``facts``; ``rank_of(node, 0)`` is its node's rank."""
    node, phase, ready, cost = facts
    return (bool(node), phase, ready, cost, -rank_of(node, 0))


def boundary_key(
    counts: Mapping[RankFacts, int], related_on_node: Mapping[str, int], count: int
) -> FirstRulesKey | None:
    """The first-rules key of the ``count``-th pod to delete, from how many pods have each facts.

    None when there are no more than ``count`` pods. The same key as ranking the pods one by one.
    """
    rank_of = related_on_node.get
    return cut_key(((first_rules_key(facts, rank_of), number) for facts, number in counts.items()), count)


def cut_key(numbers: Iterable[tuple[FirstRulesKey, int]], count: int) -> FirstRulesKey | None:
    """`boundary_key`, from how many pods have each first-rules key (a key may come more than once)."""
    ordered = sorted(numbers)
    if sum(number for _, number in ordered) <= count:
        return None
    seen = 0
    for key, number in ordered:
        seen += number
        if seen >= count:
            return key
    return None  # not reached: there are more than count pods


def pods_to_delete_of_candidates(
    candidates: Sequence[Pod],
    related_on_node: Mapping[str, int],
    boundary: FirstRulesKey,
    count: int,
    now: datetime | None,
) -> list[Pod]:
    """`pods_to_delete_on_nodes` of a larger set of more than ``count`` pods, given ``boundary``.

    ``boundary`` is the set's `boundary_key`; ``candidates`` are pods of the set, in its order, with
    at least every one whose first-rules key is at most that: the others would never be chosen, and
    any among the candidates are passed over.
    """
    rank_of = related_on_node.get
    prefixes = [first_rules_key(rank_facts(pod), rank_of) for pod in candidates]
    return _choose(candidates, prefixes, boundary, count, now)


def _choose(
    pods: Sequence[Pod],
    prefixes: Sequence[FirstRulesKey],
    boundary: FirstRulesKey,
    count: int,
    now: datetime | None,
) -> list[Pod]:
    # As ActivePodsWithRanks(...).first over the tied pods, then .sorted over the chosen ones, each
    # pod's facts derived once.
    ranked: dict[int, _Ranked] = {}
    for index, prefix in enumerate(prefixes):
        if prefix <= boundary:
            ranked[index] = _Ranked(pods[index], -prefix[4], now, True)
    tied = [ranked[index] for index, prefix in enumerate(prefixes) if prefix == boundary]
    below = len(ranked) - len(tied)
    chosen_tied = {id(one) for one in heapq.nsmallest(count - below, tied)}
    chosen = [one for index, one in ranked.items() if prefixes[index] < boundary or id(one) in chosen_tied]
    return [one.pod for one in sorted(chosen)]


def deletion_order(
    pods: Sequence[Pod], related_on_node: Mapping[str, int], now: datetime | None
) -> list[Pod]:
    """``pods`` sorted first to be deleted first (stably), ranked by ``related_on_node``.

    With the pods a cut chose, in their order, this is the order `pods_to_delete_on_nodes` gives them:
    a caller that found them some other way (see `rank_tail`) ranks only those.
    """
    rank_of = related_on_node.get
    return [
        one.pod for one in sorted(_Ranked(pod, rank_of(pod.spec.node_name, 0), now, True) for pod in pods)
    ]
