"""Invariants of the built-in controllers, reusable in any `SimulationMachine` (and by hand on a `World`).

Safety, checked at every committed write:

- `AtMostOneControllerOwner` — no object has two controller ownerReferences;
- `NodeNameNeverChanges` — a pod's spec.nodeName never changes once set;
- `PlacementFits` — a pod is bound only to a node that could take it (not cordoned, taints tolerated,
  nodeSelector matched) in some state the scheduler may have seen;
- `RequestsFitAllocatable` — the requests of the pods bound to a node stay within its allocatable;
- `NoTaintWhileEveryZoneIsDown` — no NoExecute not-ready/unreachable taint is added while every node of
  every zone is not Ready;
- `RolloutBoundsHold` — a rolling update keeps within maxSurge and maxUnavailable (void once faults that
  lose pods were armed: the promise is Kubernetes' in fault-free operation).

Convergence, checked once the cluster settled with faults off, and again after a further window:

- `DeploymentsConverge`, `ReplicaSetsConverge` — the state matches the spec (observedGeneration =
  generation, counts right, old ReplicaSets at zero);
- `EndpointsMatchReadyPods` — each Service's Endpoints list exactly the ready selected pods;
- `WorkqueuesEmpty` — every controller's queue is empty at quiescence;
- `Stable` — nothing of the given kinds was written during the window (eventually stable).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from controllers.deployment import util
from controllers.invariants import RolloutBounds
from controllers.podutil import is_pod_active, is_pod_ready
from reconcile.testing import Invariant, World
from reconcile.testing.simulation import Simulation
from store import MemoryStore, Object
from store.interface import EventType, WatchEvent
from store.models import Deployment, Endpoints, Node, Pod, ReplicaSet, Service, Taint

UNREACHABLE = "node.kubernetes.io/unreachable"
NOT_READY = "node.kubernetes.io/not-ready"
CORDON = Taint(key="node.kubernetes.io/unschedulable", effect="NoSchedule")


def _object(event: WatchEvent[Any]) -> Any:
    return event.object


class AtMostOneControllerOwner(Invariant):
    kinds = (Pod, ReplicaSet)

    def on_write(self, world: World, event: WatchEvent[Any]) -> Iterable[str]:
        obj: Object = _object(event)
        controllers = [ref for ref in obj.metadata.owner_references if ref.controller]
        if len(controllers) > 1:
            yield f"{obj.kind} {obj.metadata.name} has {len(controllers)} controller owners"


class NodeNameNeverChanges(Invariant):
    kinds = (Pod,)

    def on_write(self, world: World, event: WatchEvent[Any]) -> Iterable[str]:
        before, after = world.previous, _object(event)
        if (
            isinstance(before, Pod)
            and before.spec.node_name
            and after.spec.node_name != before.spec.node_name
        ):
            yield f"pod {after.metadata.name} moved from {before.spec.node_name} to {after.spec.node_name}"


def unfit(pod: Pod, node: Node) -> list[str]:
    """Why ``node`` must not take ``pod``: cordon, untolerated taints, an unmatched nodeSelector."""
    problems = []
    tolerations = pod.spec.tolerations
    if node.spec.unschedulable and not any(t.tolerates(CORDON) for t in tolerations):
        problems.append("node is cordoned")
    for taint in node.spec.taints:
        if taint.effect in ("NoSchedule", "NoExecute") and not any(t.tolerates(taint) for t in tolerations):
            problems.append(f"untolerated taint {taint.key}:{taint.effect}")
    for key, value in pod.spec.node_selector.items():
        if node.metadata.labels.get(key) != value:
            problems.append(f"nodeSelector {key}={value} not matched")
    return problems


class PlacementFits(Invariant):
    """At each binding, the node fitted the pod in at least one state it had since the last settle.

    A scheduler decides on its cache, which may lag: a binding is wrong only when no state of the node
    that the cache could have held — those since the cluster was last quiet — would admit the pod.
    """

    kinds = (Node, Pod)

    def __init__(self) -> None:
        self._seen: dict[str, list[Node]] = {}

    def on_write(self, world: World, event: WatchEvent[Any]) -> Iterable[str]:
        obj = _object(event)
        if isinstance(obj, Node):
            self._seen.setdefault(obj.metadata.name, []).append(obj)
            return
        before = world.previous
        if not obj.spec.node_name or (isinstance(before, Pod) and before.spec.node_name):
            return
        name = obj.spec.node_name
        states = self._seen.get(name, [])
        if not states:
            yield f"pod {obj.metadata.name} bound to {name}, which never existed"
        elif all(unfit(obj, state) for state in states):
            yield f"pod {obj.metadata.name} bound to {name}: {'; '.join(unfit(obj, states[-1]))}"

    def on_settled(self, world: World, simulation: Simulation) -> Iterable[str]:
        self._seen = {node.metadata.name: [node] for node in world.list(Node)}
        return ()


def _requests(pod: Pod) -> tuple[int, int]:
    cpu = memory = 0
    for container in pod.spec.containers:
        requests = container.resources.requests
        if "cpu" in requests:
            cpu += requests["cpu"].milli_value()
        if "memory" in requests:
            memory += requests["memory"].value()
    return cpu, memory


class RequestsFitAllocatable(Invariant):
    """Σ requests (cpu, memory) and the count of pods bound to a node stay within its allocatable."""

    kinds = (Node, Pod)

    def on_write(self, world: World, event: WatchEvent[Any]) -> Iterable[str]:
        obj = _object(event)
        name = obj.metadata.name if isinstance(obj, Node) else obj.spec.node_name
        node = world.get(Node, name) if name else None
        if node is None:
            return
        bound = [
            pod
            for pod in world.list(Pod)
            if pod.spec.node_name == name and pod.status.phase not in ("Succeeded", "Failed")
        ]
        allocatable = node.status.allocatable
        cpu = sum(_requests(pod)[0] for pod in bound)
        memory = sum(_requests(pod)[1] for pod in bound)
        if "cpu" in allocatable and cpu > allocatable["cpu"].milli_value():
            yield f"node {name}: cpu requests {cpu}m > allocatable {allocatable['cpu']}"
        if "memory" in allocatable and memory > allocatable["memory"].value():
            yield f"node {name}: memory requests {memory} > allocatable {allocatable['memory']}"
        if "pods" in allocatable and len(bound) > allocatable["pods"].value():
            yield f"node {name}: {len(bound)} pods > allocatable {allocatable['pods']}"


def _ready(node: Node) -> bool:
    condition = node.status.condition("Ready")
    return condition is not None and condition.status == "True"


class NoTaintWhileEveryZoneIsDown(Invariant):
    """No NoExecute not-ready/unreachable taint is added while no node of any zone is Ready."""

    kinds = (Node,)

    def on_write(self, world: World, event: WatchEvent[Any]) -> Iterable[str]:
        before, after = world.previous, _object(event)
        if event.type is EventType.DELETED or not isinstance(before, Node):
            return
        old = {(t.key, t.effect) for t in before.spec.taints}
        added = [
            t.key
            for t in after.spec.taints
            if t.effect == "NoExecute" and t.key in (UNREACHABLE, NOT_READY) and (t.key, t.effect) not in old
        ]
        nodes = world.list(Node)
        if added and nodes and not any(_ready(node) for node in nodes):
            yield f"node {after.metadata.name} tainted {added} while every zone is down"


class RolloutBoundsHold(Invariant):
    """`controllers.invariants.RolloutBounds` for each Deployment name, fault-free runs only."""

    kinds = (Deployment, ReplicaSet, Pod)
    #: Faults that lose pods void the availability promise; the machine stops asking once one is armed.
    void_under_faults = True

    def __init__(self, store: MemoryStore, names: Iterable[str], namespace: str = "default") -> None:
        self._monitors = [RolloutBounds(store, namespace, name) for name in names]
        self._reported = [0] * len(self._monitors)

    def on_write(self, world: World, event: WatchEvent[Any]) -> Iterable[str]:
        for index, monitor in enumerate(self._monitors):
            monitor.drain()
            yield from monitor.violations[self._reported[index] :]
            self._reported[index] = len(monitor.violations)


def _owned(obj: Object, owner: Object) -> bool:
    ref = obj.metadata.controller_ref()
    return ref is not None and ref.uid == owner.metadata.uid


class ReplicaSetsConverge(Invariant):
    """Each ReplicaSet controls spec.replicas active pods, and its status says so."""

    kinds = (ReplicaSet, Pod)

    def on_settled(self, world: World, simulation: Simulation) -> Iterable[str]:
        pods = [pod for pod in world.list(Pod) if is_pod_active(pod)]
        for rs in world.list(ReplicaSet):
            if rs.metadata.deletion_timestamp is not None:
                continue
            name = f"ReplicaSet {rs.metadata.name}"
            mine = [pod for pod in pods if _owned(pod, rs)]
            if len(mine) != rs.spec.replicas:
                yield f"{name} controls {len(mine)} active pods, spec.replicas {rs.spec.replicas}"
            if rs.status.replicas != len(mine):
                yield f"{name} status.replicas {rs.status.replicas}, controls {len(mine)}"
            ready = sum(1 for pod in mine if is_pod_ready(pod))
            if rs.status.ready_replicas != ready:
                yield f"{name} status.readyReplicas {rs.status.ready_replicas}, {ready} ready"
            if rs.status.observed_generation != rs.metadata.generation:
                yield f"{name} observedGeneration {rs.status.observed_generation} != {rs.metadata.generation}"


class DeploymentsConverge(Invariant):
    """Each Deployment is complete: its new ReplicaSet has every replica available, old ones are at zero,
    and its status and observedGeneration agree (when nothing stops pods from running)."""

    kinds = (Deployment, ReplicaSet)

    def on_settled(self, world: World, simulation: Simulation) -> Iterable[str]:
        sets = world.list(ReplicaSet)
        for deployment in world.list(Deployment):
            if deployment.metadata.deletion_timestamp is not None or deployment.spec.paused:
                continue
            name = f"Deployment {deployment.metadata.name}"
            status, replicas = deployment.status, deployment.spec.replicas
            if status.observed_generation != deployment.metadata.generation:
                generation = deployment.metadata.generation
                yield f"{name} observedGeneration {status.observed_generation} != {generation}"
            mine = [rs for rs in sets if _owned(rs, deployment)]
            new = util.find_new_replica_set(deployment, mine)
            if new is None:
                yield f"{name} has no ReplicaSet for its template"
                continue
            if new.spec.replicas != replicas or new.status.available_replicas != replicas:
                yield (
                    f"{name} new ReplicaSet {new.metadata.name} at {new.spec.replicas}"
                    f" ({new.status.available_replicas} available), wants {replicas}"
                )
            for old in mine:
                if old is not new and (old.spec.replicas or old.status.replicas):
                    yield f"{name} old ReplicaSet {old.metadata.name} still at {old.spec.replicas}"
            counts = (status.replicas, status.updated_replicas, status.available_replicas)
            if counts != (replicas, replicas, replicas):
                yield f"{name} status (replicas, updated, available) {counts}, wants {replicas}"


class EndpointsMatchReadyPods(Invariant):
    """Each selector Service's Endpoints hold the IPs of its ready selected pods, and the others with an IP
    as not ready; terminal and terminating pods in neither."""

    kinds = (Service, Endpoints, Pod)

    def on_settled(self, world: World, simulation: Simulation) -> Iterable[str]:
        pods = world.list(Pod)
        for service in world.list(Service):
            if not service.spec.selector:
                continue
            namespace, name = service.metadata.namespace, service.metadata.name
            selected = [
                pod
                for pod in pods
                if pod.metadata.namespace == namespace
                and all(pod.metadata.labels.get(k) == v for k, v in service.spec.selector.items())
                and pod.status.pod_ip
                and is_pod_active(pod)
            ]
            publish = service.spec.publish_not_ready_addresses
            want_ready = sorted(p.status.pod_ip for p in selected if publish or is_pod_ready(p))
            want_not_ready = sorted(p.status.pod_ip for p in selected if not publish and not is_pod_ready(p))
            endpoints = world.get(Endpoints, name, namespace)
            subsets = endpoints.subsets if endpoints is not None else ()
            ready = sorted(a.ip for s in subsets for a in s.addresses)
            not_ready = sorted(a.ip for s in subsets for a in s.not_ready_addresses)
            if service.spec.ports and (ready, not_ready) != (want_ready, want_not_ready):
                yield (
                    f"Endpoints {name}: ready {ready} not ready {not_ready},"
                    f" pods say ready {want_ready} not ready {want_not_ready}"
                )


class WorkqueuesEmpty(Invariant):
    """At quiescence no controller has work queued or in progress."""

    def on_settled(self, world: World, simulation: Simulation) -> Iterable[str]:
        for controller in simulation.manager.controllers:
            if not controller.idle:
                yield f"controller {controller.name} is not idle at quiescence"


class Stable(Invariant):
    """Nothing of ``kinds`` is written in the window after a settle: reconciliation has stopped."""

    def __init__(self, *kinds: type[Object]) -> None:
        self.kinds = kinds  # type: ignore[misc]
        self._versions: dict[tuple[str, str, str], str] = {}

    def _fingerprint(self, world: World) -> dict[tuple[str, str, str], str]:
        return {
            (kind.kind, obj.metadata.namespace, obj.metadata.name): obj.metadata.resource_version
            for kind in self.kinds
            for obj in world.list(kind)
        }

    def on_settled(self, world: World, simulation: Simulation) -> Iterable[str]:
        self._versions = self._fingerprint(world)
        return ()

    def on_window(self, world: World, simulation: Simulation) -> Iterable[str]:
        now = self._fingerprint(world)
        changed = sorted(
            key for key in now.keys() | self._versions.keys() if now.get(key) != self._versions.get(key)
        )
        if changed:
            yield f"still changing after settling: {', '.join('/'.join(key) for key in changed[:5])}"


def builtin_invariants(store: MemoryStore, deployments: Iterable[str] = ()) -> list[Invariant]:
    """Every invariant above, fresh: what `ClusterMachine` checks."""
    return [
        AtMostOneControllerOwner(),
        NodeNameNeverChanges(),
        PlacementFits(),
        RequestsFitAllocatable(),
        NoTaintWhileEveryZoneIsDown(),
        RolloutBoundsHold(store, deployments),
        ReplicaSetsConverge(),
        DeploymentsConverge(),
        EndpointsMatchReadyPods(),
        WorkqueuesEmpty(),
        Stable(Deployment, ReplicaSet, Endpoints, Service),
    ]
