"""W2 — the scheduler: pods placed per second on 5,000 nodes, reference and vectorised paths.

Shaped after kube-scheduler's scheduler_perf ``SchedulingBasic`` at 5,000 nodes (nodes with 4 cpu,
32Gi and 110 pods allocatable; pods requesting 100m cpu and 500Mi memory, as its default templates):

1. **End to end**, per path (``Scheduler(manager, algorithm="reference" | "vectorised")``), on a
   `Simulation` (the in-memory store behind the simulation's store layer, informers, virtual clock;
   wall time measured): 5,000 nodes and 1,000 bound pods are created, then 10,000 pending pods, and
   the informers catch up. Then the clock starts, the Scheduler is added, and the clock stops when the
   simulation has settled with every pod bound. Each placement is a full scheduling cycle: decide,
   assume, ``store.bind`` (the write, its watch event back through the Pod informer into the cache) and
   the ``Scheduled`` Event written to the store. The figure is pods bound per wall second, and includes
   the scheduler's start (its informer handlers replaying 5,000 nodes and 11,000 pods into its cache
   and queue).
2. **Algorithm only**, per path: the same cluster in a scheduler cache; each decision is timed alone
   (``schedule_cached`` on a prepared `PodInfo`), then the pod is assumed on the chosen node as the
   Scheduler does. Reported: mean and p99 per decision. Both paths must choose the same nodes; the
   benchmark checks it.

Reference figure, quoted and not measured here: kube-scheduler's published scheduler_perf result for
SchedulingBasic at 5,000 nodes, about 680 pods/s (targets here: ≥ 2,000 pods/s end to end, stretch
10,000). The two are not like for like — ours is one process with an in-memory store and no network,
theirs an apiserver and etcd — so the ratio says how far the framework's overhead leaves room, not
which scheduler is faster.

Run ``python -m benchmarks.w2_scheduler`` (``--quick``: 500 nodes, 100 bound and 1,000 pending pods).
Prints a table, writes ``benchmarks/results/w2.json``.
"""

from __future__ import annotations

import argparse
import gc
import math
import random
import sys
from collections.abc import Sequence
from time import perf_counter
from typing import Any

import attrs

from benchmarks._common import (
    GcMeter,
    fmt_ms,
    fmt_rate,
    headline,
    machine_info,
    percentile,
    ratio,
    write_json,
)
from controllers.scheduler import Scheduler
from controllers.scheduler.plugins import pod_info
from controllers.scheduler.vectorised import new_algorithm
from reconcile.testing import Simulation
from store import FrozenDict, parse_quantity
from store.models import (
    Container,
    Node,
    NodeStatus,
    ObjectMeta,
    Pod,
    PodSpec,
    ResourceRequirements,
)

KUBE_SCHEDULER_PODS_PER_SECOND = 680.0
TARGET, STRETCH = 2_000.0, 10_000.0
PATHS = ("reference", "vectorised")


def make_node(index: int) -> Node:
    name = f"node-{index}"
    return Node(
        metadata=ObjectMeta(name=name, labels=FrozenDict({"kubernetes.io/hostname": name})),
        status=NodeStatus(
            allocatable=FrozenDict(
                {"cpu": parse_quantity("4"), "memory": parse_quantity("32Gi"), "pods": parse_quantity("110")}
            ),
            capacity=FrozenDict(
                {"cpu": parse_quantity("4"), "memory": parse_quantity("32Gi"), "pods": parse_quantity("110")}
            ),
        ),
    )


def make_pod(name: str, node: str = "") -> Pod:
    requests = FrozenDict({"cpu": parse_quantity("100m"), "memory": parse_quantity("500Mi")})
    return Pod(
        metadata=ObjectMeta(name=name, namespace="default", uid=f"uid-{name}"),
        spec=PodSpec(
            containers=(
                Container(name="pause", image="pause:3.9", resources=ResourceRequirements(requests=requests)),
            ),
            node_name=node,
        ),
    )


@attrs.frozen
class Workload:
    nodes: tuple[Node, ...]
    bound: tuple[Pod, ...]
    pending: tuple[Pod, ...]


def build(nodes: int, bound: int, pending: int, seed: int) -> Workload:
    rng = random.Random(seed)
    node_list = tuple(make_node(i) for i in range(nodes))
    return Workload(
        node_list,
        tuple(make_pod(f"bound-{i}", f"node-{rng.randrange(nodes)}") for i in range(bound)),
        tuple(make_pod(f"pod-{i}") for i in range(pending)),
    )


# --- 1. end to end ------------------------------------------------------------------------------------


def end_to_end(workload: Workload, path: str, seed: int) -> dict[str, Any]:
    async def scenario(sim: Simulation) -> dict[str, Any]:
        sim.manager.informer(Node)
        sim.manager.informer(Pod)
        for node in workload.nodes:
            await sim.memory.create(node)
        for pod in (*workload.bound, *workload.pending):
            await sim.memory.create(pod)
        await sim.settle()
        gc.collect()
        meter = GcMeter()
        meter.start()
        started = perf_counter()
        scheduler = Scheduler(sim.manager, algorithm=path)  # type: ignore[arg-type]
        sim.manager.add(scheduler)
        await sim.settle()
        seconds = perf_counter() - started
        meter.stop()
        pods = (await sim.memory.list(Pod)).items
        unbound = sum(1 for pod in pods if not pod.spec.node_name)
        placements = {pod.metadata.name: pod.spec.node_name for pod in pods}
        return {
            "path": path,
            "seconds": seconds,
            "pods_per_second": len(workload.pending) / seconds,
            "gc_seconds": meter.take()["seconds"],
            "unbound": unbound,
            "placements_digest": hash(tuple(sorted(placements.items()))),
        }

    return Simulation(seed=seed).run(scenario)


# --- 2. the algorithm alone ---------------------------------------------------------------------------


def algorithm_only(workload: Workload, path: str, seed: int, decisions: int) -> dict[str, Any]:
    algorithm = new_algorithm(path, random.Random(seed))  # type: ignore[arg-type]
    cache = algorithm.new_cache()
    for node in workload.nodes:
        cache.add_node(node)
    for pod in workload.bound:
        cache.add_pod(pod)
    times: list[float] = []
    chosen: list[str] = []
    for pod in workload.pending[:decisions]:
        info = pod_info(pod)
        started = perf_counter()
        result = algorithm.schedule_cached(info, cache)
        times.append(perf_counter() - started)
        chosen.append(result.suggested_host)
        cache.assume_pod(attrs.evolve(pod, spec=attrs.evolve(pod.spec, node_name=result.suggested_host)))
    return {
        "path": path,
        "decisions": len(times),
        "mean_seconds": sum(times) / len(times),
        "p99_seconds": percentile(times, 0.99),
        "chosen": chosen,
    }


# --- report -------------------------------------------------------------------------------------------


def report(result: dict[str, Any]) -> None:
    params = result["params"]
    print(
        f"W2 scheduler — {params['nodes']:,} nodes, {params['bound']:,} pods placed,"
        f" {params['pending']:,} pods to place{' (--quick)' if params['quick'] else ''}"
    )
    machine = result["machine"]
    print(f"machine: {machine['cpu']}, {machine['cores']} cores, {machine['python']}")
    print()
    header = (
        f"{'path':<12} {'pods/s e2e':>11} {'vs 680':>8} {'e2e s':>7} {'gc s':>6} {'algo ms/decision':>17}"
        f" {'p99 ms':>8} {'decisions':>10}"
    )
    print(header)
    print("-" * len(header))
    for path in PATHS:
        e2e = result["end_to_end"].get(path)
        algo = result["algorithm"][path]
        rate, seconds, gc_seconds = (
            (e2e["pods_per_second"], e2e["seconds"], e2e["gc_seconds"]) if e2e else (math.nan,) * 3
        )
        print(
            f"{path:<12} {fmt_rate(rate):>11} {_ratio(rate):>8} {seconds:>7.2f} {gc_seconds:>6.2f}"
            f" {fmt_ms(algo['mean_seconds']):>17}"
            f" {fmt_ms(algo['p99_seconds']):>8} {algo['decisions']:>10,}"
        )
    print(
        f"{'kube-sched.':<12} {fmt_rate(KUBE_SCHEDULER_PODS_PER_SECOND):>11} {'1×':>8}"
        "  (published, SchedulingBasic, 5,000 nodes; not measured here)"
    )
    print()
    print(f"targets: ≥ {TARGET:,.0f} pods/s end to end, stretch {STRETCH:,.0f}")
    print(
        f"same choices on both paths (algorithm only, first {result['compared']:,}): {result['same_choices']}"
    )
    if len(result["end_to_end"]) == 2:
        print(f"same placements end to end: {result['same_placements']}")
    print(f"results: {result['json_path']}")


def headlines(e2e: dict[str, Any], algorithm: dict[str, Any]) -> list[dict[str, Any]]:
    anchor = "kube-scheduler scheduler_perf SchedulingBasic, 5,000 nodes (published, not measured here)"
    plain = e2e.get("reference")
    return [
        headline(
            "pods placed per second, end to end (vectorised)",
            e2e["vectorised"]["pods_per_second"],
            "pods/s",
            better="higher",
            target=f"≥ {TARGET:,.0f} (stretch {STRETCH:,.0f})",
            reference={"value": KUBE_SCHEDULER_PODS_PER_SECOND, "unit": "pods/s", "label": anchor},
            baseline=None
            if plain is None
            else {"value": plain["pods_per_second"], "label": "plain reference path, same run"},
        ),
        headline(
            "one scheduling decision, mean (vectorised)",
            algorithm["vectorised"]["mean_seconds"] * 1e3,
            "ms",
            better="lower",
            baseline={
                "value": algorithm["reference"]["mean_seconds"] * 1e3,
                "label": "plain reference path, same run",
            },
        ),
    ]


def _ratio(rate: float) -> str:
    value = ratio(rate, KUBE_SCHEDULER_PODS_PER_SECOND)
    return "–" if math.isnan(value) else f"{value:.2f}×"


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.w2_scheduler",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--quick", action="store_true", help="500 nodes, 100 bound, 1,000 pending")
    parser.add_argument("--nodes", type=int, default=None)
    parser.add_argument("--bound", type=int, default=None)
    parser.add_argument("--pending", type=int, default=None)
    parser.add_argument(
        "--reference-decisions", type=int, default=None, help="decisions timed on the reference path"
    )
    parser.add_argument(
        "--skip-reference-e2e", action="store_true", help="end to end on the vectorised path only"
    )
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)
    args.nodes = args.nodes or (500 if args.quick else 5_000)
    args.bound = args.bound if args.bound is not None else (100 if args.quick else 1_000)
    args.pending = args.pending or (1_000 if args.quick else 10_000)
    args.reference_decisions = args.reference_decisions or min(args.pending, 1_000)
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    workload = build(args.nodes, args.bound, args.pending, args.seed)
    algorithm = {
        "reference": algorithm_only(workload, "reference", args.seed, args.reference_decisions),
        "vectorised": algorithm_only(workload, "vectorised", args.seed, args.pending),
    }
    compared = algorithm["reference"]["decisions"]
    same_choices = algorithm["reference"]["chosen"] == algorithm["vectorised"]["chosen"][:compared]
    for entry in algorithm.values():
        del entry["chosen"]
    paths = ("vectorised",) if args.skip_reference_e2e else PATHS
    e2e = {path: end_to_end(workload, path, args.seed) for path in paths}
    for path, entry in e2e.items():
        if entry["unbound"]:
            print(f"warning: {entry['unbound']} pods left unbound on the {path} path", file=sys.stderr)
    result: dict[str, Any] = {
        "benchmark": "w2_scheduler",
        "machine": machine_info(),
        "params": {
            "nodes": args.nodes,
            "bound": args.bound,
            "pending": args.pending,
            "seed": args.seed,
            "quick": args.quick,
        },
        "end_to_end": e2e,
        "algorithm": algorithm,
        "compared": compared,
        "same_choices": same_choices,
        "same_placements": len({entry["placements_digest"] for entry in e2e.values()}) == 1,
        "kube_scheduler_reference_pods_per_second": KUBE_SCHEDULER_PODS_PER_SECOND,
    }
    result["headline"] = headlines(e2e, algorithm)
    result["json_path"] = str(write_json("w2" + ("_quick" if args.quick else ""), result))
    report(result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
