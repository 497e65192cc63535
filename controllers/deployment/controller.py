"""The DeploymentController: what a deployment sync does first, and which strategy it hands over to.

It mirrors syncDeployment in pkg/controller/deployment/deployment_controller.go: claim the
ReplicaSets the deployment selects (adopting orphans, releasing those that stopped matching);
then a deployment being deleted only gets its status; a paused one is scaled but not rolled out;
a rollback request is carried out; a change of spec.replicas is a scaling event; anything else is
a Recreate or RollingUpdate step. It watches Deployments, the ReplicaSets they own (and orphans
they might adopt), and pod deletions, which let a Recreate rollout continue once its old pods are
gone. The steps themselves live in `sync`, `rolling`, `recreate`, `progress` and `rollback`.
"""

from __future__ import annotations

from collections.abc import Sequence

import attrs
import structlog

from controllers.deployment import util
from controllers.deployment.recreate import PodMap, rollout_recreate
from controllers.deployment.rollback import rollback
from controllers.deployment.rolling import rollout_rolling
from controllers.deployment.sync import (
    SyncContext,
    check_paused_conditions,
    controller_ref,
    is_scaling_event,
    sync,
    sync_status_only,
)
from controllers.events import WARNING, EventRecorder
from reconcile import Controller, Manager, Request, Result, TerminalError, Watch
from reconcile.controller import request_for
from reconcile.informer import BY_CONTROLLER, BY_OWNER, index_by_controller, index_by_owner_uid
from store import Forbidden, NotFound, Object, Selector, StoreError
from store.models import Deployment, Pod, ReplicaSet

log = structlog.get_logger("setpoint.deployment")

COMPONENT = "deployment-controller"
#: A deployment is dropped from the queue after this many failed syncs in a row (maxRetries).
MAX_RETRIES = 15


class AdoptionRefused(Exception):
    """The deployment may not adopt orphans: it was deleted (and maybe recreated) since it was cached."""


def _never(old: Pod, new: Pod) -> bool:
    """No pod update concerns a deployment (upstream's deployment controller watches pod deletions)."""
    return False


def _labels_or_controller_changed(old: ReplicaSet, new: ReplicaSet) -> bool:
    """What may make an orphaned ReplicaSet adoptable (updateReplicaSet); owners hear of the rest."""
    return (
        old.metadata.labels != new.metadata.labels
        or old.metadata.controller_ref() != new.metadata.controller_ref()
    )


def _selector_of(deployment: Deployment) -> Selector | None:
    """The deployment's selector; None when it has none or it is empty (which would select every pod)."""
    selector = deployment.spec.selector
    if selector is None or (not selector.match_labels and not selector.match_expressions):
        return None
    return selector.as_selector()


class DeploymentController(Controller):
    """Rolls Deployments out through ReplicaSets, as kube-controller-manager's deployment controller does."""

    def __init__(self, manager: Manager, *, workers: int = 5) -> None:
        self._store = manager.store
        self._deployments = manager.informer(Deployment)
        self._replica_sets = manager.informer(ReplicaSet)
        self._replica_sets.ensure_index(BY_CONTROLLER, index_by_controller)
        self._pods = manager.informer(Pod)
        self._pods.ensure_index(BY_OWNER, index_by_owner_uid)
        self._events = EventRecorder(manager.store, manager.clock, COMPONENT)
        self._ctx = SyncContext(
            store=manager.store, replica_sets=self._replica_sets, events=self._events, clock=manager.clock
        )
        super().__init__(
            "deployment",
            self,
            kind=Deployment,
            owns=[ReplicaSet],
            watches={
                ReplicaSet: Watch(self._deployments_for_orphan, changed=_labels_or_controller_changed),
                Pod: Watch(self._recreate_deployment_without_pods, changed=_never),
            },
            workers=workers,
            max_retries=MAX_RETRIES,
        )

    # --- the sync ---------------------------------------------------------------------------

    async def reconcile(self, request: Request) -> Result | None:
        deployment = self._deployments.get(request.name, request.namespace)
        if deployment is None:
            return None  # deleted: its ReplicaSets go with it through garbage collection
        try:
            return await self._sync(deployment)
        except Forbidden as exc:
            # The namespace is terminating: every write will fail, so neither retry nor keep backing the
            # key off (upstream's handleErr forgets it).
            self.queue.forget(request)
            raise TerminalError(str(exc)) from exc

    async def _sync(self, deployment: Deployment) -> Result | None:
        ctx = self._ctx
        selector = _selector_of(deployment)
        if selector is None:
            await self._events.event(
                deployment,
                WARNING,
                "SelectingAll",
                "This deployment is selecting all pods. A non-empty selector is required.",
            )
            if deployment.status.observed_generation < deployment.metadata.generation:
                status = attrs.evolve(deployment.status, observed_generation=deployment.metadata.generation)
                await self._store.update_status(attrs.evolve(deployment, status=status))
            return None
        rs_list = await self._claim_replica_sets(deployment, selector)
        if deployment.metadata.deletion_timestamp is not None:
            await sync_status_only(ctx, deployment, rs_list)
            return None
        deployment = await check_paused_conditions(ctx, deployment)
        if deployment.spec.paused:
            await sync(ctx, deployment, rs_list)
            return None
        # A rollback is not re-entrant: no ReplicaSet is touched until the request is cleared.
        to_revision = util.rollback_to_revision(deployment)
        if to_revision is not None:
            await rollback(ctx, deployment, rs_list, to_revision)
            return None
        deployment, rs_list, scaling = await is_scaling_event(ctx, deployment, rs_list)
        if scaling:
            await sync(ctx, deployment, rs_list)
            return None
        strategy = deployment.spec.strategy.type
        if strategy == util.RECREATE:
            return await rollout_recreate(
                ctx, deployment, rs_list, self._pod_map(deployment, rs_list, selector)
            )
        if strategy == util.ROLLING_UPDATE:
            return await rollout_rolling(ctx, deployment, rs_list)
        raise TerminalError(f"unexpected deployment strategy type: {strategy}")

    # --- ReplicaSets and pods of a deployment -------------------------------------------------

    async def _claim_replica_sets(self, deployment: Deployment, selector: Selector) -> list[ReplicaSet]:
        """The ReplicaSets this deployment controls and selects, after adopting and releasing.

        Owned ReplicaSets that stopped matching are released; matching orphans are adopted, once
        a fresh read confirms the deployment is still there and not being deleted
        (ControllerRefManager.ClaimReplicaSets). A deployment being deleted neither adopts nor
        releases. Write errors are raised after every ReplicaSet was tried.
        """
        deleting = deployment.metadata.deletion_timestamp is not None
        claimed: list[ReplicaSet] = []
        to_release: list[ReplicaSet] = []
        # ReplicaSets another controller owns are none of this deployment's business, so only its own and
        # the namespace's orphans are read, from the index rather than by scanning the namespace.
        for rs in self._owned_replica_sets(deployment):
            if selector.matches(rs.metadata.labels):
                claimed.append(rs)
            elif not deleting:
                to_release.append(rs)
        orphans = (
            []
            if deleting
            else [
                rs
                for rs in self._replica_sets.by_index(BY_CONTROLLER, f"{deployment.metadata.namespace}/")
                if rs.metadata.deletion_timestamp is None and selector.matches(rs.metadata.labels)
            ]
        )
        errors: list[StoreError] = []
        for rs in to_release:
            try:
                await self._release(deployment, rs)
            except NotFound:
                continue
            except StoreError as exc:
                errors.append(exc)
        if orphans:
            await self._check_can_adopt(deployment)
        for rs in orphans:
            try:
                claimed.append(await self._adopt(deployment, rs))
            except NotFound:
                continue
            except StoreError as exc:
                errors.append(exc)
        if errors:
            raise errors[0]
        return claimed

    async def _check_can_adopt(self, deployment: Deployment) -> None:
        """Refuse adoption for a deployment replaced or being deleted (RecheckDeletionTimestamp)."""
        meta = deployment.metadata
        fresh = await self._store.get(Deployment, meta.name, meta.namespace)
        if fresh.metadata.uid != meta.uid:
            raise AdoptionRefused(
                f"original Deployment {meta.namespace}/{meta.name} is gone:"
                f" got uid {fresh.metadata.uid}, wanted {meta.uid}"
            )
        if fresh.metadata.deletion_timestamp is not None:
            raise AdoptionRefused(
                f"{meta.namespace}/{meta.name} has just been deleted at {fresh.metadata.deletion_timestamp}"
            )

    async def _adopt(self, deployment: Deployment, rs: ReplicaSet) -> ReplicaSet:
        log.info("adopting replica set", replica_set=rs.metadata.name)
        refs = (*rs.metadata.owner_references, controller_ref(deployment))
        return await self._store.update(
            attrs.evolve(rs, metadata=attrs.evolve(rs.metadata, owner_references=refs))
        )

    async def _release(self, deployment: Deployment, rs: ReplicaSet) -> None:
        log.info("releasing replica set that no longer matches", replica_set=rs.metadata.name)
        refs = tuple(ref for ref in rs.metadata.owner_references if ref.uid != deployment.metadata.uid)
        await self._store.update(attrs.evolve(rs, metadata=attrs.evolve(rs.metadata, owner_references=refs)))

    def _owned_replica_sets(self, deployment: Deployment) -> list[ReplicaSet]:
        """The ReplicaSets whose controller reference names ``deployment``, in key order."""
        meta = deployment.metadata
        return self._replica_sets.by_index(BY_CONTROLLER, f"{meta.namespace}/{meta.uid}")

    def _pod_map(self, deployment: Deployment, rs_list: Sequence[ReplicaSet], selector: Selector) -> PodMap:
        """The deployment's pods by the uid of the ReplicaSet that controls them, finished pods included.

        Recreate must see pods of every phase to know that no old pod still runs.
        """
        pod_map: dict[str, list[Pod]] = {}
        for rs in rs_list:
            uid = rs.metadata.uid
            pod_map[uid] = [
                pod
                for pod in self._pods.by_index(BY_OWNER, uid)
                if pod.metadata.namespace == deployment.metadata.namespace
                and selector.matches(pod.metadata.labels)
                and (ref := pod.metadata.controller_ref()) is not None
                and ref.uid == uid
            ]
        return pod_map

    # --- what else wakes a deployment -------------------------------------------------------------

    def _owner_of(self, obj: Object) -> Deployment | None:
        """The deployment that controls ``obj``, checked by uid (resolveControllerRef)."""
        ref = obj.metadata.controller_ref()
        if ref is None or ref.kind != Deployment.kind:
            return None
        deployment = self._deployments.get(ref.name, obj.metadata.namespace)
        if deployment is None or deployment.metadata.uid != ref.uid:
            return None
        return deployment

    def _deployments_for_orphan(self, rs: ReplicaSet) -> list[Request]:
        """An orphaned ReplicaSet wakes every deployment that selects it, so one can adopt it.

        As upstream's handlers do, it reads the ReplicaSet as it is now (the new one, for either side of
        an update) and ignores deletions, which handlers see after the cache: an orphan no longer cached
        was deleted, and no deployment cares about that. Owned ReplicaSets are handled by ``owns``, which
        wakes their owner.
        """
        current = self._replica_sets.get(rs.metadata.name, rs.metadata.namespace)
        if current is None or current.metadata.controller_ref() is not None or not current.metadata.labels:
            return []
        labels = current.metadata.labels
        return [
            request_for(deployment)
            for deployment in self._deployments.list(namespace=current.metadata.namespace)
            if (selector := _selector_of(deployment)) is not None and selector.matches(labels)
        ]

    def _recreate_deployment_without_pods(self, pod: Pod) -> list[Request]:
        """A Recreate deployment whose last pod is gone may start its new pods (deletePod).

        Upstream watches pod deletions only: updates never get here (`_never`), and since handlers see
        the cache after the change, a pod still in it was added: nothing to do, nothing to look up.
        """
        meta = pod.metadata
        if self._pods.get(meta.name, meta.namespace) is not None:
            return []
        ref = meta.controller_ref()
        if ref is None or ref.kind != ReplicaSet.kind:
            return []
        rs = self._replica_sets.get(ref.name, meta.namespace)
        if rs is None or rs.metadata.uid != ref.uid:
            return []
        deployment = self._owner_of(rs)
        if deployment is None or deployment.spec.strategy.type != util.RECREATE:
            return []
        selector = _selector_of(deployment)
        if selector is None:
            return []
        rs_list = [
            candidate
            for candidate in self._owned_replica_sets(deployment)
            if selector.matches(candidate.metadata.labels)
        ]
        if any(self._pod_map(deployment, rs_list, selector).values()):
            return []
        return [request_for(deployment)]
