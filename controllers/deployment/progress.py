"""Rollout progress (pkg/controller/deployment/progress.go): the Progressing condition and the deadline.

During a rollout the deployment's status is recomputed, Progressing says whether the new
ReplicaSet became available (NewReplicaSetAvailable), is moving (ReplicaSetUpdated, with a fresh
lastUpdateTime) or has not moved for progressDeadlineSeconds (ProgressDeadlineExceeded), and
ReplicaSet failure conditions are promoted onto the deployment. A rollout that makes no progress
is looked at again when its deadline comes, since nothing else would wake it (requeueStuckDeployment).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import attrs

from controllers.deployment import util
from controllers.deployment.sync import SyncContext, calculate_status
from reconcile import Result
from store.models import Deployment, DeploymentCondition, DeploymentStatus, ReplicaSet, with_fields

#: Added to the wait for a deadline so the check lands after it, not a hair before (issue 39785).
DEADLINE_SLACK_SECONDS = 1.0


def replica_failures(all_rss: Sequence[ReplicaSet], new_rs: ReplicaSet | None) -> list[DeploymentCondition]:
    """ReplicaFailure conditions as deployment conditions; the new ReplicaSet's take precedence."""

    def failures(rs: ReplicaSet) -> list[DeploymentCondition]:
        return [
            util.replica_set_to_deployment_condition(condition)
            for condition in rs.status.conditions
            if condition.type == util.REPLICA_FAILURE
        ]

    if new_rs is not None and (from_new := failures(new_rs)):
        return from_new
    return [condition for rs in all_rss for condition in failures(rs)]


def rollout_status(
    all_rss: Sequence[ReplicaSet], new_rs: ReplicaSet | None, deployment: Deployment, now: datetime
) -> DeploymentStatus:
    """The status a rollout step leaves: counts, Available, Progressing and ReplicaFailure."""
    status = calculate_status(all_rss, new_rs, deployment, now)
    if not util.has_progress_deadline(deployment):
        status = util.remove_deployment_condition(status, util.PROGRESSING)
    current = deployment.status.condition(util.PROGRESSING)
    # A resync of a finished rollout is not a rollout: there is no progress to estimate.
    finished = (
        status.replicas == status.updated_replicas
        and current is not None
        and current.reason == util.NEW_RS_AVAILABLE_REASON
    )
    if util.has_progress_deadline(deployment) and not finished:
        status = _with_progress(status, new_rs, deployment, current, now)
    failures = replica_failures(all_rss, new_rs)
    if failures:
        return util.set_deployment_condition(status, failures[0])
    return util.remove_deployment_condition(status, util.REPLICA_FAILURE)


def _with_progress(
    status: DeploymentStatus,
    new_rs: ReplicaSet | None,
    deployment: Deployment,
    current: DeploymentCondition | None,
    now: datetime,
) -> DeploymentStatus:
    subject = (
        f'ReplicaSet "{new_rs.metadata.name}"'
        if new_rs is not None
        else f'Deployment "{deployment.metadata.name}"'
    )
    if util.deployment_complete(deployment, status):
        condition = util.new_deployment_condition(
            util.PROGRESSING,
            util.TRUE,
            util.NEW_RS_AVAILABLE_REASON,
            f"{subject} has successfully progressed.",
            now,
        )
        return util.set_deployment_condition(status, condition)
    if util.deployment_progressing(deployment, status):
        condition = util.new_deployment_condition(
            util.PROGRESSING, util.TRUE, util.REPLICA_SET_UPDATED_REASON, f"{subject} is progressing.", now
        )
        # Progress refreshes lastUpdateTime even when the reason stays ReplicaSetUpdated, which
        # set_deployment_condition would not do: replace the condition, keeping the transition time.
        if current is not None:
            if current.status == util.TRUE:
                condition = attrs.evolve(condition, last_transition_time=current.last_transition_time)
            status = util.remove_deployment_condition(status, util.PROGRESSING)
        return util.set_deployment_condition(status, condition)
    if util.deployment_timed_out(deployment, status, now):
        condition = util.new_deployment_condition(
            util.PROGRESSING, util.FALSE, util.TIMED_OUT_REASON, f"{subject} has timed out progressing.", now
        )
        return util.set_deployment_condition(status, condition)
    return status


async def sync_rollout_status(
    ctx: SyncContext, all_rss: Sequence[ReplicaSet], new_rs: ReplicaSet | None, deployment: Deployment
) -> Result | None:
    """Write the rollout status if it changed; if not, come back when a stuck rollout's deadline is due."""
    now = ctx.clock.now()
    status = rollout_status(all_rss, new_rs, deployment, now)
    if status != deployment.status:
        await ctx.store.update_status(with_fields(deployment, status=status))
        return None
    after = util.seconds_until_progress_check(deployment, status, now)
    if after is None:
        return None
    if after == 0:
        return Result(requeue=True)  # due now: rate-limited, as upstream requeues it
    return Result(requeue_after=after + DEADLINE_SLACK_SECONDS)
