"""W5 — 500 of 5,000 nodes stop heartbeating: node lifecycle, taint eviction, rescheduling at upstream rates.

The whole control plane of `controllers.cluster.Cluster` on virtual time, with every rate at its upstream
default: kubelet leases renewed every 10 s, the NodeLifecycle monitor every 5 s with a 50 s grace period,
NoExecute taints rate-limited per zone at 0.1 nodes/s (0.01 or 0 in a partially disrupted zone), the
300 s not-ready / unreachable tolerations every pod gets, and evictions by the taint eviction controller.

1. **setup** (timed apart): 5,000 nodes in 3 zones, and Deployments totalling 15,000 pods, applied from
   empty until every pod is Running and Ready;
2. **failure** (the figure): the kubelets of 500 nodes stop (`Cluster.stop_node`). The run goes on until
   every pod of the dead nodes has been evicted and its replacement is Running and Ready on a live node.

By default the 500 dead nodes are all in one zone (30 % of it: the zone stays ``Normal``, below the 55 %
partial-disruption threshold), so that zone's limiter taints them one every 10 s: ~5,000 virtual s of
tainting plus 300 s of tolerations, the "about 90 virtual minutes" of the workload. With ``--spread`` they
are spread over the three zones, which taint in parallel (~1,700 s + 300 s).

Checked, and printed: every pod of the dead nodes evicted (deleted by the taint manager with the
``DisruptionTarget`` condition), every dead node tainted ``unreachable:NoExecute``, the taint times of each
zone at least 1/qps apart (the upstream limiter: burst 1), every Deployment available again with its pods on
live nodes. Reported: wall and CPU seconds of the failure phase (and of the setup, apart), virtual
seconds, nodes tainted, pods evicted, zone states seen by the monitor, store writes, reconciles per
controller, GC pauses, and the digest of the run's trace. The trace keeps only its last
``TRACE_KEEP`` records (its digest still covers every one): ~2.5 M writes are not held in memory.

The reference is upstream's own schedule, computed from its rates: a node lifecycle controller at 0.1
nodes/s per zone needs (dead nodes per zone − 1) × 10 s + grace + 300 s of real time for the same
evictions — the time Kubernetes itself takes; the ratio says how much faster than real time the
simulation runs it.

Beside it, a floor measured in the same run: nearly every write of the failure phase is a Lease renewal,
and the floor is what as many renewals cost with nothing but their objects — the kubelet's new spec and
Lease, the store's new metadata and stamped Lease (the models' own copier), a dict of the latest versions
and a bounded history — no checks, watch, informer, trace or controller. No store that keeps each
version as an immutable object can write faster than that on this interpreter and machine.

Run ``python -m benchmarks.w5_node_failure`` (``--quick``: 500 nodes, 1,500 pods, 50 dead;
``--profile``: a cProfile top-20 of the failure phase). Writes ``benchmarks/results/w5.json``.
"""

from __future__ import annotations

import argparse
import cProfile
import gc
import io
import itertools
import logging
import pstats
import sys
from collections import Counter, defaultdict
from collections.abc import Sequence
from datetime import timedelta
from time import perf_counter, process_time
from typing import Any

import anyio
import structlog

from benchmarks._common import GcMeter, headline, machine_info, reconciles, write_json
from controllers.cluster import Cluster
from controllers.kubelet import NODE_LEASE_NAMESPACE, NodeConfig
from controllers.nodelifecycle import (
    EVICTION_LIMITER_QPS,
    NODE_MONITOR_GRACE_PERIOD,
    TAINT_UNREACHABLE,
    NodeLifecycleController,
)
from controllers.podutil import is_pod_ready
from controllers.tainteviction import DISRUPTION_TARGET
from reconcile.clock import DEFAULT_EPOCH
from store import FrozenDict
from store.interface import EventType
from store.models import (
    Container,
    Deployment,
    DeploymentSpec,
    LabelSelector,
    Lease,
    LeaseSpec,
    Node,
    ObjectMeta,
    Pod,
    PodSpec,
    PodTemplateSpec,
    with_fields,
)

NAMESPACE = "default"
ZONES = ("zone-a", "zone-b", "zone-c")
REPLICAS_PER_DEPLOYMENT = 250
TOLERATION_SECONDS = 300
GC_THRESHOLD = (100_000, 50, 100)
#: Trace records kept in memory (the digest covers every record made).
TRACE_KEEP = 10_000


def deployment(name: str, replicas: int) -> Deployment:
    labels = FrozenDict({"app": name})
    return Deployment(
        metadata=ObjectMeta(name=name, namespace=NAMESPACE),
        spec=DeploymentSpec(
            replicas=replicas,
            selector=LabelSelector(match_labels=labels),
            template=PodTemplateSpec(
                metadata=ObjectMeta(labels=labels),
                spec=PodSpec(containers=(Container(name="app", image="app:v1"),)),
            ),
        ),
    )


def nodes(count: int) -> list[NodeConfig]:
    """``count`` nodes spread round-robin over the three zones (node-1 in zone-a, node-2 in zone-b …)."""
    return [
        NodeConfig(name=f"node-{i}", zone=ZONES[(i - 1) % len(ZONES)], index=i) for i in range(1, count + 1)
    ]


def dead_nodes(configs: Sequence[NodeConfig], count: int, spread: bool) -> list[str]:
    """The nodes that fail: the first ``count`` of zone-a, or the first ``count`` overall (all zones)."""
    pool = configs if spread else [config for config in configs if config.zone == ZONES[0]]
    if len(pool) < count:
        raise SystemExit(f"only {len(pool)} nodes to fail, {count} asked for")
    return [config.name for config in pool[:count]]


class Observer:
    """Follows the store's watch: taint times per node, evictions, zone states (sampled per pass)."""

    def __init__(self, dead: set[str]) -> None:
        self.dead = dead
        self.tainted_at: dict[str, float] = {}
        self.evicted: set[tuple[str, str]] = set()
        self.evicted_with_condition = 0
        #: Seconds from a node's NoExecute taint to each of its pods' eviction.
        self.delays: list[float] = []
        self.last_eviction_at = 0.0

    async def follow(self, cluster: Cluster, node_revision: int, pod_revision: int) -> None:
        async with anyio.create_task_group() as tg:
            tg.start_soon(self._nodes, cluster, node_revision)
            tg.start_soon(self._pods, cluster, pod_revision)

    async def _nodes(self, cluster: Cluster, revision: int) -> None:
        async with cluster.store.watch(Node, since=revision) as watch:
            async for event in watch:
                node = event.object
                if node is None:
                    continue
                name = node.metadata.name
                if name in self.tainted_at:
                    continue
                if any(t.key == TAINT_UNREACHABLE and t.effect == "NoExecute" for t in node.spec.taints):
                    self.tainted_at[name] = cluster.now

    async def _pods(self, cluster: Cluster, revision: int) -> None:
        async with cluster.store.watch(Pod, namespace=NAMESPACE, since=revision) as w:
            async for event in w:
                pod = event.object
                if event.type is not EventType.MODIFIED or pod is None:
                    continue
                if pod.metadata.deletion_timestamp is None:
                    continue
                key = (pod.metadata.namespace, pod.metadata.name)
                if pod.spec.node_name in self.dead and key not in self.evicted:
                    self.evicted.add(key)
                    self.last_eviction_at = cluster.now
                    tainted = self.tainted_at.get(pod.spec.node_name)
                    self.delays.append(cluster.now - tainted if tainted is not None else -1.0)
                    if pod.status.condition(DISRUPTION_TARGET) is not None:
                        self.evicted_with_condition += 1


def run(args: argparse.Namespace, profiler: cProfile.Profile | None = None) -> dict[str, Any]:
    configs = nodes(args.nodes)
    dead = dead_nodes(configs, args.dead, args.spread)
    cluster = Cluster(nodes=configs, seed=args.seed)
    if cluster.simulation is not None:
        cluster.simulation.trace.keep = TRACE_KEEP
    lifecycle = next(c for c in cluster.controllers if isinstance(c, NodeLifecycleController))
    deployments = [
        deployment(f"app-{i}", min(REPLICAS_PER_DEPLOYMENT, args.pods - i * REPLICAS_PER_DEPLOYMENT))
        for i in range(-(-args.pods // REPLICAS_PER_DEPLOYMENT))
    ]
    thresholds = gc.get_threshold()
    gc.set_threshold(*args.gc_threshold)
    meter = GcMeter()

    async def scenario(cluster: Cluster) -> dict[str, Any]:
        setup_started = perf_counter()
        await cluster.apply(deployments)
        while True:
            await cluster.settle(horizon=5.0, max_steps=1_000_000)
            pods = await cluster.list(Pod, namespace=NAMESPACE)
            if len(pods) == args.pods and all(is_pod_ready(pod) for pod in pods):
                break
            await cluster.advance(1.0)
        setup_wall = perf_counter() - setup_started
        setup_virtual = cluster.now
        on_dead = {(p.metadata.namespace, p.metadata.name) for p in pods if p.spec.node_name in dead}
        observer = Observer(set(dead))
        revision = int((await cluster.store.list(Node)).resource_version)
        zones_seen: dict[str, Counter[str]] = defaultdict(Counter)
        writes_before = cluster.simulation.memory.revision if cluster.simulation else 0
        reconciles_before = reconciles(cluster.manager)
        gc.collect()
        gc.freeze()
        meter.start()
        if profiler is not None:
            profiler.enable()
        started, cpu_started, virtual_start = perf_counter(), process_time(), cluster.now
        async with anyio.create_task_group() as tg:
            tg.start_soon(observer.follow, cluster, revision, revision)
            for name in dead:
                cluster.stop_node(name)
            # Sample every monitor period; stop once the last eviction's replacement is Ready.
            done = False
            while not done and cluster.now - virtual_start < args.max_virtual:
                await cluster.advance(lifecycle.node_monitor_period)
                for zone, state in lifecycle.zone_states.items():
                    zones_seen[zone.split(":")[-1]][state.value] += 1
                if observer.evicted >= on_dead:
                    done = await recovered(cluster, set(dead), len(pods))
            finished_virtual = cluster.now
            wall, cpu = perf_counter() - started, process_time() - cpu_started
            if profiler is not None:
                profiler.disable()
            meter.stop()
            tg.cancel_scope.cancel()
        gc.unfreeze()
        writes = (cluster.simulation.memory.revision if cluster.simulation else 0) - writes_before
        reconciled = reconciles(cluster.manager)
        reconciled.subtract(reconciles_before)
        trace = cluster.simulation.trace if cluster.simulation else None
        return {
            "setup_wall_seconds": setup_wall,
            "setup_virtual_seconds": setup_virtual,
            "pods": len(pods),
            "pods_on_dead_nodes": len(on_dead),
            "wall_seconds": wall,
            "cpu_seconds": cpu,
            "virtual_seconds": finished_virtual - virtual_start,
            "recovered": done,
            "nodes_tainted": len(observer.tainted_at),
            "dead_nodes_tainted": len(set(observer.tainted_at) & set(dead)),
            "live_nodes_tainted": len(set(observer.tainted_at) - set(dead)),
            "pods_evicted": len(observer.evicted),
            "pods_of_dead_nodes_evicted": len(observer.evicted & on_dead),
            "evicted_with_disruption_target": observer.evicted_with_condition,
            "last_eviction_at": observer.last_eviction_at - virtual_start,
            "taint_to_eviction_seconds": [min(observer.delays, default=0), max(observer.delays, default=0)],
            "taint_spacing": spacing(observer.tainted_at, configs, virtual_start),
            "zone_states_seen": {zone: dict(states) for zone, states in sorted(zones_seen.items())},
            "store_writes": writes,
            "reconciles": dict(sorted(reconciled.items())),
            "trace_records": trace.total if trace is not None else 0,
            "trace_records_kept": len(trace) if trace is not None else 0,
            "trace_digest": trace.digest() if trace is not None else "",
            "gc": meter.take(),
        }

    try:
        return cluster.run(scenario)
    finally:
        gc.set_threshold(*thresholds)


async def recovered(cluster: Cluster, dead: set[str], replicas: int) -> bool:
    """Every Deployment's pods Running and Ready on live nodes again, as many as before."""
    live = [
        pod for pod in await cluster.list(Pod, namespace=NAMESPACE) if pod.metadata.deletion_timestamp is None
    ]
    return len(live) == replicas and all(
        pod.spec.node_name and pod.spec.node_name not in dead and is_pod_ready(pod) for pod in live
    )


def spacing(tainted_at: dict[str, float], configs: Sequence[NodeConfig], start: float) -> dict[str, Any]:
    """Per zone: how many nodes were tainted, first and last taint time, the smallest gap between two."""
    zone_of = {config.name: config.zone for config in configs}
    by_zone: dict[str, list[float]] = defaultdict(list)
    for name, at in tainted_at.items():
        by_zone[zone_of[name]].append(at - start)
    out: dict[str, Any] = {}
    for zone, times in sorted(by_zone.items()):
        times.sort()
        gaps = [b - a for a, b in itertools.pairwise(times)]
        out[zone] = {
            "tainted": len(times),
            "first_at": times[0],
            "last_at": times[-1],
            "min_gap": min(gaps) if gaps else None,
        }
    return out


def renewal_floor(writes: int, nodes: int, sample: int = 200_000) -> float:
    """Seconds that ``writes`` Lease renewals of ``nodes`` nodes take as bare objects (see the module's
    docstring): ``sample`` of them timed, scaled to ``writes``."""
    epoch = DEFAULT_EPOCH
    latest = {
        f"node-{index}": Lease(
            metadata=ObjectMeta(name=f"node-{index}", namespace=NODE_LEASE_NAMESPACE, resource_version="1"),
            spec=LeaseSpec(holder_identity=f"node-{index}", lease_duration_seconds=40, renew_time=epoch),
        )
        for index in range(nodes)
    }
    names = list(latest)
    history: list[tuple[int, Lease, Lease]] = []
    count = min(writes, sample)
    started = perf_counter()
    for revision in range(2, count + 2):
        name = names[revision % nodes]
        old = latest[name]
        renewed = with_fields(old, spec=with_fields(old.spec, renew_time=epoch + timedelta(seconds=revision)))
        meta = with_fields(renewed.metadata, resource_version=str(revision))
        new = latest[name] = with_fields(renewed, metadata=meta)
        history.append((revision, new, old))
        if len(history) > 2 * TRACE_KEEP:
            del history[:TRACE_KEEP]
    return (perf_counter() - started) * writes / max(count, 1)


def upstream_seconds(dead: int, zones: int, spread: bool) -> float:
    """How long Kubernetes takes at its default rates: the busiest zone's tainting, then the tolerations."""
    per_zone = -(-dead // zones) if spread else dead
    return NODE_MONITOR_GRACE_PERIOD + (per_zone - 1) / EVICTION_LIMITER_QPS + TOLERATION_SECONDS


def report(args: argparse.Namespace, figures: dict[str, Any]) -> dict[str, Any]:
    upstream = upstream_seconds(args.dead, len(ZONES), args.spread)
    min_gap = min(
        (zone["min_gap"] for zone in figures["taint_spacing"].values() if zone["min_gap"] is not None),
        default=None,
    )
    checks = {
        "every pod of the dead nodes evicted": figures["pods_of_dead_nodes_evicted"]
        == figures["pods_on_dead_nodes"],
        "no pod of a live node evicted": figures["pods_evicted"] == figures["pods_of_dead_nodes_evicted"],
        "evicted with DisruptionTarget": figures["evicted_with_disruption_target"] == figures["pods_evicted"],
        "every dead node tainted unreachable:NoExecute, no live one": figures["dead_nodes_tainted"]
        == args.dead
        and figures["live_nodes_tainted"] == 0,
        "taints ≥ 1/qps apart within a zone": min_gap is None or min_gap >= 1 / EVICTION_LIMITER_QPS - 1e-6,
        "every Deployment recovered on live nodes": figures["recovered"],
    }
    anchor = "Kubernetes' own schedule at its default rates (computed, real time)"
    floor = {"value": figures["floor_seconds"], "label": "floor: as many Lease renewals as bare objects"}
    rows = [
        headline(
            "failure phase, wall",
            figures["wall_seconds"],
            "s",
            better="lower",
            target="≤ 5 s",
            reference={"value": upstream, "unit": "s", "label": anchor},
            baseline=floor,
        ),
        headline(
            "failure phase, virtual",
            figures["virtual_seconds"] / 60,
            "min",
            better="lower",
            target="≈ 90 min",
            reference={"value": upstream / 60, "unit": "min", "label": anchor},
        ),
        headline(
            "semantic checks passed",
            sum(checks.values()),
            f"of {len(checks)}",
            better="higher",
            target=f"{len(checks)}",
        ),
    ]
    return {
        "benchmark": "w5_node_failure",
        "headline": rows,
        "machine": machine_info(),
        "params": {
            "nodes": args.nodes,
            "zones": len(ZONES),
            "pods": args.pods,
            "dead": args.dead,
            "spread": args.spread,
            "seed": args.seed,
            "quick": args.quick,
            "gc_threshold": list(args.gc_threshold),
            "profiled": args.profile,
        },
        **figures,
        "upstream_seconds": upstream,
        "speedup_over_upstream_real_time": upstream / figures["wall_seconds"],
        "checks": checks,
        "ok": all(checks.values()),
    }


def print_report(result: dict[str, Any]) -> None:
    machine, params = result["machine"], result["params"]
    where = "spread over the 3 zones" if params["spread"] else "all in zone-a"
    print(
        f"W5 — {params['dead']:,} of {params['nodes']:,} nodes ({params['zones']} zones) stop heartbeating,"
        f" {params['pods']:,} pods; dead nodes {where}; upstream rates on virtual time"
    )
    if params["profiled"]:
        print("(under cProfile: the failure phase's times include the profiler's overhead)")
    print(f"machine: {machine['cpu']}, {machine['cores']} usable cores; {machine['python']}")
    rows = [
        (f"{result['wall_seconds']:.2f}", "wall seconds, failure phase (target ≤ 5)"),
        (f"{result['cpu_seconds']:.2f}", "CPU seconds of this process in that time"),
        (
            f"{result['floor_seconds']:.2f}",
            "seconds the same number of writes take as bare Lease renewals (floor, measured here)",
        ),
        (f"{result['virtual_seconds']:,.0f}", f"virtual seconds ({result['virtual_seconds'] / 60:.1f} min)"),
        (f"{result['nodes_tainted']:,}", "nodes tainted unreachable:NoExecute"),
        (
            f"{result['pods_evicted']:,}",
            f"pods evicted (of {result['pods_on_dead_nodes']:,} on the dead nodes)",
        ),
        (f"{result['store_writes']:,}", "store writes during the failure phase"),
        (f"{result['gc']['seconds']:.2f}", "seconds of cyclic-GC pauses"),
        (f"{result['setup_wall_seconds']:.2f}", "wall seconds of the setup (apart)"),
    ]
    for value, description in rows:
        print(f"  {value:>10}  {description}")
    for zone, spaced in result["taint_spacing"].items():
        gap = "–" if spaced["min_gap"] is None else f"{spaced['min_gap']:.1f} s"
        print(
            f"  {zone}: {spaced['tainted']} tainted from {spaced['first_at']:,.0f} s to"
            f" {spaced['last_at']:,.0f} s, min gap {gap}"
        )
    counts = ", ".join(f"{name} {count:,}" for name, count in result["reconciles"].items())
    print(f"  reconciles in the failure phase: {counts}")
    print(
        f"  trace: {result['trace_records']:,} records ({result['trace_records_kept']:,} kept),"
        f" digest {result['trace_digest'][:16]}"
    )
    seen = "; ".join(
        f"{zone}: " + ", ".join(f"{state} ×{n}" for state, n in states.items())
        for zone, states in result["zone_states_seen"].items()
    )
    print(f"  zone states seen (per monitor period): {seen}")
    print(
        f"  upstream at its default rates: {result['upstream_seconds']:,.0f} s of real time for the same"
        f" evictions ({result['speedup_over_upstream_real_time']:,.0f}× this run's wall time)"
    )
    for check, ok in result["checks"].items():
        print(f"  [{'ok' if ok else 'FAILED'}] {check}")
    print(f"results: {result['json_path']}")


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.w5_node_failure",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--nodes", type=int, default=None, help="nodes (default 5000)")
    parser.add_argument("--pods", type=int, default=None, help="pods (default 15000)")
    parser.add_argument("--dead", type=int, default=None, help="nodes that stop (default 500)")
    parser.add_argument("--spread", action="store_true", help="dead nodes spread over the zones")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--max-virtual", type=float, default=4 * 3600.0, help="give up after this many virtual seconds"
    )
    parser.add_argument(
        "--gc-threshold",
        type=lambda text: tuple(int(part) for part in text.split(",")),
        default=GC_THRESHOLD,
    )
    parser.add_argument("--quick", action="store_true", help="500 nodes, 1,500 pods, 50 dead")
    parser.add_argument("--profile", action="store_true", help="print a cProfile top-20 of the failure")
    args = parser.parse_args(argv)
    args.nodes = args.nodes or (500 if args.quick else 5_000)
    args.pods = args.pods or (1_500 if args.quick else 15_000)
    args.dead = args.dead or (50 if args.quick else 500)
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    # The controllers' info and debug logs are not part of the workload: keep warnings only.
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
    profiler = cProfile.Profile() if args.profile else None
    figures = run(args, profiler)
    thresholds = gc.get_threshold()
    gc.collect()
    gc.set_threshold(*args.gc_threshold)  # the run's collector policy
    try:
        figures["floor_seconds"] = renewal_floor(figures["store_writes"], args.nodes)
    finally:
        gc.set_threshold(*thresholds)
    result = report(args, figures)
    result["json_path"] = str(write_json("w5" + ("_quick" if args.quick else ""), result))
    print_report(result)
    if profiler is not None:
        out = io.StringIO()
        pstats.Stats(profiler, stream=out).strip_dirs().sort_stats("tottime").print_stats(20)
        print("\ncProfile of the failure phase, top 20 by own time:")
        print(out.getvalue())
    return 0 if result["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
