"""Scale-down ranking: the eight rules of ActivePodsWithRanks.Less and which pods get deleted first.

Tables ported from TestSortingActivePodsWithRanks and TestSortingActivePods
(pkg/controller/controller_utils_test.go) and TestGetPodsToDelete (pkg/controller/replicaset).
"""

from __future__ import annotations

import random
from collections import Counter
from datetime import UTC, datetime, timedelta

import attrs
import pytest
from hypothesis import given
from hypothesis import strategies as st

from controllers.ranking import (
    POD_DELETION_COST,
    ActivePodsWithRanks,
    boundary_key,
    deletion_cost,
    deletion_order,
    first_rules_key,
    logarithmic_rank_diff,
    pods_to_delete,
    pods_to_delete_of_candidates,
    pods_to_delete_on_nodes,
    rank_facts,
    rank_tail,
    ranked_by_related_pods_on_same_node,
)
from store.models import ContainerStatus, ObjectMeta, Pod, PodCondition, PodSpec, PodStatus

NOW = datetime(2026, 3, 15, 12, 0, 0, tzinfo=UTC)
ONE_MONTH_AGO = datetime(2026, 2, 15, 12, 0, 0, tzinfo=UTC)
TWO_HOURS_AGO = NOW - timedelta(hours=2)
FIVE_HOURS_AGO = NOW - timedelta(hours=5)
EIGHT_HOURS_AGO = NOW - timedelta(hours=8)


def pod(
    name: str,
    *,
    node: str = "node",
    phase: str = "Running",
    ready: bool = False,
    restarts: int = 0,
    ready_since: datetime | None = None,
    created: datetime | None = None,
    annotations: dict[str, str] | None = None,
    uid: str = "",
) -> Pod:
    conditions = (
        [PodCondition(type="Ready", status="True", last_transition_time=ready_since)] if ready else []
    )
    statuses = [ContainerStatus(name="c", restart_count=restarts)] if ready else []
    return Pod(
        metadata=ObjectMeta(name=name, uid=uid, creation_timestamp=created, annotations=annotations or {}),
        spec=PodSpec(node_name=node),
        status=PodStatus(phase=phase, conditions=conditions, container_statuses=statuses),
    )


UNSCHEDULED = pod("unscheduled", node="", phase="Pending")
SCHEDULED_PENDING = pod("pending", phase="Pending")
UNKNOWN_PHASE = pod("unknown-phase", phase="Unknown")
RUNNING_NOT_READY = pod("not-ready")
READY_NO_TRANSITION_TIME = pod("ready-no-last-transition-time", ready=True)
READY_NOW = pod("ready-now", ready=True, ready_since=NOW, created=NOW)
READY_THEN = pod("ready-then", ready=True, ready_since=ONE_MONTH_AGO, created=ONE_MONTH_AGO)
READY_NOW_HIGH_RESTARTS = pod("ready-high-restarts", ready=True, restarts=9001, ready_since=NOW, created=NOW)
READY_NOW_CREATED_THEN = pod("ready-now-created-then", ready=True, ready_since=NOW, created=ONE_MONTH_AGO)
LOW_DELETION_COST = pod(
    "low-deletion-cost",
    ready=True,
    ready_since=NOW,
    created=ONE_MONTH_AGO,
    annotations={POD_DELETION_COST: "10"},
)
HIGH_DELETION_COST = pod(
    "high-deletion-cost",
    ready=True,
    ready_since=NOW,
    created=ONE_MONTH_AGO,
    annotations={POD_DELETION_COST: "100"},
)
UNSCHEDULED_5_HOURS = pod("unscheduled-5-hours", node="", phase="Pending", created=FIVE_HOURS_AGO)
UNSCHEDULED_8_HOURS = pod("unscheduled-8-hours", node="", phase="Pending", created=EIGHT_HOURS_AGO)
READY_2_HOURS = pod("ready-2-hours", node="", ready=True, ready_since=TWO_HOURS_AGO, created=ONE_MONTH_AGO)
READY_5_HOURS = pod("ready-5-hours", node="", ready=True, ready_since=FIVE_HOURS_AGO, created=ONE_MONTH_AGO)
READY_8_HOURS = pod("ready-8-hours", node="", ready=True, ready_since=EIGHT_HOURS_AGO, created=ONE_MONTH_AGO)


def ranked(
    first: Pod, first_rank: int, second: Pod, second_rank: int, *, log: bool = True
) -> ActivePodsWithRanks:
    return ActivePodsWithRanks([first, second], [first_rank, second_rank], NOW, logarithmic_scale_down=log)


@pytest.mark.parametrize(
    ("first", "second"),
    [
        (UNSCHEDULED, UNSCHEDULED),
        (SCHEDULED_PENDING, SCHEDULED_PENDING),
        (UNKNOWN_PHASE, UNKNOWN_PHASE),
        (RUNNING_NOT_READY, RUNNING_NOT_READY),
        (READY_NOW_CREATED_THEN, READY_NOW_CREATED_THEN),
        (READY_NOW, READY_NOW),
        (READY_THEN, READY_THEN),
        (READY_NOW_HIGH_RESTARTS, READY_NOW_HIGH_RESTARTS),
        (UNSCHEDULED_5_HOURS, UNSCHEDULED_8_HOURS),
        (READY_5_HOURS, READY_8_HOURS),
    ],
    ids=lambda p: p.metadata.name,
)
def test_pods_alike_on_every_rule_or_in_one_age_bucket_rank_equal(first: Pod, second: Pod) -> None:
    pods = ranked(first, 1, second, 1)
    assert not pods.less(0, 1)
    assert not pods.less(1, 0)


@pytest.mark.parametrize(
    ("lesser", "lesser_rank", "greater", "greater_rank"),
    [
        # 1. unassigned before assigned, whatever the ranks
        (UNSCHEDULED, 1, SCHEDULED_PENDING, 2),
        (UNSCHEDULED, 2, SCHEDULED_PENDING, 1),
        # 2. Pending before Unknown before Running
        (SCHEDULED_PENDING, 1, UNKNOWN_PHASE, 2),
        (UNKNOWN_PHASE, 1, RUNNING_NOT_READY, 2),
        # 3. not ready before ready
        (RUNNING_NOT_READY, 1, READY_NO_TRANSITION_TIME, 1),
        # 6. ready for no known time, then more recently ready, first
        (READY_NO_TRANSITION_TIME, 1, READY_NOW, 1),
        (READY_NOW, 1, READY_THEN, 1),
        # 5. doubled up (higher rank) before the readiness times are compared
        (READY_NOW, 2, READY_NO_TRANSITION_TIME, 1),
        (READY_NOW, 2, READY_THEN, 1),
        # 7. more restarts first
        (READY_NOW_HIGH_RESTARTS, 1, READY_NOW, 1),
        (READY_NOW, 2, READY_NOW_HIGH_RESTARTS, 1),
        # 8. newer first
        (READY_NOW, 1, READY_NOW_CREATED_THEN, 1),
        (READY_NOW_CREATED_THEN, 2, READY_NOW, 1),
        # 4. lower deletion cost first, before ranks
        (LOW_DELETION_COST, 2, HIGH_DELETION_COST, 1),
        # 6. with logarithmic buckets: two hours is a bucket younger than five
        (READY_2_HOURS, 1, READY_5_HOURS, 1),
    ],
    ids=lambda value: value.metadata.name if isinstance(value, Pod) else str(value),
)
def test_the_first_rule_that_tells_two_pods_apart_decides_which_goes_first(
    lesser: Pod, lesser_rank: int, greater: Pod, greater_rank: int
) -> None:
    pods = ranked(lesser, lesser_rank, greater, greater_rank)
    assert pods.less(0, 1)
    assert not pods.less(1, 0)


def test_pods_in_one_age_bucket_are_told_apart_by_uid() -> None:
    older = pod("older", ready=True, ready_since=EIGHT_HOURS_AGO, created=ONE_MONTH_AGO, uid="a")
    newer = pod("newer", ready=True, ready_since=FIVE_HOURS_AGO, created=ONE_MONTH_AGO, uid="b")
    pods = ranked(older, 1, newer, 1)
    assert pods.less(0, 1)
    assert not pods.less(1, 0)


def test_without_logarithmic_scale_down_the_more_recent_time_always_goes_first() -> None:
    pods = ranked(READY_5_HOURS, 1, READY_8_HOURS, 1, log=False)
    assert pods.less(0, 1)
    assert not pods.less(1, 0)


def test_without_a_current_time_timestamps_are_compared_exactly() -> None:
    pods = ActivePodsWithRanks([READY_5_HOURS, READY_8_HOURS], [1, 1], None)
    assert pods.less(0, 1)


def _active_pods() -> list[Pod]:
    """TestSortingActivePods' nine pods, in the order they must sort."""
    then = ONE_MONTH_AGO

    def running(
        name: str, restarts: tuple[int, int], since: datetime | None, created: datetime | None
    ) -> Pod:
        return Pod(
            metadata=ObjectMeta(name=name, creation_timestamp=created),
            spec=PodSpec(node_name="foo"),
            status=PodStatus(
                phase="Running",
                conditions=[PodCondition(type="Ready", status="True", last_transition_time=since)],
                container_statuses=[
                    ContainerStatus(name="a", restart_count=restarts[0]),
                    ContainerStatus(name="b", restart_count=restarts[1]),
                ],
            ),
        )

    return [
        Pod(metadata=ObjectMeta(name="pod0"), status=PodStatus(phase="Pending")),
        Pod(
            metadata=ObjectMeta(name="pod1"), spec=PodSpec(node_name="bar"), status=PodStatus(phase="Pending")
        ),
        Pod(
            metadata=ObjectMeta(name="pod2"), spec=PodSpec(node_name="foo"), status=PodStatus(phase="Unknown")
        ),
        Pod(
            metadata=ObjectMeta(name="pod3"), spec=PodSpec(node_name="foo"), status=PodStatus(phase="Running")
        ),
        running("pod4", (3, 0), None, None),
        running("pod5", (3, 0), NOW, None),
        running("pod6", (3, 0), then, None),
        running("pod7", (2, 1), then, NOW),
        running("pod8", (2, 1), then, then),
    ]


@pytest.mark.parametrize("log", [False, True], ids=["exact-times", "logarithmic"])
def test_active_pods_sort_the_same_from_any_starting_order(log: bool) -> None:
    expected = _active_pods()
    shuffler = random.Random(7)
    for _ in range(20):
        shuffled = expected[:]
        shuffler.shuffle(shuffled)
        ordered = ActivePodsWithRanks(shuffled, [0] * len(shuffled), NOW, logarithmic_scale_down=log).sorted()
        assert [p.metadata.name for p in ordered] == [p.metadata.name for p in expected]


@pytest.mark.parametrize(
    ("value", "cost"),
    [
        (None, 0),
        ("10", 10),
        ("-5", -5),
        ("0", 0),
        ("-05", -5),
        ("2147483647", 2147483647),
        ("-2147483648", -2147483648),
        ("2147483648", 0),
        ("+10", 0),
        ("008", 0),
        ("", 0),
        ("1.5", 0),
        ("ten", 0),
        ("1_0", 0),
    ],
)
def test_deletion_cost_is_an_int32_annotation_and_zero_when_malformed(value: str | None, cost: int) -> None:
    annotations = {} if value is None else {POD_DELETION_COST: value}
    subject = Pod(metadata=ObjectMeta(name="p", annotations=annotations))
    assert deletion_cost(subject) == cost


@pytest.mark.parametrize(
    ("first", "second", "diff"),
    [
        (TWO_HOURS_AGO, FIVE_HOURS_AGO, -2),
        (FIVE_HOURS_AGO, EIGHT_HOURS_AGO, 0),
        (EIGHT_HOURS_AGO, TWO_HOURS_AGO, 2),
        (NOW, NOW - timedelta(microseconds=1), -1 - 9),
        (NOW + timedelta(seconds=1), NOW, 0),
    ],
)
def test_logarithmic_rank_diff_counts_power_of_two_buckets_of_nanoseconds(
    first: datetime, second: datetime, diff: int
) -> None:
    assert logarithmic_rank_diff(first, second, NOW) == diff


def test_rank_is_the_number_of_active_related_pods_on_the_same_node() -> None:
    on_a = pod("a1", node="a")
    pods = [on_a, pod("b1", node="b"), pod("c1", node="c")]
    related = [on_a, pod("a2", node="a"), pod("b1", node="b"), pod("b2", node="b", phase="Succeeded")]
    assert ranked_by_related_pods_on_same_node(pods, related) == [2, 1, 0]


def _scheduled(name: str, node: str, phase: str, ready: str | None) -> Pod:
    conditions = [] if ready is None else [PodCondition(type="Ready", status=ready)]
    return Pod(
        metadata=ObjectMeta(name=name),
        spec=PodSpec(node_name=node),
        status=PodStatus(phase=phase, conditions=conditions),
    )


UNSCHEDULED_PENDING = _scheduled("unscheduled-pending-pod", "", "Pending", None)
SCHEDULED_PENDING_POD = _scheduled("scheduled-pending-pod", "fake-node", "Pending", None)
NOT_READY = _scheduled("scheduled-running-not-ready-pod", "fake-node", "Running", "False")
READY_ON_NODE_1 = _scheduled("scheduled-running-ready-pod-on-node-1", "fake-node-1", "Running", "True")
READY_ON_NODE_2 = _scheduled("scheduled-running-ready-pod-on-node-2", "fake-node-2", "Running", "True")


@pytest.mark.parametrize(
    ("pods", "related", "count", "expected"),
    [
        pytest.param([], None, 0, [], id="no pods"),
        pytest.param([NOT_READY, READY_ON_NODE_1], None, 2, [NOT_READY, READY_ON_NODE_1], id="all of them"),
        pytest.param([READY_ON_NODE_1, NOT_READY], None, 1, [NOT_READY], id="fewer than all"),
        pytest.param(
            [
                READY_ON_NODE_1,
                READY_ON_NODE_1,
                READY_ON_NODE_2,
                NOT_READY,
                SCHEDULED_PENDING_POD,
                UNSCHEDULED_PENDING,
            ],
            None,
            6,
            [
                READY_ON_NODE_1,
                READY_ON_NODE_1,
                READY_ON_NODE_2,
                NOT_READY,
                SCHEDULED_PENDING_POD,
                UNSCHEDULED_PENDING,
            ],
            id="deleting all keeps the order",
        ),
        pytest.param(
            [
                READY_ON_NODE_1,
                READY_ON_NODE_1,
                READY_ON_NODE_2,
                NOT_READY,
                SCHEDULED_PENDING_POD,
                UNSCHEDULED_PENDING,
            ],
            [],
            6,
            [
                READY_ON_NODE_1,
                READY_ON_NODE_1,
                READY_ON_NODE_2,
                NOT_READY,
                SCHEDULED_PENDING_POD,
                UNSCHEDULED_PENDING,
            ],
            id="deleting all without related pods",
        ),
        pytest.param(
            [SCHEDULED_PENDING_POD, UNSCHEDULED_PENDING],
            None,
            1,
            [UNSCHEDULED_PENDING],
            id="unscheduled first",
        ),
        pytest.param(
            [READY_ON_NODE_1, NOT_READY, NOT_READY], None, 2, [NOT_READY, NOT_READY], id="not ready first"
        ),
        pytest.param(
            [READY_ON_NODE_1, READY_ON_NODE_2],
            [READY_ON_NODE_1, READY_ON_NODE_2, READY_ON_NODE_2],
            1,
            [READY_ON_NODE_2],
            id="doubled up first",
        ),
        pytest.param(
            [SCHEDULED_PENDING_POD, NOT_READY], None, 1, [SCHEDULED_PENDING_POD], id="pending first"
        ),
        pytest.param(
            [READY_ON_NODE_1, READY_ON_NODE_2, NOT_READY, SCHEDULED_PENDING_POD, UNSCHEDULED_PENDING],
            None,
            3,
            [UNSCHEDULED_PENDING, SCHEDULED_PENDING_POD, NOT_READY],
            id="earliest in startup first",
        ),
    ],
)
def test_pods_to_delete_prefers_those_earliest_in_startup(
    pods: list[Pod], related: list[Pod] | None, count: int, expected: list[Pod]
) -> None:
    chosen = pods_to_delete(pods, pods if related is None else related, count, NOW)
    assert [p.metadata.name for p in chosen] == [p.metadata.name for p in expected]


_TIMES = st.none() | st.sampled_from([NOW, TWO_HOURS_AGO, FIVE_HOURS_AGO, ONE_MONTH_AGO])


@st.composite
def ranked_pods(draw: st.DrawFn) -> tuple[list[Pod], dict[str, int]]:
    count = draw(st.integers(min_value=1, max_value=30))
    pods = [
        pod(
            f"pod-{index}",
            node=draw(st.sampled_from(["", "a", "b", "c"])),
            phase=draw(st.sampled_from(["Pending", "Unknown", "Running"])),
            ready=draw(st.booleans()),
            restarts=draw(st.integers(min_value=0, max_value=2)),
            ready_since=draw(_TIMES),
            created=draw(_TIMES),
            annotations=draw(st.sampled_from([{}, {POD_DELETION_COST: "5"}, {POD_DELETION_COST: "-5"}])),
            uid=f"uid-{index:02}",
        )
        for index in range(count)
    ]
    on_node = {node: draw(st.integers(min_value=0, max_value=3)) for node in ("", "a", "b", "c")}
    return pods, on_node


@given(ranked_pods(), st.data())
def test_choosing_by_the_first_rules_then_ranking_ties_deletes_what_the_full_sort_puts_first(
    case: tuple[list[Pod], dict[str, int]], data: st.DataObject
) -> None:
    # Without a clock the comparison is a consistent order, so the full stable sort is the oracle.
    pods, on_node = case
    count = data.draw(st.integers(min_value=0, max_value=len(pods) - 1), label="count")
    ranks = [on_node[p.spec.node_name] for p in pods]
    expected = ActivePodsWithRanks(pods, ranks, None).sorted()[:count]
    assert pods_to_delete_on_nodes(pods, on_node, count, None) == expected


@given(ranked_pods(), st.data())
def test_a_cut_found_from_the_facts_counts_deletes_what_ranking_every_pod_does(
    case: tuple[list[Pod], dict[str, int]], data: st.DataObject
) -> None:
    # The ReplicaSet controller's scale-down: the tally of rank facts gives the cut, and only the pods
    # at or below it are read, in the same (name) order.
    pods, on_node = case
    pods.sort(key=lambda p: p.metadata.name)
    count = data.draw(st.integers(min_value=1, max_value=len(pods)), label="count")
    counts = Counter(rank_facts(p) for p in pods)
    boundary = boundary_key(counts, on_node, count)
    if boundary is None:
        assert count == len(pods)
        return
    # Without a clock the comparison is a consistent order, so the full stable sort is the oracle.
    expected = ActivePodsWithRanks(pods, [on_node[p.spec.node_name] for p in pods], None).sorted()[:count]
    candidates = [p for p in pods if first_rules_key(rank_facts(p), on_node.get) <= boundary]
    assert pods_to_delete_of_candidates(candidates, on_node, boundary, count, None) == expected


@given(ranked_pods(), st.data())
def test_pods_with_one_first_rules_key_and_one_tail_rank_equal_whatever_their_uids(
    case: tuple[list[Pod], dict[str, int]], data: st.DataObject
) -> None:
    # What lets a scale-down keep the first of a tied class in order without ranking the rest: with the
    # clock and its logarithmic buckets on, uids only ever tell apart pods whose times differ.
    pods, on_node = case
    first = data.draw(st.sampled_from(pods), label="first")
    uid = data.draw(st.sampled_from(["uid-00", "uid-50", "uid-99"]), label="uid")
    twin = attrs.evolve(first, metadata=attrs.evolve(first.metadata, name="twin", uid=uid))
    assert rank_tail(twin) == rank_tail(first)
    rank = on_node[first.spec.node_name]
    pair = ActivePodsWithRanks([first, twin], [rank, rank], NOW)
    assert not pair.less(0, 1)
    assert not pair.less(1, 0)


@given(ranked_pods())
def test_deletion_order_is_the_stable_sort_of_the_ranking(case: tuple[list[Pod], dict[str, int]]) -> None:
    pods, on_node = case
    expected = ActivePodsWithRanks(pods, [on_node[p.spec.node_name] for p in pods], NOW).sorted()
    assert deletion_order(pods, on_node, NOW) == expected
