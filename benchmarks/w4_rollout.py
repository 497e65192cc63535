"""W4 — a 10,000-replica Deployment rolled from v1 to v2 on virtual time, bounds checked at every write.

The whole control plane of `controllers.cluster.Cluster` — Deployment, ReplicaSet, scheduler, garbage
collector and the simulated kubelet — assembled here by hand, because the kubelet runs with no delays
(``startup_delay=0, ready_delay=0, kill_delay=0``) and `Cluster` does not take kubelet options. 200 nodes
with room for 150 pods each hold the 10,000 old pods, the 2,500 surge pods and the terminating ones.

1. **setup** (untimed): the Deployment (``web:v1``, RollingUpdate with the default 25 % / 25 %) is created
   and the simulation settles with every pod Running and Ready;
2. **rollout** (timed): the image changes to ``web:v2``; the wall clock runs until the simulation settles
   and the Deployment is complete (10,000 updated and available pods, the old ReplicaSet at 0).

Throughout both phases the `RolloutBounds` monitor of ``controllers/invariants.py`` (the
same invariant the Hypothesis property checks) replays every committed write and checks
Σ ReplicaSet spec.replicas ≤ replicas + maxSurge and, once the Deployment was complete, available pods ≥
replicas − maxUnavailable; the violations are counted and must be 0. The monitor's replay is inside the
timed wall.

Reported: wall and virtual seconds of the rollout, pod replacements per wall second, the API writes by verb,
the reconciles by controller, the bounds reached, GC pauses, the digest of the run's trace (equal runs,
equal digests: a change that only makes the work cheaper leaves it as it was), and beside it the floor a real
kube-controller-manager has: at its default client rate limit (``--kube-api-qps`` 20) the 10,000 creates
and 10,000 deletes alone take at least 1,000 s. That is a rate-limit floor, not a measurement.

Run ``python -m benchmarks.w4_rollout`` from the repository root (``--quick``: 1,000 replicas on 20 nodes;
``--profile``: also print a cProfile top-15 of the rollout). Prints a table, writes
``benchmarks/results/w4.json``. Not a test: nothing here asserts on wall time.
"""

from __future__ import annotations

import argparse
import cProfile
import gc
import io
import pstats
import sys
from collections import Counter
from collections.abc import Sequence
from time import perf_counter, process_time
from typing import Any

import anyio
import attrs

from benchmarks._common import GcMeter, fmt_rate, machine_info, quiet_logs, reconciles, write_json
from controllers.deployment import DeploymentController, util
from controllers.garbagecollector import GarbageCollector
from controllers.invariants import RolloutBounds
from controllers.kubelet import Kubelet, NodeConfig
from controllers.replicaset import ReplicaSetController
from controllers.scheduler import Scheduler
from reconcile.testing import Simulation
from store import FrozenDict
from store.models import (
    Container,
    Deployment,
    DeploymentSpec,
    LabelSelector,
    ObjectMeta,
    PodSpec,
    PodTemplateSpec,
    ReplicaSet,
)

NAMESPACE = "default"
NAME = "web"
#: kube-controller-manager's default --kube-api-qps: its client's steady request rate.
KCM_API_QPS = 20
#: The cyclic collector's thresholds during the run (Python's default is 700, 10, 10).
GC_THRESHOLD = (100_000, 50, 100)


def template(image: str) -> PodTemplateSpec:
    return PodTemplateSpec(
        metadata=ObjectMeta(labels=FrozenDict({"app": NAME})),
        spec=PodSpec(containers=(Container(name=NAME, image=image),)),
    )


def web(replicas: int) -> Deployment:
    """The Deployment, with the default strategy: RollingUpdate, maxSurge 25 %, maxUnavailable 25 %."""
    return Deployment(
        metadata=ObjectMeta(name=NAME, namespace=NAMESPACE),
        spec=DeploymentSpec(
            replicas=replicas,
            selector=LabelSelector(match_labels=FrozenDict({"app": NAME})),
            template=template("web:v1"),
        ),
    )


def build(args: argparse.Namespace) -> Simulation:
    """A simulation with the control plane of `Cluster`, but a kubelet that takes no time at all."""
    simulation = Simulation(seed=args.seed)
    manager = simulation.manager
    nodes = [NodeConfig(name=f"node-{i}", pods=args.pods_per_node, index=i) for i in range(1, args.nodes + 1)]
    components = (
        Kubelet(manager, nodes, startup_delay=0, ready_delay=0, kill_delay=0),
        DeploymentController(manager),
        ReplicaSetController(manager),
        Scheduler(manager),
        GarbageCollector(manager),
    )
    for component in components:
        manager.add(component)
    return simulation


def writes_of(simulation: Simulation, since: int, kind: str) -> Counter[str]:
    """Writes of ``kind`` recorded in the trace from record ``since`` on, by verb."""
    records = list(simulation.trace)[since:]
    return Counter(r.get("verb") for r in records if r.what == "write" and r.get("kind") == kind)


async def complete_deployment(simulation: Simulation) -> dict[str, Any]:
    current = await simulation.store.get(Deployment, NAME, NAMESPACE)
    status = current.status
    sets = (await simulation.store.list(ReplicaSet, namespace=NAMESPACE)).items
    owned = [rs for rs in sets if util.is_controlled_by(rs, current)]
    new = util.find_new_replica_set(current, owned)
    old = [rs for rs in owned if rs is not new]
    return {
        "complete": util.deployment_complete(current, status)
        and all(rs.spec.replicas == rs.status.replicas == 0 for rs in old),
        "updated_replicas": status.updated_replicas,
        "available_replicas": status.available_replicas,
        "old_replica_sets_at_zero": all(rs.spec.replicas == rs.status.replicas == 0 for rs in old),
    }


def run(args: argparse.Namespace, profiler: cProfile.Profile | None = None) -> dict[str, Any]:
    """Set up, roll out, and return the figures (the rollout under ``profiler`` when given)."""
    simulation = build(args)
    gc_meter = GcMeter()
    thresholds = gc.get_threshold()
    # Tens of thousands of long-lived objects are made per second: with the default gen-0 threshold (700)
    # the collector would rescan them over and over; it still runs, only less often.
    gc.set_threshold(*args.gc_threshold)

    async def scenario(sim: Simulation) -> dict[str, Any]:
        monitor = RolloutBounds(sim.memory, NAMESPACE, NAME)
        async with anyio.create_task_group() as task_group:
            task_group.start_soon(monitor.follow)
            setup_started = perf_counter()
            await sim.store.create(web(args.replicas))
            await sim.settle()
            setup_wall = perf_counter() - setup_started
            monitor.drain()
            setup_revisions = monitor.revisions
            # The 10,000 pods are long-lived: keep them out of the cyclic collector's generations.
            gc.collect()
            gc.freeze()
            trace_start = len(sim.trace)
            revision_start = sim.memory.revision
            virtual_start = sim.now
            reconciles_before = reconciles(sim.manager)
            gc_meter.start()
            if profiler is not None:
                profiler.enable()
            started, cpu_started = perf_counter(), process_time()
            current = await sim.store.get(Deployment, NAME, NAMESPACE)
            rolled = attrs.evolve(current.spec, template=template("web:v2"))
            await sim.store.update(attrs.evolve(current, spec=rolled))
            await sim.settle()
            monitor.drain()
            wall, cpu = perf_counter() - started, process_time() - cpu_started
            if profiler is not None:
                profiler.disable()
            gc_meter.stop()
            rollout_reconciles = reconciles(sim.manager) - reconciles_before
            task_group.cancel_scope.cancel()
        gc.unfreeze()
        writes = writes_of(sim, trace_start, "Pod")
        event_writes = writes_of(sim, trace_start, "Event")
        return {
            "setup_wall_seconds": setup_wall,
            "wall_seconds": wall,
            "cpu_seconds": cpu,
            "virtual_seconds": sim.now - virtual_start,
            "store_writes": sim.memory.revision - revision_start,
            "pod_writes": dict(sorted(writes.items())),
            "pod_creates": writes["create"],
            "event_writes": dict(sorted(event_writes.items())),
            "reconciles": dict(sorted(rollout_reconciles.items())),
            "revisions_checked": monitor.revisions,
            "revisions_checked_in_setup": setup_revisions,
            "violations": len(monitor.violations),
            "first_violations": monitor.violations[:5],
            "surge_limit": monitor.surge_limit(),
            "max_total_replicas": monitor.max_total,
            "availability_floor": monitor.availability_floor(),
            "min_available": monitor.min_available,
            "gc": gc_meter.take(),
            "trace_records": sim.trace.total,
            "trace_digest": sim.trace.digest(),
            **await complete_deployment(sim),
        }

    try:
        return simulation.run(scenario)
    finally:
        gc.set_threshold(*thresholds)


def report(args: argparse.Namespace, figures: dict[str, Any]) -> dict[str, Any]:
    replacements = args.replicas
    requests = 2 * replacements  # a create for each new pod, a delete for each old one
    kcm_floor = requests / KCM_API_QPS
    return {
        "benchmark": "w4_rollout",
        "machine": machine_info(),
        "params": {
            "replicas": args.replicas,
            "nodes": args.nodes,
            "pods_per_node": args.pods_per_node,
            "seed": args.seed,
            "quick": args.quick,
            "kubelet_delays": 0,
            "gc_threshold": list(args.gc_threshold),
            "profiled": args.profile,
        },
        **figures,
        "replacements": replacements,
        "replacements_per_second": replacements / figures["wall_seconds"],
        "kcm_api_qps": KCM_API_QPS,
        "kcm_requests": requests,
        "kcm_floor_seconds": kcm_floor,
        "ratio_to_kcm_floor": kcm_floor / figures["wall_seconds"],
    }


def print_report(result: dict[str, Any]) -> None:
    machine, params = result["machine"], result["params"]
    print(f"W4 — rolling update of a {params['replicas']:,}-replica Deployment, v1 → v2, virtual time")
    if params["profiled"]:
        print("(under cProfile: the rollout's times below include the profiler's overhead)")
    print(
        f"machine: {machine['cpu']}, {machine['cores']} usable cores; {machine['python']}"
        f" ({'PGO/LTO' if machine['python_optimized'] else 'no PGO/LTO'})"
    )
    print(
        f"params: {params['nodes']} nodes × {params['pods_per_node']} pods, maxSurge 25 %, maxUnavailable"
        f" 25 %, kubelet delays 0, gc threshold {tuple(params['gc_threshold'])}, gc.freeze() after setup,"
        f" seed {params['seed']}{', --quick' if params['quick'] else ''}"
    )
    writes = ", ".join(f"{verb} {count:,}" for verb, count in result["pod_writes"].items())
    rows = [
        (f"{result['wall_seconds']:.2f}", "wall seconds, image change → settled and complete"),
        (f"{result['cpu_seconds']:.2f}", "CPU seconds of this process in that time (the machine is shared)"),
        (f"{result['virtual_seconds']:.2f}", "virtual seconds the rollout took"),
        (fmt_rate(result["replacements_per_second"]), "pod replacements per wall second"),
        (f"{result['store_writes']:,}", f"store writes during the rollout (pods: {writes})"),
        (
            f"{sum(result['event_writes'].values()):,}",
            "of which Event writes (client-go's correlator: aggregated, counted, spam-filtered; "
            + ", ".join(f"{verb} {count:,}" for verb, count in result["event_writes"].items())
            + ")",
        ),
        (
            f"{sum(result['reconciles'].values()):,}",
            "reconciles ("
            + ", ".join(f"{name} {count:,}" for name, count in result["reconciles"].items())
            + ")",
        ),
        (f"{result['gc']['seconds']:.2f}", "seconds of cyclic-GC pauses during the rollout"),
        (
            f"{result['max_total_replicas']:,} ≤ {result['surge_limit']:,}",
            "max Σ ReplicaSet spec.replicas ≤ replicas + maxSurge",
        ),
        (
            f"{result['min_available']:,} ≥ {result['availability_floor']:,}",
            "min available pods ≥ replicas − maxUnavailable (after setup)",
        ),
        (f"{result['violations']}", f"bound violations in {result['revisions_checked']:,} writes checked"),
        (str(result["complete"]), "Deployment complete, old ReplicaSet at 0"),
        (f"{result['setup_wall_seconds']:.2f}", "wall seconds of the untimed setup (v1 from nothing)"),
        (
            result["trace_digest"][:16],
            f"digest of the trace's {result['trace_records']:,} records (setup and rollout)",
        ),
    ]
    for value, description in rows:
        print(f"  {value:>17}  {description}")
    print()
    print(
        f"  kube-controller-manager at its default --kube-api-qps {result['kcm_api_qps']} needs at least"
        f" {result['kcm_floor_seconds']:,.0f} s for the same {result['kcm_requests']:,} creates and"
        f" deletes ({result['ratio_to_kcm_floor']:,.0f}× this run's wall time; a rate-limit floor,"
        " not a measurement)"
    )
    for violation in result["first_violations"]:
        print(f"  VIOLATION: {violation}")
    print(f"results: {result['json_path']}")


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.w4_rollout",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--replicas", type=int, default=None, help="replicas (default 10000)")
    parser.add_argument("--nodes", type=int, default=None, help="nodes (default 200)")
    parser.add_argument("--pods-per-node", type=int, default=150, help="pod capacity of each node")
    parser.add_argument("--seed", type=int, default=1, help="simulation seed")
    parser.add_argument(
        "--gc-threshold",
        type=lambda text: tuple(int(part) for part in text.split(",")),
        default=GC_THRESHOLD,
        help="gc.set_threshold for the run, comma-separated (default 100000,50,100; 700,10,10 is Python's)",
    )
    parser.add_argument("--quick", action="store_true", help="1,000 replicas on 20 nodes")
    parser.add_argument("--profile", action="store_true", help="also print a cProfile top-15 of the rollout")
    args = parser.parse_args(argv)
    args.replicas = args.replicas or (1_000 if args.quick else 10_000)
    args.nodes = args.nodes or (20 if args.quick else 200)
    if min(args.replicas, args.nodes, args.pods_per_node) < 1:
        parser.error("--replicas, --nodes and --pods-per-node must be positive")
    if args.nodes * args.pods_per_node < 2 * args.replicas:
        parser.error("the nodes need room for twice the replicas (old, surge and terminating pods)")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    quiet_logs()
    profiler = cProfile.Profile() if args.profile else None
    result = report(args, run(args, profiler))
    result["json_path"] = str(write_json("w4", result))
    print_report(result)
    if profiler is not None:
        out = io.StringIO()
        pstats.Stats(profiler, stream=out).strip_dirs().sort_stats("tottime").print_stats(15)
        print()
        print(
            "cProfile of the rollout (CPU time, under the profiler so slower than above), top 15 by own time:"
        )
        print(out.getvalue())
    return 0 if result["violations"] == 0 and result["complete"] else 1


if __name__ == "__main__":
    sys.exit(main())
