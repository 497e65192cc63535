"""Pod facts every built-in controller agrees on: active, ready, available (k8s.io/kubernetes/pkg/api/v1/pod).

One definition each, so the ReplicaSet and Deployment controllers, the Endpoints controller and the
test invariants count pods the same way Kubernetes does.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from store.models import Pod, PodCondition

SUCCEEDED = "Succeeded"
FAILED = "Failed"


def is_pod_active(pod: Pod) -> bool:
    """Not finished and not being deleted (controller.IsPodActive)."""
    return pod.status.phase not in (SUCCEEDED, FAILED) and pod.metadata.deletion_timestamp is None


def is_pod_terminating(pod: Pod) -> bool:
    """Being deleted and not finished yet (controller.IsPodTerminating)."""
    return pod.metadata.deletion_timestamp is not None and pod.status.phase not in (SUCCEEDED, FAILED)


def ready_condition(pod: Pod) -> PodCondition | None:
    return pod.status.condition("Ready")


def is_pod_ready(pod: Pod) -> bool:
    """The Ready condition is True (podutil.IsPodReady)."""
    return pod.status.ready


def is_pod_available(pod: Pod, min_ready_seconds: int, now: datetime) -> bool:
    """Ready, and ready for longer than ``min_ready_seconds`` by ``now`` (podutil.IsPodAvailable)."""
    condition = ready_condition(pod)
    if condition is None or condition.status != "True":
        return False
    if min_ready_seconds == 0:
        return True
    since = condition.last_transition_time
    return since is not None and since + timedelta(seconds=min_ready_seconds) < now
