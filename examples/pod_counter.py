"""A custom controller: keep a ConfigMap ``pod-counts`` in every namespace with how many pods it has.

Run it (``.venv/bin/python examples/pod_counter.py``) to watch it count pods on virtual time; the test
suite runs it under injected watch drops, stale caches, conflicts and crashes.
"""

from __future__ import annotations

import attrs

from reconcile import Controller, Manager, Request, Result
from reconcile.testing import Simulation
from store import AlreadyExists, Object
from store.models import ConfigMap, Container, Namespace, ObjectMeta, OwnerReference, Pod, PodSpec

COUNTS = "pod-counts"


class PodCounter:
    """Reconciles a namespace: its ``pod-counts`` ConfigMap says how many pods it holds, by phase."""

    def __init__(self, manager: Manager) -> None:
        self.store = manager.store
        self.namespaces = manager.informer(Namespace)
        self.pods = manager.informer(Pod)
        self.config_maps = manager.informer(ConfigMap)

    async def reconcile(self, request: Request) -> Result | None:
        namespace = self.namespaces.get(request.name)
        if namespace is None or namespace.metadata.deletion_timestamp is not None:
            return None  # the ConfigMap goes with its namespace
        pods = self.pods.list(namespace=request.name)
        phases = [pod.status.phase or "Pending" for pod in pods]
        desired = {"total": str(len(pods))} | {p: str(phases.count(p)) for p in sorted(set(phases))}
        current = self.config_maps.get(COUNTS, request.name)
        if current is None:
            owner = OwnerReference(
                api_version="v1",
                kind="Namespace",
                name=namespace.metadata.name,
                uid=namespace.metadata.uid,
                controller=True,
            )
            counts = ConfigMap(
                metadata=ObjectMeta(name=COUNTS, namespace=request.name, owner_references=[owner]),
                data=desired,
            )
            try:
                await self.store.create(counts)
            except AlreadyExists:
                return Result(requeue=True)  # our cache is behind: look again once it catches up
        elif current.data != desired:
            await self.store.update(attrs.evolve(current, data=desired))
        return None


def namespace_of(obj: Object) -> list[Request]:
    """Pods map to the namespace they live in."""
    return [Request("", obj.metadata.namespace)]


def pod_counter(manager: Manager) -> Controller:
    """The controller, ready to add to a manager."""
    return Controller(
        "pod-counter",
        PodCounter(manager),
        kind=Namespace,
        owns=[ConfigMap],
        watches={Pod: namespace_of},
        workers=2,
    )


async def demo(sim: Simulation) -> None:
    sim.manager.add(pod_counter(sim.manager))
    await sim.store.create(Namespace(metadata=ObjectMeta(name="shop")))
    for index in range(3):
        pod = Pod(
            metadata=ObjectMeta(name=f"web-{index}", namespace="shop"),
            spec=PodSpec(containers=[Container(name="web", image="nginx:1.25")]),
        )
        await sim.store.create(pod)
    await sim.settle()
    counts = await sim.store.get(ConfigMap, COUNTS, "shop")
    print(f"t={sim.now:.3f}s virtual: shop has {dict(counts.data)}")
    await sim.store.delete(Pod, "web-0", "shop")
    await sim.settle()
    counts = await sim.store.get(ConfigMap, COUNTS, "shop")
    print(f"t={sim.now:.3f}s virtual: shop has {dict(counts.data)}")


if __name__ == "__main__":
    Simulation(seed=1).run(demo)
