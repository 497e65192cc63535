"""The RollingUpdate strategy (pkg/controller/deployment/rolling.go): one step per sync.

A sync first tries to grow the new ReplicaSet within replicas + maxSurge; if it did not, it
shrinks old ReplicaSets, first by their unavailable replicas (which costs no availability) and
then while the available pods stay above replicas - maxUnavailable; then it writes the rollout
status. The planning functions here are pure and table-tested; `rollout_rolling` carries out
their plans.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence

import attrs
import structlog

from controllers.deployment import util
from controllers.deployment.progress import sync_rollout_status
from controllers.deployment.sync import (
    ScaleStep,
    SyncContext,
    cleanup_deployment,
    get_all_replica_sets_and_sync_revision,
    run_scale_steps,
    scale_replica_set_and_record_event,
)
from reconcile import Result
from store import StoreError
from store.models import Deployment, ReplicaSet

log = structlog.get_logger("setpoint.deployment")


def new_replica_set_target(all_rss: Sequence[ReplicaSet], new_rs: ReplicaSet, deployment: Deployment) -> int:
    """The size the new ReplicaSet should step to (reconcileNewReplicaSet); its own size means no step."""
    replicas = deployment.spec.replicas
    if new_rs.spec.replicas >= replicas:
        return replicas
    return util.new_rs_new_replicas(deployment, all_rss, new_rs)


def max_scaled_down(all_rss: Sequence[ReplicaSet], new_rs: ReplicaSet, deployment: Deployment) -> int:
    """How far old ReplicaSets may shrink: all pods - minAvailable - unavailable pods of the new one.

    Counting the new ReplicaSet's unavailable pods keeps a broken new template from draining the
    old, working pods; after a rollback to a good template they stop counting against it.
    """
    new_rs_unavailable = new_rs.spec.replicas - new_rs.status.available_replicas
    return util.replica_count(all_rss) - util.min_available(deployment) - new_rs_unavailable


def _resized(rs: ReplicaSet, replicas: int) -> ReplicaSet:
    return attrs.evolve(rs, spec=attrs.evolve(rs.spec, replicas=replicas))


class InvalidScaleDown(ValueError):
    """A scale-down that would grow a ReplicaSet; ``steps`` are those decided before it, in order.

    Upstream writes the scale-downs one by one and stops at the invalid one: those before it are done.
    """

    def __init__(self, message: str, steps: Sequence[ScaleStep]) -> None:
        super().__init__(message)
        self.steps = list(steps)


def cleanup_unhealthy_replicas_plan(
    old_rss: Sequence[ReplicaSet], max_cleanup: int
) -> tuple[list[ScaleStep], list[ReplicaSet], int]:
    """Shrink old ReplicaSets, oldest first, by their unavailable replicas, at most ``max_cleanup`` in all.

    Returns the steps, the old ReplicaSets as the steps leave them (oldest first), and how many
    replicas go. The ReplicaSet controller deletes not-ready pods first, so this costs no
    availability (issue 16737). `InvalidScaleDown` when a ReplicaSet reports more available pods
    than it wants — upstream refuses such a "scale down" that would grow it.
    """
    steps: list[ScaleStep] = []
    result = util.sorted_by(old_rss, util.compare_by_creation)
    total = 0
    for index, rs in enumerate(result):
        if total >= max_cleanup:
            break
        replicas, available = rs.spec.replicas, rs.status.available_replicas
        if replicas in (0, available):
            continue
        count = min(max_cleanup - total, replicas - available)
        new_replicas = replicas - count
        if new_replicas > replicas:
            raise InvalidScaleDown(
                "when cleaning up unhealthy replicas, got invalid request to scale down"
                f" {rs.metadata.namespace}/{rs.metadata.name} {replicas} -> {new_replicas}",
                steps,
            )
        steps.append(ScaleStep(rs.metadata.name, new_replicas))
        result[index] = _resized(rs, new_replicas)
        total += count
    return steps, result, total


def scale_down_old_replica_sets_plan(
    all_rss: Sequence[ReplicaSet], old_rss: Sequence[ReplicaSet], deployment: Deployment
) -> tuple[list[ScaleStep], int]:
    """Shrink old ReplicaSets, oldest first, while available pods stay above minAvailable."""
    min_available = util.min_available(deployment)
    available = util.available_replica_count(all_rss)
    if available <= min_available:
        return [], 0
    to_scale_down = available - min_available
    steps: list[ScaleStep] = []
    total = 0
    for rs in util.sorted_by(old_rss, util.compare_by_creation):
        if total >= to_scale_down:
            break
        if rs.spec.replicas == 0:
            continue
        count = min(rs.spec.replicas, to_scale_down - total)
        steps.append(ScaleStep(rs.metadata.name, rs.spec.replicas - count))
        total += count
    return steps, total


def old_replica_sets_plan(
    all_rss: Sequence[ReplicaSet], old_rss: Sequence[ReplicaSet], new_rs: ReplicaSet, deployment: Deployment
) -> list[ScaleStep]:
    """The scale-down steps of one sync (reconcileOldReplicaSets): unhealthy replicas, then available ones."""
    if util.replica_count(old_rss) == 0:
        return []
    allowance = max_scaled_down(all_rss, new_rs, deployment)
    if allowance <= 0:
        return []
    cleanup, cleaned, _ = cleanup_unhealthy_replicas_plan(old_rss, allowance)
    scale_down, _ = scale_down_old_replica_sets_plan([*cleaned, new_rs], cleaned, deployment)
    return [*cleanup, *scale_down]


async def reconcile_new_replica_set(
    ctx: SyncContext, all_rss: Sequence[ReplicaSet], new_rs: ReplicaSet, deployment: Deployment
) -> bool:
    """Step the new ReplicaSet towards spec.replicas; whether it was resized."""
    target = new_replica_set_target(all_rss, new_rs, deployment)
    scaled, _ = await scale_replica_set_and_record_event(ctx, new_rs, target, deployment)
    return scaled


async def reconcile_old_replica_sets(
    ctx: SyncContext,
    all_rss: Sequence[ReplicaSet],
    old_rss: Sequence[ReplicaSet],
    new_rs: ReplicaSet,
    deployment: Deployment,
) -> bool:
    """Shrink old ReplicaSets as far as availability allows; whether any was resized.

    As upstream, a failed step ends the scale-down without failing the sync: the status is still
    written, and the deployment is looked at again on its next change or progress check. The steps
    before an invalid one are still carried out, and the answer is then no, as upstream's is.
    """
    try:
        steps = old_replica_sets_plan(all_rss, old_rss, new_rs, deployment)
    except InvalidScaleDown as invalid:
        log.debug("not scaling down old replica sets", reason=str(invalid))
        with contextlib.suppress(StoreError):
            await run_scale_steps(ctx, invalid.steps, old_rss, deployment)
        return False
    try:
        await run_scale_steps(ctx, steps, old_rss, deployment)
    except StoreError:
        return False
    return bool(steps)


async def rollout_rolling(
    ctx: SyncContext, deployment: Deployment, rs_list: Sequence[ReplicaSet]
) -> Result | None:
    """One RollingUpdate step: grow the new ReplicaSet, else shrink old ones, else clean up history."""
    deployment, new_rs, old = await get_all_replica_sets_and_sync_revision(
        ctx, deployment, rs_list, create=True
    )
    assert new_rs is not None  # created when missing
    all_rss = [*old, new_rs]
    if await reconcile_new_replica_set(ctx, all_rss, new_rs, deployment):
        return await sync_rollout_status(ctx, all_rss, new_rs, deployment)
    active_old = util.filter_active_replica_sets(old)
    if await reconcile_old_replica_sets(ctx, all_rss, active_old, new_rs, deployment):
        return await sync_rollout_status(ctx, all_rss, new_rs, deployment)
    if util.deployment_complete(deployment, deployment.status):
        await cleanup_deployment(ctx, old, deployment)
    return await sync_rollout_status(ctx, all_rss, new_rs, deployment)
