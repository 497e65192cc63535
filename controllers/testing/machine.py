"""ClusterMachine: the built-in controllers on a small simulated cluster, under Hypothesis.

Users create, scale and roll Deployments, add Services, delete pods and cordon nodes; faults drop
watches, serve stale caches, coalesce and delay events, crash controllers between writes, fail writes
with 409 and 500, jump the clock, stop nodes' heartbeats and take whole zones down. Every write is checked
against the safety invariants of ``controllers.testing.invariants``; every settle (faults off, nodes back,
cordons lifted) against the convergence ones. Subclass it to add controllers, actions or invariants.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from typing import Any, ClassVar

import attrs
from hypothesis import strategies as st

from controllers.cluster import Cluster
from controllers.kubelet import NodeConfig
from controllers.nodelifecycle import NODE_MONITOR_PERIOD
from controllers.testing.invariants import builtin_invariants
from controllers.testing.strategies import (
    StartNode,
    StopNode,
    ZoneOutage,
    deployment_strategies,
    images,
    node_faults,
)
from reconcile.testing import Invariant, Simulation
from reconcile.testing.machine import SimulationMachine, action, builtin_scheme
from store import AlreadyExists, Conflict, FrozenDict, NotFound
from store.models import (
    Container,
    Deployment,
    DeploymentSpec,
    DeploymentStrategy,
    LabelSelector,
    Node,
    ObjectMeta,
    Pod,
    PodSpec,
    PodTemplateSpec,
    ResourceRequirements,
    Service,
    ServicePort,
    ServiceSpec,
)
from store.quantity import parse_quantity

NAMESPACE = "default"
APPS = ("web", "api")
#: After the time of day has caught up with a step back: one Lease renewal (every 10 s) that is newer
#: than any before the step, and one node monitor pass to see it.
_NODE_HEALTH_CATCH_UP = 10.0 + NODE_MONITOR_PERIOD

#: Three small nodes over two zones: enough to lose a node, a zone, or every zone.
STANDARD_NODES = (
    NodeConfig(name="node-1", zone="zone-a", index=1, cpu="2", pods="10"),
    NodeConfig(name="node-2", zone="zone-a", index=2, cpu="2", pods="10"),
    NodeConfig(name="node-3", zone="zone-b", index=3, cpu="2", pods="10"),
)


def deployment(app: str, replicas: int, strategy: DeploymentStrategy, image: str) -> Deployment:
    """A Deployment of ``app`` whose pods ask for 100m cpu each."""
    labels = FrozenDict({"app": app})
    container = Container(
        name=app,
        image=image,
        resources=ResourceRequirements(requests=FrozenDict({"cpu": parse_quantity("100m")})),
    )
    return Deployment(
        metadata=ObjectMeta(name=app, namespace=NAMESPACE),
        spec=DeploymentSpec(
            replicas=replicas,
            selector=LabelSelector(match_labels=labels),
            template=PodTemplateSpec(
                metadata=ObjectMeta(labels=labels), spec=PodSpec(containers=(container,))
            ),
            strategy=strategy,
        ),
    )


class ClusterMachine(SimulationMachine):
    """The standard machine for the built-in controllers."""

    nodes: ClassVar[tuple[NodeConfig, ...]] = STANDARD_NODES
    controllers: ClassVar[tuple[str, ...] | None] = None
    fault_kinds = ("Deployment", "ReplicaSet", "Pod", "Node", "Service", "Endpoints")
    fault_controllers = ("deployment", "replicaset", "scheduler", "endpoints")
    stability_window = 30.0

    cluster: Cluster

    def build(self, seed: int) -> Simulation:
        self.cluster = Cluster(
            nodes=list(self.nodes),
            seed=seed,
            controllers=self.controllers,
            scheme=self.scheme() or builtin_scheme(),
            metrics=self.metrics(),
        )
        assert self.cluster.simulation is not None
        return self.cluster.simulation

    def context(self) -> Any:
        return self.cluster

    async def setup(self) -> None:
        await self.simulation.settle()

    def checks(self) -> list[Invariant]:
        return builtin_invariants(self.simulation.memory, APPS)

    def fault_strategy(self) -> st.SearchStrategy[Any]:
        names = [node.name for node in self.nodes]
        zones = tuple(sorted({node.zone for node in self.nodes}))
        return st.one_of(super().fault_strategy(), node_faults(names, zones))

    def arm_fault(self, fault: Any) -> None:
        kubelet = self.cluster.kubelet
        if isinstance(fault, StopNode):
            kubelet.stop_node(fault.node)
        elif isinstance(fault, StartNode):
            kubelet.start_node(fault.node)
        elif isinstance(fault, ZoneOutage):
            for node in self.nodes:
                if node.zone == fault.zone:
                    kubelet.stop_node(node.name)
        else:
            super().arm_fault(fault)

    async def heal(self) -> None:
        # A clock stepped back makes every heartbeat look older than the last one seen, until the time
        # of day is past it; nodes may go NotReady meanwhile, as in Kubernetes. That cannot be undone,
        # only waited out, so that the settle starts from current node health.
        rewound = self.simulation.rewound()
        if rewound:
            await self.simulation.advance(rewound + _NODE_HEALTH_CATCH_UP)
        for node in self.nodes:
            self.cluster.kubelet.start_node(node.name)
            await self._edit(
                Node, node.name, "", lambda n: attrs.evolve(n, spec=attrs.evolve(n.spec, unschedulable=False))
            )

    # --- what users do ----------------------------------------------------------------------------

    @action(
        app=st.sampled_from(APPS), replicas=st.integers(0, 4), strategy=deployment_strategies(), image=images
    )
    async def create_deployment(
        self, app: str, replicas: int, strategy: DeploymentStrategy, image: str
    ) -> None:
        with contextlib.suppress(AlreadyExists):
            await self.simulation.memory.create(deployment(app, replicas, strategy, image))

    @action(app=st.sampled_from(APPS), replicas=st.integers(0, 4))
    async def scale(self, app: str, replicas: int) -> None:
        await self._edit(
            Deployment,
            app,
            NAMESPACE,
            lambda d: attrs.evolve(d, spec=attrs.evolve(d.spec, replicas=replicas)),
        )

    @action(app=st.sampled_from(APPS), image=images)
    async def set_image(self, app: str, image: str) -> None:
        def change(d: Deployment) -> Deployment:
            template = d.spec.template
            containers = tuple(attrs.evolve(c, image=image) for c in template.spec.containers)
            spec = attrs.evolve(template.spec, containers=containers)
            return attrs.evolve(d, spec=attrs.evolve(d.spec, template=attrs.evolve(template, spec=spec)))

        await self._edit(Deployment, app, NAMESPACE, change)

    @action(app=st.sampled_from(APPS))
    async def delete_deployment(self, app: str) -> None:
        with contextlib.suppress(NotFound):
            await self.simulation.memory.delete(Deployment, app, NAMESPACE)

    @action(app=st.sampled_from(APPS), port=st.sampled_from([80, 8080]))
    async def create_service(self, app: str, port: int) -> None:
        service = Service(
            metadata=ObjectMeta(name=app, namespace=NAMESPACE),
            spec=ServiceSpec(
                selector=FrozenDict({"app": app}), ports=(ServicePort(port=port, target_port=port),)
            ),
        )
        with contextlib.suppress(AlreadyExists):
            await self.simulation.memory.create(service)

    @action(index=st.integers(0, 9))
    async def delete_pod(self, index: int) -> None:
        pods = (await self.simulation.memory.list(Pod)).items
        if pods:
            pod = pods[index % len(pods)]
            self.void_fault_free_promises()  # a lost pod voids the rollout's availability promise
            with contextlib.suppress(NotFound):
                await self.simulation.memory.delete(Pod, pod.metadata.name, pod.metadata.namespace)

    @action(index=st.integers(0, 2), cordon=st.booleans())
    async def cordon(self, index: int, cordon: bool) -> None:
        name = self.nodes[index % len(self.nodes)].name
        await self._edit(
            Node, name, "", lambda n: attrs.evolve(n, spec=attrs.evolve(n.spec, unschedulable=cordon))
        )

    @action(seconds=st.sampled_from([1.0, 5.0, 30.0, 120.0]))
    async def wait(self, seconds: float) -> None:
        await self.simulation.advance(seconds)

    async def _edit(self, kind: type[Any], name: str, namespace: str, change: Callable[[Any], Any]) -> None:
        """Read, change, write — again on a conflict — as kubectl does (no faults on users' writes)."""
        memory = self.simulation.memory
        while True:
            try:
                current = await memory.get(kind, name, namespace)
                changed = change(current)
                if changed != current:
                    await memory.update(changed)
                return
            except NotFound:
                return
            except Conflict:
                continue
