"""What every Deployment sync shares (pkg/controller/deployment/sync.go): find or create the new
ReplicaSet and keep revisions in step, scale ReplicaSets with their events, proportional scaling,
revision-history cleanup, and the deployment's status.

The pure parts — `calculate_status`, `proportional_scale_plan`, `replica_sets_to_clean_up` — decide;
the async functions write what they decided through the `SyncContext`. Strategy-specific rollout
steps live in `rolling` and `recreate`, progress conditions in `progress`, the dispatch in
`controller`.

Unlike upstream, each function hands back the objects it wrote, and later steps of the same sync
use them: upstream drops the objects its writes return, so a sync that writes a deployment twice
conflicts with itself and is retried.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Sequence
from datetime import datetime

import attrs
import structlog

from controllers.deployment import util
from controllers.events import NORMAL, WARNING, EventRecorder
from reconcile.clock import Clock
from reconcile.informer import Informer
from store import AlreadyExists, Forbidden, NotFound, Store, StoreError
from store.models import (
    Deployment,
    DeploymentStatus,
    ObjectMeta,
    OwnerReference,
    ReplicaSet,
    ReplicaSetSpec,
    with_fields,
)

log = structlog.get_logger("setpoint.deployment")

SCALING_REPLICA_SET = "ScalingReplicaSet"


@attrs.frozen
class SyncContext:
    """What a sync works with: the store it writes to, the ReplicaSet cache, its events and its clock."""

    store: Store
    replica_sets: Informer[ReplicaSet]
    events: EventRecorder
    clock: Clock


@attrs.frozen
class ScaleStep:
    """Set ReplicaSet ``name`` to ``replicas``.

    With ``operation`` None the step is skipped when the size is already right, and the direction is
    read off the sizes (scaleReplicaSetAndRecordEvent); with an operation the write happens anyway,
    so the replicas annotations are refreshed too (scaleReplicaSet, as proportional scaling calls it).
    """

    name: str
    replicas: int
    operation: str | None = None


def all_replica_sets(old_replica_sets: Iterable[ReplicaSet], new_rs: ReplicaSet | None) -> list[ReplicaSet]:
    """The old ReplicaSets and the new one (if there is one), in that order."""
    return [*old_replica_sets, *([new_rs] if new_rs is not None else [])]


def controller_ref(deployment: Deployment) -> OwnerReference:
    return OwnerReference(
        api_version=deployment.api_version,
        kind=deployment.kind,
        name=deployment.metadata.name,
        uid=deployment.metadata.uid,
        controller=True,
        block_owner_deletion=True,
    )


# --- decisions ------------------------------------------------------------------------------


def calculate_status(
    all_rss: Sequence[ReplicaSet], new_rs: ReplicaSet | None, deployment: Deployment, now: datetime
) -> DeploymentStatus:
    """The deployment's status as its ReplicaSets report it, its Available condition brought up to date."""
    available = util.available_replica_count(all_rss)
    unavailable = max(util.replica_count(all_rss) - available, 0)
    status = DeploymentStatus(
        observed_generation=deployment.metadata.generation,
        replicas=util.actual_replica_count(all_rss),
        updated_replicas=util.actual_replica_count([new_rs]),
        ready_replicas=util.ready_replica_count(all_rss),
        available_replicas=available,
        unavailable_replicas=unavailable,
        terminating_replicas=util.terminating_replica_count(all_rss),
        conditions=deployment.status.conditions,
        collision_count=deployment.status.collision_count,
    )
    if available >= deployment.spec.replicas - util.max_unavailable(deployment):
        condition = util.new_deployment_condition(
            util.AVAILABLE,
            util.TRUE,
            util.MINIMUM_REPLICAS_AVAILABLE,
            "Deployment has minimum availability.",
            now,
        )
    else:
        condition = util.new_deployment_condition(
            util.AVAILABLE,
            util.FALSE,
            util.MINIMUM_REPLICAS_UNAVAILABLE,
            "Deployment does not have minimum availability.",
            now,
        )
    return util.set_deployment_condition(status, condition)


def proportional_scale_plan(
    deployment: Deployment, new_rs: ReplicaSet | None, old_replica_sets: Sequence[ReplicaSet]
) -> list[ScaleStep]:
    """How a scaling event resizes the ReplicaSets (sync.go scale).

    One active ReplicaSet (or none: then the newest) takes spec.replicas whole. A saturated new
    ReplicaSet leaves the old ones nothing. Otherwise, for RollingUpdate, replicas + maxSurge is
    shared out in proportion to each ReplicaSet's size, largest first — newer first when growing,
    older first when shrinking — and the rounding leftover goes to the first.

    Two fixes to released Kubernetes, which in both cases returns here without a write on every sync:
    the stale desired-replicas annotations keep `is_scaling_event` true, so the rollout never runs
    again.

    - A lone ReplicaSet already at spec.replicas whose replicas annotations are stale still has them
      refreshed. A write made from a stale Deployment can leave it so (sized for the spec at hand,
      but annotated with the one before). The refresh is the fix upstream has under review
      (kubernetes/kubernetes#138036, #138840).
    - A Recreate Deployment that is not paused and has old ReplicaSets active beside the new one (a
      sync that did not yet see an old ReplicaSet created the new one beside it) scales the old ones
      to 0, as its rollout would; the next sync then finds one active ReplicaSet and sizes it.
      Upstream does nothing here and the Deployment stays as it is for good (kubernetes#125568,
      closed unfixed).
    """
    replicas = deployment.spec.replicas
    active_or_latest = util.find_active_or_latest(new_rs, old_replica_sets)
    if active_or_latest is not None:
        if active_or_latest.spec.replicas != replicas:
            return [ScaleStep(active_or_latest.metadata.name, replicas)]
        maximum = replicas + util.max_surge(deployment)
        if util.replicas_annotations_need_update(active_or_latest, replicas, maximum):
            return [ScaleStep(active_or_latest.metadata.name, replicas, "")]
        return []
    if util.is_saturated(deployment, new_rs):
        return [ScaleStep(old.metadata.name, 0) for old in util.filter_active_replica_sets(old_replica_sets)]
    if not util.is_rolling_update(deployment):
        if deployment.spec.paused:
            return []
        return [ScaleStep(old.metadata.name, 0) for old in util.filter_active_replica_sets(old_replica_sets)]
    active = util.filter_active_replica_sets([*old_replica_sets, new_rs])
    allowed = replicas + util.max_surge(deployment) if replicas > 0 else 0
    to_add = allowed - util.replica_count(active)
    operation = ""
    if to_add > 0:
        active = util.sorted_by(active, util.compare_by_size_newer)
        operation = "up"
    elif to_add < 0:
        active = util.sorted_by(active, util.compare_by_size_older)
        operation = "down"
    added = 0
    sizes: dict[str, int] = {}
    for rs in active:
        proportion = util.replica_set_proportion(rs, deployment, to_add, added) if to_add else 0
        sizes[rs.metadata.name] = rs.spec.replicas + proportion
        added += proportion
    steps = []
    for index, rs in enumerate(active):
        size = sizes[rs.metadata.name]
        if index == 0 and to_add != 0:
            size = max(size + to_add - added, 0)
        steps.append(ScaleStep(rs.metadata.name, size, operation))
    return steps


def replica_sets_to_clean_up(
    old_replica_sets: Iterable[ReplicaSet], deployment: Deployment
) -> list[ReplicaSet]:
    """The old ReplicaSets beyond revisionHistoryLimit, lowest revision first, that are empty and settled."""
    if not util.has_revision_history_limit(deployment):
        return []
    alive = [rs for rs in old_replica_sets if rs.metadata.deletion_timestamp is None]
    excess = len(alive) - (deployment.spec.revision_history_limit or 0)
    if excess <= 0:
        return []
    return [
        rs
        for rs in util.sorted_by(alive, util.compare_by_revision)[:excess]
        if rs.status.replicas == 0
        and rs.spec.replicas == 0
        and rs.metadata.generation <= rs.status.observed_generation
    ]


# --- writes ---------------------------------------------------------------------------------


async def write_deployment(ctx: SyncContext, current: Deployment, updated: Deployment) -> Deployment:
    """Store ``updated``'s annotations and status over ``current``; returns what was stored.

    Upstream writes both with one UpdateStatus (the deployment status strategy keeps metadata
    changes); our store's status subresource takes the status alone, so a changed revision
    annotation costs a second write through update.
    """
    written = current
    if updated.metadata.annotations != current.metadata.annotations:
        metadata = attrs.evolve(current.metadata, annotations=updated.metadata.annotations)
        written = await ctx.store.update(attrs.evolve(current, metadata=metadata))
    if updated.status != written.status:
        written = await ctx.store.update_status(attrs.evolve(written, status=updated.status))
    return written


async def scale_replica_set(
    ctx: SyncContext, rs: ReplicaSet, new_scale: int, deployment: Deployment, operation: str
) -> tuple[bool, ReplicaSet]:
    """Resize ``rs`` and refresh its replicas annotations; (whether the size changed, the stored RS).

    A size change is announced with a ScalingReplicaSet event worded as current Kubernetes words it.
    """
    desired = deployment.spec.replicas
    maximum = desired + util.max_surge(deployment)
    size_changes = rs.spec.replicas != new_scale
    if not size_changes and not util.replicas_annotations_need_update(rs, desired, maximum):
        return False, rs
    old_scale = rs.spec.replicas
    resized = with_fields(rs, spec=with_fields(rs.spec, replicas=new_scale))
    written = await ctx.store.update(util.set_replicas_annotations(resized, desired, maximum))
    if size_changes:
        await ctx.events.event(
            deployment,
            NORMAL,
            SCALING_REPLICA_SET,
            f"Scaled {operation} replica set {written.metadata.name} from {old_scale} to {new_scale}",
        )
    return size_changes, written


async def scale_replica_set_and_record_event(
    ctx: SyncContext, rs: ReplicaSet, new_scale: int, deployment: Deployment
) -> tuple[bool, ReplicaSet]:
    """`scale_replica_set` when the size differs, with the direction read off the sizes."""
    if rs.spec.replicas == new_scale:
        return False, rs
    operation = "up" if rs.spec.replicas < new_scale else "down"
    return await scale_replica_set(ctx, rs, new_scale, deployment, operation)


async def run_scale_steps(
    ctx: SyncContext, steps: Iterable[ScaleStep], replica_sets: Iterable[ReplicaSet], deployment: Deployment
) -> dict[str, ReplicaSet]:
    """Carry out ``steps`` in order; a ReplicaSet stepped twice is written from its first result."""
    latest = {rs.metadata.name: rs for rs in replica_sets}
    for step in steps:
        rs = latest[step.name]
        if step.operation is None:
            _, latest[step.name] = await scale_replica_set_and_record_event(
                ctx, rs, step.replicas, deployment
            )
        else:
            _, latest[step.name] = await scale_replica_set(ctx, rs, step.replicas, deployment, step.operation)
    return latest


async def scale(
    ctx: SyncContext,
    deployment: Deployment,
    new_rs: ReplicaSet | None,
    old_replica_sets: Sequence[ReplicaSet],
) -> None:
    """Resize the ReplicaSets for a scaling event or a paused deployment (`proportional_scale_plan`)."""
    steps = proportional_scale_plan(deployment, new_rs, old_replica_sets)
    await run_scale_steps(ctx, steps, all_replica_sets(old_replica_sets, new_rs), deployment)


async def cleanup_deployment(
    ctx: SyncContext, old_replica_sets: Iterable[ReplicaSet], deployment: Deployment
) -> None:
    """Delete the old ReplicaSets revisionHistoryLimit does not keep."""
    for rs in replica_sets_to_clean_up(old_replica_sets, deployment):
        log.debug("deleting old replica set", replica_set=rs.metadata.name)
        with contextlib.suppress(NotFound):
            await ctx.store.delete(ReplicaSet, rs.metadata.name, rs.metadata.namespace)


async def sync_deployment_status(
    ctx: SyncContext, all_rss: Sequence[ReplicaSet], new_rs: ReplicaSet | None, deployment: Deployment
) -> None:
    status = calculate_status(all_rss, new_rs, deployment, ctx.clock.now())
    if status != deployment.status:
        await ctx.store.update_status(attrs.evolve(deployment, status=status))


# --- the new ReplicaSet and revisions -------------------------------------------------------


async def get_all_replica_sets_and_sync_revision(
    ctx: SyncContext, deployment: Deployment, rs_list: Sequence[ReplicaSet], *, create: bool
) -> tuple[Deployment, ReplicaSet | None, list[ReplicaSet]]:
    """(deployment, new ReplicaSet, all old ReplicaSets), the new one's revision above every old one's.

    The new ReplicaSet is created when ``create`` and none exists; the deployment carries the new
    ReplicaSet's revision. Returns the deployment as last written.
    """
    _, all_old = util.find_old_replica_sets(deployment, rs_list)
    deployment, new_rs = await get_new_replica_set(ctx, deployment, rs_list, all_old, create=create)
    return deployment, new_rs, all_old


async def get_new_replica_set(
    ctx: SyncContext,
    deployment: Deployment,
    rs_list: Sequence[ReplicaSet],
    old_replica_sets: Sequence[ReplicaSet],
    *,
    create: bool,
) -> tuple[Deployment, ReplicaSet | None]:
    """The ReplicaSet running the deployment's template, annotations and revision brought up to date."""
    existing = util.find_new_replica_set(deployment, rs_list)
    new_revision = str(util.max_revision(old_replica_sets) + 1)
    if existing is not None:
        return await _sync_existing_new_replica_set(ctx, deployment, existing, new_revision)
    if not create:
        return deployment, None
    return await _create_new_replica_set(ctx, deployment, old_replica_sets, new_revision)


async def _sync_existing_new_replica_set(
    ctx: SyncContext, deployment: Deployment, existing: ReplicaSet, new_revision: str
) -> tuple[Deployment, ReplicaSet]:
    rs = util.set_new_replica_set_annotations(deployment, existing, new_revision, exists=True)
    if rs is not existing or rs.spec.min_ready_seconds != deployment.spec.min_ready_seconds:
        # The deployment's revision follows in the next sync, once this write is seen.
        rs = attrs.evolve(rs, spec=attrs.evolve(rs.spec, min_ready_seconds=deployment.spec.min_ready_seconds))
        return deployment, await ctx.store.update(rs)
    updated = util.set_deployment_revision(
        deployment, rs.metadata.annotations.get(util.REVISION_ANNOTATION, "")
    )
    if util.has_progress_deadline(deployment) and deployment.status.condition(util.PROGRESSING) is None:
        # Someone started caring about progress: count it from the first time we saw this ReplicaSet.
        condition = util.new_deployment_condition(
            util.PROGRESSING,
            util.TRUE,
            util.FOUND_NEW_RS_REASON,
            f'Found new replica set "{rs.metadata.name}"',
            ctx.clock.now(),
        )
        updated = attrs.evolve(updated, status=util.set_deployment_condition(updated.status, condition))
    if updated is not deployment:
        deployment = await write_deployment(ctx, deployment, updated)
    return deployment, rs


def new_replica_set(
    deployment: Deployment, old_replica_sets: Sequence[ReplicaSet], new_revision: str
) -> ReplicaSet:
    """The ReplicaSet a deployment creates for its template: ``<deployment>-<hash>``, hash-labelled, sized."""
    template = deployment.spec.template
    pod_template_hash = util.compute_hash(template, deployment.status.collision_count)
    labels = util.clone_and_add_label(
        template.metadata.labels, util.POD_TEMPLATE_HASH_LABEL, pod_template_hash
    )
    template = attrs.evolve(template, metadata=attrs.evolve(template.metadata, labels=labels))
    rs = ReplicaSet(
        metadata=ObjectMeta(
            # A name fixed by the hash makes creation idempotent: a repeated create meets AlreadyExists.
            name=f"{deployment.metadata.name}-{pod_template_hash}",
            namespace=deployment.metadata.namespace,
            owner_references=(controller_ref(deployment),),
            labels=labels,
        ),
        spec=ReplicaSetSpec(
            replicas=0,
            min_ready_seconds=deployment.spec.min_ready_seconds,
            selector=util.clone_selector_and_add_label(
                deployment.spec.selector, util.POD_TEMPLATE_HASH_LABEL, pod_template_hash
            ),
            template=template,
        ),
    )
    replicas = util.new_rs_new_replicas(deployment, [*old_replica_sets, rs], rs)
    rs = attrs.evolve(rs, spec=attrs.evolve(rs.spec, replicas=replicas))
    return util.set_new_replica_set_annotations(deployment, rs, new_revision, exists=False)


async def _create_new_replica_set(
    ctx: SyncContext, deployment: Deployment, old_replica_sets: Sequence[ReplicaSet], new_revision: str
) -> tuple[Deployment, ReplicaSet]:
    rs = new_replica_set(deployment, old_replica_sets, new_revision)
    name = rs.metadata.name
    already_exists = False
    try:
        created = await ctx.store.create(rs)
    except AlreadyExists:
        # A slow cache or a fast resync; or a different template that hashes the same.
        found = ctx.replica_sets.get(name, rs.metadata.namespace)
        if found is None:
            raise
        owner = found.metadata.controller_ref()
        if (
            owner is None
            or owner.uid != deployment.metadata.uid
            or not util.equal_ignore_hash(deployment.spec.template, found.spec.template)
        ):
            await _bump_collision_count(ctx, deployment)
            raise
        created, already_exists = found, True
    except Forbidden:
        raise  # the namespace is terminating: every create will fail, nothing to report
    except StoreError as exc:
        message = f'Failed to create new replica set "{name}": {exc}'
        if util.has_progress_deadline(deployment):
            condition = util.new_deployment_condition(
                util.PROGRESSING, util.FALSE, util.FAILED_RS_CREATE_REASON, message, ctx.clock.now()
            )
            status = util.set_deployment_condition(deployment.status, condition)
            # The failed create is the bigger problem to report; a failure to record it is not.
            with contextlib.suppress(StoreError):
                await ctx.store.update_status(attrs.evolve(deployment, status=status))
        await ctx.events.event(deployment, WARNING, util.FAILED_RS_CREATE_REASON, message)
        raise
    if not already_exists and created.spec.replicas > 0:
        await ctx.events.event(
            deployment,
            NORMAL,
            SCALING_REPLICA_SET,
            f"Scaled up replica set {name} from 0 to {created.spec.replicas}",
        )
    updated = util.set_deployment_revision(deployment, new_revision)
    if not already_exists and util.has_progress_deadline(deployment):
        condition = util.new_deployment_condition(
            util.PROGRESSING,
            util.TRUE,
            util.NEW_REPLICA_SET_REASON,
            f'Created new replica set "{name}"',
            ctx.clock.now(),
        )
        updated = attrs.evolve(updated, status=util.set_deployment_condition(updated.status, condition))
    if updated is not deployment:
        deployment = await write_deployment(ctx, deployment, updated)
    return deployment, created


async def _bump_collision_count(ctx: SyncContext, deployment: Deployment) -> None:
    """Record a hash collision, so the next sync hashes the template differently."""
    count = (deployment.status.collision_count or 0) + 1
    try:
        await ctx.store.update_status(
            attrs.evolve(deployment, status=attrs.evolve(deployment.status, collision_count=count))
        )
    except StoreError:
        return
    log.info("hash collision; bumped collisionCount", old=count - 1, new=count)


# --- the sync paths that do not roll out ------------------------------------------------------


async def sync_status_only(ctx: SyncContext, deployment: Deployment, rs_list: Sequence[ReplicaSet]) -> None:
    """Bring the status up to date and change nothing else (a deployment being deleted)."""
    deployment, new_rs, old = await get_all_replica_sets_and_sync_revision(
        ctx, deployment, rs_list, create=False
    )
    await sync_deployment_status(ctx, all_replica_sets(old, new_rs), new_rs, deployment)


async def sync(ctx: SyncContext, deployment: Deployment, rs_list: Sequence[ReplicaSet]) -> None:
    """Reconcile a scaling event or a paused deployment: scale proportionally, never roll out."""
    deployment, new_rs, old = await get_all_replica_sets_and_sync_revision(
        ctx, deployment, rs_list, create=False
    )
    await scale(ctx, deployment, new_rs, old)
    if deployment.spec.paused and util.rollback_to_revision(deployment) is None:
        await cleanup_deployment(ctx, old, deployment)
    await sync_deployment_status(ctx, all_replica_sets(old, new_rs), new_rs, deployment)


async def check_paused_conditions(ctx: SyncContext, deployment: Deployment) -> Deployment:
    """Mark pausing and resuming with a Progressing Unknown condition, so the deadline restarts on resume."""
    if not util.has_progress_deadline(deployment):
        return deployment
    condition = deployment.status.condition(util.PROGRESSING)
    if condition is not None and condition.reason == util.TIMED_OUT_REASON:
        return deployment  # a reported lack of progress is not hidden behind a pause
    paused_reported = condition is not None and condition.reason == util.PAUSED_DEPLOY_REASON
    now = ctx.clock.now()
    if deployment.spec.paused and not paused_reported:
        update = util.new_deployment_condition(
            util.PROGRESSING, util.UNKNOWN, util.PAUSED_DEPLOY_REASON, "Deployment is paused", now
        )
    elif not deployment.spec.paused and paused_reported:
        update = util.new_deployment_condition(
            util.PROGRESSING, util.UNKNOWN, util.RESUMED_DEPLOY_REASON, "Deployment is resumed", now
        )
    else:
        return deployment
    status = util.set_deployment_condition(deployment.status, update)
    return await ctx.store.update_status(attrs.evolve(deployment, status=status))


async def is_scaling_event(
    ctx: SyncContext, deployment: Deployment, rs_list: Sequence[ReplicaSet]
) -> tuple[Deployment, list[ReplicaSet], bool]:
    """Whether spec.replicas moved away from what an active ReplicaSet's desired-replicas records.

    Also returns the deployment and ReplicaSets as the revision sync left them.
    """
    deployment, new_rs, old = await get_all_replica_sets_and_sync_revision(
        ctx, deployment, rs_list, create=False
    )
    replica_sets = all_replica_sets(old, new_rs)
    for rs in util.filter_active_replica_sets(replica_sets):
        desired = util.desired_replicas_annotation(rs)
        if desired is not None and desired != deployment.spec.replicas:
            return deployment, replica_sets, True
    return deployment, replica_sets, False
