"""W3 on etcd — the reduced W3 (500 nodes, 15,000 pods) on MemoryStore and on EtcdStore, side by side.

The workload, the controllers and the done condition are W3's (`benchmarks.w3_scale`): at ``--scale
0.1``, 500 nodes in three zones and 780 Deployments of 250, 30 and 5 replicas (15,000 pods), every
other one behind a Service, created from empty; done when every Deployment is available and every
Endpoints lists all its replicas. Three backends, each in a process of its own (a fresh heap, its own
peak RSS), one after the other:

- ``memory``: MemoryStore, the in-run reference;
- ``etcd-disk``: EtcdStore on Debian's etcd with its data directory in the system temp dir (fsync on
  every commit);
- ``etcd-shm``: the same with the data directory on /dev/shm (no disk under the commits).

**Real time for every backend.** W3 runs on virtual time: looptime's loop jumps to the next timer
whenever nothing is runnable. With etcd the process waits on sockets for etcd's answers; to that loop
such a wait looks idle, so virtual time would leap across every round trip — kubelet startup delays,
heartbeats, lease renewals and node-monitor grace periods would fire while a write is still in flight,
and the run would measure a cluster in which etcd answers in zero time on a clock that no longer means
anything. Awaiting etcd's real I/O while holding virtual time still is not something the clock seam
offers (and would not be W3 either: the controllers' timers would then run on a clock that stops for
I/O but not for CPU). So this comparison runs every backend on `reconcile.clock.RealClock`, as
``setpoint run --store etcd://`` does: MemoryStore included, so the reference pays the same real
kubelet delays (a pod is Pending for a real second), heartbeats (every node renews its Lease every 10
real seconds) and grace periods as the cluster on etcd. Its figures therefore differ from W3's own
(virtual time, where those delays cost nothing).

Reported per backend: wall seconds from the first create to done, CPU seconds of the benchmark process
(gRPC's threads included) and of the etcd server, end-to-end pods per wall second, store writes (the
revisions the run made) and writes per second, peak RSS of the process and of etcd, pod startup latency
(create → Ready seen through a watch, real seconds, p50/p99), Events written, and the node trouble
reported on the way (NodeNotReady, NodeStatusUnknown and TaintManagerEviction events: on real time a
heartbeat that lags past the grace period is acted on, as upstream). Ratios are each backend's over
MemoryStore's. The machine's load average is recorded before and after each backend. The watches that
follow progress are W3's (`benchmarks.w3_scale.Progress`); on etcd they are clients like the informers,
decoding every Pod, Deployment and Endpoints event they receive, in the measured process.

Run ``python -m benchmarks.w3_etcd`` from the repository root (``--quick``: scale 0.01, 1,500 pods;
``--scale``; ``--backends``). Prints a table, writes ``benchmarks/results/w3_etcd.json``. Needs the
``etcd`` binary (``apt-get install etcd-server``). Not a test: nothing here asserts on wall time.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import json
import os
import resource
import subprocess
import sys
import tempfile
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from time import perf_counter, process_time
from typing import Any

import anyio

from benchmarks._common import (
    OUTPUT_ENV,
    GcMeter,
    fmt_rate,
    fmt_ratio,
    headline,
    machine_info,
    percentile,
    quiet_logs,
    ratio,
    reconciles,
    write_json,
)
from benchmarks.w3_scale import GC_THRESHOLD, NODES, Progress, build, workload
from reconcile import Manager
from reconcile.clock import RealClock
from reconcile.randomness import Entropy
from store import MemoryStore, Store
from store.etcd import EtcdStore
from store.etcd_server import INSTALL_HINT, EtcdServer, etcd_binary
from store.models import Event

BACKENDS = ("memory", "etcd-disk", "etcd-shm")
#: The default size: the issue's reduced W3 (500 nodes, 15,000 pods).
SCALE = 0.1
QUICK_SCALE = 0.01
#: Events that say a node's heartbeats lagged past the grace period and the control plane acted on it.
NODE_TROUBLE = ("NodeNotReady", "NodeStatusUnknown", "TaintManagerEviction")


# --- one backend, in a process of its own ---------------------------------------------------------


class EtcdProcess:
    """CPU seconds and peak RSS of the etcd server, read from /proc by its pid."""

    def __init__(self, pid: int) -> None:
        self._pid = pid
        self._ticks = os.sysconf("SC_CLK_TCK")

    def cpu_seconds(self) -> float:
        with open(f"/proc/{self._pid}/stat", encoding="ascii") as stat:
            # The fields after the command name (which may hold spaces): utime and stime are 14 and 15.
            fields = stat.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / self._ticks

    def peak_rss_bytes(self) -> int:
        with open(f"/proc/{self._pid}/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
        return 0


async def _revision(store: Store) -> int:
    if isinstance(store, EtcdStore):
        return await store.current_revision()
    assert isinstance(store, MemoryStore)
    return store.revision


async def measure(backend: str, scale: float, seed: int, timeout: float) -> dict[str, Any]:
    """Converge the W3 mix at ``scale`` on ``backend`` in real time; its figures."""
    clock = RealClock()
    entropy = Entropy(seed)
    namespaces, services, deployments = workload(scale)
    nodes = max(3, round(NODES * scale))
    async with contextlib.AsyncExitStack() as stack:
        etcd: EtcdProcess | None = None
        data_dir: Path | None = None
        store: Store
        if backend == "memory":
            store = MemoryStore(clock=clock, rng=entropy.stream("store"))
        else:
            server = stack.enter_context(
                EtcdServer(data_parent="/dev/shm" if backend == "etcd-shm" else None)
            )
            assert server.pid is not None
            etcd, data_dir = EtcdProcess(server.pid), server.data_dir
            store = await stack.enter_async_context(
                EtcdStore.at(server.url, clock=clock, rng=entropy.stream("store"))
            )
        manager = Manager(store, clock=clock, entropy=entropy)
        progress = Progress(store, clock, deployments)
        progress.services = {(s.metadata.namespace, s.metadata.name) for s in services}
        build(store, manager, nodes)
        gc_meter = GcMeter()
        gc.collect()
        gc.freeze()
        gc_meter.start()
        revision_before = await _revision(store)
        etcd_cpu_before = etcd.cpu_seconds() if etcd else 0.0
        started, cpu_started = perf_counter(), process_time()
        completed = False
        async with anyio.create_task_group() as tg:
            tg.start_soon(progress.follow)
            await tg.start(manager.run)
            for obj in (*namespaces, *services, *deployments):
                await store.create(obj)
            applied = perf_counter() - started
            with anyio.move_on_after(timeout):
                await progress.done.wait()
                completed = True
            wall, cpu = perf_counter() - started, process_time() - cpu_started
            etcd_cpu = etcd.cpu_seconds() - etcd_cpu_before if etcd else 0.0
            writes = await _revision(store) - revision_before
            tg.cancel_scope.cancel()
        gc_meter.stop()
        events = (await store.list(Event)).items
        reasons = Counter(event.reason for event in events)
        figures: dict[str, Any] = {
            "backend": backend,
            "completed": completed,
            "nodes": nodes,
            "deployments": len(deployments),
            "services": len(services),
            "pods": sum(d.spec.replicas for d in deployments),
            "pods_observed_ready": len(progress.wall_latency),
            "wall_seconds": wall,
            "cpu_seconds": cpu,
            "etcd_cpu_seconds": etcd_cpu,
            "apply_wall_seconds": applied,
            "store_writes": writes,
            "events": len(events),
            "event_reasons": dict(reasons.most_common()),
            "node_trouble_events": sum(reasons[reason] for reason in NODE_TROUBLE),
            "reconciles": dict(sorted(reconciles(manager).items())),
            "informer_relists": {i.kind.kind: i.relists for i in manager.informers if i.relists},
            "gc": gc_meter.take(),
            "etcd_peak_rss_bytes": etcd.peak_rss_bytes() if etcd else 0,
            "etcd_data_bytes": _size(data_dir) if data_dir else 0,
            "startup_latency": {
                "p50": percentile(progress.wall_latency, 0.50),
                "p99": percentile(progress.wall_latency, 0.99),
            },
        }
    return figures


def _size(directory: Path) -> int:
    return sum(path.stat().st_size for path in directory.rglob("*") if path.is_file())


def child(args: argparse.Namespace) -> None:
    """The ``--child BACKEND`` mode: measure one backend, write its figures to ``--out``."""
    quiet_logs()
    if args.loop == "uvloop":
        import uvloop

        asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    thresholds = gc.get_threshold()
    # W3's collector settings (see `benchmarks.w3_scale.run`), so the backends differ only in the store.
    gc.set_threshold(*GC_THRESHOLD)
    load_before = os.getloadavg()
    try:
        figures = anyio.run(measure, args.child, args.scale, args.seed, args.timeout)
    finally:
        gc.unfreeze()
        gc.set_threshold(*thresholds)
    figures["peak_rss_bytes"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    figures["load_before"] = list(load_before)
    figures["load_after"] = list(os.getloadavg())
    figures["event_loop"] = args.loop
    Path(args.out).write_text(json.dumps(figures), encoding="utf-8")


# --- the comparison -------------------------------------------------------------------------------


def _loop_name() -> str:
    """The event loop this process was asked to run on (`benchmarks.run` sets uvloop's policy)."""
    return "uvloop" if "uvloop" in type(asyncio.get_event_loop_policy()).__module__ else "asyncio"


def run_backend(backend: str, args: argparse.Namespace, loop: str) -> dict[str, Any]:
    """Run one backend in a subprocess; its figures, or why it failed."""
    print(f"running {backend} (scale {args.scale}) …", file=sys.stderr, flush=True)
    with tempfile.TemporaryDirectory(prefix="setpoint-w3-etcd-") as tmp:
        out = Path(tmp) / "figures.json"
        command = [
            sys.executable,
            "-m",
            "benchmarks.w3_etcd",
            "--child",
            backend,
            "--out",
            str(out),
            "--scale",
            str(args.scale),
            "--seed",
            str(args.seed),
            "--timeout",
            str(args.timeout),
            "--loop",
            loop,
        ]
        # The runner's copy of the result is this process's to write, not the child's.
        env = {key: value for key, value in os.environ.items() if key != OUTPUT_ENV}
        done = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
        if done.returncode != 0 or not out.exists():
            tail = (done.stdout + done.stderr).strip().splitlines()[-10:]
            return {"backend": backend, "failed": f"exit {done.returncode}", "tail": tail}
        figures: dict[str, Any] = json.loads(out.read_text(encoding="utf-8"))
    figures["pods_per_second"] = figures["pods_observed_ready"] / figures["wall_seconds"]
    figures["writes_per_second"] = figures["store_writes"] / figures["wall_seconds"]
    print(
        f"  {backend}: {figures['wall_seconds']:.1f} s wall, {figures['cpu_seconds']:.1f} s CPU"
        f"{'' if figures['completed'] else ' (did not complete)'}",
        file=sys.stderr,
        flush=True,
    )
    return figures


def report(args: argparse.Namespace, results: dict[str, dict[str, Any]]) -> dict[str, Any]:
    memory = results.get("memory", {})

    def reference(key: str) -> dict[str, Any] | None:
        if "failed" in memory or key not in memory:
            return None
        return {"value": memory[key], "label": "MemoryStore, real time (same run)"}

    rows = []
    for backend, figures in results.items():
        if backend == "memory" or "failed" in figures:
            continue
        rows.append(
            headline(
                f"{backend}: pods/s end to end, real time",
                figures["pods_per_second"],
                "pods/s",
                better="higher",
                baseline=reference("pods_per_second"),
            )
        )
        rows.append(
            headline(
                f"{backend}: wall, first create → done",
                figures["wall_seconds"],
                "s",
                better="lower",
                baseline=reference("wall_seconds"),
            )
        )
    any_figures = next((f for f in results.values() if "failed" not in f), {})
    return {
        "benchmark": "w3_etcd",
        "machine": machine_info(),
        "params": {"scale": args.scale, "seed": args.seed, "timeout": args.timeout, "clock": "real"},
        "nodes": any_figures.get("nodes"),
        "pods": any_figures.get("pods"),
        "deployments": any_figures.get("deployments"),
        "services": any_figures.get("services"),
        "results": results,
        "headline": rows,
    }


def print_report(result: dict[str, Any]) -> None:
    machine, results = result["machine"], result["results"]
    print(
        f"W3 on etcd — {result['nodes']:,} nodes, {result['pods']:,} pods in {result['deployments']:,}"
        f" Deployments ({result['services']:,} behind Services), from empty, real time on every backend"
        f" (scale {result['params']['scale']})"
    )
    print(
        f"machine: {machine['cpu']}, {machine['cores']} usable cores; {machine['python']}"
        f" ({'PGO/LTO' if machine['python_optimized'] else 'no PGO/LTO'}); shared with other jobs"
    )
    memory = results.get("memory", {})
    header = (
        f"{'backend':<10} {'wall s':>7} {'CPU s':>6} {'etcd CPU':>8} {'pods/s':>7} {'writes':>8}"
        f" {'writes/s':>8} {'reconciles':>10} {'RSS GiB':>7} {'etcd GiB':>8} {'start p50/p99 s':>15}"
        f" {'wall ×':>7} {'CPU ×':>6} {'load 1m before→after':>21}"
    )
    print(header)
    for backend, r in results.items():
        if "failed" in r:
            print(f"{backend:<10} failed: {r['failed']}")
            for line in r.get("tail", []):
                print(f"    | {line}")
            continue
        total_cpu = r["cpu_seconds"] + r["etcd_cpu_seconds"]
        memory_cpu = memory.get("cpu_seconds", float("nan")) + memory.get("etcd_cpu_seconds", 0.0)
        latency = r["startup_latency"]
        print(
            f"{backend:<10} {r['wall_seconds']:>7.1f} {r['cpu_seconds']:>6.1f} {r['etcd_cpu_seconds']:>8.1f}"
            f" {fmt_rate(r['pods_per_second']):>7} {r['store_writes']:>8,}"
            f" {fmt_rate(r['writes_per_second']):>8} {sum(r['reconciles'].values()):>10,}"
            f" {r['peak_rss_bytes'] / 2**30:>7.2f} {r['etcd_peak_rss_bytes'] / 2**30:>8.2f}"
            f" {latency['p50']:>7.2f}/{latency['p99']:<7.2f}"
            f" {fmt_ratio(ratio(r['wall_seconds'], memory.get('wall_seconds', float('nan')))):>7}"
            f" {fmt_ratio(ratio(total_cpu, memory_cpu)):>6}"
            f" {r['load_before'][0]:>10.2f}→{r['load_after'][0]:<10.2f}"
        )
    print(
        "wall × and CPU × are each backend's over MemoryStore's, measured in this run (CPU × counts the"
        " etcd server's CPU too);"
    )
    print("CPU s is the benchmark process (gRPC threads included), etcd CPU the etcd server's.")
    for backend, r in results.items():
        if "failed" in r:
            continue
        notes = []
        if not r["completed"]:
            notes.append(
                f"did not complete within {result['params']['timeout']:.0f} s"
                f" ({r['pods_observed_ready']:,} of {r['pods']:,} pods seen Ready)"
            )
        if r["node_trouble_events"]:
            trouble = {k: v for k, v in r["event_reasons"].items() if k in NODE_TROUBLE}
            notes.append(f"node trouble: {trouble}")
        if r["informer_relists"]:
            notes.append(f"informer relists: {r['informer_relists']}")
        if r["etcd_data_bytes"]:
            notes.append(f"etcd data dir {r['etcd_data_bytes'] / 2**20:,.0f} MiB at the end")
        notes.append(f"{r['events']:,} Events; GC longest pause {r['gc']['longest_pause'] * 1e3:.0f} ms")
        print(f"  {backend}: " + "; ".join(notes))
    print(f"results: {result['json_path']}")


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.w3_etcd",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--scale", type=float, default=SCALE, help="W3's scale (default 0.1: 500 nodes, 15,000 pods)"
    )
    parser.add_argument("--quick", action="store_true", help=f"scale {QUICK_SCALE} (50 nodes, 1,500 pods)")
    parser.add_argument("--backends", nargs="+", choices=BACKENDS, default=list(BACKENDS))
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--timeout", type=float, default=1200.0, help="give up on a backend after this many seconds"
    )
    parser.add_argument("--child", choices=BACKENDS, help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    parser.add_argument("--loop", choices=("asyncio", "uvloop"), default="asyncio", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.quick:
        args.scale = QUICK_SCALE
    if not 0 < args.scale <= 1:
        parser.error("--scale must be in (0, 1]")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    if args.child:
        child(args)
        return 0
    if etcd_binary() is None:
        print(INSTALL_HINT, file=sys.stderr)
        return 2
    loop = _loop_name()
    results = {backend: run_backend(backend, args, loop) for backend in args.backends}
    result = report(args, results)
    result["json_path"] = str(write_json("w3_etcd", result))
    print_report(result)
    failed = any("failed" in r or not r["completed"] for r in results.values())
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
