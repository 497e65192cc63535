"""A small operator for a custom kind: a ``PodSet`` keeps ``replicas`` pods named ``<podset>-<index>``.

It shows the shape of a level-triggered controller that stays correct under stale caches, crashes
between writes, missed events and retries — the faults the toolkit throws at it in
``test_podset.py``:

- it reads the informer cache, but every write is idempotent: pod names are fixed (``web-0``, ``web-1``,
  …), so a create from a stale read fails with AlreadyExists instead of making a second pod, and a delete
  of a pod already gone is a no-op;
- a name it wants may be held by a pod it does not control — its predecessor's of the same name, not yet
  collected. That pod's deletion names the old owner, so no event will bring the PodSet back: after an
  AlreadyExists it asks to be requeued with backoff, as Kubernetes' StatefulSet controller does;
- it counts only pods it controls (ownerReference with ``controller: true`` and its uid), never pods that
  merely match its labels;
- status is written last and derived from what exists, never used as a record of what was done;
- it *expects* the pods it creates (`reconcile.expectations`, client-go's ControllerExpectations) and
  does nothing more for a PodSet until its cache has shown them: a cache that has not caught up with its
  own creates would count them missing and, if the PodSet was scaled down meanwhile, report the new
  generation as done while a pod it no longer wants still runs. Should a pod it made be deleted before
  its cache shows it, while the watch is down, no event would ever say so: it asks to come back once
  the expectations expire, as the informer resync that Kubernetes relies on would bring it back.

Run it (``.venv/bin/python examples/custom_controller/podset.py``) to see a PodSet scale on virtual time.
"""

from __future__ import annotations

import contextlib
from typing import ClassVar

import attrs

from reconcile import Controller, Manager, Request, Result
from reconcile.expectations import ControllerExpectations
from reconcile.informer import DeletedFinalStateUnknown, Informer
from reconcile.testing import Simulation
from store import AlreadyExists, FrozenDict, NotFound, Scheme
from store.models import (
    Container,
    LabelSelector,
    Object,
    ObjectMeta,
    OwnerReference,
    Pod,
    PodSpec,
    PodTemplateSpec,
)


@attrs.frozen(kw_only=True)
class PodSetSpec:
    replicas: int = 1
    selector: LabelSelector = LabelSelector()
    template: PodTemplateSpec = PodTemplateSpec()


@attrs.frozen(kw_only=True)
class PodSetStatus:
    replicas: int = 0
    observed_generation: int = 0


@attrs.frozen(kw_only=True)
class PodSet(Object):
    api_version: ClassVar[str] = "example.com/v1"
    kind: ClassVar[str] = "PodSet"
    spec: PodSetSpec = PodSetSpec()
    status: PodSetStatus = PodSetStatus()


def podset_scheme() -> Scheme:
    """The built-in kinds plus PodSet."""
    scheme = Scheme()
    scheme.register(PodSet, plural="podsets")
    return scheme


def owner_reference(podset: PodSet) -> OwnerReference:
    return OwnerReference(
        api_version=PodSet.api_version,
        kind=PodSet.kind,
        name=podset.metadata.name,
        uid=podset.metadata.uid,
        controller=True,
        block_owner_deletion=True,
    )


def pod_for(podset: PodSet, index: int) -> Pod:
    """The pod at ``index``: named after the PodSet, labelled and owned by it."""
    template = podset.spec.template
    return Pod(
        metadata=ObjectMeta(
            name=f"{podset.metadata.name}-{index}",
            namespace=podset.metadata.namespace,
            labels=template.metadata.labels,
            owner_references=(owner_reference(podset),),
        ),
        spec=template.spec,
    )


def controlled_by(pod: Pod, podset: PodSet) -> bool:
    ref = pod.metadata.controller_ref()
    return ref is not None and ref.uid == podset.metadata.uid


class PodSetReconciler:
    """Reconciles one PodSet: its pods ``<name>-0`` … ``<name>-<replicas-1>``, nothing more."""

    def __init__(self, manager: Manager) -> None:
        self.store = manager.store
        self.podsets = manager.informer(PodSet)
        self.pods = manager.informer(Pod)
        self.expectations: ControllerExpectations[Request] = ControllerExpectations(manager.clock)
        self.pods.add_handler(_CreationObserver(self.expectations, self.podsets))

    async def reconcile(self, request: Request) -> Result | None:
        podset = self.podsets.get(request.name, request.namespace)
        if podset is None or podset.metadata.deletion_timestamp is not None:
            self.expectations.delete_expectations(request)
            return None  # the garbage collector removes the pods it owns
        if not self.expectations.satisfied_expectations(request):
            # Its own creates are not in the cache yet; their arrival enqueues the PodSet again. Should
            # one never arrive (created and deleted while the watch was down), the expectations expire.
            return self._once_expectations_expire(request)
        mine = {
            pod.metadata.name: pod
            for pod in self.pods.list(namespace=request.namespace)
            if controlled_by(pod, podset)
        }
        wanted = {f"{podset.metadata.name}-{index}" for index in range(podset.spec.replicas)}
        missing = [
            index for index in range(podset.spec.replicas) if f"{podset.metadata.name}-{index}" not in mine
        ]
        unsent = len(missing)
        taken = False
        self.expectations.expect_creations(request, unsent)
        try:
            for index in missing:
                try:
                    await self.store.create(pod_for(podset, index))
                except AlreadyExists:
                    # A stale cache, or a pod someone else controls: its event may never come (a delete
                    # may overtake it), so, as client-go does for every failed create, stop waiting for it.
                    self.expectations.creation_observed(request)
                    taken = True
                unsent -= 1
        finally:
            # An error or a crash cut the loop short: the creates not made will never be observed.
            self.expectations.lower_expectations(request, unsent, 0)
        for name in sorted(set(mine) - wanted):
            with contextlib.suppress(NotFound):
                await self.store.delete(Pod, name, request.namespace, uid=mine[name].metadata.uid)
        status = PodSetStatus(
            replicas=len(set(mine) & wanted), observed_generation=podset.metadata.generation
        )
        if status != podset.status:
            await self.store.update_status(attrs.evolve(podset, status=status))
        if taken:
            # Look again, with backoff, until every name taken is ours or free.
            return Result(requeue=True)
        # A create whose pod is deleted while the watch is down never shows up, and nothing else may
        # bring the PodSet back: come back when the expectations expire, as the periodic informer resync
        # would in Kubernetes (the ReplicaSet controller here does the same). The pods showing up first
        # supersede this.
        return self._once_expectations_expire(request)

    def _once_expectations_expire(self, request: Request) -> Result | None:
        """Come back just after the PodSet's expectations expire, if it has any."""
        expires_in = self.expectations.expires_in(request)
        return Result(requeue_after=expires_in + 1.0) if expires_in is not None else None


class _CreationObserver:
    """Lowers a PodSet's expectations as its pods show up in the cache."""

    def __init__(self, expectations: ControllerExpectations[Request], podsets: Informer[PodSet]) -> None:
        self.expectations = expectations
        self.podsets = podsets

    def on_add(self, pod: Pod) -> None:
        ref = pod.metadata.controller_ref()
        if ref is None or ref.kind != PodSet.kind:
            return
        # Only the PodSet the reference names, not an earlier one of the same name whose pod shows up
        # late: expectations are kept by name (upstream's resolveControllerRef checks the uid too).
        podset = self.podsets.get(ref.name, pod.metadata.namespace)
        if podset is not None and podset.metadata.uid == ref.uid:
            self.expectations.creation_observed(Request(pod.metadata.namespace, ref.name))

    def on_update(self, old: Pod, new: Pod) -> None:
        # A pod deleted and made again under its name while the watch was down reaches the cache as an
        # update (a relist sees only the new one): that is a creation too.
        if old.metadata.uid != new.metadata.uid:
            self.on_add(new)

    def on_delete(self, pod: Pod | DeletedFinalStateUnknown[Pod]) -> None:
        pass


def podset_controller(manager: Manager) -> Controller:
    """The controller, ready to add to a manager: PodSets, and the pods they own."""
    return Controller("podset", PodSetReconciler(manager), kind=PodSet, owns=[Pod], workers=2)


def podset(name: str, replicas: int, *, namespace: str = "default", image: str = "nginx:1.25") -> PodSet:
    """A PodSet of ``replicas`` pods labelled ``app=<name>``."""
    labels = FrozenDict({"app": name})
    return PodSet(
        metadata=ObjectMeta(name=name, namespace=namespace),
        spec=PodSetSpec(
            replicas=replicas,
            selector=LabelSelector(match_labels=labels),
            template=PodTemplateSpec(
                metadata=ObjectMeta(labels=labels),
                spec=PodSpec(containers=(Container(name=name, image=image),)),
            ),
        ),
    )


async def demo(sim: Simulation) -> None:
    sim.manager.add(podset_controller(sim.manager))
    await sim.store.create(podset("web", 3))
    await sim.settle()
    names = [pod.metadata.name for pod in (await sim.store.list(Pod)).items]
    print(f"t={sim.now:.3f}s virtual: {names}")


if __name__ == "__main__":
    Simulation(seed=1, scheme=podset_scheme()).run(demo)
