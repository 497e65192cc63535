"""The Recreate strategy (pkg/controller/deployment/recreate.go): all old pods go before any new one starts.

A sync scales every old ReplicaSet to 0; while any old ReplicaSet still reports replicas, or any
pod of an old ReplicaSet is not in a terminal phase (a terminating pod still runs), it only writes
the status. Then it creates the new ReplicaSet, at full size, or scales the existing one up. The
pods come from the controller's Pod cache, grouped by the ReplicaSet that controls them; the
controller requeues a Recreate deployment when its last pod is deleted.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from controllers.deployment import util
from controllers.deployment.progress import sync_rollout_status
from controllers.deployment.sync import (
    ScaleStep,
    SyncContext,
    all_replica_sets,
    cleanup_deployment,
    get_all_replica_sets_and_sync_revision,
    run_scale_steps,
    scale_replica_set_and_record_event,
)
from controllers.podutil import FAILED, SUCCEEDED
from reconcile import Result
from store.models import Deployment, Pod, ReplicaSet

#: Pods of each ReplicaSet, keyed by the ReplicaSet's uid.
PodMap = Mapping[str, Sequence[Pod]]


def old_pods_running(new_rs: ReplicaSet | None, old_rss: Sequence[ReplicaSet], pod_map: PodMap) -> bool:
    """Whether an old ReplicaSet reports replicas or owns a pod that has not finished.

    A pod in phase Unknown counts as running: we cannot be sure it is not.
    """
    if util.actual_replica_count(old_rss) > 0:
        return True
    new_uid = new_rs.metadata.uid if new_rs is not None else None
    return any(
        pod.status.phase not in (FAILED, SUCCEEDED)
        for uid, pods in pod_map.items()
        if uid != new_uid
        for pod in pods
    )


def scale_down_old_replica_sets_plan(old_rss: Sequence[ReplicaSet]) -> list[ScaleStep]:
    return [ScaleStep(rs.metadata.name, 0) for rs in old_rss if rs.spec.replicas != 0]


async def rollout_recreate(
    ctx: SyncContext, deployment: Deployment, rs_list: Sequence[ReplicaSet], pod_map: PodMap
) -> Result | None:
    """One Recreate step: scale old down, wait for their pods to stop, then bring up the new ReplicaSet."""
    # The new ReplicaSet is not created yet, so nothing scales up before the old pods are gone.
    deployment, new_rs, old = await get_all_replica_sets_and_sync_revision(
        ctx, deployment, rs_list, create=False
    )
    all_rss = all_replica_sets(old, new_rs)
    active_old = util.filter_active_replica_sets(old)
    steps = scale_down_old_replica_sets_plan(active_old)
    if steps:
        await run_scale_steps(ctx, steps, active_old, deployment)
        return await sync_rollout_status(ctx, all_rss, new_rs, deployment)
    if old_pods_running(new_rs, old, pod_map):
        return await sync_rollout_status(ctx, all_rss, new_rs, deployment)
    if new_rs is None:
        deployment, new_rs, old = await get_all_replica_sets_and_sync_revision(
            ctx, deployment, rs_list, create=True
        )
        assert new_rs is not None  # created when missing
        all_rss = all_replica_sets(old, new_rs)
    await scale_replica_set_and_record_event(ctx, new_rs, deployment.spec.replicas, deployment)
    if util.deployment_complete(deployment, deployment.status):
        await cleanup_deployment(ctx, old, deployment)
    return await sync_rollout_status(ctx, all_rss, new_rs, deployment)
