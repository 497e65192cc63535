"""Deliberately broken controllers, one per class of bug Sieve names, for the toolkit to catch.

Each is a plausible PodSet controller (or scheduler) with exactly one mistake:

- `StaleRead` — counts its pods in the informer cache and creates the difference with generateName, with
  no expectations: a cache that lags makes it create pods it already has;
- `HalfDone` — records ``observedGeneration`` first and creates pods after, skipping PodSets whose
  generation it has observed: a crash between the two writes leaves the pods never made;
- `MissedEvent` — keeps a running count of its pods from add/delete notifications instead of looking at
  the cache: when a pod's creation and deletion reach it as one coalesced event, the count goes wrong;
- `NoOwnershipCheck` — counts every pod matching its selector as its own, so a stray pod takes a
  replica's place;
- `NonIdempotentCreate` — counts creations in its status and creates a pod before recording it: a failed
  status write means a second pod on retry;
- `DoubleScheduler` — binds pods to the first node with a free slot by its cache's count, without
  assuming its own bindings: a lagging cache puts two pods in one slot.
"""

from __future__ import annotations

import contextlib
from collections import Counter
from typing import Any

import attrs
from podset import PodSet, PodSetStatus, controlled_by, owner_reference, podset_scheme

from reconcile import Controller, DeletedFinalStateUnknown, Manager, Request, Result
from reconcile.informer import final_state
from store import AlreadyExists, NotFound
from store.models import Node, ObjectMeta, Pod


def _new_pod(podset: PodSet) -> Pod:
    return Pod(
        metadata=ObjectMeta(
            generate_name=f"{podset.metadata.name}-",
            namespace=podset.metadata.namespace,
            labels=podset.spec.template.metadata.labels,
            owner_references=(owner_reference(podset),),
        ),
        spec=podset.spec.template.spec,
    )


def _matches(pod: Pod, podset: PodSet) -> bool:
    return podset.spec.selector.as_selector().matches(pod.metadata.labels)


class CountingReconciler:
    """Count pods, create or delete the difference; the variants change how they count."""

    def __init__(self, manager: Manager) -> None:
        self.store = manager.store
        self.podsets = manager.informer(PodSet)
        self.pods = manager.informer(Pod)

    def mine(self, podset: PodSet) -> list[Pod]:
        return [
            pod
            for pod in self.pods.list(namespace=podset.metadata.namespace)
            if controlled_by(pod, podset) and pod.metadata.deletion_timestamp is None
        ]

    async def reconcile(self, request: Request) -> Result | None:
        podset = self.podsets.get(request.name, request.namespace)
        if podset is None:
            return None
        pods = self.mine(podset)
        diff = podset.spec.replicas - len(pods)
        for _ in range(diff):
            await self.store.create(_new_pod(podset))
        for pod in sorted(pods, key=lambda p: p.metadata.name)[: max(-diff, 0)]:
            with contextlib.suppress(NotFound):
                await self.store.delete(Pod, pod.metadata.name, pod.metadata.namespace)
        status = PodSetStatus(replicas=podset.spec.replicas, observed_generation=podset.metadata.generation)
        if status != podset.status:
            await self.store.update_status(attrs.evolve(podset, status=status))
        return None


class StaleRead(CountingReconciler):
    pass


class NoOwnershipCheck(CountingReconciler):
    def mine(self, podset: PodSet) -> list[Pod]:
        return [
            pod
            for pod in self.pods.list(namespace=podset.metadata.namespace)
            if _matches(pod, podset) and pod.metadata.deletion_timestamp is None
        ]


class MissedEvent(CountingReconciler):
    """Counts pods per PodSet from notifications, as if every event arrived."""

    def __init__(self, manager: Manager) -> None:
        super().__init__(manager)
        self.count: Counter[str] = Counter()
        self.pods.add_handler(self)

    def on_add(self, pod: Pod) -> None:
        ref = pod.metadata.controller_ref()
        if ref is not None:
            self.count[ref.uid] += 1

    def on_update(self, old: Pod, new: Pod) -> None:
        pass

    def on_delete(self, obj: Pod | DeletedFinalStateUnknown[Any]) -> None:
        ref = final_state(obj).metadata.controller_ref()
        if ref is not None:
            self.count[ref.uid] -= 1

    async def reconcile(self, request: Request) -> Result | None:
        podset = self.podsets.get(request.name, request.namespace)
        if podset is None:
            return None
        have = self.count[podset.metadata.uid]
        for _ in range(podset.spec.replicas - have):
            await self.store.create(_new_pod(podset))
        surplus = sorted(self.mine(podset), key=lambda p: p.metadata.name)[
            : max(have - podset.spec.replicas, 0)
        ]
        for pod in surplus:
            with contextlib.suppress(NotFound):
                await self.store.delete(Pod, pod.metadata.name, pod.metadata.namespace)
        status = PodSetStatus(replicas=podset.spec.replicas, observed_generation=podset.metadata.generation)
        if status != podset.status:
            await self.store.update_status(attrs.evolve(podset, status=status))
        return None


class HalfDone:
    """Creates each pod ``<name>-<i>`` bare, then adopts it with a second write; a pod that exists by
    name counts as done."""

    def __init__(self, manager: Manager) -> None:
        self.store = manager.store
        self.podsets = manager.informer(PodSet)
        self.pods = manager.informer(Pod)

    async def reconcile(self, request: Request) -> Result | None:
        podset = self.podsets.get(request.name, request.namespace)
        if podset is None:
            return None
        name = podset.metadata.name
        for index in range(podset.spec.replicas):
            if self.pods.get(f"{name}-{index}", request.namespace) is not None:
                continue
            bare = attrs.evolve(
                _new_pod(podset),
                metadata=attrs.evolve(
                    _new_pod(podset).metadata, name=f"{name}-{index}", generate_name="", owner_references=()
                ),
            )
            with contextlib.suppress(AlreadyExists):
                created = await self.store.create(bare)
                adopted = attrs.evolve(
                    created,
                    metadata=attrs.evolve(created.metadata, owner_references=(owner_reference(podset),)),
                )
                await self.store.update(adopted)
        for pod in self.pods.list(namespace=request.namespace):
            if (
                controlled_by(pod, podset)
                and int(pod.metadata.name.rsplit("-", 1)[1]) >= podset.spec.replicas
            ):
                with contextlib.suppress(NotFound):
                    await self.store.delete(Pod, pod.metadata.name, request.namespace)
        status = PodSetStatus(replicas=podset.spec.replicas, observed_generation=podset.metadata.generation)
        if status != podset.status:
            await self.store.update_status(attrs.evolve(podset, status=status))
        return None


class NonIdempotentCreate:
    """Counts its pods in status.replicas: creates a pod, then records it; a failed status write means
    a second pod on retry."""

    def __init__(self, manager: Manager) -> None:
        self.store = manager.store
        self.podsets = manager.informer(PodSet)

    async def reconcile(self, request: Request) -> Result | None:
        if self.podsets.get(request.name, request.namespace) is None:
            return None
        current = await self.store.get(PodSet, request.name, request.namespace)
        recorded, wanted = current.status.replicas, current.spec.replicas
        if recorded < wanted:
            await self.store.create(_new_pod(current))
            status = attrs.evolve(current.status, replicas=recorded + 1)
        elif recorded > wanted:
            pods = (await self.store.list(Pod, namespace=request.namespace)).items
            mine = sorted((p for p in pods if controlled_by(p, current)), key=lambda p: p.metadata.name)
            if mine:
                await self.store.delete(Pod, mine[0].metadata.name, request.namespace)
            status = attrs.evolve(current.status, replicas=recorded - 1)
        else:
            status = attrs.evolve(current.status, observed_generation=current.metadata.generation)
            if status == current.status:
                return None
        await self.store.update_status(attrs.evolve(current, status=status))
        return Result(requeue=True)


def controller_for(reconciler: type[Any]) -> Any:
    def make(manager: Manager) -> Controller:
        return Controller("podset", reconciler(manager), kind=PodSet, owns=[Pod])

    return make


class DoubleScheduler:
    """Binds each pending pod to the first node whose cached pod count is below its allocatable pods."""

    def __init__(self, manager: Manager) -> None:
        self.store = manager.store
        self.pods = manager.informer(Pod)
        self.nodes = manager.informer(Node)

    async def reconcile(self, request: Request) -> Result | None:
        pod = self.pods.get(request.name, request.namespace)
        if pod is None or pod.spec.node_name:
            return None
        for node in self.nodes.list():
            bound = [p for p in self.pods.list() if p.spec.node_name == node.metadata.name]
            if len(bound) < node.status.allocatable["pods"].value():
                await self.store.bind(pod.metadata.name, pod.metadata.namespace, node.metadata.name)
                return None
        # No room: the pod waits unschedulable, as kube-scheduler parks it until the cluster changes
        # (here only the pod's own events bring it back), rather than polling every second, which
        # would keep a run with more pods than room from ever settling.
        return None


def double_scheduler(manager: Manager) -> Controller:
    return Controller("scheduler", DoubleScheduler(manager), kind=Pod)


__all__ = ["podset_scheme"]
