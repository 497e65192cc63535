"""The pure rules of the Deployment controller (k8s.io/kubernetes/pkg/controller/deployment/util).

Fenceposts (maxSurge rounds up, maxUnavailable rounds down, never both 0), how big the new ReplicaSet
may grow, proportions for proportional scaling, the revision and replicas annotations, conditions,
the complete / progressing / timed-out predicates, the pod-template-hash, and the orderings the
controller sorts ReplicaSets by. Every function here is a pure function of immutable values: a
"setter" returns a new value, and returns its argument itself when nothing changes, so callers can
tell with ``is`` whether there is anything to write. Nothing here reads the clock or the store; the
controller passes ``now`` in.
"""

from __future__ import annotations

import functools
import json
import math
import operator
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

import attrs

from store.frozen import FrozenDict
from store.models import (
    Deployment,
    DeploymentCondition,
    DeploymentStatus,
    IntOrString,
    LabelSelector,
    Object,
    ObjectMeta,
    PodTemplateSpec,
    ReplicaSet,
    ReplicaSetCondition,
    replace,
)
from store.scheme import Scheme

# --- names Kubernetes fixes -------------------------------------------------------------------

#: Tells a deployment's ReplicaSets (and their pods) apart (apps.DefaultDeploymentUniqueLabelKey).
POD_TEMPLATE_HASH_LABEL = "pod-template-hash"
#: Records a ReplicaSet's place in the rollout sequence; copied to the Deployment.
REVISION_ANNOTATION = "deployment.kubernetes.io/revision"
#: The earlier revisions a ReplicaSet served, when a rollback made it new again.
REVISION_HISTORY_ANNOTATION = "deployment.kubernetes.io/revision-history"
#: The deployment's spec.replicas when it last sized this ReplicaSet (tells scaling from rolling out).
DESIRED_REPLICAS_ANNOTATION = "deployment.kubernetes.io/desired-replicas"
#: spec.replicas + maxSurge when it last sized this ReplicaSet (the base of proportional scaling).
MAX_REPLICAS_ANNOTATION = "deployment.kubernetes.io/max-replicas"
#: What apps/v1 keeps of extensions/v1beta1's spec.rollbackTo (apps.DeprecatedRollbackTo).
ROLLBACK_TO_ANNOTATION = "deprecated.deployment.rollback.to"
#: kubectl apply's annotation, never copied between a Deployment and its ReplicaSets.
LAST_APPLIED_CONFIG_ANNOTATION = "kubectl.kubernetes.io/last-applied-configuration"

ROLLING_UPDATE = "RollingUpdate"
RECREATE = "Recreate"

PROGRESSING = "Progressing"
AVAILABLE = "Available"
REPLICA_FAILURE = "ReplicaFailure"

TRUE = "True"
FALSE = "False"
UNKNOWN = "Unknown"

# Condition reasons, as deployment_util.go names them.
REPLICA_SET_UPDATED_REASON = "ReplicaSetUpdated"
FAILED_RS_CREATE_REASON = "ReplicaSetCreateError"
NEW_REPLICA_SET_REASON = "NewReplicaSetCreated"
FOUND_NEW_RS_REASON = "FoundNewReplicaSet"
NEW_RS_AVAILABLE_REASON = "NewReplicaSetAvailable"
TIMED_OUT_REASON = "ProgressDeadlineExceeded"
PAUSED_DEPLOY_REASON = "DeploymentPaused"
RESUMED_DEPLOY_REASON = "DeploymentResumed"
MINIMUM_REPLICAS_AVAILABLE = "MinimumReplicasAvailable"
MINIMUM_REPLICAS_UNAVAILABLE = "MinimumReplicasUnavailable"

# Event reasons of the (deprecated) server-side rollback.
ROLLBACK_REVISION_NOT_FOUND = "DeploymentRollbackRevisionNotFound"
ROLLBACK_TEMPLATE_UNCHANGED = "DeploymentRollbackTemplateUnchanged"
ROLLBACK_DONE = "DeploymentRollback"

#: progressDeadlineSeconds / revisionHistoryLimit at this value mean "no limit".
MAX_INT32 = 2**31 - 1
#: The revision-history annotation is kept under this many characters (sync.go maxRevHistoryLengthInChars).
MAX_REV_HISTORY_LENGTH_IN_CHARS = 2000

#: Annotations that belong to the Deployment/ReplicaSet machinery and are never copied between them.
ANNOTATIONS_TO_SKIP = frozenset(
    {
        LAST_APPLIED_CONFIG_ANNOTATION,
        REVISION_ANNOTATION,
        REVISION_HISTORY_ANNOTATION,
        DESIRED_REPLICAS_ANNOTATION,
        MAX_REPLICAS_ANNOTATION,
        ROLLBACK_TO_ANNOTATION,
    }
)

_EPOCH = datetime.min.replace(tzinfo=UTC)

ObjectT = TypeVar("ObjectT", bound=Object)


# --- integers, percentages and fenceposts ------------------------------------------------------


def scaled_value(value: IntOrString, total: int, *, round_up: bool) -> int:
    """An int, or a percentage of ``total`` rounded up or down (intstr.GetScaledValueFromIntOrPercent)."""
    if isinstance(value, int):
        return value
    if not value.endswith("%"):
        raise ValueError(f'invalid value for IntOrString: invalid type: string "{value}" is not a percentage')
    digits = value[:-1]
    try:
        percent = int(digits)
    except ValueError:
        raise ValueError(f'invalid value "{value}": not an integer percentage') from None
    # Integer arithmetic gives the exact ceiling/floor the float code means to compute.
    return -(-percent * total // 100) if round_up else percent * total // 100


def resolve_fenceposts(
    max_surge: IntOrString | None, max_unavailable: IntOrString | None, desired: int
) -> tuple[int, int]:
    """(surge, unavailable) for ``desired`` replicas: surge rounds up, unavailable rounds down.

    Validation forbids both being 0 explicitly, but rounding down can still make both 0; then
    unavailable becomes 1, on the theory that surge may be impossible (quota). Raises ValueError
    for a malformed value.
    """
    surge = scaled_value(0 if max_surge is None else max_surge, desired, round_up=True)
    unavailable = scaled_value(0 if max_unavailable is None else max_unavailable, desired, round_up=False)
    if surge == 0 and unavailable == 0:
        unavailable = 1
    return surge, unavailable


def is_rolling_update(deployment: Deployment) -> bool:
    return deployment.spec.strategy.type == ROLLING_UPDATE


def _fenceposts(deployment: Deployment) -> tuple[int, int]:
    rolling = deployment.spec.strategy.rolling_update
    if rolling is None:
        return resolve_fenceposts(None, None, deployment.spec.replicas)
    return resolve_fenceposts(rolling.max_surge, rolling.max_unavailable, deployment.spec.replicas)


def max_unavailable(deployment: Deployment) -> int:
    """How many pods a rolling deployment may have unavailable: clamped to replicas, 0 when replicas is 0."""
    replicas = deployment.spec.replicas
    if not is_rolling_update(deployment) or replicas == 0:
        return 0
    return min(_fenceposts(deployment)[1], replicas)


def min_available(deployment: Deployment) -> int:
    """The fewest available pods a rolling deployment may drop to (0 for Recreate)."""
    if not is_rolling_update(deployment):
        return 0
    return deployment.spec.replicas - max_unavailable(deployment)


def max_surge(deployment: Deployment) -> int:
    """How many pods above spec.replicas a rolling deployment may run (0 for Recreate)."""
    if not is_rolling_update(deployment):
        return 0
    return _fenceposts(deployment)[0]


def round_half_away_from_zero(value: float) -> int:
    """Go's math.Round (Python's round() rounds half to even, which would size ReplicaSets differently)."""
    return int(math.copysign(math.floor(abs(value) + 0.5), value))


# --- replica counts -------------------------------------------------------------------------


def replica_count(replica_sets: Iterable[ReplicaSet | None]) -> int:
    """Σ spec.replicas (GetReplicaCountForReplicaSets)."""
    return sum(rs.spec.replicas for rs in replica_sets if rs is not None)


def actual_replica_count(replica_sets: Iterable[ReplicaSet | None]) -> int:
    """Σ status.replicas (GetActualReplicaCountForReplicaSets)."""
    return sum(rs.status.replicas for rs in replica_sets if rs is not None)


def ready_replica_count(replica_sets: Iterable[ReplicaSet | None]) -> int:
    return sum(rs.status.ready_replicas for rs in replica_sets if rs is not None)


def available_replica_count(replica_sets: Iterable[ReplicaSet | None]) -> int:
    return sum(rs.status.available_replicas for rs in replica_sets if rs is not None)


def terminating_replica_count(replica_sets: Iterable[ReplicaSet | None]) -> int | None:
    """Σ status.terminatingReplicas, or None once a synced ReplicaSet does not report it.

    A ReplicaSet its controller has not synced yet (observedGeneration 0) has no pods and counts 0.
    """
    total = 0
    for rs in replica_sets:
        if rs is None:
            continue
        terminating = rs.status.terminating_replicas
        if terminating is None:
            if rs.status.observed_generation == 0:
                continue
            return None
        total += terminating
    return total


def filter_active_replica_sets(replica_sets: Iterable[ReplicaSet | None]) -> list[ReplicaSet]:
    """The ReplicaSets with spec.replicas > 0 (controller.FilterActiveReplicaSets)."""
    return [rs for rs in replica_sets if rs is not None and rs.spec.replicas > 0]


# --- orderings ------------------------------------------------------------------------------


def _created(rs: ReplicaSet) -> datetime:
    return rs.metadata.creation_timestamp or _EPOCH


def _compare(left: Any, right: Any) -> int:
    return int(left > right) - int(left < right)


def compare_by_creation(a: ReplicaSet, b: ReplicaSet) -> int:
    """Older first, then by name (controller.ReplicaSetsByCreationTimestamp)."""
    return _compare(_created(a), _created(b)) or _compare(a.metadata.name, b.metadata.name)


def compare_by_size_older(a: ReplicaSet, b: ReplicaSet) -> int:
    """Larger first; among equals older first (ReplicaSetsBySizeOlder: who scales down first)."""
    return _compare(b.spec.replicas, a.spec.replicas) or compare_by_creation(a, b)


def compare_by_size_newer(a: ReplicaSet, b: ReplicaSet) -> int:
    """Larger first; among equals newer first (ReplicaSetsBySizeNewer: who scales up first)."""
    return _compare(b.spec.replicas, a.spec.replicas) or compare_by_creation(b, a)


def compare_by_revision(a: ReplicaSet, b: ReplicaSet) -> int:
    """Lower revision first; unparsable or equal revisions by creation (ReplicaSetsByRevision)."""
    try:
        first, second = revision(a), revision(b)
    except ValueError:
        return compare_by_creation(a, b)
    return _compare(first, second) or compare_by_creation(a, b)


def sorted_by(
    replica_sets: Iterable[ReplicaSet], compare: Callable[[ReplicaSet, ReplicaSet], int]
) -> list[ReplicaSet]:
    return sorted(replica_sets, key=functools.cmp_to_key(compare))


# --- templates, the hash and finding the new ReplicaSet ----------------------------------------


def _without_hash_label(template: PodTemplateSpec) -> PodTemplateSpec:
    labels = template.metadata.labels
    if POD_TEMPLATE_HASH_LABEL not in labels:
        return template
    return attrs.evolve(
        template, metadata=attrs.evolve(template.metadata, labels=labels.remove(POD_TEMPLATE_HASH_LABEL))
    )


def equal_ignore_hash(first: PodTemplateSpec, second: PodTemplateSpec) -> bool:
    """Whether two templates are equal once their pod-template-hash labels are set aside.

    The hash is ignored because it changes when the API's serialisation changes, and because a
    Deployment's own template never carries it.
    """
    if first.spec != second.spec:
        return False  # the usual verdict for an old ReplicaSet
    # Field by field, as attrs' equality compares them, so that no metadata is copied to drop a label.
    mine, theirs = first.metadata, second.metadata
    if _labels_without_hash(mine.labels) != _labels_without_hash(theirs.labels):
        return False
    return bool(_compared_metadata(mine) == _compared_metadata(theirs))


def _labels_without_hash(labels: Mapping[str, str]) -> Mapping[str, str]:
    if POD_TEMPLATE_HASH_LABEL not in labels:
        return labels
    return {key: value for key, value in labels.items() if key != POD_TEMPLATE_HASH_LABEL}


#: What ObjectMeta's equality compares, but the labels, as one tuple (compared in order, as attrs does).
_compared_metadata = operator.attrgetter(
    *(field.name for field in attrs.fields(ObjectMeta) if field.eq and field.name != "labels")
)


@functools.cache
def _wire_scheme() -> Scheme:
    return Scheme()


#: The characters rand.SafeEncodeString maps digits onto (no vowels, so no words, no look-alikes).
_SAFE_ALPHANUMS = "bcdfghjklmnpqrstvwxz2456789"


def safe_encode_string(text: str) -> str:
    """apimachinery rand.SafeEncodeString: each character mapped onto a vowel-free alphabet."""
    return "".join(_SAFE_ALPHANUMS[ord(char) % len(_SAFE_ALPHANUMS)] for char in text)


def fnv32a(data: bytes) -> int:
    """The 32-bit FNV-1a hash of ``data`` (Go's hash/fnv New32a)."""
    value = 0x811C9DC5
    for byte in data:
        value = ((value ^ byte) * 0x01000193) & 0xFFFFFFFF
    return value


def compute_hash(template: PodTemplateSpec, collision_count: int | None) -> str:
    """The pod-template-hash of ``template`` (controller.ComputeHash).

    FNV-32a over the template's serialisation, then the collision count as 8 little-endian bytes,
    rendered in decimal and passed through `safe_encode_string`. Upstream serialises with spew's
    %#v of the Go struct; ours is the canonical JSON of the template's wire form (sorted keys, no
    spaces), which is as deterministic across processes but gives different values than Go does.
    """
    wire = _wire_scheme().unstructure(template)
    hasher_input = json.dumps(wire, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
    if collision_count is not None:
        hasher_input += (collision_count & 0xFFFFFFFF).to_bytes(4, "little") + bytes(4)
    return safe_encode_string(str(fnv32a(hasher_input)))


def find_new_replica_set(deployment: Deployment, replica_sets: Iterable[ReplicaSet]) -> ReplicaSet | None:
    """The ReplicaSet whose template is the deployment's; the oldest one if several are (issue 40415)."""
    for rs in sorted_by(replica_sets, compare_by_creation):
        if equal_ignore_hash(rs.spec.template, deployment.spec.template):
            return rs
    return None


def find_old_replica_sets(
    deployment: Deployment, replica_sets: Sequence[ReplicaSet]
) -> tuple[list[ReplicaSet], list[ReplicaSet]]:
    """(old ReplicaSets with replicas, all old ReplicaSets): everything but the new one, in list order."""
    new_rs = find_new_replica_set(deployment, replica_sets)
    all_old = [rs for rs in replica_sets if new_rs is None or not _same_replica_set(rs, new_rs)]
    return [rs for rs in all_old if rs.spec.replicas != 0], all_old


def _same_replica_set(first: ReplicaSet, second: ReplicaSet) -> bool:
    return first is second or (bool(first.metadata.uid) and first.metadata.uid == second.metadata.uid)


def find_active_or_latest(
    new_rs: ReplicaSet | None, old_replica_sets: Sequence[ReplicaSet]
) -> ReplicaSet | None:
    """The only active ReplicaSet, or the newest one when none is active; None when several are active."""
    if new_rs is None and not old_replica_sets:
        return None
    newest_first = sorted_by(old_replica_sets, compare_by_creation)[::-1]
    active = filter_active_replica_sets([*newest_first, new_rs])
    if not active:
        return new_rs if new_rs is not None else newest_first[0]
    if len(active) == 1:
        return active[0]
    return None


def set_from_replica_set_template(deployment: Deployment, template: PodTemplateSpec) -> Deployment:
    """The deployment with ``template`` (minus the pod-template-hash label) as its pod template."""
    spec = attrs.evolve(deployment.spec, template=_without_hash_label(template))
    return attrs.evolve(deployment, spec=spec)


def clone_and_add_label(labels: Mapping[str, str], key: str, value: str) -> FrozenDict[str, str]:
    if value == "":
        return FrozenDict(labels)
    return FrozenDict({**labels, key: value})


def clone_selector_and_add_label(selector: LabelSelector | None, key: str, value: str) -> LabelSelector:
    base = selector or LabelSelector()
    if value == "":
        return base
    return attrs.evolve(base, match_labels=clone_and_add_label(base.match_labels, key, value))


def is_controlled_by(rs: ReplicaSet, deployment: Deployment) -> bool:
    ref = rs.metadata.controller_ref()
    return ref is not None and ref.uid == deployment.metadata.uid


# --- revisions and annotations --------------------------------------------------------------


def revision(obj: ReplicaSet | Deployment) -> int:
    """The revision annotation as an int (0 when absent); ValueError when it is not an integer."""
    value = obj.metadata.annotations.get(REVISION_ANNOTATION)
    if value is None:
        return 0
    return int(value)


def _revisions(replica_sets: Iterable[ReplicaSet]) -> Iterable[int]:
    for rs in replica_sets:
        try:
            yield revision(rs)
        except ValueError:
            continue  # a ReplicaSet with a garbled revision is skipped, as upstream does


def max_revision(replica_sets: Iterable[ReplicaSet]) -> int:
    return max(_revisions(replica_sets), default=0)


def last_revision(replica_sets: Iterable[ReplicaSet]) -> int:
    """The second highest revision: what a rollback to revision 0 goes back to."""
    highest = second = 0
    for value in _revisions(replica_sets):
        if value >= highest:
            highest, second = value, highest
        elif value > second:
            second = value
    return second


def rollback_to_revision(deployment: Deployment) -> int | None:
    """The revision the deprecated rollback annotation asks for (0: the last); None if unset or garbled."""
    value = deployment.metadata.annotations.get(ROLLBACK_TO_ANNOTATION, "")
    if not value:
        return None
    try:
        return int(value)
    except ValueError:
        return None  # an invalid request is ignored, as upstream ignores it


def _with_annotations(obj: ObjectT, annotations: Mapping[str, str]) -> ObjectT:
    meta = obj.metadata
    if annotations == meta.annotations:
        return obj
    return replace(obj, metadata=attrs.evolve(meta, annotations=FrozenDict(annotations)))


def set_deployment_revision(deployment: Deployment, value: str) -> Deployment:
    annotations = deployment.metadata.annotations
    if annotations.get(REVISION_ANNOTATION, "") == value:
        return deployment
    return _with_annotations(deployment, {**annotations, REVISION_ANNOTATION: value})


def _copied_deployment_annotations(deployment: Deployment, rs: ReplicaSet) -> dict[str, str]:
    annotations = dict(rs.metadata.annotations)
    for key, value in deployment.metadata.annotations.items():
        if key not in ANNOTATIONS_TO_SKIP:
            annotations[key] = value
    return annotations


def set_new_replica_set_annotations(
    deployment: Deployment,
    rs: ReplicaSet,
    new_revision: str,
    *,
    exists: bool,
    rev_history_limit_in_chars: int = MAX_REV_HISTORY_LENGTH_IN_CHARS,
) -> ReplicaSet:
    """The new ReplicaSet with the deployment's annotations and its revision raised to ``new_revision``.

    The revision only ever goes up; when it goes up on a ReplicaSet that had one (a rollback made
    an old ReplicaSet new again) the old number is appended to revision-history, dropping the
    oldest entries to stay within ``rev_history_limit_in_chars``. A ReplicaSet about to be created
    also gets the desired-replicas and max-replicas annotations. Returns ``rs`` itself when nothing
    changes, and also when either revision is not an integer (upstream logs and gives up then).
    """
    annotations = _copied_deployment_annotations(deployment, rs)
    old_revision = annotations.get(REVISION_ANNOTATION)
    try:
        old_number = int(old_revision) if old_revision else 0
        new_number = int(new_revision)
    except ValueError:
        return rs
    if old_number < new_number:
        annotations[REVISION_ANNOTATION] = new_revision
        if old_revision is not None:
            history = annotations.get(REVISION_HISTORY_ANNOTATION, "")
            appended = _append_revision_history(history, old_revision, rev_history_limit_in_chars)
            if appended is not None:
                annotations[REVISION_HISTORY_ANNOTATION] = appended
    updated = _with_annotations(rs, annotations)
    if not exists:
        desired = deployment.spec.replicas
        updated = set_replicas_annotations(updated, desired, desired + max_surge(deployment))
    return updated


def _append_revision_history(history: str, old_revision: str, limit: int) -> str | None:
    """``history`` plus ``old_revision``, oldest entries dropped to fit ``limit`` (None if nothing fits)."""
    if not history:
        return old_revision
    entries = history.split(",")
    total = len(history) + len(old_revision) + 1
    start = 0
    while total > limit and start < len(entries):
        total -= len(entries[start]) + 1
        start += 1
    if total > limit:
        return None
    return ",".join([*entries[start:], old_revision])


def set_deployment_annotations_to(deployment: Deployment, rs: ReplicaSet) -> Deployment:
    """The deployment with ``rs``'s annotations, keeping only its own machinery annotations (rollback)."""
    kept = {k: v for k, v in deployment.metadata.annotations.items() if k in ANNOTATIONS_TO_SKIP}
    copied = {k: v for k, v in rs.metadata.annotations.items() if k not in ANNOTATIONS_TO_SKIP}
    return _with_annotations(deployment, {**kept, **copied})


def _non_negative_int32_annotation(rs: ReplicaSet, key: str) -> int | None:
    value = rs.metadata.annotations.get(key)
    if value is None or not value.isascii() or not value.isdigit():
        return None
    number = int(value)
    return number if number <= MAX_INT32 else None


def desired_replicas_annotation(rs: ReplicaSet) -> int | None:
    return _non_negative_int32_annotation(rs, DESIRED_REPLICAS_ANNOTATION)


def max_replicas_annotation(rs: ReplicaSet) -> int | None:
    return _non_negative_int32_annotation(rs, MAX_REPLICAS_ANNOTATION)


def set_replicas_annotations(rs: ReplicaSet, desired: int, maximum: int) -> ReplicaSet:
    annotations = rs.metadata.annotations
    wanted = {DESIRED_REPLICAS_ANNOTATION: str(desired), MAX_REPLICAS_ANNOTATION: str(maximum)}
    if all(annotations.get(key) == value for key, value in wanted.items()):
        return rs
    return _with_annotations(rs, {**annotations, **wanted})


def replicas_annotations_need_update(rs: ReplicaSet, desired: int, maximum: int) -> bool:
    return set_replicas_annotations(rs, desired, maximum) is not rs


# --- sizing -----------------------------------------------------------------------------------


def new_rs_new_replicas(
    deployment: Deployment, all_replica_sets: Iterable[ReplicaSet], new_rs: ReplicaSet
) -> int:
    """How many replicas the new ReplicaSet should have now (NewRSNewReplicas).

    RollingUpdate: grow towards spec.replicas while Σ spec.replicas stays within replicas +
    maxSurge. Recreate: spec.replicas at once. ValueError for any other strategy.
    """
    strategy = deployment.spec.strategy
    replicas = deployment.spec.replicas
    if strategy.type == ROLLING_UPDATE:
        surge_value = strategy.rolling_update.max_surge if strategy.rolling_update else None
        surge = scaled_value(0 if surge_value is None else surge_value, replicas, round_up=True)
        current = replica_count(all_replica_sets)
        max_total = replicas + surge
        if current >= max_total:
            return new_rs.spec.replicas
        scale_up = min(max_total - current, replicas - new_rs.spec.replicas)
        return new_rs.spec.replicas + scale_up
    if strategy.type == RECREATE:
        return replicas
    raise ValueError(f"deployment type {strategy.type} isn't supported")


def is_saturated(deployment: Deployment, rs: ReplicaSet | None) -> bool:
    """Whether ``rs`` holds all the deployment's replicas: by size, by annotation and by available pods."""
    if rs is None:
        return False
    desired = desired_replicas_annotation(rs)
    replicas = deployment.spec.replicas
    return (
        desired is not None
        and rs.spec.replicas == replicas
        and desired == replicas
        and rs.status.available_replicas == replicas
    )


def replica_set_fraction(rs: ReplicaSet, deployment: Deployment) -> int:
    """How many replicas ``rs`` gains (or loses) when the deployment is resized (getReplicaSetFraction).

    Its share of the old replicas + maxSurge (from its max-replicas annotation) applied to the new
    total; when the annotation is missing or 0, the deployment's status.replicas stands in.
    """
    if deployment.spec.replicas == 0:
        return -rs.spec.replicas
    deployment_max = deployment.spec.replicas + max_surge(deployment)
    before_scale = max_replicas_annotation(rs)
    if not before_scale:
        before_scale = deployment.status.replicas
        if before_scale == 0:
            return 0  # nothing to take a proportion of: someone removed the annotation
    scaled = rs.spec.replicas * deployment_max / before_scale
    return round_half_away_from_zero(scaled) - rs.spec.replicas


def replica_set_proportion(rs: ReplicaSet | None, deployment: Deployment, to_add: int, added: int) -> int:
    """``rs``'s part of ``to_add`` given ``added`` so far, within what is left (GetReplicaSetProportion)."""
    if rs is None or rs.spec.replicas == 0 or to_add in (0, added):
        return 0
    fraction = replica_set_fraction(rs, deployment)
    allowed = to_add - added
    if to_add > 0:
        return min(fraction, allowed)
    return max(fraction, allowed)


# --- conditions -------------------------------------------------------------------------------


def new_deployment_condition(
    type_: str, status: str, reason: str, message: str, now: datetime
) -> DeploymentCondition:
    """A condition stamped ``now`` in whole seconds, as a metav1.Time is stored.

    The deadline is counted from what is stored (DeploymentTimedOut, requeueStuckDeployment), and
    a store that serialises, as etcd does, would drop the fraction anyway.
    """
    stamp = now.replace(microsecond=0)
    return DeploymentCondition(
        type=type_,
        status=status,
        reason=reason,
        message=message,
        last_update_time=stamp,
        last_transition_time=stamp,
    )


def set_deployment_condition(status: DeploymentStatus, condition: DeploymentCondition) -> DeploymentStatus:
    """``status`` with ``condition``; unchanged when status and reason are the same.

    lastTransitionTime is kept when only the reason changes: it records when the status flipped.
    """
    current = status.condition(condition.type)
    if current is not None and current.status == condition.status and current.reason == condition.reason:
        return status
    if current is not None and current.status == condition.status:
        condition = attrs.evolve(condition, last_transition_time=current.last_transition_time)
    others = tuple(c for c in status.conditions if c.type != condition.type)
    return attrs.evolve(status, conditions=(*others, condition))


def remove_deployment_condition(status: DeploymentStatus, type_: str) -> DeploymentStatus:
    if status.condition(type_) is None:
        return status
    return attrs.evolve(status, conditions=tuple(c for c in status.conditions if c.type != type_))


def replica_set_to_deployment_condition(condition: ReplicaSetCondition) -> DeploymentCondition:
    """A ReplicaSet failure condition promoted onto its deployment."""
    return DeploymentCondition(
        type=condition.type,
        status=condition.status,
        last_transition_time=condition.last_transition_time,
        last_update_time=condition.last_transition_time,
        reason=condition.reason,
        message=condition.message,
    )


# --- progress ---------------------------------------------------------------------------------


def has_progress_deadline(deployment: Deployment) -> bool:
    deadline = deployment.spec.progress_deadline_seconds
    return deadline is not None and deadline != MAX_INT32


def has_revision_history_limit(deployment: Deployment) -> bool:
    limit = deployment.spec.revision_history_limit
    return limit is not None and limit != MAX_INT32


def deployment_complete(deployment: Deployment, new_status: DeploymentStatus) -> bool:
    """All desired replicas updated and available, no old pods, and this generation observed."""
    replicas = deployment.spec.replicas
    return (
        new_status.updated_replicas == replicas
        and new_status.replicas == replicas
        and new_status.available_replicas == replicas
        and new_status.observed_generation >= deployment.metadata.generation
    )


def deployment_progressing(deployment: Deployment, new_status: DeploymentStatus) -> bool:
    """Whether ``new_status`` shows progress over the deployment's status: more updated, fewer old,
    more ready or more available pods."""
    old = deployment.status
    old_status_old_replicas = old.replicas - old.updated_replicas
    new_status_old_replicas = new_status.replicas - new_status.updated_replicas
    return (
        new_status.updated_replicas > old.updated_replicas
        or new_status_old_replicas < old_status_old_replicas
        or new_status.ready_replicas > old.ready_replicas
        or new_status.available_replicas > old.available_replicas
    )


def deployment_timed_out(deployment: Deployment, new_status: DeploymentStatus, now: datetime) -> bool:
    """Whether the Progressing condition was last updated more than progressDeadlineSeconds before ``now``.

    A finished rollout (NewReplicaSetAvailable) never times out; a timed-out one stays timed out.
    """
    if not has_progress_deadline(deployment):
        return False
    condition = new_status.condition(PROGRESSING)
    if condition is None or condition.reason == NEW_RS_AVAILABLE_REASON:
        return False
    if condition.reason == TIMED_OUT_REASON:
        return True
    since = condition.last_update_time or _EPOCH
    deadline = timedelta(seconds=deployment.spec.progress_deadline_seconds or 0)
    return since + deadline < now


def seconds_until_progress_check(
    deployment: Deployment, new_status: DeploymentStatus, now: datetime
) -> float | None:
    """When a stuck rollout should be looked at again to see if it timed out (requeueStuckDeployment).

    None: no need (no deadline, no Progressing condition, complete, or already timed out); 0: now;
    otherwise the seconds left until lastUpdateTime + progressDeadlineSeconds.
    """
    condition = deployment.status.condition(PROGRESSING)
    if not has_progress_deadline(deployment) or condition is None:
        return None
    if deployment_complete(deployment, new_status) or condition.reason == TIMED_OUT_REASON:
        return None
    since = condition.last_update_time or _EPOCH
    deadline = since + timedelta(seconds=deployment.spec.progress_deadline_seconds or 0)
    after = (deadline - now).total_seconds()
    return 0.0 if after < 1 else after
