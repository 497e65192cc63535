"""The default profile's filter and score plugins, as pure functions over small immutable values.

Ports of kube-scheduler's in-tree plugins (pkg/scheduler/framework/plugins):

- filters, in the default profile's order: NodeUnschedulable, NodeName, TaintToleration, NodeAffinity
  (``nodeSelector`` and required node affinity), NodePorts, NodeResourcesFit (cpu, memory,
  ephemeral-storage, pod count). A node's verdict is the first filter that rejects it, with that
  plugin's reasons worded as upstream;
- scores, each normalised to 0–100 and weighted as in default_plugins.go: TaintToleration (3),
  NodeAffinity (2), NodeResourcesFit with LeastAllocated over cpu and memory (1),
  NodeResourcesBalancedAllocation (1).

Everything a plugin needs from the pod is computed once per attempt into a `PodInfo` (upstream's
PreFilter/PreScore state); everything it needs from the node is in a `cache.NodeInfo`. Each function
reads only those two values and returns a verdict or an integer with Go's integer arithmetic, so a
vectorised implementation can compute the same numbers over arrays and be checked against these.
Also here: the cluster events each plugin registers for (to requeue the pods it rejected).

Not here: the search over nodes, node selection and the scheduling cycle (`scheduler`).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence

import attrs

from controllers.scheduler.cache import (
    CPU,
    MEMORY,
    NodeInfo,
    PodResources,
    Resource,
    pod_resources,
)
from controllers.scheduler.queue import NODE, POD, ActionType, ClusterEvent
from store.models import (
    NodeSelectorRequirement,
    NodeSelectorTerm,
    Pod,
    PreferredSchedulingTerm,
    Taint,
    Toleration,
)
from store.selectors import InvalidSelector, Operator, Requirement, Selector

MAX_NODE_SCORE = 100

NODE_UNSCHEDULABLE = "NodeUnschedulable"
NODE_NAME = "NodeName"
TAINT_TOLERATION = "TaintToleration"
NODE_AFFINITY = "NodeAffinity"
NODE_PORTS = "NodePorts"
NODE_RESOURCES_FIT = "NodeResourcesFit"
NODE_RESOURCES_BALANCED_ALLOCATION = "NodeResourcesBalancedAllocation"

ERR_REASON_UNSCHEDULABLE = "node(s) were unschedulable"
ERR_REASON_NODE_NAME = "node(s) didn't match the requested node name"
ERR_REASON_NODE_AFFINITY = "node(s) didn't match Pod's node affinity/selector"
ERR_REASON_AFFINITY_CONFLICT = "pod affinity terms conflict"
ERR_REASON_NODE_PORTS = "node(s) didn't have free ports for the requested pod ports"
ERR_REASON_TOO_MANY_PODS = "Too many pods"

TAINT_NODE_UNSCHEDULABLE = "node.kubernetes.io/unschedulable"
NO_SCHEDULE = "NoSchedule"
NO_EXECUTE = "NoExecute"
PREFER_NO_SCHEDULE = "PreferNoSchedule"

#: NodeResourcesFit's and BalancedAllocation's default resources and weights (defaults.go).
DEFAULT_RESOURCES: tuple[tuple[str, int], ...] = ((CPU, 1), (MEMORY, 1))

_OBJECT_NAME_FIELD = "metadata.name"
_NODE_SELECTOR_OPERATORS = {
    "In": Operator.IN,
    "NotIn": Operator.NOT_IN,
    "Exists": Operator.EXISTS,
    "DoesNotExist": Operator.DOES_NOT_EXIST,
    "Gt": Operator.GREATER_THAN,
    "Lt": Operator.LESS_THAN,
}


@attrs.frozen
class Rejection:
    """A filter's verdict against a node (an Unschedulable framework.Status): who said no, and why."""

    plugin: str
    reasons: tuple[str, ...]


# --- node selector terms (k8s.io/component-helpers/scheduling/corev1/nodeaffinity) ----------------


#: A ``matchFields`` requirement: the field, whether it must equal (In) or differ (NotIn), the value.
FieldRequirement = tuple[str, bool, str]


@attrs.frozen
class NodeSelectorMatcher:
    """A compiled NodeSelectorTerm: label requirements ANDed with ``metadata.name`` field requirements.

    ``error`` is set when the term does not parse; such a term matches no node.
    """

    labels: Selector | None = None
    fields: tuple[FieldRequirement, ...] | None = None
    error: str = ""

    def matches(self, node: NodeInfo) -> bool:
        if self.error:
            return False
        meta = node.node.metadata
        if self.labels is not None and not self.labels.matches(meta.labels):
            return False
        # A node without a name has no fields, and then field requirements are not checked (upstream).
        if self.fields is not None and meta.name:
            for key, equal, value in self.fields:
                # A node's only field is its name; fields.Set reads any other as "".
                actual = meta.name if key == _OBJECT_NAME_FIELD else ""
                if (actual == value) != equal:
                    return False
        return True


def compile_term(term: NodeSelectorTerm) -> NodeSelectorMatcher:
    """newNodeSelectorTerm; errors carry upstream's field paths relative to the term."""
    errors: list[str] = []
    labels: Selector | None = None
    fields: tuple[FieldRequirement, ...] | None = None
    if term.match_expressions:
        labels = _label_selector(term.match_expressions, errors)
    if term.match_fields:
        fields = _field_selector(term.match_fields, errors)
    if errors:
        return NodeSelectorMatcher(error=_aggregate(errors))
    return NodeSelectorMatcher(labels, fields)


def _label_selector(requirements: Sequence[NodeSelectorRequirement], errors: list[str]) -> Selector:
    compiled: list[Requirement] = []
    for index, requirement in enumerate(requirements):
        path = f"matchExpressions[{index}]"
        operator = _NODE_SELECTOR_OPERATORS.get(requirement.operator)
        if operator is None:
            errors.append(f'{path}.operator: Unsupported value: "{requirement.operator}"')
            continue
        try:
            compiled.append(Requirement(requirement.key, operator, requirement.values))
        except InvalidSelector as exc:
            errors.extend(f"{path}.{error}" for error in exc.errors)
    return Selector(compiled)


def _field_selector(
    requirements: Sequence[NodeSelectorRequirement], errors: list[str]
) -> tuple[FieldRequirement, ...]:
    compiled: list[FieldRequirement] = []
    for index, requirement in enumerate(requirements):
        path = f"matchFields[{index}]"
        if requirement.operator not in ("In", "NotIn"):
            errors.append(f'{path}.operator: Unsupported value: "{requirement.operator}"')
        elif len(requirement.values) != 1:
            errors.append(f"{path}.values: Invalid value: must have one element")
        else:
            compiled.append((requirement.key, requirement.operator == "In", requirement.values[0]))
    return tuple(compiled)


def _aggregate(messages: Sequence[str]) -> str:
    unique = list(dict.fromkeys(messages))
    return unique[0] if len(unique) == 1 else "[" + ", ".join(unique) + "]"


def _is_empty_term(term: NodeSelectorTerm) -> bool:
    return not term.match_expressions and not term.match_fields


@attrs.frozen
class RequiredNodeAffinity:
    """GetRequiredNodeAffinity: ``nodeSelector`` ANDed with the ORed required affinity terms.

    ``terms`` is None when the pod has no required affinity; an empty tuple (no usable term)
    matches no node.
    """

    node_selector: Mapping[str, str] | None = None
    terms: tuple[NodeSelectorMatcher, ...] | None = None

    def matches(self, node: NodeInfo) -> bool:
        if self.node_selector:
            labels = node.node.metadata.labels
            for key, value in self.node_selector.items():
                if labels.get(key) != value:
                    return False
        if self.terms is None:
            return True
        return any(term.matches(node) for term in self.terms)


@attrs.frozen
class PreferredTerm:
    weight: int
    matcher: NodeSelectorMatcher


# --- the pod, as the plugins see it ---------------------------------------------------------------


@attrs.frozen
class PodInfo:
    """What every plugin needs from the pod, computed once per scheduling attempt.

    ``node_names`` is NodeAffinity's PreFilterResult (the only nodes worth filtering, from
    ``metadata.name`` field terms) or None for all; ``pre_filter_rejection`` a PreFilter verdict
    against every node; ``pre_score_error`` the reason scoring fails (preferred terms that do not
    parse), upstream an error of the scheduling attempt.
    """

    pod: Pod
    resources: PodResources
    required_affinity: RequiredNodeAffinity
    preferred_terms: tuple[PreferredTerm, ...]
    tolerates_unschedulable: bool
    prefer_no_schedule_tolerations: tuple[Toleration, ...]
    node_names: frozenset[str] | None = None
    pre_filter_rejection: Rejection | None = None
    pre_score_error: str = ""


def pod_info(pod: Pod) -> PodInfo:
    """Run the PreFilter/PreScore computations of every plugin for ``pod``."""
    spec = pod.spec
    node_affinity = spec.affinity.node_affinity if spec.affinity is not None else None
    required = node_affinity.required_during_scheduling_ignored_during_execution if node_affinity else None
    terms = (
        None
        if required is None
        else tuple(compile_term(t) for t in required.node_selector_terms if not _is_empty_term(t))
    )
    node_names, conflict = _affinity_node_names(required.node_selector_terms if required else ())
    preferred, pre_score_error = _preferred_terms(
        node_affinity.preferred_during_scheduling_ignored_during_execution if node_affinity else ()
    )
    unschedulable_taint = Taint(key=TAINT_NODE_UNSCHEDULABLE, effect=NO_SCHEDULE)
    return PodInfo(
        pod=pod,
        resources=pod_resources(pod),
        required_affinity=RequiredNodeAffinity(spec.node_selector or None, terms),
        preferred_terms=preferred,
        tolerates_unschedulable=any(t.tolerates(unschedulable_taint) for t in spec.tolerations),
        prefer_no_schedule_tolerations=tuple(
            t for t in spec.tolerations if t.effect in ("", PREFER_NO_SCHEDULE)
        ),
        node_names=node_names,
        pre_filter_rejection=Rejection(NODE_AFFINITY, (ERR_REASON_AFFINITY_CONFLICT,)) if conflict else None,
        pre_score_error=pre_score_error,
    )


def _affinity_node_names(terms: Sequence[NodeSelectorTerm]) -> tuple[frozenset[str] | None, bool]:
    """NodeAffinity.PreFilter: the node names ``metadata.name In`` terms allow, and whether none can."""
    if not terms:
        return None, False
    names: set[str] = set()
    for term in terms:
        term_names: set[str] | None = None
        for requirement in term.match_fields:
            if requirement.key == _OBJECT_NAME_FIELD and requirement.operator == "In":
                values = set(requirement.values)
                term_names = values if term_names is None else term_names & values
        if term_names is None:
            # A term without node names can match any node, and terms are ORed.
            return None, False
        names |= term_names
    if not names:
        return None, True
    return frozenset(names), False


def _preferred_terms(
    terms: Sequence[PreferredSchedulingTerm],
) -> tuple[tuple[PreferredTerm, ...], str]:
    """NewPreferredSchedulingTerms: terms of weight 0 or without requirements are ignored."""
    preferred: list[PreferredTerm] = []
    errors: list[str] = []
    for index, term in enumerate(terms):
        if term.weight == 0 or _is_empty_term(term.preference):
            continue
        matcher = compile_term(term.preference)
        if matcher.error:
            errors.append(f"[{index}].{matcher.error}")
        else:
            preferred.append(PreferredTerm(term.weight, matcher))
    if errors:
        return (), f'running PreScore plugin "{NODE_AFFINITY}": {_aggregate(errors)}'
    return tuple(preferred), ""


# --- filters --------------------------------------------------------------------------------------

Filter = Callable[[PodInfo, NodeInfo], Rejection | None]

_UNSCHEDULABLE = Rejection(NODE_UNSCHEDULABLE, (ERR_REASON_UNSCHEDULABLE,))
_NODE_NAME_MISMATCH = Rejection(NODE_NAME, (ERR_REASON_NODE_NAME,))
_AFFINITY_MISMATCH = Rejection(NODE_AFFINITY, (ERR_REASON_NODE_AFFINITY,))
_PORTS_TAKEN = Rejection(NODE_PORTS, (ERR_REASON_NODE_PORTS,))


def node_unschedulable(pod: PodInfo, node: NodeInfo) -> Rejection | None:
    """A cordoned node admits only pods tolerating the ``node.kubernetes.io/unschedulable`` taint."""
    if node.node.spec.unschedulable and not pod.tolerates_unschedulable:
        return _UNSCHEDULABLE
    return None


def node_name(pod: PodInfo, node: NodeInfo) -> Rejection | None:
    wanted = pod.pod.spec.node_name
    if wanted and wanted != node.name:
        return _NODE_NAME_MISMATCH
    return None


def taint_toleration(pod: PodInfo, node: NodeInfo) -> Rejection | None:
    """The first NoSchedule or NoExecute taint no toleration of the pod tolerates, if any."""
    tolerations = pod.pod.spec.tolerations
    for taint in node.node.spec.taints:
        if taint.effect not in (NO_SCHEDULE, NO_EXECUTE):
            continue
        if not any(toleration.tolerates(taint) for toleration in tolerations):
            return Rejection(
                TAINT_TOLERATION, (f"node(s) had untolerated taint {{{taint.key}: {taint.value}}}",)
            )
    return None


def node_affinity(pod: PodInfo, node: NodeInfo) -> Rejection | None:
    if pod.required_affinity.matches(node):
        return None
    return _AFFINITY_MISMATCH


def node_ports(pod: PodInfo, node: NodeInfo) -> Rejection | None:
    used = node.used_ports
    if not used:
        return None
    for wanted in pod.resources.host_ports:
        if any(wanted.conflicts_with(port) for port in used):
            return _PORTS_TAKEN
    return None


def insufficient_resources(pod: PodInfo, node: NodeInfo) -> tuple[str, ...]:
    """fitsRequest's reasons, in upstream's order: pods, cpu, memory, ephemeral-storage."""
    reasons: list[str] = []
    if node.pod_count + 1 > node.allowed_pod_number:
        reasons.append(ERR_REASON_TOO_MANY_PODS)
    want = pod.resources.requested
    if want.is_zero():
        return tuple(reasons)
    free = node.allocatable - node.requested
    if want.milli_cpu > 0 and want.milli_cpu > free.milli_cpu:
        reasons.append("Insufficient cpu")
    if want.memory > 0 and want.memory > free.memory:
        reasons.append("Insufficient memory")
    if want.ephemeral_storage > 0 and want.ephemeral_storage > free.ephemeral_storage:
        reasons.append("Insufficient ephemeral-storage")
    return tuple(reasons)


def node_resources_fit(pod: PodInfo, node: NodeInfo) -> Rejection | None:
    reasons = insufficient_resources(pod, node)
    return Rejection(NODE_RESOURCES_FIT, reasons) if reasons else None


def admits(pod: PodInfo, node: NodeInfo) -> bool:
    """preCheckForNode: whether a node event may make ``pod`` fit ``node``.

    AdmissionCheck (enough resources, node affinity and selector, node name, free host ports) and no
    NoSchedule or NoExecute taint the pod does not tolerate; whether the node is cordoned is not
    looked at.
    """
    return (
        not insufficient_resources(pod, node)
        and pod.required_affinity.matches(node)
        and node_name(pod, node) is None
        and node_ports(pod, node) is None
        and taint_toleration(pod, node) is None
    )


#: The default profile's filters, in its order.
FILTERS: tuple[tuple[str, Filter], ...] = (
    (NODE_UNSCHEDULABLE, node_unschedulable),
    (NODE_NAME, node_name),
    (TAINT_TOLERATION, taint_toleration),
    (NODE_AFFINITY, node_affinity),
    (NODE_PORTS, node_ports),
    (NODE_RESOURCES_FIT, node_resources_fit),
)


def run_filters(pod: PodInfo, node: NodeInfo) -> Rejection | None:
    """RunFilterPlugins: the first rejection, or None when the node fits."""
    for _, check in FILTERS:
        rejection = check(pod, node)
        if rejection is not None:
            return rejection
    return None


# --- scores ---------------------------------------------------------------------------------------


def taint_toleration_score(pod: PodInfo, node: NodeInfo) -> int:
    """The number of PreferNoSchedule taints the pod does not tolerate (reversed when normalised)."""
    tolerations = pod.prefer_no_schedule_tolerations
    return sum(
        1
        for taint in node.node.spec.taints
        if taint.effect == PREFER_NO_SCHEDULE and not any(t.tolerates(taint) for t in tolerations)
    )


def node_affinity_score(pod: PodInfo, node: NodeInfo) -> int:
    """The sum of the weights of the preferred terms the node matches."""
    return sum(term.weight for term in pod.preferred_terms if term.matcher.matches(node))


def _amount(resource: Resource, name: str) -> int:
    if name == CPU:
        return resource.milli_cpu
    if name == MEMORY:
        return resource.memory
    return resource.ephemeral_storage


def least_requested_score(requested: int, capacity: int) -> int:
    """leastRequestedScore: the unused share of ``capacity`` on a 0–100 scale (0 when over)."""
    if capacity == 0 or requested > capacity:
        return 0
    return ((capacity - requested) * MAX_NODE_SCORE) // capacity


def least_allocated_score(
    pod: PodInfo, node: NodeInfo, resources: Sequence[tuple[str, int]] = DEFAULT_RESOURCES
) -> int:
    """NodeResourcesFit with LeastAllocated: weighted mean of each resource's free share after the pod.

    Both sides use the non-zero requests (a container without requests counts 100m and 200Mi).
    """
    score = weight_sum = 0
    for name, weight in resources:
        allocatable = _amount(node.allocatable, name)
        if allocatable == 0:
            continue
        requested = _amount(node.non_zero_requested, name) + _amount(pod.resources.non_zero, name)
        score += least_requested_score(requested, allocatable) * weight
        weight_sum += weight
    return 0 if weight_sum == 0 else score // weight_sum


def is_best_effort(pod: PodInfo, resources: Sequence[tuple[str, int]] = DEFAULT_RESOURCES) -> bool:
    """BalancedAllocation skips pods requesting none of its resources (kubernetes#129138)."""
    return all(_amount(pod.resources.requested, name) == 0 for name, _ in resources)


def balanced_allocation_score(
    pod: PodInfo, node: NodeInfo, resources: Sequence[tuple[str, int]] = DEFAULT_RESOURCES
) -> int:
    """(1 − the standard deviation of the requested fractions) × 100, with the actual requests.

    Float arithmetic in upstream's order, so the result truncates exactly as Go's int64() does.
    """
    fractions: list[float] = []
    for name, _ in resources:
        allocatable = _amount(node.allocatable, name)
        if allocatable == 0:
            continue
        requested = _amount(node.requested, name) + _amount(pod.resources.requested, name)
        fractions.append(min(requested / allocatable, 1.0))
    std = 0.0
    if len(fractions) == 2:
        std = abs((fractions[0] - fractions[1]) / 2)
    elif len(fractions) > 2:
        mean = sum(fractions) / len(fractions)
        std = math.sqrt(sum((f - mean) * (f - mean) for f in fractions) / len(fractions))
    return int((1 - std) * float(MAX_NODE_SCORE))


def default_normalize_score(scores: Sequence[int], *, reverse: bool) -> list[int]:
    """DefaultNormalizeScore: scale to 0–100 by the maximum (integer division), reversed if asked."""
    highest = max(scores, default=0)
    if highest == 0:
        return [MAX_NODE_SCORE if reverse else score for score in scores]
    normalized = [MAX_NODE_SCORE * score // highest for score in scores]
    return [MAX_NODE_SCORE - score for score in normalized] if reverse else normalized


@attrs.frozen
class ScorePlugin:
    """A score plugin of the profile: its raw score, normalisation and weight.

    ``normalize`` is None for plugins without NormalizeScore, else whether to reverse;
    ``skip`` is PreScore returning Skip: the plugin then adds nothing for this pod.
    """

    name: str
    weight: int
    score: Callable[[PodInfo, NodeInfo], int]
    normalize: bool | None = None
    skip: Callable[[PodInfo], bool] = lambda _: False


#: The default profile's score plugins and weights (default_plugins.go).
SCORE_PLUGINS: tuple[ScorePlugin, ...] = (
    ScorePlugin(TAINT_TOLERATION, 3, taint_toleration_score, normalize=True),
    ScorePlugin(
        NODE_AFFINITY, 2, node_affinity_score, normalize=False, skip=lambda pod: not pod.preferred_terms
    ),
    ScorePlugin(NODE_RESOURCES_FIT, 1, least_allocated_score),
    ScorePlugin(NODE_RESOURCES_BALANCED_ALLOCATION, 1, balanced_allocation_score, skip=is_best_effort),
)


class ScoringError(Exception):
    """Scoring cannot run for this pod (a PreScore error): the attempt fails and is retried."""


def prioritize(pod: PodInfo, nodes: Sequence[NodeInfo]) -> list[int]:
    """prioritizeNodes: each node's weighted sum of normalised plugin scores."""
    if pod.pre_score_error:
        raise ScoringError(pod.pre_score_error)
    totals = [0] * len(nodes)
    for plugin in SCORE_PLUGINS:
        if plugin.skip(pod):
            continue
        scores = [plugin.score(pod, node) for node in nodes]
        if plugin.normalize is not None:
            scores = default_normalize_score(scores, reverse=plugin.normalize)
        for index, score in enumerate(scores):
            totals[index] += score * plugin.weight
    return totals


# --- cluster events -------------------------------------------------------------------------------

_NODE_CHANGES = ActionType.ADD | ActionType.UPDATE_NODE_TAINT | ActionType.UPDATE_NODE_LABEL

#: EventsToRegister of each plugin with queueing hints off: the events that may make a pod it
#: rejected schedulable. Every plugin interested in node additions also takes label and taint
#: updates (kubernetes#109437).
EVENTS_TO_REGISTER: Mapping[str, tuple[ClusterEvent, ...]] = {
    NODE_UNSCHEDULABLE: (ClusterEvent(NODE, _NODE_CHANGES),),
    NODE_NAME: (ClusterEvent(NODE, _NODE_CHANGES),),
    TAINT_TOLERATION: (ClusterEvent(NODE, _NODE_CHANGES),),
    NODE_AFFINITY: (ClusterEvent(NODE, _NODE_CHANGES),),
    NODE_PORTS: (ClusterEvent(POD, ActionType.DELETE), ClusterEvent(NODE, _NODE_CHANGES)),
    NODE_RESOURCES_FIT: (
        ClusterEvent(POD, ActionType.DELETE),
        ClusterEvent(NODE, _NODE_CHANGES | ActionType.UPDATE_NODE_ALLOCATABLE),
    ),
}
