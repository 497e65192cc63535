"""The Deployment controller's pure rules, as table tests ported from Kubernetes.

Cases come from pkg/controller/deployment: util/deployment_util_test.go, sync_test.go (TestScale,
cleanupDeployment), rolling_test.go, recreate_test.go and progress_test.go; each test names the
upstream test it ports. The controller's writes are tested on a simulation in test_deployment.py.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import attrs
import pytest
from hypothesis import given
from hypothesis import strategies as st

from controllers.deployment import RollbackError, rollback_template, util
from controllers.deployment.progress import rollout_status
from controllers.deployment.recreate import old_pods_running
from controllers.deployment.recreate import scale_down_old_replica_sets_plan as recreate_scale_down_plan
from controllers.deployment.rolling import (
    cleanup_unhealthy_replicas_plan,
    new_replica_set_target,
    old_replica_sets_plan,
    scale_down_old_replica_sets_plan,
)
from controllers.deployment.sync import (
    ScaleStep,
    calculate_status,
    new_replica_set,
    proportional_scale_plan,
    replica_sets_to_clean_up,
)
from store.models import (
    Container,
    Deployment,
    DeploymentCondition,
    DeploymentSpec,
    DeploymentStatus,
    DeploymentStrategy,
    IntOrString,
    LabelSelector,
    ObjectMeta,
    OwnerReference,
    Pod,
    PodSpec,
    PodStatus,
    PodTemplateSpec,
    ReplicaSet,
    ReplicaSetCondition,
    ReplicaSetSpec,
    ReplicaSetStatus,
    RollingUpdateDeployment,
)

NOW = datetime(2016, 5, 20, 2, 0, tzinfo=UTC)
OLD = datetime(2016, 5, 20, 1, 0, tzinfo=UTC)
OLDER = datetime(2016, 5, 20, 0, 0, tzinfo=UTC)


def template(image: str = "foo/bar", labels: dict[str, str] | None = None) -> PodTemplateSpec:
    return PodTemplateSpec(
        metadata=ObjectMeta(labels=labels or {}),
        spec=PodSpec(containers=[Container(name="app", image=image)]),
    )


def deployment(
    replicas: int = 1,
    *,
    name: str = "foo",
    max_surge: IntOrString = 0,
    max_unavailable: IntOrString = 0,
    strategy: str = "RollingUpdate",
    revision_history_limit: int | None = None,
    progress_deadline_seconds: int | None = None,
    labels: dict[str, str] | None = None,
    image: str = "foo/bar",
    status: DeploymentStatus | None = None,
) -> Deployment:
    """upstream's newDeployment: surge and unavailable default to 0 (so unavailable resolves to 1)."""
    rolling = RollingUpdateDeployment(max_surge=max_surge, max_unavailable=max_unavailable)
    return Deployment(
        metadata=ObjectMeta(name=name, namespace="default", uid=f"uid-{name}"),
        spec=DeploymentSpec(
            replicas=replicas,
            selector=LabelSelector(match_labels=labels or {}),
            template=template(image, labels),
            strategy=DeploymentStrategy(
                type=strategy, rolling_update=rolling if strategy == "RollingUpdate" else None
            ),
            revision_history_limit=revision_history_limit,
            progress_deadline_seconds=progress_deadline_seconds,
        ),
        status=status or DeploymentStatus(),
    )


def rs(
    name: str,
    replicas: int,
    *,
    created: datetime | None = None,
    available: int = 0,
    status_replicas: int = 0,
    annotations: dict[str, str] | None = None,
    image: str = "foo/bar",
    owner: Deployment | None = None,
    observed_generation: int = 0,
    terminating: int | None = None,
) -> ReplicaSet:
    refs = []
    if owner is not None:
        refs = [
            OwnerReference(
                api_version="apps/v1", kind="Deployment", name="foo", uid=owner.metadata.uid, controller=True
            )
        ]
    return ReplicaSet(
        metadata=ObjectMeta(
            name=name,
            namespace="default",
            uid=f"uid-{name}",
            creation_timestamp=created,
            annotations=annotations or {},
            owner_references=refs,
        ),
        spec=ReplicaSetSpec(replicas=replicas, template=template(image)),
        status=ReplicaSetStatus(
            replicas=status_replicas,
            available_replicas=available,
            observed_generation=observed_generation,
            terminating_replicas=terminating,
        ),
    )


def with_replicas_annotations(replica_set: ReplicaSet, desired: int, maximum: int) -> ReplicaSet:
    return util.set_replicas_annotations(replica_set, desired, maximum)


# --- deployment_util_test.go ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("max_surge", "max_unavailable", "desired", "expected"),
    [
        ("0%", "0%", 0, (0, 1)),
        ("39%", "39%", 10, (4, 3)),
        (None, "39%", 10, (0, 3)),
        ("39%", None, 10, (4, 0)),
        (None, None, 10, (0, 1)),
    ],
)
def test_resolve_fenceposts_rounds_surge_up_and_unavailable_down_never_both_zero(
    max_surge: str | None, max_unavailable: str | None, desired: int, expected: tuple[int, int]
) -> None:
    assert util.resolve_fenceposts(max_surge, max_unavailable, desired) == expected


@pytest.mark.parametrize(("max_surge", "max_unavailable"), [("oops", "39%"), ("55%", "urg")])
def test_resolve_fenceposts_rejects_values_that_are_not_percentages(
    max_surge: str, max_unavailable: str
) -> None:
    with pytest.raises(ValueError, match="invalid value"):
        util.resolve_fenceposts(max_surge, max_unavailable, 10)


@pytest.mark.parametrize(
    ("strategy", "deployment_replicas", "new_rs_replicas", "max_surge", "expected"),
    [
        pytest.param("RollingUpdate", 1, 5, 1, 5, id="can not scale up - to newRSReplicas"),
        pytest.param("RollingUpdate", 6, 2, 10, 6, id="scale up - to depReplicas"),
        pytest.param("Recreate", 3, 1, 1, 3, id="recreate - to depReplicas"),
    ],
)
def test_new_rs_new_replicas_stays_within_replicas_plus_surge(
    strategy: str, deployment_replicas: int, new_rs_replicas: int, max_surge: int, expected: int
) -> None:
    d = deployment(deployment_replicas, strategy=strategy, max_surge=max_surge, max_unavailable=1)
    new = rs("new", new_rs_replicas)
    assert util.new_rs_new_replicas(d, [rs("rs5", 5)], new) == expected


@pytest.mark.parametrize(
    ("deployment_replicas", "status_replicas", "max_surge", "rs_replicas", "annotations", "expected"),
    [
        pytest.param(0, 0, 0, 10, None, -10, id="empty deployment always scales to 0"),
        pytest.param(
            10, 0, 0, 5, None, 0, id="unsynced deployment does not scale when max-replicas is missing"
        ),
        pytest.param(
            10, 0, 0, 5, {util.MAX_REPLICAS_ANNOTATION: "0"}, 0, id="unsynced, max-replicas set to 0"
        ),
        pytest.param(120, 100, 0, 50, None, 10, id="scale up by 1/5 when max-replicas is missing"),
        pytest.param(
            120, 100, 0, 50, {util.MAX_REPLICAS_ANNOTATION: "0"}, 10, id="scale up by 1/5, max-replicas 0"
        ),
        pytest.param(120, 0, 0, 50, {util.MAX_REPLICAS_ANNOTATION: "100"}, 10, id="scale up by 1/5"),
        pytest.param(120, 0, 10, 50, {util.MAX_REPLICAS_ANNOTATION: "110"}, 9, id="scale up with maxSurge"),
        pytest.param(10, 0, 0, 6, {util.MAX_REPLICAS_ANNOTATION: "12"}, -1, id="scale down by 1/6"),
        pytest.param(
            100, 0, 10, 50, {util.MAX_REPLICAS_ANNOTATION: "130"}, -8, id="scale down with maxSurge"
        ),
    ],
)
def test_replica_set_fraction_is_its_share_of_the_new_size(
    *,
    deployment_replicas: int,
    status_replicas: int,
    max_surge: int,
    rs_replicas: int,
    annotations: dict[str, str] | None,
    expected: int,
) -> None:
    d = deployment(deployment_replicas, max_surge=max_surge, max_unavailable=1)
    d = attrs.evolve(d, status=DeploymentStatus(replicas=status_replicas))
    assert util.replica_set_fraction(rs("rs", rs_replicas, annotations=annotations), d) == expected


@pytest.mark.parametrize(
    ("rs_replicas", "to_add", "added", "expected"),
    [
        pytest.param(0, 5, 0, 0, id="an empty replica set gets nothing"),
        pytest.param(5, 0, 0, 0, id="nothing to add"),
        pytest.param(5, 4, 4, 0, id="everything added already"),
        pytest.param(5, 20, 0, 5, id="scale up: the fraction when it fits"),
        pytest.param(5, 20, 18, 2, id="scale up: capped at what is left"),
        pytest.param(5, -20, 0, -3, id="scale down: the fraction when it fits"),
        pytest.param(5, -20, -18, -2, id="scale down: capped at what is left"),
    ],
)
def test_replica_set_proportion_never_exceeds_what_is_left(
    rs_replicas: int, to_add: int, added: int, expected: int
) -> None:
    # 10 desired (max 10) before; 20 now for growth, 4 for shrinkage: rs is 1/2 of the old size.
    replicas = 20 if to_add > 0 else 4
    d = deployment(replicas, max_surge=0, max_unavailable=1)
    replica_set = rs("rs", rs_replicas, annotations={util.MAX_REPLICAS_ANNOTATION: "10"})
    assert util.replica_set_proportion(replica_set, d, to_add, added) == expected


def test_replica_set_proportion_of_no_replica_set_is_zero() -> None:
    assert util.replica_set_proportion(None, deployment(3), 2, 0) == 0


def _status(replicas: int, updated: int, available: int, ready: int = 0) -> DeploymentStatus:
    return DeploymentStatus(
        replicas=replicas, updated_replicas=updated, ready_replicas=ready, available_replicas=available
    )


@pytest.mark.parametrize(
    ("desired", "current", "updated", "available", "max_unavailable", "max_surge", "expected"),
    [
        pytest.param(5, 5, 5, 4, 1, 0, False, id="not complete: min but not all pods become available"),
        pytest.param(5, 5, 5, 3, 1, 0, False, id="not complete: min availability is not honored"),
        pytest.param(5, 5, 5, 5, 0, 0, True, id="complete"),
        pytest.param(5, 5, 4, 5, 0, 0, False, id="not complete: all pods are available but not updated"),
        pytest.param(1, 2, 1, 1, 0, 1, False, id="not complete: still running old pods"),
        pytest.param(1, 1, 1, 0, 1, 1, False, id="not complete: one replica deployment never comes up"),
    ],
)
def test_deployment_complete_needs_every_replica_updated_and_available(
    *,
    desired: int,
    current: int,
    updated: int,
    available: int,
    max_unavailable: int,
    max_surge: int,
    expected: bool,
) -> None:
    d = deployment(desired, max_surge=max_surge, max_unavailable=max_unavailable)
    assert util.deployment_complete(d, _status(current, updated, available)) is expected


def test_deployment_complete_needs_the_generation_observed() -> None:
    d = deployment(1)
    d = attrs.evolve(d, metadata=attrs.evolve(d.metadata, generation=2))
    status = attrs.evolve(_status(1, 1, 1), observed_generation=1)
    assert util.deployment_complete(d, status) is False


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        pytest.param((10, 4, 4, 4), (10, 6, 4, 4), True, id="progressing: updated pods"),
        pytest.param((10, 4, 4, 4), (10, 4, 4, 4), False, id="not progressing"),
        pytest.param((10, 4, 6, 6), (8, 4, 6, 6), True, id="progressing: old pods removed"),
        pytest.param((10, 7, 3, 3), (10, 6, 3, 3), False, id="not progressing: less new pods"),
        pytest.param((10, 4, 7, 7), (8, 8, 5, 5), True, id="progressing: less overall but more new pods"),
        pytest.param((10, 10, 9, 8), (10, 10, 10, 8), True, id="progressing: more ready pods"),
        pytest.param((10, 10, 10, 9), (10, 10, 10, 10), True, id="progressing: more available pods"),
    ],
)
def test_deployment_progressing_when_pods_are_updated_removed_ready_or_available(
    old: tuple[int, int, int, int], new: tuple[int, int, int, int], expected: bool
) -> None:
    def status(current: int, updated: int, ready: int, available: int) -> DeploymentStatus:
        return _status(current, updated, available, ready)

    d = attrs.evolve(deployment(), status=status(*old))
    assert util.deployment_progressing(d, status(*new)) is expected


def _at(minute: int, second: int) -> datetime:
    return datetime(2016, 1, 1, 0, minute, second, tzinfo=UTC)


def _progressing(reason: str, since: datetime | None, status: str = "True") -> DeploymentStatus:
    return DeploymentStatus(
        conditions=[
            DeploymentCondition(type="Progressing", status=status, reason=reason, last_update_time=since)
        ]
    )


@pytest.mark.parametrize(
    ("deadline", "reason", "since", "now", "expected"),
    [
        pytest.param(None, "", _at(1, 9), _at(1, 20), False, id="nil progressDeadlineSeconds - no timeout"),
        pytest.param(util.MAX_INT32, "", _at(1, 9), _at(1, 20), False, id="infinite progressDeadlineSeconds"),
        pytest.param(10, "", _at(1, 9), _at(1, 20), True, id="10s deadline, 11s since"),
        pytest.param(10, "", _at(1, 11), _at(1, 20), False, id="10s deadline, 9s since"),
        pytest.param(
            None, util.NEW_RS_AVAILABLE_REASON, None, _at(1, 20), False, id="previous status was complete"
        ),
        pytest.param(
            10,
            util.NEW_RS_AVAILABLE_REASON,
            _at(0, 0),
            _at(1, 20),
            False,
            id="complete rollouts never time out",
        ),
        pytest.param(10, util.TIMED_OUT_REASON, _at(1, 19), _at(1, 20), True, id="timed out stays timed out"),
    ],
)
def test_deployment_timed_out_after_progress_deadline_without_progress(
    deadline: int | None, reason: str, since: datetime | None, now: datetime, expected: bool
) -> None:
    d = deployment(progress_deadline_seconds=deadline, status=_progressing(reason, since))
    assert util.deployment_timed_out(d, d.status, now) is expected


@pytest.mark.parametrize(
    ("replicas", "max_unavailable", "expected"),
    [
        pytest.param(10, 5, 5, id="maxUnavailable less than replicas"),
        pytest.param(10, 10, 10, id="maxUnavailable equal replicas"),
        pytest.param(5, 10, 5, id="maxUnavailable greater than replicas"),
        pytest.param(0, 10, 0, id="maxUnavailable with replicas is 0"),
        pytest.param(10, "50%", 5, id="maxUnavailable less than replicas with percents"),
        pytest.param(10, "100%", 10, id="maxUnavailable equal replicas with percents"),
        pytest.param(5, "100%", 5, id="maxUnavailable greater than replicas with percents"),
    ],
)
def test_max_unavailable_is_clamped_to_replicas(
    replicas: int, max_unavailable: IntOrString, expected: int
) -> None:
    assert (
        util.max_unavailable(deployment(replicas, max_surge=1, max_unavailable=max_unavailable)) == expected
    )


def test_max_unavailable_and_min_available_are_zero_for_recreate() -> None:
    d = deployment(10, strategy="Recreate")
    assert (util.max_unavailable(d), util.min_available(d), util.max_surge(d)) == (0, 0, 0)


@pytest.mark.parametrize(
    ("replicas", "max_unavailable", "expected"),
    [
        pytest.param(10, 5, 5, id="replicas greater than maxUnavailable"),
        pytest.param(10, 10, 0, id="replicas equal maxUnavailable"),
        pytest.param(5, 10, 0, id="replicas less than maxUnavailable"),
        pytest.param(0, 10, 0, id="replicas is 0"),
        pytest.param(10, "60%", 4, id="replicas greater than maxUnavailable with percents"),
        pytest.param(10, "100%", 0, id="replicas equal maxUnavailable with percents"),
        pytest.param(5, "100%", 0, id="replicas less than maxUnavailable with percents"),
    ],
)
def test_min_available_is_replicas_minus_max_unavailable(
    replicas: int, max_unavailable: IntOrString, expected: int
) -> None:
    assert util.min_available(deployment(replicas, max_surge=1, max_unavailable=max_unavailable)) == expected


def _hash_template(
    name: str, node: str, annotations: dict[str, str], labels: dict[str, str]
) -> PodTemplateSpec:
    return PodTemplateSpec(
        metadata=ObjectMeta(name=name, annotations=annotations, labels=labels), spec=PodSpec(node_name=node)
    )


HASH = util.POD_TEMPLATE_HASH_LABEL


@pytest.mark.parametrize(
    ("former", "latter", "expected"),
    [
        pytest.param(
            _hash_template("foo", "foo-node", {}, {HASH: "value-1", "something": "else"}),
            _hash_template("foo", "foo-node", {}, {HASH: "value-1", "something": "else"}),
            True,
            id="Same spec, same labels",
        ),
        pytest.param(
            _hash_template("foo", "foo-node", {}, {HASH: "value-1", "something": "else"}),
            _hash_template("foo", "foo-node", {}, {HASH: "value-2", "something": "else"}),
            True,
            id="Same spec, only pod-template-hash label value is different",
        ),
        pytest.param(
            _hash_template("foo", "foo-node", {}, {"something": "else"}),
            _hash_template("foo", "foo-node", {}, {HASH: "value-2", "something": "else"}),
            True,
            id="Same spec, the former doesn't have pod-template-hash label",
        ),
        pytest.param(
            _hash_template("foo", "foo-node", {}, {"something": "else"}),
            _hash_template("foo", "foo-node", {}, {HASH: "value-2"}),
            False,
            id="Same spec, different label, the former without hash, same number of labels",
        ),
        pytest.param(
            _hash_template("foo", "foo-node", {}, {HASH: "value-1"}),
            _hash_template("foo", "foo-node", {}, {"something": "else"}),
            False,
            id="Same spec, different label, the latter without hash, same number of labels",
        ),
        pytest.param(
            _hash_template("foo", "foo-node", {}, {HASH: "value-1"}),
            _hash_template("foo", "foo-node", {}, {HASH: "value-1", "something": "else"}),
            False,
            id="Same spec, the label is different, and the pod-template-hash label value is the same",
        ),
        pytest.param(
            _hash_template("foo", "foo-node", {"former": "value"}, {HASH: "value-1", "something": "else"}),
            _hash_template("foo", "foo-node", {"latter": "value"}, {HASH: "value-1", "something": "else"}),
            False,
            id="Different spec, same labels",
        ),
        pytest.param(
            _hash_template("foo-1", "foo-node", {}, {HASH: "value-1", "something": "else"}),
            _hash_template("foo-2", "foo-node", {}, {HASH: "value-2", "something": "else"}),
            False,
            id="Different spec, different pod-template-hash label value",
        ),
        pytest.param(
            _hash_template("foo-1", "foo-node-1", {}, {"something": "else"}),
            _hash_template("foo-2", "foo-node-2", {}, {HASH: "value-2", "something": "else"}),
            False,
            id="Different spec, the former doesn't have pod-template-hash label",
        ),
        pytest.param(
            _hash_template("foo", "foo-node-1", {}, {"something": "else"}),
            _hash_template("foo", "foo-node-2", {}, {"nothing": "else"}),
            False,
            id="Different spec, different labels",
        ),
    ],
)
def test_equal_ignore_hash_compares_templates_without_the_hash_label(
    former: PodTemplateSpec, latter: PodTemplateSpec, expected: bool
) -> None:
    assert util.equal_ignore_hash(former, latter) is expected
    assert util.equal_ignore_hash(latter, former) is expected


_TEMPLATES = st.builds(
    _hash_template,
    name=st.sampled_from(["foo", "bar"]),
    node=st.sampled_from(["node-1", "node-2"]),
    annotations=st.sampled_from([{}, {"note": "a"}]),
    labels=st.dictionaries(st.sampled_from([HASH, "app", "tier"]), st.sampled_from(["x", "y"]), max_size=3),
)


@given(_TEMPLATES, _TEMPLATES)
def test_equal_ignore_hash_is_equality_of_the_templates_once_the_hash_label_is_dropped(
    former: PodTemplateSpec, latter: PodTemplateSpec
) -> None:
    def dropped(template: PodTemplateSpec) -> PodTemplateSpec:
        labels = {key: value for key, value in template.metadata.labels.items() if key != HASH}
        return attrs.evolve(template, metadata=attrs.evolve(template.metadata, labels=labels))

    assert util.equal_ignore_hash(former, latter) is (dropped(former) == dropped(latter))


def _running(name: str, pod_template: PodTemplateSpec, created: datetime) -> ReplicaSet:
    replica_set = rs(name, 0, created=created)
    return attrs.evolve(replica_set, spec=attrs.evolve(replica_set.spec, template=pod_template))


def test_find_new_replica_set_matches_the_template_ignoring_the_hash() -> None:
    d = deployment(labels={"name": "nginx"})
    new = _running("new", template(labels={"name": "nginx", HASH: "hash"}), NOW)
    old = rs("old", 0, image="nginx-old-1")
    assert util.find_new_replica_set(d, [new, old]) is new
    assert util.find_new_replica_set(d, [old]) is None


def test_find_new_replica_set_picks_the_oldest_of_several_with_the_template() -> None:
    d = deployment()
    newer = _running("new", template(labels={HASH: "hash"}), NOW)
    older = _running("new-dup", template(labels={HASH: "different-hash"}), OLD)
    assert util.find_new_replica_set(d, [newer, rs("old", 0, image="nginx-old-1"), older]) is older


@pytest.mark.parametrize(
    ("names", "expected_all", "expected_required"),
    [
        pytest.param(["new", "old"], ["old"], [], id="Get old ReplicaSets"),
        pytest.param(["old"], ["old"], [], id="Get old ReplicaSets with no new ReplicaSet"),
        pytest.param(
            ["old", "new", "new-dup"],
            ["old", "new"],
            ["new"],
            id="Two new ReplicaSets: only the oldest is new",
        ),
        pytest.param(["new"], [], [], id="Get empty old ReplicaSets"),
    ],
)
def test_find_old_replica_sets_is_everything_but_the_new_one(
    names: list[str], expected_all: list[str], expected_required: list[str]
) -> None:
    d = deployment()
    current = rs("x", 0).spec
    by_name = {
        "new": attrs.evolve(
            rs("new", 1, created=NOW + timedelta(minutes=1)), spec=attrs.evolve(current, replicas=1)
        ),
        "new-dup": attrs.evolve(rs("new-dup", 0, created=NOW), spec=attrs.evolve(current, replicas=0)),
        "old": rs("old", 0, created=NOW - timedelta(minutes=1), image="nginx-old-1"),
    }
    required, all_old = util.find_old_replica_sets(d, [by_name[name] for name in names])
    assert sorted(r.metadata.name for r in all_old) == sorted(expected_all)
    assert [r.metadata.name for r in required] == expected_required


def _counting_sets() -> dict[str, ReplicaSet]:
    return {
        "rs1": rs("rs1", 1, status_replicas=2, observed_generation=1, terminating=3),
        "rs2": rs("rs2", 2, status_replicas=3, terminating=1),
        "rs3": rs("rs3", 3, status_replicas=0),
        "rs4": rs("rs4", 1, status_replicas=1, observed_generation=1),
    }


@pytest.mark.parametrize(
    ("names", "count", "actual", "terminating"),
    [
        pytest.param(["rs1"], 1, 2, 3, id="scaling down rs1"),
        pytest.param(["rs1", "rs2"], 3, 5, 4, id="scaling down rs1 and rs2"),
        pytest.param(["rs3"], 3, 0, 0, id="scaling up rs3 (not synced yet)"),
        pytest.param(["rs1", "rs2", "rs3"], 6, 5, 4, id="scaling down rs1 and rs2 and scaling up rs3"),
        pytest.param(["rs4"], 1, 1, None, id="unknown terminating status for rs4"),
        pytest.param(
            ["rs1", "rs2", "rs3", "rs4"], 7, 6, None, id="unknown terminating status with the others"
        ),
    ],
)
def test_replica_counts_sum_spec_status_and_terminating(
    names: list[str], count: int, actual: int, terminating: int | None
) -> None:
    sets = [_counting_sets()[name] for name in names]
    assert util.replica_count(sets) == count
    assert util.actual_replica_count(sets) == actual
    assert util.terminating_replica_count(sets) == terminating


CONDITION_PROGRESSING = DeploymentCondition(type="Progressing", status="False", reason="ForSomeReason")
CONDITION_PROGRESSING_2 = DeploymentCondition(type="Progressing", status="True", reason="BecauseItIs")
CONDITION_AVAILABLE = DeploymentCondition(type="Available", status="True", reason="AwesomeController")


@pytest.mark.parametrize(
    ("conditions", "condition", "expected"),
    [
        pytest.param([], CONDITION_AVAILABLE, [CONDITION_AVAILABLE], id="set for the first time"),
        pytest.param(
            [CONDITION_PROGRESSING],
            CONDITION_AVAILABLE,
            [CONDITION_PROGRESSING, CONDITION_AVAILABLE],
            id="simple set",
        ),
        pytest.param(
            [CONDITION_PROGRESSING], CONDITION_PROGRESSING_2, [CONDITION_PROGRESSING_2], id="overwrite"
        ),
    ],
)
def test_set_deployment_condition_adds_or_replaces_the_condition_of_its_type(
    conditions: list[DeploymentCondition], condition: DeploymentCondition, expected: list[DeploymentCondition]
) -> None:
    status = util.set_deployment_condition(DeploymentStatus(conditions=conditions), condition)
    assert list(status.conditions) == expected


def test_set_deployment_condition_keeps_last_transition_time_when_only_the_reason_changes() -> None:
    before = util.new_deployment_condition("Progressing", "True", "NewReplicaSetCreated", "created", OLDER)
    status = DeploymentStatus(conditions=[before])
    after = util.new_deployment_condition("Progressing", "True", "ReplicaSetUpdated", "progressing", NOW)
    updated = util.set_deployment_condition(status, after).condition("Progressing")
    assert updated is not None
    assert (updated.reason, updated.last_update_time, updated.last_transition_time) == (
        "ReplicaSetUpdated",
        NOW,
        OLDER,
    )


def test_set_deployment_condition_with_the_same_status_and_reason_changes_nothing() -> None:
    status = DeploymentStatus(conditions=[CONDITION_AVAILABLE])
    assert util.set_deployment_condition(status, attrs.evolve(CONDITION_AVAILABLE, message="new")) is status


@pytest.mark.parametrize(
    ("conditions", "type_", "expected"),
    [
        pytest.param([], "Progressing", [], id="remove from empty status"),
        pytest.param([CONDITION_PROGRESSING], "Progressing", [], id="simple remove"),
        pytest.param(
            [CONDITION_PROGRESSING, CONDITION_AVAILABLE],
            "ReplicaFailure",
            [CONDITION_PROGRESSING, CONDITION_AVAILABLE],
            id="doesn't remove anything",
        ),
    ],
)
def test_remove_deployment_condition_drops_only_that_type(
    conditions: list[DeploymentCondition], type_: str, expected: list[DeploymentCondition]
) -> None:
    status = util.remove_deployment_condition(DeploymentStatus(conditions=conditions), type_)
    assert list(status.conditions) == expected


def test_set_new_replica_set_annotations_raises_the_revision_and_keeps_a_bounded_history() -> None:
    # TestAnnotationUtils: revisions 11..20 with a 5-character history limit.
    d = deployment()
    d = attrs.evolve(d, metadata=attrs.evolve(d.metadata, annotations={util.REVISION_ANNOTATION: "1"}))
    replica_set = rs("rs", 1)
    for revision in range(10, 20):
        replica_set = util.set_new_replica_set_annotations(
            d, replica_set, str(revision + 1), exists=True, rev_history_limit_in_chars=5
        )
        annotations = replica_set.metadata.annotations
        assert annotations[util.REVISION_ANNOTATION] == str(revision + 1)
        if revision >= 12:
            assert annotations[util.REVISION_HISTORY_ANNOTATION] == f"{revision - 1},{revision}"


def test_set_new_replica_set_annotations_copies_the_deployment_annotations_but_not_its_own() -> None:
    d = deployment(3, max_surge=1)
    annotations = {
        "change-cause": "edit",
        util.REVISION_ANNOTATION: "7",
        util.LAST_APPLIED_CONFIG_ANNOTATION: "{}",
    }
    d = attrs.evolve(d, metadata=attrs.evolve(d.metadata, annotations=annotations))
    created = util.set_new_replica_set_annotations(d, rs("rs", 0), "2", exists=False)
    assert dict(created.metadata.annotations) == {
        "change-cause": "edit",
        util.REVISION_ANNOTATION: "2",
        util.DESIRED_REPLICAS_ANNOTATION: "3",
        util.MAX_REPLICAS_ANNOTATION: "4",
    }


def test_set_new_replica_set_annotations_never_lowers_the_revision() -> None:
    replica_set = rs("rs", 1, annotations={util.REVISION_ANNOTATION: "5"})
    assert util.set_new_replica_set_annotations(deployment(), replica_set, "3", exists=True) is replica_set


def test_set_replicas_annotations_and_is_saturated() -> None:
    replica_set = util.set_replicas_annotations(rs("rs", 1), 10, 11)
    assert replica_set.metadata.annotations[util.DESIRED_REPLICAS_ANNOTATION] == "10"
    assert replica_set.metadata.annotations[util.MAX_REPLICAS_ANNOTATION] == "11"
    saturated = attrs.evolve(
        util.set_replicas_annotations(replica_set, 1, 1), status=ReplicaSetStatus(available_replicas=1)
    )
    assert util.is_saturated(deployment(1), saturated)
    assert not util.is_saturated(deployment(1), attrs.evolve(saturated, status=ReplicaSetStatus()))


@pytest.mark.parametrize(
    ("annotations", "expected"),
    [
        pytest.param(None, True, id="test Annotations nil"),
        pytest.param(
            {util.DESIRED_REPLICAS_ANNOTATION: "8", util.MAX_REPLICAS_ANNOTATION: "20"}, True, id="desired"
        ),
        pytest.param(
            {util.DESIRED_REPLICAS_ANNOTATION: "10", util.MAX_REPLICAS_ANNOTATION: "16"}, True, id="max"
        ),
        pytest.param(
            {util.DESIRED_REPLICAS_ANNOTATION: "10", util.MAX_REPLICAS_ANNOTATION: "20"}, False, id="no"
        ),
    ],
)
def test_replicas_annotations_need_update(annotations: dict[str, str] | None, expected: bool) -> None:
    assert util.replicas_annotations_need_update(rs("rs", 1, annotations=annotations), 10, 20) is expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        pytest.param(None, None, id="invalid empty"),
        pytest.param("invalid", None, id="invalid"),
        pytest.param("-1", None, id="invalid negative"),
        pytest.param("0", 0, id="valid zero"),
        pytest.param("13", 13, id="valid"),
        pytest.param(str(util.MAX_INT32), util.MAX_INT32, id="valid max"),
        pytest.param(str(util.MAX_INT32 + 1), None, id="invalid max out of range"),
        pytest.param(str(2**32), None, id="invalid max out of range 2"),
    ],
)
def test_replicas_annotations_are_non_negative_int32(value: str | None, expected: int | None) -> None:
    annotations = {"foo": "2"} if value is None else {util.DESIRED_REPLICAS_ANNOTATION: value, "foo": "2"}
    assert util.desired_replicas_annotation(rs("rs", 1, annotations=annotations)) == expected


@pytest.mark.parametrize(
    ("revisions", "maximum", "last"),
    [
        pytest.param([], 0, 0, id="no replica sets"),
        pytest.param(["1"], 1, 0, id="one revision"),
        pytest.param(["1", "3", "2"], 3, 2, id="several"),
        pytest.param(["1", "oops", "4"], 4, 1, id="a garbled revision is skipped"),
    ],
)
def test_max_and_last_revision_skip_garbled_revisions(revisions: list[str], maximum: int, last: int) -> None:
    sets = [rs(f"rs{i}", 0, annotations={util.REVISION_ANNOTATION: r}) for i, r in enumerate(revisions)]
    assert (util.max_revision(sets), util.last_revision(sets)) == (maximum, last)


def test_safe_encode_string_maps_digits_onto_the_vowel_free_alphabet() -> None:
    assert util.safe_encode_string("0123456789") == "456789bcdf"


def test_fnv32a_matches_the_reference_vectors() -> None:
    assert (util.fnv32a(b""), util.fnv32a(b"a"), util.fnv32a(b"foobar")) == (
        0x811C9DC5,
        0xE40C292C,
        0xBF9CF968,
    )


def test_compute_hash_is_deterministic_and_changes_with_template_and_collision_count() -> None:
    first = util.compute_hash(template("nginx:1"), None)
    assert first == util.compute_hash(template("nginx:1"), None)
    assert first != util.compute_hash(template("nginx:2"), None)
    assert (
        len({first, util.compute_hash(template("nginx:1"), 0), util.compute_hash(template("nginx:1"), 1)})
        == 3
    )
    assert set(first) <= set("bcdfghjklmnpqrstvwxz2456789")


def test_new_replica_set_is_named_and_labelled_with_the_template_hash() -> None:
    d = deployment(3, max_surge=1, labels={"app": "web"})
    created = new_replica_set(d, [], "1")
    pod_template_hash = util.compute_hash(d.spec.template, None)
    assert created.metadata.name == f"foo-{pod_template_hash}"
    assert created.metadata.labels == {"app": "web", HASH: pod_template_hash}
    assert created.spec.template.metadata.labels == created.metadata.labels
    assert created.spec.selector == LabelSelector(match_labels={"app": "web", HASH: pod_template_hash})
    assert created.spec.replicas == 3
    ref = created.metadata.controller_ref()
    assert ref is not None
    assert (ref.kind, ref.uid, ref.block_owner_deletion) == ("Deployment", "uid-foo", True)


# --- sync_test.go -----------------------------------------------------------------------------


def _scale_case(
    replicas: int,
    old_replicas: int,
    new: tuple[str, int] | None,
    olds: list[tuple[str, int]],
    expected: dict[str, int],
    *,
    max_surge: int = 0,
    old_max_surge: int | None = None,
    desired_annotations: dict[str, int] | None = None,
    new_available: int | None = None,
    max_unavailable: int = 0,
    labels: dict[str, str] | None = None,
) -> tuple[Deployment, ReplicaSet | None, list[ReplicaSet], dict[str, int]]:
    """A TestScale case: the deployment scaled to ``replicas`` from ``old_replicas``."""
    d = deployment(replicas, max_surge=max_surge, max_unavailable=max_unavailable, labels=labels)
    old_d = deployment(
        old_replicas,
        max_surge=max_surge if old_max_surge is None else old_max_surge,
        max_unavailable=max_unavailable,
    )

    def annotated(name: str, size: int, created: datetime) -> ReplicaSet:
        desired = (desired_annotations or {}).get(name, old_d.spec.replicas)
        return util.set_replicas_annotations(
            rs(name, size, created=created), desired, desired + util.max_surge(old_d)
        )

    new_rs = annotated(new[0], new[1], NOW) if new else None
    if new_rs is not None and new_available is not None:
        new_rs = attrs.evolve(new_rs, status=ReplicaSetStatus(available_replicas=new_available))
    old_rss = [
        annotated(name, size, created) for (name, size), created in zip(olds, [OLD, OLDER], strict=False)
    ]
    return d, new_rs, old_rss, expected


SCALE_CASES = {
    "normal scaling event: 10 -> 12": _scale_case(12, 10, ("foo-v1", 10), [], {"foo-v1": 12}),
    "normal scaling event: 10 -> 5": _scale_case(5, 10, ("foo-v1", 10), [], {"foo-v1": 5}),
    "proportional scaling: 5 -> 10": _scale_case(
        10, 5, ("foo-v2", 2), [("foo-v1", 3)], {"foo-v2": 4, "foo-v1": 6}
    ),
    "proportional scaling: 5 -> 3": _scale_case(
        3, 5, ("foo-v2", 2), [("foo-v1", 3)], {"foo-v2": 1, "foo-v1": 2}
    ),
    "proportional scaling: 9 -> 4": _scale_case(
        4, 9, ("foo-v2", 8), [("foo-v1", 1)], {"foo-v2": 4, "foo-v1": 0}
    ),
    "proportional scaling: 7 -> 10": _scale_case(
        10, 7, ("foo-v3", 2), [("foo-v2", 3), ("foo-v1", 2)], {"foo-v3": 3, "foo-v2": 4, "foo-v1": 3}
    ),
    "proportional scaling: 13 -> 8": _scale_case(
        8, 13, ("foo-v3", 2), [("foo-v2", 8), ("foo-v1", 3)], {"foo-v3": 1, "foo-v2": 5, "foo-v1": 2}
    ),
    "leftover distribution: 3 -> 4 scales up the new replica set": _scale_case(
        4, 3, ("foo-v3", 1), [("foo-v2", 1), ("foo-v1", 1)], {"foo-v3": 2, "foo-v2": 1, "foo-v1": 1}
    ),
    "leftover distribution: 3 -> 2 scales down the older replica set": _scale_case(
        2, 3, ("foo-v3", 1), [("foo-v2", 1), ("foo-v1", 1)], {"foo-v3": 1, "foo-v2": 1, "foo-v1": 0}
    ),
    "proportional scaling (no new rs): 4 -> 5 scales up the latest first": _scale_case(
        5, 4, None, [("foo-v2", 2), ("foo-v1", 2)], {"foo-v2": 3, "foo-v1": 2}
    ),
    "proportional scaling: 6 -> 0": _scale_case(
        0, 6, ("foo-v3", 3), [("foo-v2", 2), ("foo-v1", 1)], {"foo-v3": 0, "foo-v2": 0, "foo-v1": 0}
    ),
    "proportional scaling: 0 -> 6": _scale_case(
        6, 6, ("foo-v3", 0), [("foo-v2", 0), ("foo-v1", 0)], {"foo-v3": 6, "foo-v2": 0, "foo-v1": 0}
    ),
    "failed rs update": _scale_case(
        5,
        5,
        ("foo-v3", 2),
        [("foo-v2", 1), ("foo-v1", 1)],
        {"foo-v3": 2, "foo-v2": 2, "foo-v1": 1},
        desired_annotations={"foo-v2": 3},
    ),
    "deployment with surge pods": _scale_case(
        20, 10, ("foo-v2", 6), [("foo-v1", 6)], {"foo-v2": 11, "foo-v1": 11}, max_surge=2
    ),
    "change both surge and size": _scale_case(
        50, 10, ("foo-v2", 5), [("foo-v1", 8)], {"foo-v2": 22, "foo-v1": 34}, max_surge=6, old_max_surge=3
    ),
    "change both size and template": _scale_case(
        14, 10, None, [("foo-v2", 7), ("foo-v1", 3)], {"foo-v2": 10, "foo-v1": 4}, labels={"another": "label"}
    ),
    "saturated but broken new replica set does not affect old pods": _scale_case(
        2,
        2,
        ("foo-v2", 2),
        [("foo-v1", 1)],
        {"foo-v2": 2, "foo-v1": 1},
        max_surge=1,
        max_unavailable=1,
        new_available=0,
    ),
}


@pytest.mark.parametrize(("d", "new_rs", "old_rss", "expected"), SCALE_CASES.values(), ids=SCALE_CASES.keys())
def test_scale_shares_a_scaling_event_out_in_proportion(
    d: Deployment, new_rs: ReplicaSet | None, old_rss: list[ReplicaSet], expected: dict[str, int]
) -> None:
    sizes = {r.metadata.name: r.spec.replicas for r in [*old_rss, *([new_rs] if new_rs else [])]}
    for step in proportional_scale_plan(d, new_rs, old_rss):
        sizes[step.name] = step.replicas
    assert sizes == expected


def test_scale_proportionally_refreshes_every_active_replica_set_in_one_direction() -> None:
    d, new_rs, old_rss, _ = SCALE_CASES["proportional scaling: 5 -> 10"]
    assert proportional_scale_plan(d, new_rs, old_rss) == [
        ScaleStep("foo-v1", 6, "up"),
        ScaleStep("foo-v2", 4, "up"),
    ]


def test_scale_refreshes_the_stale_annotations_of_a_lone_replica_set_already_at_size() -> None:
    # Sized for 2 by a write made from a Deployment that said 1: the desired-replicas annotation of 1
    # would make every sync a scaling event that changes nothing, and the rollout would never run.
    d = deployment(2, max_surge=1)
    old = util.set_replicas_annotations(rs("foo-v1", 2, created=OLD), 1, 2)
    new = util.set_replicas_annotations(rs("foo-v2", 0, created=NOW), 1, 2)
    assert proportional_scale_plan(d, new, [old]) == [ScaleStep("foo-v1", 2, "")]
    current = util.set_replicas_annotations(old, 2, 3)
    assert proportional_scale_plan(d, new, [current]) == []


def test_scale_of_a_recreate_deployment_with_old_replica_sets_active_takes_them_to_zero_first() -> None:
    # A sync that did not see the old ReplicaSet yet made the new one beside it; a scale then made
    # every sync a scaling event, which upstream's scale leaves alone for Recreate (kubernetes#125568).
    d = deployment(0, strategy="Recreate")
    old = util.set_replicas_annotations(rs("foo-v1", 1, created=OLD), 1, 1)
    new = util.set_replicas_annotations(rs("foo-v2", 1, created=NOW), 1, 1)
    assert proportional_scale_plan(d, new, [old]) == [ScaleStep("foo-v1", 0)]
    # Then one ReplicaSet is active, and it takes spec.replicas whole.
    assert proportional_scale_plan(d, new, [rs("foo-v1", 0, created=OLD)]) == [ScaleStep("foo-v2", 0)]
    # Paused: a scaling event must not roll.
    paused = attrs.evolve(d, spec=attrs.evolve(d.spec, paused=True))
    assert proportional_scale_plan(paused, new, [old]) == []


@pytest.mark.parametrize(
    ("sizes", "limit", "expected_deletions"),
    [
        pytest.param([(0, 0), (0, 0), (0, 0)], 1, 2, id="keep one of three"),
        pytest.param([(0, 0), (0, 1), (1, 0), (1, 1)], 0, 1, id="only delete spec = status = 0"),
        pytest.param([(0, 0), (0, 0)], 0, 2, id="keep none"),
        pytest.param([(1, 1), (1, 1)], 0, 0, id="nothing empty to delete"),
        pytest.param([(0, 0), (0, 0), (0, 0)], util.MAX_INT32, 0, id="unlimited revisionHistoryLimit"),
    ],
)
def test_cleanup_deletes_empty_old_replica_sets_beyond_the_history_limit(
    sizes: list[tuple[int, int]], limit: int, expected_deletions: int
) -> None:
    old = [
        rs(f"foo-{i}", spec, status_replicas=status, annotations={util.REVISION_ANNOTATION: str(i)})
        for i, (spec, status) in enumerate(sizes, start=1)
    ]
    assert len(replica_sets_to_clean_up(old, deployment(revision_history_limit=limit))) == expected_deletions


def test_cleanup_skips_replica_sets_already_being_deleted() -> None:
    deleting = rs("foo-1", 0)
    deleting = attrs.evolve(deleting, metadata=attrs.evolve(deleting.metadata, deletion_timestamp=NOW))
    assert replica_sets_to_clean_up([deleting], deployment(revision_history_limit=0)) == []


def test_cleanup_deletes_the_lowest_revisions_first() -> None:
    old = [rs(f"foo-{r}", 0, annotations={util.REVISION_ANNOTATION: str(r)}) for r in (3, 1, 2)]
    deleted = replica_sets_to_clean_up(old, deployment(revision_history_limit=1))
    assert [r.metadata.name for r in deleted] == ["foo-1", "foo-2"]


def test_calculate_status_counts_replica_sets_and_sets_available() -> None:
    d = deployment(3, max_surge=1, max_unavailable=1)
    d = attrs.evolve(d, metadata=attrs.evolve(d.metadata, generation=4))
    new = attrs.evolve(
        rs("new", 2), status=ReplicaSetStatus(replicas=2, ready_replicas=2, available_replicas=1)
    )
    old = attrs.evolve(
        rs("old", 1), status=ReplicaSetStatus(replicas=1, ready_replicas=1, available_replicas=1)
    )
    status = calculate_status([old, new], new, d, NOW)
    assert (status.observed_generation, status.replicas, status.updated_replicas) == (4, 3, 2)
    assert (status.ready_replicas, status.available_replicas, status.unavailable_replicas) == (3, 2, 1)
    available = status.condition("Available")
    assert available is not None
    assert (available.status, available.reason) == ("True", util.MINIMUM_REPLICAS_AVAILABLE)
    starved = calculate_status([old], None, d, NOW).condition("Available")
    assert starved is not None
    assert (starved.status, starved.reason) == ("False", util.MINIMUM_REPLICAS_UNAVAILABLE)


# --- rolling_test.go --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("deployment_replicas", "max_surge", "old_replicas", "new_replicas", "expected"),
    [
        pytest.param(10, 0, 10, 0, 0, id="should not scale up when old replica set is fully saturated"),
        pytest.param(10, 2, 10, 0, 2, id="should scale up according to the maxSurge when old is saturated"),
        pytest.param(10, 2, 5, 0, 7, id="should scale up according to the maxSurge"),
        pytest.param(10, 2, 10, 2, 2, id="should not scale when maxSurge is fully saturated"),
        pytest.param(10, 2, 2, 11, 10, id="should scale down when there are replicas above maxSurge"),
    ],
)
def test_reconcile_new_replica_set_grows_within_max_surge(
    deployment_replicas: int, max_surge: int, old_replicas: int, new_replicas: int, expected: int
) -> None:
    new, old = rs("foo-v2", new_replicas), rs("foo-v1", old_replicas)
    d = deployment(deployment_replicas, max_surge=max_surge, max_unavailable=0)
    assert new_replica_set_target([new, old], new, d) == expected


@pytest.mark.parametrize(
    ("max_unavailable", "old_replicas", "new_replicas", "ready_old", "ready_new", "expected_old"),
    [
        pytest.param(0, 10, 0, 10, 0, 9, id="no unavailability allowed: one at a time"),
        pytest.param(2, 10, 0, 10, 0, 8, id="scale down by maxUnavailable"),
        pytest.param(2, 10, 0, 8, 0, 8, id="unhealthy replicas from old replica sets are cleaned up"),
        pytest.param(2, 10, 0, 9, 0, 8, id="one unhealthy cleaned up and one ready scaled down"),
        pytest.param(2, 8, 2, 8, 0, None, id="unavailable new pods do not drain old replica sets further"),
    ],
)
def test_reconcile_old_replica_sets_keeps_min_available(
    *,
    max_unavailable: int,
    old_replicas: int,
    new_replicas: int,
    ready_old: int,
    ready_new: int,
    expected_old: int | None,
) -> None:
    new = attrs.evolve(rs("foo-new", new_replicas), status=ReplicaSetStatus(available_replicas=ready_new))
    old = attrs.evolve(rs("foo-old", old_replicas), status=ReplicaSetStatus(available_replicas=ready_old))
    d = deployment(10, max_surge=0, max_unavailable=max_unavailable)
    steps = old_replica_sets_plan([old, new], [old], new, d)
    if expected_old is None:
        assert steps == []
    else:
        assert steps[-1] == ScaleStep("foo-old", expected_old)


@pytest.mark.parametrize(
    ("ready", "max_cleanup", "expected"),
    [(8, 1, 1), (8, 3, 2), (8, 0, 0), (10, 3, 0)],
    ids=["capped by maxCleanupCount", "all unhealthy", "nothing allowed", "nothing unhealthy"],
)
def test_cleanup_unhealthy_replicas_removes_only_unavailable_replicas(
    ready: int, max_cleanup: int, expected: int
) -> None:
    old = attrs.evolve(rs("foo-v2", 10), status=ReplicaSetStatus(available_replicas=ready))
    steps, cleaned, total = cleanup_unhealthy_replicas_plan([old], max_cleanup)
    assert total == expected
    assert cleaned[0].spec.replicas == 10 - expected
    assert len(steps) == (1 if expected else 0)


def test_cleanup_unhealthy_replicas_refuses_a_scale_down_that_would_grow() -> None:
    old = attrs.evolve(rs("foo-v2", 3), status=ReplicaSetStatus(available_replicas=5))
    with pytest.raises(ValueError, match="invalid request to scale down default/foo-v2 3 -> 5"):
        cleanup_unhealthy_replicas_plan([old], 4)


@pytest.mark.parametrize(
    ("max_unavailable", "ready", "old_replicas", "expected_old"),
    [
        pytest.param(0, 10, 10, 9, id="one at a time"),
        pytest.param(2, 10, 10, 8, id="by maxUnavailable"),
        pytest.param(2, 8, 10, None, id="availability already at the minimum"),
        pytest.param(2, 10, 0, None, id="nothing left to scale down"),
        pytest.param(2, 1, 10, None, id="availability below the minimum"),
    ],
)
def test_scale_down_old_replica_sets_for_rolling_update_stops_at_min_available(
    max_unavailable: int, ready: int, old_replicas: int, expected_old: int | None
) -> None:
    old = attrs.evolve(rs("foo-v2", old_replicas), status=ReplicaSetStatus(available_replicas=ready))
    d = deployment(10, max_surge=0, max_unavailable=max_unavailable)
    steps, total = scale_down_old_replica_sets_plan([old], [old], d)
    if expected_old is None:
        assert (steps, total) == ([], 0)
    else:
        assert steps == [ScaleStep("foo-v2", expected_old)]


# --- recreate_test.go -------------------------------------------------------------------------


def test_recreate_scales_every_old_replica_set_to_zero() -> None:
    d = deployment(3, strategy="Recreate")
    old = [rs(f"{d.metadata.name}-0", 3), rs(f"{d.metadata.name}-1", 0)]
    assert recreate_scale_down_plan(old) == [ScaleStep("foo-0", 0)]


def _pods(*phases: str) -> list[Pod]:
    return [Pod(status=PodStatus(phase=phase)) for phase in phases]


@pytest.mark.parametrize(
    ("old_rss", "pod_map", "expected"),
    [
        pytest.param([], {}, False, id="no old RSs"),
        pytest.param(
            [rs("some", 0), rs("other", 0)],
            {"uid-some": _pods("", ""), "uid-other": _pods("", "")},
            True,
            id="old RSs with running pods",
        ),
        pytest.param([rs("rs-1", 0, status_replicas=1)], {}, True, id="no pods but non-zero status replicas"),
        pytest.param([rs("rs-1", 0)], {}, False, id="no pods and zero status replicas"),
        pytest.param(
            [rs("rs-1", 0)],
            {"uid-1": _pods("Failed", "Succeeded")},
            False,
            id="only pods in a terminal state",
        ),
        pytest.param([rs("rs-1", 0)], {"uid-1": _pods("Unknown")}, True, id="pod in unknown phase"),
        pytest.param([rs("rs-1", 0)], {"uid-1": _pods("Pending")}, True, id="pending pod"),
        pytest.param([rs("rs-1", 0)], {"uid-1": _pods("Running")}, True, id="running pod"),
        pytest.param(
            [rs("rs-1", 0)],
            {"uid-1": _pods("Failed", "Succeeded"), "uid-2": [], "uid-3": _pods("Pending")},
            True,
            id="terminal and pending pods",
        ),
    ],
)
def test_old_pods_running_counts_every_pod_not_finished(
    old_rss: list[ReplicaSet], pod_map: dict[str, list[Pod]], expected: bool
) -> None:
    assert old_pods_running(None, old_rss, pod_map) is expected


def test_old_pods_running_ignores_the_new_replica_sets_pods() -> None:
    new = rs("new", 1)
    assert old_pods_running(new, [], {"uid-new": _pods("Running")}) is False


# --- progress_test.go -------------------------------------------------------------------------

STUCK_SINCE = datetime(2017, 2, 15, 18, 49, tzinfo=UTC)


def _current(
    deadline: int | None, replicas: int, status: tuple[int, int, int], conditions: list[DeploymentCondition]
) -> Deployment:
    d = deployment(replicas, strategy="Recreate", progress_deadline_seconds=deadline)
    return attrs.evolve(d, status=attrs.evolve(_status(*status), conditions=conditions))


FAILED = [DeploymentCondition(type="Progressing", status="False", reason=util.TIMED_OUT_REASON)]
STUCK = [DeploymentCondition(type="Progressing", status="True", last_update_time=STUCK_SINCE)]


@pytest.mark.parametrize(
    ("d", "status", "now", "expected"),
    [
        pytest.param(
            _current(None, 4, (3, 3, 2), []), (3, 3, 2), STUCK_SINCE, None, id="no progressDeadlineSeconds"
        ),
        pytest.param(
            _current(60, 4, (3, 3, 2), []), (3, 3, 2), STUCK_SINCE, None, id="no progressing condition"
        ),
        pytest.param(_current(60, 3, (3, 3, 3), []), (3, 3, 3), STUCK_SINCE, None, id="complete deployment"),
        pytest.param(_current(60, 3, (3, 3, 0), FAILED), (3, 3, 0), STUCK_SINCE, None, id="already failed"),
        pytest.param(
            _current(60, 3, (3, 3, 1), STUCK), (3, 3, 1), STUCK_SINCE + timedelta(seconds=30), 30.0, id="30s"
        ),
        pytest.param(
            _current(60, 3, (3, 3, 1), STUCK), (3, 3, 1), STUCK_SINCE + timedelta(seconds=59), 1.0, id="1s"
        ),
        pytest.param(
            _current(60, 3, (3, 3, 1), STUCK),
            (3, 3, 1),
            STUCK_SINCE + timedelta(seconds=59, microseconds=1),
            0.0,
            id="less than a second => now",
        ),
        pytest.param(
            _current(60, 3, (3, 3, 1), STUCK), (3, 3, 1), STUCK_SINCE + timedelta(seconds=60), 0.0, id="now"
        ),
        pytest.param(
            _current(60, 3, (3, 3, 1), STUCK),
            (3, 3, 1),
            STUCK_SINCE + timedelta(seconds=61),
            0.0,
            id="1s after",
        ),
        pytest.param(
            _current(60, 3, (3, 3, 1), STUCK),
            (3, 3, 1),
            STUCK_SINCE + timedelta(minutes=2),
            0.0,
            id="60s after",
        ),
    ],
)
def test_requeue_stuck_deployment_at_its_progress_deadline(
    d: Deployment, status: tuple[int, int, int], now: datetime, expected: float | None
) -> None:
    assert util.seconds_until_progress_check(d, _status(*status), now) == expected


def _with_available(name: str, spec: int, status: int, available: int) -> ReplicaSet:
    return attrs.evolve(
        rs(name, spec), status=ReplicaSetStatus(replicas=status, available_replicas=available)
    )


TIMED_OUT = DeploymentCondition(type="Progressing", status="False", reason=util.TIMED_OUT_REASON)
NEW_RS_AVAILABLE = DeploymentCondition(
    type="Progressing",
    status="True",
    reason=util.NEW_RS_AVAILABLE_REASON,
    last_update_time=STUCK_SINCE,
    last_transition_time=STUCK_SINCE,
)
RS_UPDATED = attrs.evolve(NEW_RS_AVAILABLE, reason=util.REPLICA_SET_UPDATED_REASON)
LATER = STUCK_SINCE + timedelta(hours=1)


@pytest.mark.parametrize(
    ("d", "old", "new", "expected"),
    [
        pytest.param(
            _current(None, 3, (2, 2, 2), [RS_UPDATED]),
            [_with_available("bar", 0, 1, 1)],
            _with_available("foo", 3, 2, 2),
            None,
            id="no progress deadline: Progressing removed",
        ),
        pytest.param(
            _current(60, 3, (3, 3, 3), [NEW_RS_AVAILABLE]),
            [_with_available("bar", 3, 3, 3)],
            None,
            ("True", util.NEW_RS_AVAILABLE_REASON, STUCK_SINCE, STUCK_SINCE),
            id="no progress estimated for a deployment with one active replica set",
        ),
        pytest.param(
            _current(60, 3, (2, 2, 2), [RS_UPDATED]),
            [_with_available("bar", 0, 1, 1)],
            _with_available("foo", 3, 2, 2),
            ("True", util.REPLICA_SET_UPDATED_REASON, LATER, STUCK_SINCE),
            id="progressing: lastTransitionTime kept when Progressing was True",
        ),
        pytest.param(
            _current(60, 3, (2, 2, 2), [TIMED_OUT]),
            [_with_available("bar", 0, 1, 1)],
            _with_available("foo", 3, 2, 2),
            ("True", util.REPLICA_SET_UPDATED_REASON, LATER, LATER),
            id="progressing: everything updated when Progressing was False",
        ),
        pytest.param(
            _current(60, 3, (2, 2, 2), []),
            [_with_available("bar", 0, 1, 1)],
            _with_available("foo", 3, 2, 2),
            ("True", util.REPLICA_SET_UPDATED_REASON, LATER, LATER),
            id="progressing: condition created",
        ),
        pytest.param(
            _current(60, 3, (3, 3, 3), [RS_UPDATED]),
            [],
            _with_available("foo", 3, 3, 3),
            ("True", util.NEW_RS_AVAILABLE_REASON, LATER, STUCK_SINCE),
            id="complete: lastTransitionTime kept when Progressing was True",
        ),
        pytest.param(
            _current(60, 3, (3, 3, 3), [TIMED_OUT]),
            [],
            _with_available("foo", 3, 3, 3),
            ("True", util.NEW_RS_AVAILABLE_REASON, LATER, LATER),
            id="complete: everything updated when Progressing was False",
        ),
        pytest.param(
            _current(60, 0, (3, 3, 3), [RS_UPDATED]),
            [_with_available("foo", 0, 0, 0)],
            None,
            ("True", util.NEW_RS_AVAILABLE_REASON, LATER, STUCK_SINCE),
            id="complete without a new replica set",
        ),
        pytest.param(
            _current(60, 3, (2, 2, 2), [RS_UPDATED]),
            [],
            _with_available("foo", 3, 2, 2),
            ("False", util.TIMED_OUT_REASON, LATER, LATER),
            id="timed out when the rollout exceeds its deadline",
        ),
        pytest.param(
            _current(60, 3, (2, 2, 2), [attrs.evolve(TIMED_OUT, last_update_time=STUCK_SINCE)]),
            [],
            _with_available("foo", 3, 2, 2),
            ("False", util.TIMED_OUT_REASON, STUCK_SINCE, None),
            id="an existing timed-out condition is left alone",
        ),
    ],
)
def test_sync_rollout_status_sets_the_progressing_condition(
    d: Deployment,
    old: list[ReplicaSet],
    new: ReplicaSet | None,
    expected: tuple[str, str, datetime | None, datetime | None] | None,
) -> None:
    status = rollout_status([*old, *([new] if new else [])], new, d, LATER)
    condition = status.condition("Progressing")
    if expected is None:
        assert condition is None
    else:
        assert condition is not None
        assert (
            condition.status,
            condition.reason,
            condition.last_update_time,
            condition.last_transition_time,
        ) == (expected)


def test_sync_rollout_status_promotes_replica_set_failures() -> None:
    failure = ReplicaSetCondition(
        type="ReplicaFailure", status="True", reason="FailedCreate", message="quota"
    )
    new = attrs.evolve(rs("foo", 1), status=ReplicaSetStatus(conditions=[failure]))
    condition = rollout_status([new], new, deployment(1), NOW).condition("ReplicaFailure")
    assert condition is not None
    assert (condition.reason, condition.message) == ("FailedCreate", "quota")


# --- kubectl rollout undo ---------------------------------------------------------------------


def _history() -> tuple[Deployment, list[ReplicaSet]]:
    d = deployment(2, labels={"app": "web"}, image="web:3")
    sets = []
    for revision in (1, 2, 3):
        replica_set = rs(f"web-{revision}", 0, owner=d, annotations={util.REVISION_ANNOTATION: str(revision)})
        labelled = template(f"web:{revision}", {"app": "web", HASH: f"hash{revision}"})
        sets.append(attrs.evolve(replica_set, spec=attrs.evolve(replica_set.spec, template=labelled)))
    sets[0] = attrs.evolve(
        sets[0],
        metadata=attrs.evolve(
            sets[0].metadata, annotations={**sets[0].metadata.annotations, "change-cause": "v1"}
        ),
    )
    return d, sets


def test_rollback_template_copies_the_template_of_that_revision_without_the_hash() -> None:
    d, sets = _history()
    rolled_back = rollback_template(d, sets, 1)
    assert rolled_back.spec.template == template("web:1", {"app": "web"})
    assert rolled_back.metadata.annotations == {"change-cause": "v1"}


def test_rollback_template_to_revision_zero_goes_back_one_revision() -> None:
    d, sets = _history()
    assert rollback_template(d, sets).spec.template.spec.containers[0].image == "web:2"


def test_rollback_template_to_the_current_template_changes_nothing() -> None:
    d, sets = _history()
    assert rollback_template(d, sets, 3) is d


@pytest.mark.parametrize(
    ("sets", "to_revision", "message"),
    [
        pytest.param("history", 7, "unable to find specified revision 7 in history", id="unknown revision"),
        pytest.param(
            "latest only", 0, 'no rollout history found for deployment "foo"', id="no previous revision"
        ),
        pytest.param(
            "foreign", 1, "unable to find specified revision 1 in history", id="not this deployment's"
        ),
    ],
)
def test_rollback_template_raises_when_the_revision_is_not_in_history(
    sets: str, to_revision: int, message: str
) -> None:
    d, history = _history()
    chosen = {
        "history": history,
        "latest only": history[-1:],
        "foreign": [attrs.evolve(r, metadata=attrs.evolve(r.metadata, owner_references=())) for r in history],
    }[sets]
    with pytest.raises(RollbackError, match=message):
        rollback_template(d, chosen, to_revision)


def test_rollback_template_refuses_a_paused_deployment() -> None:
    d, sets = _history()
    paused = attrs.evolve(d, spec=attrs.evolve(d.spec, paused=True))
    with pytest.raises(RollbackError, match="cannot rollback a paused deployment"):
        rollback_template(paused, sets, 1)


def test_rollback_template_looks_the_revision_up_before_refusing_a_paused_deployment() -> None:
    # DeploymentRollbacker.Rollback finds the revision's ReplicaSet (deploymentRevision) first.
    d, sets = _history()
    paused = attrs.evolve(d, spec=attrs.evolve(d.spec, paused=True))
    with pytest.raises(RollbackError, match="unable to find specified revision 7 in history"):
        rollback_template(paused, sets, 7)
