"""Rolling a deployment back to an earlier revision's pod template.

In apps/v1 a rollback is client-side: ``kubectl rollout undo`` copies the template (and the
annotations) of the ReplicaSet that ran the wanted revision into the Deployment, and the
controller rolls that out like any other change; `rollback_template` is that client step, a pure
function. The controller also honours the annotation apps/v1 keeps of extensions/v1beta1's
spec.rollbackTo (``deprecated.deployment.rollback.to``), as rollback.go does: `rollback` copies
the template, clears the annotation and emits DeploymentRollback events.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import attrs
import structlog

from controllers.deployment import util
from controllers.deployment.sync import SyncContext, all_replica_sets, get_all_replica_sets_and_sync_revision
from controllers.events import NORMAL, WARNING
from store.models import Deployment, ReplicaSet

log = structlog.get_logger("setpoint.deployment")


class RollbackError(ValueError):
    """A rollback that cannot be done; the message says why, in kubectl's words."""


def _replica_set_for_revision(
    deployment: Deployment, replica_sets: Iterable[ReplicaSet], to_revision: int
) -> ReplicaSet:
    """The ReplicaSet of ``to_revision``, or of the revision before the latest when it is 0 (kubectl)."""
    latest: tuple[int, ReplicaSet] | None = None
    previous: tuple[int, ReplicaSet] | None = None
    for rs in replica_sets:
        try:
            number = util.revision(rs)
        except ValueError:
            continue
        if to_revision > 0:
            if number == to_revision:
                return rs
        elif latest is None or latest[0] < number:
            latest, previous = (number, rs), latest
        elif previous is None or previous[0] < number:
            previous = (number, rs)
    if to_revision > 0:
        raise RollbackError(f"unable to find specified revision {to_revision} in history")
    if previous is None:
        raise RollbackError(f'no rollout history found for deployment "{deployment.metadata.name}"')
    return previous[1]


def rollback_template(
    deployment: Deployment, replica_sets: Iterable[ReplicaSet], to_revision: int = 0
) -> Deployment:
    """``deployment`` with the pod template of revision ``to_revision`` (0: the one before the current).

    The template comes from the deployment's own ReplicaSet of that revision, without its
    pod-template-hash label; the deployment takes that ReplicaSet's annotations, keeping its own
    revision bookkeeping, as ``kubectl rollout undo`` does. Returned unchanged when the template
    already matches. Raises `RollbackError` when the deployment is paused or the revision is not
    in its history (looked up first, as kubectl does).
    """
    if to_revision < 0:
        raise RollbackError(f"unable to find specified revision {to_revision} in history")
    owned = [rs for rs in replica_sets if util.is_controlled_by(rs, deployment)]
    target = _replica_set_for_revision(deployment, owned, to_revision)
    if deployment.spec.paused:
        raise RollbackError(
            "you cannot rollback a paused deployment;"
            " resume it first with 'kubectl rollout resume' and try again"
        )
    if util.equal_ignore_hash(target.spec.template, deployment.spec.template):
        return deployment
    return util.set_deployment_annotations_to(
        util.set_from_replica_set_template(deployment, target.spec.template), target
    )


def _without_rollback_request(deployment: Deployment) -> Deployment:
    annotations = deployment.metadata.annotations.remove(util.ROLLBACK_TO_ANNOTATION)
    return attrs.evolve(deployment, metadata=attrs.evolve(deployment.metadata, annotations=annotations))


async def rollback(
    ctx: SyncContext, deployment: Deployment, rs_list: Sequence[ReplicaSet], to_revision: int
) -> None:
    """Carry out the deprecated rollback request: copy the revision's template, then clear the request.

    Whatever happens the request is cleared, so a rollback is never retried over later changes.
    """
    deployment, new_rs, old = await get_all_replica_sets_and_sync_revision(
        ctx, deployment, rs_list, create=True
    )
    replica_sets = all_replica_sets(old, new_rs)
    if to_revision == 0:
        to_revision = util.last_revision(replica_sets)
        if to_revision == 0:
            await ctx.events.event(
                deployment, WARNING, util.ROLLBACK_REVISION_NOT_FOUND, "Unable to find last revision."
            )
            await ctx.store.update(_without_rollback_request(deployment))
            return
    for rs in replica_sets:
        try:
            number = util.revision(rs)
        except ValueError:
            continue
        if number == to_revision:
            await _rollback_to_template(ctx, deployment, rs, to_revision)
            return
    await ctx.events.event(
        deployment, WARNING, util.ROLLBACK_REVISION_NOT_FOUND, "Unable to find the revision to rollback to."
    )
    await ctx.store.update(_without_rollback_request(deployment))


async def _rollback_to_template(
    ctx: SyncContext, deployment: Deployment, rs: ReplicaSet, to_revision: int
) -> None:
    name = deployment.metadata.name
    if util.equal_ignore_hash(deployment.spec.template, rs.spec.template):
        log.debug("rollback revision has the current template; skipping", revision=to_revision)
        await ctx.events.event(
            deployment,
            WARNING,
            util.ROLLBACK_TEMPLATE_UNCHANGED,
            f'The rollback revision contains the same template as current deployment "{name}"',
        )
        await ctx.store.update(_without_rollback_request(deployment))
        return
    # The old ReplicaSet's annotations come back too, or the deployment's current ones (say a
    # change-cause) would be copied onto the ReplicaSet it becomes new again.
    rolled_back = util.set_deployment_annotations_to(
        util.set_from_replica_set_template(deployment, rs.spec.template), rs
    )
    await ctx.store.update(_without_rollback_request(rolled_back))
    await ctx.events.event(
        deployment, NORMAL, util.ROLLBACK_DONE, f'Rolled back deployment "{name}" to revision {to_revision}'
    )
