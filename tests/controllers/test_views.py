"""kubectl-style views: human ages as apimachinery prints them, and the columns of each table."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from controllers.views import human_duration, pod_status, pods, services
from store.models import (
    Container,
    ContainerState,
    ContainerStateWaiting,
    ContainerStatus,
    ObjectMeta,
    Pod,
    PodSpec,
    PodStatus,
    Service,
    ServicePort,
    ServiceSpec,
)

NOW = datetime(2026, 1, 1, tzinfo=UTC)


@pytest.mark.parametrize(
    ("seconds", "shown"),
    [
        (-2, "<invalid>"),
        (-0.5, "0s"),
        (0, "0s"),
        (119, "119s"),
        (120, "2m"),
        (150, "2m30s"),
        (599, "9m59s"),
        (600, "10m"),
        (3 * 3600 - 1, "179m"),
        (3 * 3600, "3h"),
        (3 * 3600 + 60 * 20, "3h20m"),
        (8 * 3600, "8h"),
        (47 * 3600, "47h"),
        (48 * 3600, "2d"),
        (49 * 3600, "2d1h"),
        (8 * 86400, "8d"),
        (2 * 365 * 86400, "2y"),
        (2 * 365 * 86400 + 86400, "2y1d"),
        (8 * 365 * 86400, "8y"),
    ],
)
def test_human_duration_matches_apimachinery(seconds: float, shown: str) -> None:
    assert human_duration(seconds) == shown


def test_pod_row_shows_ready_containers_status_restarts_ip_and_node() -> None:
    pod = Pod(
        metadata=ObjectMeta(name="web-1", creation_timestamp=NOW - timedelta(seconds=42)),
        spec=PodSpec(
            node_name="node-2", containers=[Container(name="a", image="i"), Container(name="b", image="i")]
        ),
        status=PodStatus(
            phase="Running",
            pod_ip="10.244.2.7",
            container_statuses=[
                ContainerStatus(name="a", ready=True, restart_count=2),
                ContainerStatus(name="b", ready=False, restart_count=1),
            ],
        ),
    )
    assert pods([pod], NOW).rows == (("web-1", "1/2", "Running", "3", "42s"),)
    assert pods([pod], NOW, wide=True).rows == (
        ("web-1", "1/2", "Running", "3", "42s", "10.244.2.7", "node-2", "<none>", "<none>"),
    )


def test_a_waiting_container_reason_is_the_pod_status() -> None:
    waiting = ContainerState(waiting=ContainerStateWaiting(reason="CrashLoopBackOff"))
    pod = Pod(
        status=PodStatus(phase="Running", container_statuses=[ContainerStatus(name="a", state=waiting)])
    )
    assert pod_status(pod) == "CrashLoopBackOff"


def test_service_ports_show_node_ports() -> None:
    service = Service(
        metadata=ObjectMeta(name="web", creation_timestamp=NOW),
        spec=ServiceSpec(
            type="NodePort", cluster_ip="10.96.0.10", ports=[ServicePort(port=80, node_port=30080)]
        ),
    )
    assert services([service], NOW).rows == (
        ("web", "NodePort", "10.96.0.10", "<none>", "80:30080/TCP", "0s"),
    )
