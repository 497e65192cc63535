"""Pod facts: active, ready and available exactly as pkg/api/v1/pod defines them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from controllers.podutil import is_pod_active, is_pod_available, is_pod_ready
from store.models import ObjectMeta, Pod, PodCondition, PodStatus

NOW = datetime(2026, 1, 1, 12, 0, 0, tzinfo=UTC)


def pod(
    phase: str = "Running",
    ready: str | None = "True",
    since: timedelta = timedelta(0),
    deleting: bool = False,
) -> Pod:
    conditions = (
        [] if ready is None else [PodCondition(type="Ready", status=ready, last_transition_time=NOW - since)]
    )
    meta = ObjectMeta(name="p", deletion_timestamp=NOW if deleting else None)
    return Pod(metadata=meta, status=PodStatus(phase=phase, conditions=conditions))


@pytest.mark.parametrize(
    ("subject", "active"),
    [
        (pod("Pending"), True),
        (pod("Running"), True),
        (pod("Unknown"), True),
        (pod("Succeeded"), False),
        (pod("Failed"), False),
        (pod("Running", deleting=True), False),
    ],
)
def test_active_means_not_finished_and_not_being_deleted(subject: Pod, active: bool) -> None:
    assert is_pod_active(subject) is active


@pytest.mark.parametrize(
    ("ready", "expected"), [("True", True), ("False", False), ("Unknown", False), (None, False)]
)
def test_ready_means_the_ready_condition_is_true(ready: str | None, expected: bool) -> None:
    assert is_pod_ready(pod(ready=ready)) is expected


@pytest.mark.parametrize(
    ("since", "min_ready", "available"),
    [
        (timedelta(0), 0, True),
        (timedelta(seconds=9), 10, False),
        (timedelta(seconds=10), 10, False),  # strictly longer than minReadySeconds
        (timedelta(seconds=11), 10, True),
    ],
)
def test_available_means_ready_for_longer_than_min_ready_seconds(
    since: timedelta, min_ready: int, available: bool
) -> None:
    assert is_pod_available(pod(since=since), min_ready, NOW) is available


def test_a_pod_that_is_not_ready_is_never_available() -> None:
    assert not is_pod_available(pod(ready="False", since=timedelta(hours=1)), 0, NOW)
