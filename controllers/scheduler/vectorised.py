"""The vectorised scheduling path: the same decisions as `ReferenceAlgorithm`, over numpy arrays.

`VectorisedAlgorithm` keeps one slot per node, in the cache's node order, in numpy arrays — what each
node has allocatable and what its pods request (cpu millicores, memory and ephemeral-storage bytes,
pods), whether it is cordoned, whether it has host ports in use — and per-distinct-value tables for
what is costly to compare: each node's taints map to an id of its distinct taint set, each label key
that some pod selects on becomes a column of value ids. The filters and the LeastAllocated and
BalancedAllocation scores are then array operations over all candidate nodes at once; TaintToleration
and NodeAffinity run the reference plugin functions once per distinct taint set or per distinct
combination of the selected labels, on a representative node, and spread the verdict to the nodes
sharing it. The arrays follow the cache incrementally: a `TrackingCache` (a `SchedulerCache` that notes
which nodes changed) tells which slots to refresh, so a decision costs array work plus a few slot
updates, never a rebuild; a plain snapshot of node infos is diffed by identity instead.

One semantics with the reference path, by construction and by property test: the same candidate
order (rotating start index, percentageOfNodesToScore with its early stop), the first failing filter
decides a node's verdict with upstream's reasons, the same `FitError` diagnosis and message, scores in
Go's integer arithmetic (int64 truncation in LeastAllocated, BalancedAllocation's float formula
evaluated in the same order, DefaultNormalizeScore's integer division), and `select_host`'s tie-break
drawing from the seeded stream exactly as often and in the same order. Amounts are int64, so
values above 2**53 (9 PB of memory) would round differently in BalancedAllocation and above 2**63
overflow; the reference's Python integers do neither.

Not here: the plugins' rules themselves (`plugins`, reused, never restated), the cache (`cache`), the
scheduling loop (`scheduler`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Literal, TypeVar

import numpy as np
import numpy.typing as npt

from controllers.scheduler.cache import NodeInfo, SchedulerCache, zone_key
from controllers.scheduler.plugins import (
    ERR_REASON_NODE_AFFINITY,
    ERR_REASON_NODE_NAME,
    ERR_REASON_NODE_PORTS,
    ERR_REASON_TOO_MANY_PODS,
    ERR_REASON_UNSCHEDULABLE,
    MAX_NODE_SCORE,
    NODE_AFFINITY,
    NODE_NAME,
    NODE_PORTS,
    NODE_RESOURCES_BALANCED_ALLOCATION,
    NODE_RESOURCES_FIT,
    NODE_UNSCHEDULABLE,
    SCORE_PLUGINS,
    TAINT_TOLERATION,
    NodeSelectorMatcher,
    PodInfo,
    Rejection,
    is_best_effort,
    node_affinity_score,
    node_ports,
    taint_toleration,
    taint_toleration_score,
)
from controllers.scheduler.scheduler import (
    Diagnosis,
    FitError,
    NoNodesAvailable,
    ReferenceAlgorithm,
    ScheduleResult,
    SchedulingError,
    num_feasible_nodes_to_find,
)
from store.models import Node, Pod, Toleration
from store.seams import Rng

__all__ = ["AUTO_MIN_NODES", "TrackingCache", "VectorisedAlgorithm", "new_algorithm", "select_host_array"]

#: Below this many nodes `new_algorithm("auto")` decides with the reference path: array set-up costs
#: more than it saves on small clusters (measured crossover, benchmarks/w2_scheduler.py).
AUTO_MIN_NODES = 200

Int64Array = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]
T = TypeVar("T")

_WEIGHTS = {plugin.name: plugin.weight for plugin in SCORE_PLUGINS}
# The scores below are the default profile's four plugins; a change there must be made here too.
assert tuple(_WEIGHTS) == (
    TAINT_TOLERATION,
    NODE_AFFINITY,
    NODE_RESOURCES_FIT,
    NODE_RESOURCES_BALANCED_ALLOCATION,
), "VectorisedAlgorithm scores a different set of plugins than SCORE_PLUGINS"

# A node's verdict as a small integer: 0 fits, otherwise the first filter (in the profile's order)
# that rejects it. Assigned from the last filter to the first so the earliest one wins.
_FITS, _UNSCHEDULABLE, _NAME, _TAINT, _AFFINITY, _PORTS, _RESOURCES = range(7)
_FIXED_REJECTIONS = {
    _UNSCHEDULABLE: Rejection(NODE_UNSCHEDULABLE, (ERR_REASON_UNSCHEDULABLE,)),
    _NAME: Rejection(NODE_NAME, (ERR_REASON_NODE_NAME,)),
    _AFFINITY: Rejection(NODE_AFFINITY, (ERR_REASON_NODE_AFFINITY,)),
    _PORTS: Rejection(NODE_PORTS, (ERR_REASON_NODE_PORTS,)),
}
_RESOURCE_REASONS = (
    ERR_REASON_TOO_MANY_PODS,
    "Insufficient cpu",
    "Insufficient memory",
    "Insufficient ephemeral-storage",
)
# fitsRequest's reasons for each combination of failing checks (bit i: _RESOURCE_REASONS[i]).
_RESOURCE_REJECTIONS = tuple(
    Rejection(NODE_RESOURCES_FIT, tuple(r for i, r in enumerate(_RESOURCE_REASONS) if bits >> i & 1))
    for bits in range(16)
)
_ABSENT = Rejection(NODE_AFFINITY, (f"node(s) didn't satisfy plugin(s) [{NODE_AFFINITY}]",))

_TaintKey = tuple[tuple[str, str, str], ...]
_TolerationVerdicts = tuple[int, list[Rejection | None], BoolArray, Int64Array]


def select_host_array(scores: Int64Array, rng: Rng) -> int:
    """`scheduler.select_host` over an array: the same choice and the same draw from ``rng``."""
    ties = np.flatnonzero(scores == scores.max())
    return int(ties[rng.randrange(len(ties))]) if len(ties) > 1 else int(ties[0])


def _normalize(scores: Int64Array, *, reverse: bool) -> Int64Array:
    """`plugins.default_normalize_score` over an array."""
    highest = int(scores.max()) if len(scores) else 0
    if highest == 0:
        return np.full(len(scores), MAX_NODE_SCORE, dtype=np.int64) if reverse else scores
    normalized = MAX_NODE_SCORE * scores // highest
    return MAX_NODE_SCORE - normalized if reverse else normalized


class TrackingCache(SchedulerCache):
    """A `SchedulerCache` that also notes which nodes changed, for `VectorisedAlgorithm` to follow.

    A node whose slot only needs refreshing (its pods or its object changed) is noted by name; a node
    added, removed or moved to another zone changes the node order, and then the next decision
    rebuilds its arrays. Only the public cache API is used: the pods' nodes are remembered here.
    """

    def __init__(self) -> None:
        super().__init__()
        self._changed: set[str] = set()
        self._relayout = True
        self._node_of: dict[str, str] = {}
        self.node_count = 0

    def take_changes(self) -> tuple[bool, set[str]]:
        """Whether the node order changed, and the nodes changed, since the last call."""
        relayout, changed = self._relayout, self._changed
        self._relayout, self._changed = False, set()
        return relayout, changed

    def add_node(self, node: Node) -> None:
        name = node.metadata.name
        old = self.node_info(name)
        super().add_node(node)
        if old is None:
            self.node_count += 1
            self._relayout = True
        elif zone_key(old.node) != zone_key(node):
            self._relayout = True
        else:
            self._changed.add(name)

    def remove_node(self, node: Node) -> None:
        if self.node_info(node.metadata.name) is not None:
            self.node_count -= 1
            self._relayout = True
        super().remove_node(node)

    def add_pod(self, pod: Pod) -> None:
        uid = pod.metadata.uid
        old = self._node_of.get(uid)
        super().add_pod(pod)
        self._node_of[uid] = pod.spec.node_name
        if old is not None:
            self._changed.add(old)
        self._changed.add(pod.spec.node_name)

    def remove_pod(self, pod: Pod) -> bool:
        removed = super().remove_pod(pod)
        node = self._node_of.pop(pod.metadata.uid, None)
        if removed and node is not None:
            self._changed.add(node)
        return removed

    def assume_pod(self, pod: Pod) -> None:
        super().assume_pod(pod)
        self._node_of[pod.metadata.uid] = pod.spec.node_name
        self._changed.add(pod.spec.node_name)

    def forget_pod(self, pod: Pod) -> None:
        if self.is_assumed(pod):
            node = self._node_of.pop(pod.metadata.uid, pod.spec.node_name)
            self._changed.add(node)
        super().forget_pod(pod)


class VectorisedAlgorithm(ReferenceAlgorithm):
    """schedulePod over arrays; decides exactly as `ReferenceAlgorithm` (whose state it shares).

    ``min_nodes``: below this many nodes a decision is left to the reference path, with the same
    random stream and start index, so switching paths as a cluster grows changes no outcome.
    """

    def __init__(self, rng: Rng, *, percentage_of_nodes_to_score: int = 0, min_nodes: int = 0) -> None:
        super().__init__(rng, percentage_of_nodes_to_score=percentage_of_nodes_to_score)
        self.min_nodes = min_nodes
        self._source: object = None
        self._reset([])

    # --- the two entry points -------------------------------------------------------------------

    def new_cache(self) -> SchedulerCache:
        return TrackingCache()

    def schedule(self, pod: PodInfo, nodes: Sequence[NodeInfo]) -> ScheduleResult:
        """The node for ``pod`` among the snapshot ``nodes`` (diffed by identity with the last one)."""
        if len(nodes) < self.min_nodes:
            return super().schedule(pod, nodes)
        self._sync_snapshot(nodes)
        return self._decide(pod)

    def schedule_cached(self, pod: PodInfo, cache: SchedulerCache) -> ScheduleResult:
        """The node for ``pod`` among the cache's nodes; a `TrackingCache` is followed incrementally."""
        if not isinstance(cache, TrackingCache):
            return self.schedule(pod, cache.node_infos())
        if cache.node_count < self.min_nodes:
            return super().schedule(pod, cache.node_infos())
        relayout, changed = cache.take_changes()
        if relayout or cache is not self._source:
            self._reset(cache.node_infos())
            self._source = cache
        else:
            for name in changed:
                slot = self._slots.get(name)
                info = cache.node_info(name)
                if slot is not None and info is not None:
                    self._set_slot(slot, info)
        return self._decide(pod)

    # --- the arrays -----------------------------------------------------------------------------

    def _reset(self, nodes: Sequence[NodeInfo]) -> None:
        """Rebuild every array from ``nodes`` (the node order changed, or another source)."""
        count = len(nodes)
        self._infos: list[NodeInfo] = list(nodes)
        self._names = [info.name for info in nodes]
        self._slots: dict[str, int] = {name: slot for slot, name in enumerate(self._names)}

        def column(read: Callable[[NodeInfo], int]) -> Int64Array:
            return np.fromiter((read(info) for info in nodes), dtype=np.int64, count=count)

        self._alloc_cpu = column(lambda i: i.allocatable.milli_cpu)
        self._alloc_mem = column(lambda i: i.allocatable.memory)
        self._alloc_eph = column(lambda i: i.allocatable.ephemeral_storage)
        self._allowed_pods = column(lambda i: i.allowed_pod_number)
        self._req_cpu = column(lambda i: i.requested.milli_cpu)
        self._req_mem = column(lambda i: i.requested.memory)
        self._req_eph = column(lambda i: i.requested.ephemeral_storage)
        self._nz_cpu = column(lambda i: i.non_zero_requested.milli_cpu)
        self._nz_mem = column(lambda i: i.non_zero_requested.memory)
        self._pod_count = column(lambda i: i.pod_count)
        self._unschedulable = np.fromiter(
            (info.node.spec.unschedulable for info in nodes), dtype=np.bool_, count=count
        )
        self._has_ports = np.fromiter((bool(info.used_ports) for info in nodes), dtype=np.bool_, count=count)
        # Distinct taint sets, by what a toleration reads (timeAdded differs per node and matters not).
        self._taint_sets: dict[_TaintKey, int] = {}
        self._taint_reps: list[NodeInfo] = []
        self._toleration_verdicts: dict[tuple[Toleration, ...], _TolerationVerdicts] = {}
        self._taint_ids = column(self._taint_id)
        # Label columns are built on first use, for the keys pods select on.
        self._label_values: dict[str, dict[str, int]] = {}
        self._label_columns: dict[str, Int64Array] = {}

    def _taint_id(self, info: NodeInfo) -> int:
        key = tuple((t.key, t.value, t.effect) for t in info.node.spec.taints)
        taint_id = self._taint_sets.get(key)
        if taint_id is None:
            taint_id = self._taint_sets[key] = len(self._taint_reps)
            self._taint_reps.append(info)
        return taint_id

    def _label_id(self, key: str, info: NodeInfo) -> int:
        value = info.node.metadata.labels.get(key)
        if value is None:
            return -1
        values = self._label_values[key]
        return values.setdefault(value, len(values))

    def _label_column(self, key: str) -> Int64Array:
        column = self._label_columns.get(key)
        if column is None:
            self._label_values[key] = {}
            column = np.fromiter(
                (self._label_id(key, info) for info in self._infos), dtype=np.int64, count=len(self._infos)
            )
            self._label_columns[key] = column
        return column

    def _set_slot(self, slot: int, info: NodeInfo) -> None:
        old = self._infos[slot]
        if info is old:
            return
        self._infos[slot] = info
        if info.node is not old.node:
            self._alloc_cpu[slot] = info.allocatable.milli_cpu
            self._alloc_mem[slot] = info.allocatable.memory
            self._alloc_eph[slot] = info.allocatable.ephemeral_storage
            self._allowed_pods[slot] = info.allowed_pod_number
            self._unschedulable[slot] = info.node.spec.unschedulable
            self._taint_ids[slot] = self._taint_id(info)
            for key, column in self._label_columns.items():
                column[slot] = self._label_id(key, info)
        self._req_cpu[slot] = info.requested.milli_cpu
        self._req_mem[slot] = info.requested.memory
        self._req_eph[slot] = info.requested.ephemeral_storage
        self._nz_cpu[slot] = info.non_zero_requested.milli_cpu
        self._nz_mem[slot] = info.non_zero_requested.memory
        self._pod_count[slot] = info.pod_count
        self._has_ports[slot] = bool(info.used_ports)

    def _sync_snapshot(self, nodes: Sequence[NodeInfo]) -> None:
        if self._source is not None or len(nodes) != len(self._infos):
            self._source = None
            self._reset(nodes)
            return
        for slot, (new, old) in enumerate(zip(nodes, self._infos, strict=True)):
            if new is old:
                continue
            if new.name != old.name:
                self._reset(nodes)
                return
            self._set_slot(slot, new)

    # --- one decision ---------------------------------------------------------------------------

    def _decide(self, pod: PodInfo) -> ScheduleResult:
        total = len(self._infos)
        if total == 0:
            raise NoNodesAvailable()
        if pod.pre_filter_rejection is not None:
            rejection = pod.pre_filter_rejection
            raise FitError(
                pod.pod,
                total,
                Diagnosis(
                    unschedulable_plugins=frozenset({rejection.plugin}),
                    absent=rejection,
                    pre_filter_message=", ".join(rejection.reasons),
                ),
            )
        if pod.node_names is None:
            candidates = np.arange(total, dtype=np.int64)
        else:
            # PreFilter narrowed the search to these names; they keep the node order.
            slots = sorted(self._slots[name] for name in pod.node_names if name in self._slots)
            candidates = np.array(slots, dtype=np.int64)
        count = len(candidates)
        start = self.next_start_node_index
        if count:
            offset = start % count
            order = np.concatenate((candidates[offset:], candidates[:offset])) if offset else candidates
            wanted = num_feasible_nodes_to_find(count, self.percentage_of_nodes_to_score)
            verdicts, fits = self._verdicts_until(pod, order, wanted)
            if len(fits) >= wanted:
                fits = fits[:wanted]
                evaluated = int(fits[-1]) + 1
            else:
                evaluated = count
        else:
            order = candidates
            verdicts = np.zeros(0, dtype=np.int8)
            fits = np.zeros(0, dtype=np.int64)
            evaluated = 0
        # Rotate even when nothing fits, so every node gets to be examined first in turn.
        self.next_start_node_index = (start + evaluated) % total
        if len(fits) == 0:
            raise FitError(pod.pod, total, self._diagnosis(pod, order, verdicts))
        feasible = order[fits]
        if len(feasible) == 1:
            return ScheduleResult(self._names[int(feasible[0])], evaluated, 1)
        if pod.pre_score_error:
            raise SchedulingError(pod.pre_score_error)
        scores = self._scores(pod, feasible)
        chosen = int(feasible[select_host_array(scores, self.rng)])
        return ScheduleResult(self._names[chosen], evaluated, len(feasible))

    def _verdicts_until(
        self, pod: PodInfo, order: Int64Array, wanted: int
    ) -> tuple[npt.NDArray[np.int8], Int64Array]:
        """The verdicts of the nodes in ``order`` up to the ``wanted``-th that fits, and where the fits are.

        Upstream stops filtering once it has found enough feasible nodes; a verdict depends on its node
        alone, so judging a first stretch of ``order`` (half as long again as ``wanted``) and the rest
        only when that stretch holds too few fits gives the same verdicts for every node examined —
        and a `FitError` always sees them all. On a large cluster with room this judges a tenth of it.
        """
        examined = min(len(order), wanted + wanted // 2)
        verdicts = self._verdicts(pod, order[:examined])
        fits = np.flatnonzero(verdicts == _FITS)
        if len(fits) < wanted and examined < len(order):
            verdicts = np.concatenate((verdicts, self._verdicts(pod, order[examined:])))
            fits = np.flatnonzero(verdicts == _FITS)
        return verdicts, fits

    def _verdicts(self, pod: PodInfo, slots: Int64Array) -> npt.NDArray[np.int8]:
        """Each node's verdict code, the first rejecting filter winning, as `plugins.run_filters`."""
        verdicts = np.zeros(len(slots), dtype=np.int8)
        bits = self._resource_bits(pod, slots)
        verdicts[bits != 0] = _RESOURCES
        if pod.resources.host_ports:
            with_ports = np.flatnonzero(self._has_ports[slots])
            taken = [i for i in with_ports.tolist() if node_ports(pod, self._infos[int(slots[i])])]
            verdicts[taken] = _PORTS
        verdicts[~self._required_affinity(pod, slots)] = _AFFINITY
        _, _, tolerated, _ = self._tolerations(pod)
        verdicts[~tolerated[self._taint_ids[slots]]] = _TAINT
        wanted = pod.pod.spec.node_name
        if wanted:
            verdicts[slots != self._slots.get(wanted, -1)] = _NAME
        if not pod.tolerates_unschedulable:
            verdicts[self._unschedulable[slots]] = _UNSCHEDULABLE
        return verdicts

    def _resource_bits(self, pod: PodInfo, slots: Int64Array) -> Int64Array:
        """`plugins.insufficient_resources` as bits: pods 1, cpu 2, memory 4, ephemeral-storage 8."""
        bits = (self._pod_count[slots] + 1 > self._allowed_pods[slots]).astype(np.int64)
        want = pod.resources.requested
        if want.is_zero():
            return bits
        for bit, amount, allocatable, requested in (
            (2, want.milli_cpu, self._alloc_cpu, self._req_cpu),
            (4, want.memory, self._alloc_mem, self._req_mem),
            (8, want.ephemeral_storage, self._alloc_eph, self._req_eph),
        ):
            if amount > 0:
                bits |= np.where(amount > allocatable[slots] - requested[slots], bit, 0)
        return bits

    def _tolerations(self, pod: PodInfo) -> _TolerationVerdicts:
        """TaintToleration per distinct taint set: filter verdicts, and untolerated PreferNoSchedule."""
        tolerations = pod.pod.spec.tolerations
        cached = self._toleration_verdicts.get(tolerations)
        if cached is not None and cached[0] == len(self._taint_reps):
            return cached
        reps = self._taint_reps
        rejections = [taint_toleration(pod, rep) for rep in reps]
        tolerated = np.array([r is None for r in rejections], dtype=np.bool_)
        prefer = np.array([taint_toleration_score(pod, rep) for rep in reps], dtype=np.int64)
        if len(self._toleration_verdicts) > 1024:  # bounded: pods from a few templates share tolerations
            self._toleration_verdicts.clear()
        verdicts = self._toleration_verdicts[tolerations] = (len(reps), rejections, tolerated, prefer)
        return verdicts

    def _by_labels(
        self,
        slots: Int64Array,
        matchers: Sequence[NodeSelectorMatcher],
        evaluate: Callable[[NodeInfo], T],
    ) -> list[T]:
        """``evaluate`` for each slot, run once per distinct combination of the labels ``matchers`` read.

        A matcher on ``metadata.name`` reads every node's own name, so then it runs per node.
        """
        infos = self._infos
        keys: set[str] = set()
        for matcher in matchers:
            if matcher.error:
                continue
            if matcher.fields is not None:
                return [evaluate(infos[slot]) for slot in slots.tolist()]
            if matcher.labels is not None:
                keys.update(requirement.key for requirement in matcher.labels.requirements)
        if not keys:
            return [evaluate(infos[int(slots[0])])] * len(slots)
        columns = [self._label_column(key)[slots] for key in sorted(keys)]
        if len(columns) == 1:
            _, first, inverse = np.unique(columns[0], return_index=True, return_inverse=True)
        else:
            _, first, inverse = np.unique(
                np.stack(columns, axis=1), axis=0, return_index=True, return_inverse=True
            )
        values = [evaluate(infos[int(slots[index])]) for index in first.tolist()]
        return [values[index] for index in inverse.reshape(-1).tolist()]

    def _required_affinity(self, pod: PodInfo, slots: Int64Array) -> BoolArray:
        """NodeAffinity's filter: nodeSelector as column comparisons, required terms per label combination."""
        required = pod.required_affinity
        matches = np.ones(len(slots), dtype=np.bool_)
        if required.node_selector:
            for key, value in required.node_selector.items():
                column = self._label_column(key)
                value_id = self._label_values[key].get(value)
                if value_id is None:
                    matches[:] = False
                else:
                    matches &= column[slots] == value_id
        terms = required.terms
        if terms is not None and len(slots):
            if not terms:
                matches[:] = False
            else:
                verdicts = self._by_labels(slots, terms, lambda info: any(t.matches(info) for t in terms))
                matches &= np.array(verdicts, dtype=np.bool_)
        return matches

    def _scores(self, pod: PodInfo, slots: Int64Array) -> Int64Array:
        """`plugins.prioritize` over arrays: each plugin's normalised score times its weight, summed."""
        _, _, _, prefer = self._tolerations(pod)
        totals = _normalize(prefer[self._taint_ids[slots]], reverse=True) * _WEIGHTS[TAINT_TOLERATION]
        if pod.preferred_terms:
            affinity = self._by_labels(
                slots, [term.matcher for term in pod.preferred_terms], lambda i: node_affinity_score(pod, i)
            )
            raw = np.array(affinity, dtype=np.int64)
            totals += _normalize(raw, reverse=False) * _WEIGHTS[NODE_AFFINITY]
        totals += self._least_allocated(pod, slots) * _WEIGHTS[NODE_RESOURCES_FIT]
        if not is_best_effort(pod):
            totals += self._balanced_allocation(pod, slots) * _WEIGHTS[NODE_RESOURCES_BALANCED_ALLOCATION]
        return totals

    def _least_allocated(self, pod: PodInfo, slots: Int64Array) -> Int64Array:
        """`plugins.least_allocated_score`: resources a node has none of are left out of the mean."""
        score = np.zeros(len(slots), dtype=np.int64)
        weights = np.zeros(len(slots), dtype=np.int64)
        wanted = pod.resources.non_zero
        for allocatable, requested, amount in (
            (self._alloc_cpu, self._nz_cpu, wanted.milli_cpu),
            (self._alloc_mem, self._nz_mem, wanted.memory),
        ):
            capacity = allocatable[slots]
            request = requested[slots] + amount
            present = capacity != 0
            free = ((capacity - request) * MAX_NODE_SCORE) // np.where(present, capacity, 1)
            score += np.where(present & (request <= capacity), free, 0)
            weights += present
        return np.where(weights == 0, 0, score // np.maximum(weights, 1))

    def _balanced_allocation(self, pod: PodInfo, slots: Int64Array) -> Int64Array:
        """`plugins.balanced_allocation_score`: with two resources the std-dev is half the difference."""
        wanted = pod.resources.requested
        fractions = []
        for allocatable, requested, amount in (
            (self._alloc_cpu, self._req_cpu, wanted.milli_cpu),
            (self._alloc_mem, self._req_mem, wanted.memory),
        ):
            capacity = allocatable[slots]
            present = capacity != 0
            fraction = np.minimum((requested[slots] + amount) / np.where(present, capacity, 1), 1.0)
            fractions.append((present, fraction))
        (cpu_present, cpu), (memory_present, memory) = fractions
        std = np.where(cpu_present & memory_present, np.abs((cpu - memory) / 2), 0.0)
        return ((1 - std) * float(MAX_NODE_SCORE)).astype(np.int64)

    def _diagnosis(self, pod: PodInfo, order: Int64Array, verdicts: npt.NDArray[np.int8]) -> Diagnosis:
        """The reference's Diagnosis: every examined node's rejection, in examination order."""
        rejections: list[tuple[str, Rejection]] = []
        _, taint_rejections, _, _ = self._tolerations(pod)
        bits = self._resource_bits(pod, order).tolist() if len(order) else []
        for index, (slot, verdict) in enumerate(zip(order.tolist(), verdicts.tolist(), strict=True)):
            if verdict == _TAINT:
                rejection = taint_rejections[int(self._taint_ids[slot])]
            elif verdict == _RESOURCES:
                rejection = _RESOURCE_REJECTIONS[bits[index]]
            else:
                rejection = _FIXED_REJECTIONS[verdict]
            assert rejection is not None
            rejections.append((self._names[slot], rejection))
        plugins = {rejection.plugin for _, rejection in rejections}
        absent = None
        if pod.node_names is not None:
            absent = _ABSENT
            plugins.add(NODE_AFFINITY)
        return Diagnosis(tuple(rejections), frozenset(plugins), absent)


def new_algorithm(
    kind: Literal["reference", "vectorised", "auto"],
    rng: Rng,
    *,
    percentage_of_nodes_to_score: int = 0,
) -> ReferenceAlgorithm:
    """The scheduling algorithm named ``kind``: "reference", "vectorised", or "auto" (vectorised from
    `AUTO_MIN_NODES` nodes on, the reference path below)."""
    if kind == "reference":
        return ReferenceAlgorithm(rng, percentage_of_nodes_to_score=percentage_of_nodes_to_score)
    if kind in ("vectorised", "auto"):
        return VectorisedAlgorithm(
            rng,
            percentage_of_nodes_to_score=percentage_of_nodes_to_score,
            min_nodes=AUTO_MIN_NODES if kind == "auto" else 0,
        )
    raise ValueError(f'unknown scheduling algorithm "{kind}": want "reference", "vectorised" or "auto"')
