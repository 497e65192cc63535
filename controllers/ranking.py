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

import functools
import math
from collections.abc import Sequence
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


@attrs.frozen
class ActivePodsWithRanks:
    """Pods with their ranks, ordered for deletion by `less` (``now`` None turns the buckets off)."""

    pods: Sequence[Pod]
    ranks: Sequence[int]
    now: datetime | None
    logarithmic_scale_down: bool = True

    def __attrs_post_init__(self) -> None:
        if len(self.pods) != len(self.ranks):
            raise ValueError("every pod needs a rank")

    def less(self, i: int, j: int) -> bool:
        """Whether pod ``i`` should be deleted before pod ``j``."""
        first, second = self.pods[i], self.pods[j]
        first_node, second_node = first.spec.node_name, second.spec.node_name
        if first_node != second_node and (not first_node or not second_node):
            return not first_node
        first_phase = _PHASE_ORDINAL.get(first.status.phase, 0)
        second_phase = _PHASE_ORDINAL.get(second.status.phase, 0)
        if first_phase != second_phase:
            return first_phase < second_phase
        first_ready, second_ready = is_pod_ready(first), is_pod_ready(second)
        if first_ready != second_ready:
            return not first_ready
        first_cost, second_cost = deletion_cost(first), deletion_cost(second)
        if first_cost != second_cost:
            return first_cost < second_cost
        if self.ranks[i] != self.ranks[j]:
            return self.ranks[i] > self.ranks[j]
        if first_ready and second_ready:
            first_since, second_since = pod_ready_time(first), pod_ready_time(second)
            if first_since != second_since:
                return self._newer_first(first, first_since, second, second_since)
        first_restarts, second_restarts = max_container_restarts(first), max_container_restarts(second)
        if first_restarts != second_restarts:
            return first_restarts > second_restarts
        first_created = first.metadata.creation_timestamp
        second_created = second.metadata.creation_timestamp
        if first_created != second_created:
            return self._newer_first(first, first_created, second, second_created)
        return False

    def _newer_first(
        self, first: Pod, first_time: datetime | None, second: Pod, second_time: datetime | None
    ) -> bool:
        if not self.logarithmic_scale_down or self.now is None or first_time is None or second_time is None:
            return _after_or_zero(first_time, second_time)
        diff = logarithmic_rank_diff(first_time, second_time, self.now)
        if diff == 0:
            # Pods of one age bucket are told apart by uid: arbitrary, but the same on every sync.
            return first.metadata.uid < second.metadata.uid
        return diff < 0

    def sorted(self) -> list[Pod]:
        """The pods, first to be deleted first (a stable sort: equal pods keep their order)."""

        def compare(i: int, j: int) -> int:
            if self.less(i, j):
                return -1
            return 1 if self.less(j, i) else 0

        order = sorted(range(len(self.pods)), key=functools.cmp_to_key(compare))
        return [self.pods[index] for index in order]


def ranked_by_related_pods_on_same_node(pods: Sequence[Pod], related: Sequence[Pod]) -> list[int]:
    """Each pod's rank: how many active pods of ``related`` share its node (its spec.nodeName)."""
    on_node: dict[str, int] = {}
    for pod in related:
        if is_pod_active(pod):
            on_node[pod.spec.node_name] = on_node.get(pod.spec.node_name, 0) + 1
    return [on_node.get(pod.spec.node_name, 0) for pod in pods]


def pods_to_delete(
    pods: Sequence[Pod], related: Sequence[Pod], count: int, now: datetime | None
) -> list[Pod]:
    """The ``count`` pods of ``pods`` to delete first; ``related`` are the pods that decide doubling up."""
    if count >= len(pods):
        # Deleting them all: no need to rank.
        return list(pods[:count])
    ranks = ranked_by_related_pods_on_same_node(pods, related)
    return ActivePodsWithRanks(pods, ranks, now).sorted()[:count]
