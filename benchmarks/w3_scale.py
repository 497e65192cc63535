"""W3 — converge 5,000 simulated nodes and 150,000 pods from empty, on virtual time.

The control plane of `controllers.cluster.Cluster` — Deployment, ReplicaSet, scheduler, garbage collector,
Endpoints, node lifecycle, taint eviction and the simulated kubelet with its default delays — on a
`MemoryStore` and a `Manager` on a virtual clock. It is assembled here rather than through `Cluster`
because `Cluster` on virtual time is a test `Simulation`, which records every write and reconcile in a
trace for replay; a trace of 150,000 pods would be measured along with the control plane.

The workload is a ClusterLoader2-like mix (its load test's big, medium and small Deployments):

- 5,000 nodes in three zones, each 8 CPUs, 32 GiB and 110 pods;
- 300 Deployments of 250 replicas, 1,500 of 30 and 6,000 of 5 (150,000 pods), spread over 50
  namespaces; every other Deployment is behind a Service (3,900 Services, so as many Endpoints);
- pods of one container with requests of 10m CPU and 10 MiB.

Everything is created from an empty cluster (namespaces, then Services and Deployments). The run is
done when every Deployment is available (``availableReplicas == replicas``, ``Available`` True) and every
Endpoints lists as many ready addresses as its Deployment has replicas. A watch on Pods records when each
pod is created and when it is first seen Ready: the pod startup latency, in virtual and wall seconds.

Reported: wall seconds, end-to-end pods per wall second, peak RSS, the cyclic GC's longest pause,
pause percentiles and total, pod startup latency p50/p99, store writes, Events written, reconciles per
controller, and the upstream anchor: Kubernetes' density test at this size takes about 25 minutes at
about 100 pods/s (kubernetes/perf-tests ClusterLoader2; its load test about 2 hours at 20 pods/s).

``--scale 0.1`` scales nodes and Deployments (500 nodes, 15,000 pods) for quick runs. Run
``python -m benchmarks.w3_scale`` from the repository root; prints a table, writes
``benchmarks/results/w3.json``. Not a test: nothing here asserts on wall time.
"""

from __future__ import annotations

import argparse
import gc
import resource
import sys
from collections.abc import Sequence
from time import perf_counter, process_time
from typing import Any

import anyio

from benchmarks._common import (
    GcMeter,
    fmt_rate,
    headline,
    machine_info,
    percentile,
    quiet_logs,
    reconciles,
    write_json,
)
from controllers.deployment import DeploymentController
from controllers.endpoints import EndpointsController
from controllers.garbagecollector import GarbageCollector
from controllers.kubelet import Kubelet, NodeConfig
from controllers.nodelifecycle import NodeLifecycleController
from controllers.replicaset import ReplicaSetController
from controllers.scheduler import Scheduler
from controllers.tainteviction import TaintEvictionController
from reconcile import Manager
from reconcile.clock import Clock, VirtualClock
from reconcile.randomness import Entropy
from store import FrozenDict, MemoryStore, Store, parse_quantity
from store.interface import EventType
from store.models import (
    Container,
    Deployment,
    DeploymentSpec,
    Endpoints,
    Event,
    LabelSelector,
    Namespace,
    ObjectMeta,
    Pod,
    PodSpec,
    PodTemplateSpec,
    ResourceRequirements,
    Service,
    ServicePort,
    ServiceSpec,
)

NODES = 5_000
ZONES = ("zone-a", "zone-b", "zone-c")
#: (replicas, how many Deployments) at scale 1: ClusterLoader2's big, medium and small Deployments.
MIX = ((250, 300), (30, 1_500), (5, 6_000))
NAMESPACES = 50
#: The upstream anchor: Kubernetes' density test at 5,000 nodes / 150,000 pods.
UPSTREAM_MINUTES = 25
UPSTREAM_PODS_PER_SECOND = 100
#: The cyclic collector's thresholds during the run (Python's default is 700, 10, 10).
GC_THRESHOLD = (5_000, 1_000_000, 1_000_000)


def node_configs(count: int) -> list[NodeConfig]:
    return [
        NodeConfig(
            name=f"node-{index}",
            zone=ZONES[index % len(ZONES)],
            cpu="8",
            memory="32Gi",
            pods="110",
            index=index,
        )
        for index in range(1, count + 1)
    ]


def workload(scale: float) -> tuple[list[Namespace], list[Service], list[Deployment]]:
    """The namespaces, Services and Deployments of the mix at ``scale``."""
    namespaces = [
        Namespace(metadata=ObjectMeta(name=f"load-{n}")) for n in range(max(1, round(NAMESPACES * scale)))
    ]
    requests = FrozenDict({"cpu": parse_quantity("10m"), "memory": parse_quantity("10Mi")})
    services: list[Service] = []
    deployments: list[Deployment] = []
    for replicas, count in MIX:
        size = {250: "big", 30: "medium", 5: "small"}[replicas]
        for index in range(max(1, round(count * scale))):
            namespace = namespaces[len(deployments) % len(namespaces)].metadata.name
            name = f"{size}-{index}"
            labels = FrozenDict({"app": name, "group": size})
            template = PodTemplateSpec(
                metadata=ObjectMeta(labels=labels),
                spec=PodSpec(
                    containers=(
                        Container(
                            name="pause",
                            image="registry.k8s.io/pause:3.9",
                            resources=ResourceRequirements(requests=requests),
                        ),
                    )
                ),
            )
            if len(deployments) % 2 == 0:
                services.append(
                    Service(
                        metadata=ObjectMeta(name=name, namespace=namespace),
                        spec=ServiceSpec(
                            selector=FrozenDict({"app": name}),
                            ports=(ServicePort(port=80, target_port=8080),),
                        ),
                    )
                )
            deployments.append(
                Deployment(
                    metadata=ObjectMeta(name=name, namespace=namespace, labels=labels),
                    spec=DeploymentSpec(
                        replicas=replicas,
                        selector=LabelSelector(match_labels=FrozenDict({"app": name})),
                        template=template,
                    ),
                )
            )
    return namespaces, services, deployments


class Progress:
    """Follows Pods, Deployments and Endpoints through watches: startup latency and the done condition."""

    def __init__(self, store: Store, clock: Clock, deployments: Sequence[Deployment]) -> None:
        self._store = store
        self._clock = clock
        self.replicas = {(d.metadata.namespace, d.metadata.name): d.spec.replicas for d in deployments}
        self.created: dict[tuple[str, str], tuple[float, float]] = {}
        self.virtual_latency: list[float] = []
        self.wall_latency: list[float] = []
        self._ready: set[tuple[str, str]] = set()
        self._available: set[tuple[str, str]] = set()
        self._complete: set[tuple[str, str]] = set()
        self.services: set[tuple[str, str]] = set()
        self.done = anyio.Event()

    async def follow(self) -> None:
        async with anyio.create_task_group() as tg:
            tg.start_soon(self._pods)
            tg.start_soon(self._deployments)
            tg.start_soon(self._endpoints)

    def _check(self) -> None:
        if len(self._available) == len(self.replicas) and len(self._complete) == len(self.services):
            self.done.set()

    async def _pods(self) -> None:
        async with self._store.watch(Pod, since=0) as watch:
            while True:
                for event in await watch.next_batch():
                    pod = event.object
                    if pod is None or event.type is EventType.DELETED:
                        continue
                    key = (pod.metadata.namespace, pod.metadata.name)
                    if key not in self.created:
                        self.created[key] = (self._clock.monotonic(), perf_counter())
                    if key not in self._ready and pod.status.ready:
                        self._ready.add(key)
                        virtual, wall = self.created[key]
                        self.virtual_latency.append(self._clock.monotonic() - virtual)
                        self.wall_latency.append(perf_counter() - wall)

    async def _deployments(self) -> None:
        async with self._store.watch(Deployment, since=0) as watch:
            while True:
                for event in await watch.next_batch():
                    d = event.object
                    if d is None or event.type is EventType.DELETED:
                        continue
                    key = (d.metadata.namespace, d.metadata.name)
                    condition = d.status.condition("Available")
                    if (
                        d.status.available_replicas == d.spec.replicas
                        and condition is not None
                        and condition.status == "True"
                    ):
                        self._available.add(key)
                    else:
                        self._available.discard(key)
                self._check()

    async def _endpoints(self) -> None:
        async with self._store.watch(Endpoints, since=0) as watch:
            while True:
                for event in await watch.next_batch():
                    endpoints = event.object
                    if endpoints is None or event.type is EventType.DELETED:
                        continue
                    key = (endpoints.metadata.namespace, endpoints.metadata.name)
                    ready = sum(len(subset.addresses) for subset in endpoints.subsets)
                    if ready == self.replicas.get(key):
                        self._complete.add(key)
                    else:
                        self._complete.discard(key)
                self._check()


def build(store: Store, manager: Manager, nodes: int) -> list[Any]:
    """The controllers of `Cluster`, in its order, added to ``manager``."""
    components = [
        Kubelet(manager, node_configs(nodes)),
        DeploymentController(manager),
        ReplicaSetController(manager),
        Scheduler(manager),
        GarbageCollector(manager),
        EndpointsController(manager),
        NodeLifecycleController(manager),
        TaintEvictionController(manager),
    ]
    for component in components:
        manager.add(component)
    return components


def run(args: argparse.Namespace) -> dict[str, Any]:
    clock = VirtualClock()
    entropy = Entropy(args.seed)
    store = MemoryStore(clock=clock, rng=entropy.stream("store"))
    manager = Manager(store, clock=clock, entropy=entropy)
    namespaces, services, deployments = workload(args.scale)
    nodes = max(3, round(NODES * args.scale))
    progress = Progress(store, clock, deployments)
    progress.services = {(s.metadata.namespace, s.metadata.name) for s in services}
    gc_meter = GcMeter()
    thresholds = gc.get_threshold()

    async def main() -> dict[str, Any]:
        build(store, manager, nodes)
        # What exists now (modules, node configs, the workload) lives for the whole run: keep it out of
        # the collector's generations, so a young collection only scans what the run made lately.
        gc.collect()
        gc.freeze()
        gc_meter.start()
        started, cpu_started = perf_counter(), process_time()
        virtual_started = clock.monotonic()
        async with anyio.create_task_group() as tg:
            tg.start_soon(progress.follow)
            await tg.start(manager.run)
            for obj in (*namespaces, *services, *deployments):
                await store.create(obj)
            applied = perf_counter() - started
            await progress.done.wait()
            wall, cpu = perf_counter() - started, process_time() - cpu_started
            virtual = clock.monotonic() - virtual_started
            tg.cancel_scope.cancel()
        gc_meter.stop()
        events = len(store.list_now(Event).items)
        return {
            "nodes": nodes,
            "deployments": len(deployments),
            "services": len(services),
            "pods": sum(d.spec.replicas for d in deployments),
            "wall_seconds": wall,
            "cpu_seconds": cpu,
            "apply_wall_seconds": applied,
            "virtual_seconds": virtual,
            "store_writes": store.revision,
            "events": events,
            "reconciles": dict(sorted(reconciles(manager).items())),
            "informer_relists": {i.kind.kind: i.relists for i in manager.informers if i.relists},
            "gc": gc_meter.take(),
        }

    # Young collections every 5,000 net allocations; survivors are never rescanned by a threshold-driven
    # older collection (their thresholds are out of reach), which at this heap size would pause for
    # seconds. Cyclic garbage that survives a young collection waits for an explicit collection.
    # A young pause is the references its objects hold, most of them into the cold old heap (a new
    # version of an object shares the fields of the one it replaces), and the young generation holds
    # more than the threshold: its count is allocations minus deallocations, and every write frees
    # the old version it replaces. A small threshold bounds that; the total is about the same, since
    # each survivor is scanned once whatever the threshold (docs/performance.md, W3).
    gc.set_threshold(*args.gc_threshold)
    try:
        figures = clock.run(main)
    finally:
        gc.unfreeze()
        gc.set_threshold(*thresholds)
    figures["peak_rss_bytes"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    figures["startup_latency"] = {
        "virtual_p50": percentile(progress.virtual_latency, 0.50),
        "virtual_p99": percentile(progress.virtual_latency, 0.99),
        "wall_p50": percentile(progress.wall_latency, 0.50),
        "wall_p99": percentile(progress.wall_latency, 0.99),
        "pods_observed_ready": len(progress.virtual_latency),
    }
    return figures


def report(args: argparse.Namespace, figures: dict[str, Any]) -> dict[str, Any]:
    upstream_seconds = UPSTREAM_MINUTES * 60
    pods_per_second = figures["pods"] / figures["wall_seconds"]
    return {
        "benchmark": "w3_scale",
        "machine": machine_info(),
        "params": {
            "scale": args.scale,
            "seed": args.seed,
            "gc_threshold": list(args.gc_threshold),
            "zones": list(ZONES),
            "node": {"cpu": "8", "memory": "32Gi", "pods": 110},
            "mix": [list(pair) for pair in MIX],
        },
        **figures,
        "pods_per_second": pods_per_second,
        "upstream_density_seconds": upstream_seconds,
        "upstream_pods_per_second": UPSTREAM_PODS_PER_SECOND,
        "ratio_to_upstream_rate": pods_per_second / UPSTREAM_PODS_PER_SECOND,
        "headline": headlines(figures, pods_per_second, upstream_seconds),
    }


def headlines(figures: dict[str, Any], pods_per_second: float, upstream_seconds: int) -> list[dict[str, Any]]:
    """The runner's rows: the issue's targets beside ClusterLoader2's density run at the same size."""
    density = "ClusterLoader2 density, 5,000 nodes / 150,000 pods (published, not measured here)"
    gc_figures = figures["gc"]
    return [
        headline(
            "wall, first create → complete",
            figures["wall_seconds"],
            "s",
            better="lower",
            target="≤ 60 s (stretch 30 s)",
            reference={"value": upstream_seconds, "unit": "s", "label": density},
        ),
        headline(
            "pods per wall second, end to end",
            pods_per_second,
            "pods/s",
            better="higher",
            reference={"value": UPSTREAM_PODS_PER_SECOND, "unit": "pods/s", "label": density},
        ),
        headline("peak RSS", figures["peak_rss_bytes"] / 2**30, "GiB", better="lower", target="≤ 3 GiB"),
        headline(
            "longest GC pause, wall",
            gc_figures["longest_pause"] * 1e3,
            "ms",
            better="lower",
            target="≤ 50 ms",
        ),
        headline(
            "pod startup p99 (create → Ready, watched), virtual",
            figures["startup_latency"]["virtual_p99"],
            "s",
            better="lower",
        ),
    ]


def print_report(result: dict[str, Any]) -> None:
    machine, params = result["machine"], result["params"]
    latency = result["startup_latency"]
    gc_figures = result["gc"]
    pauses = gc_figures["pause_percentiles_cpu"]
    print(
        f"W3 — {result['nodes']:,} nodes, {result['pods']:,} pods in {result['deployments']:,} Deployments"
        f" ({result['services']:,} behind Services), from empty, virtual time (scale {params['scale']})"
    )
    print(
        f"machine: {machine['cpu']}, {machine['cores']} usable cores; {machine['python']}"
        f" ({'PGO/LTO' if machine['python_optimized'] else 'no PGO/LTO'})"
    )
    rows = [
        (
            f"{result['wall_seconds']:.1f}",
            "wall seconds, first create → every Deployment and Endpoints complete",
        ),
        (f"{result['cpu_seconds']:.1f}", "CPU seconds of this process in that time (the machine is shared)"),
        (f"{result['virtual_seconds']:.1f}", "virtual seconds it took"),
        (fmt_rate(result["pods_per_second"]), "pods per wall second, end to end"),
        (f"{result['peak_rss_bytes'] / 2**30:.2f}", "GiB peak RSS"),
        (
            f"{gc_figures['longest_pause'] * 1e3:.1f}",
            f"ms longest cyclic-GC pause, wall ({gc_figures['longest_pause_cpu'] * 1e3:.1f} ms CPU;"
            f" {gc_figures['seconds']:.2f} s in {sum(gc_figures['collections_by_generation']):,}"
            " collections)",
        ),
        (
            " / ".join(f"{pauses[name] * 1e3:.1f}" for name in ("p50", "p90", "p99")),
            f"ms cyclic-GC pause p50 / p90 / p99, CPU ({gc_figures['seconds_cpu']:.2f} s CPU in all)",
        ),
        (
            f"{latency['virtual_p50']:.2f} / {latency['virtual_p99']:.2f}",
            "pod startup latency p50 / p99, virtual seconds (create → Ready, seen by a watch)",
        ),
        (
            f"{latency['wall_p50']:.2f} / {latency['wall_p99']:.2f}",
            "pod startup latency p50 / p99, wall seconds",
        ),
        (f"{result['store_writes']:,}", "store writes"),
        (f"{result['events']:,}", "Events in the store"),
        (f"{result['apply_wall_seconds']:.1f}", "wall seconds of creating the objects"),
    ]
    for value, description in rows:
        print(f"  {value:>17}  {description}")
    counts = ", ".join(f"{name} {count:,}" for name, count in result["reconciles"].items())
    print(f"  reconciles: {counts}")
    if result["informer_relists"]:
        print(f"  informer relists: {result['informer_relists']}")
    print()
    print(
        f"  upstream anchor: Kubernetes' density test at 5,000 nodes / 150,000 pods takes about"
        f" {UPSTREAM_MINUTES} minutes at about {UPSTREAM_PODS_PER_SECOND} pods/s (ClusterLoader2);"
        f" this run: {fmt_rate(result['pods_per_second'])} pods/s"
        f" ({result['ratio_to_upstream_rate']:,.1f}× that rate)"
    )
    print(f"results: {result['json_path']}")


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.w3_scale",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--scale", type=float, default=1.0, help="scale nodes and Deployments (0.1: 500 nodes, 15,000 pods)"
    )
    parser.add_argument("--seed", type=int, default=1, help="seed of the store and the controllers")
    parser.add_argument(
        "--gc-threshold",
        type=lambda text: tuple(int(part) for part in text.split(",")),
        default=GC_THRESHOLD,
        help=f"gc.set_threshold for the run, comma-separated (default {','.join(map(str, GC_THRESHOLD))})",
    )
    args = parser.parse_args(argv)
    if not 0 < args.scale <= 1:
        parser.error("--scale must be in (0, 1]")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    quiet_logs()
    result = report(args, run(args))
    result["json_path"] = str(write_json("w3", result))
    print_report(result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
