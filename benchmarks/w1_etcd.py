"""W1 on etcd — the W1 store workload on MemoryStore and on EtcdStore, side by side, in one run.

The pods, statuses and annotations are W1's (`benchmarks.w1_store.build_workload`, about 3 KB of JSON
per pod). Each backend gets a fresh store, one unfiltered pod watcher task, and the same sequence of
writes, one at a time as a controller issues them: **create** every pod, then ``--rounds`` rounds of
**update_status** and **update** over every pod. A phase's time runs from its first write until the
watcher has received its last event. Then the median of ``--repeat`` lists of every pod (``--pods``
of them: 5,000 by default, more than gRPC's default 4 MiB message, so EtcdStore reads them in pages).

Backends: ``memory`` (MemoryStore, the reference), ``etcd-disk`` (Debian's etcd with its data
directory in the system temp dir, fsync on every commit) and ``etcd-shm`` (data directory on
/dev/shm). Ratios are MemoryStore's throughput over etcd's (how many times slower etcd is).

Run ``python -m benchmarks.w1_etcd`` (``--quick`` for a smoke run). Prints a table, writes
``benchmarks/results/w1_etcd.json``. Needs the ``etcd`` binary (``apt-get install etcd-server``).
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
from collections.abc import Awaitable, Callable, Sequence
from time import perf_counter
from typing import Any

import attrs

from benchmarks._common import (
    fmt_ms,
    fmt_rate,
    fmt_ratio,
    headline,
    machine_info,
    percentile,
    ratio,
    write_json,
)
from benchmarks.w1_store import Workload, build_workload
from store import FrozenDict, MemoryStore, Store
from store.etcd import EtcdStore
from store.etcd_server import INSTALL_HINT, EtcdServer, etcd_binary
from store.models import Namespace, ObjectMeta, Pod, PodStatus

BACKENDS = ("memory", "etcd-disk", "etcd-shm")


async def _watch(store: Store, received: list[float], times: dict[int, float], seen: list[int]) -> None:
    async with store.watch(Pod) as watch:
        async for event in watch:
            now = perf_counter()
            sent = times.get(event.revision)
            if sent is not None:
                received.append(now - sent)
            seen[0] = event.revision


async def run_backend(store: Store, workload: Workload, rounds: int, repeat: int) -> dict[str, Any]:
    for name in workload.namespaces:
        await store.create(Namespace(metadata=ObjectMeta(name=name)))
    times: dict[int, float] = {}
    latencies: list[float] = []
    seen = [0]
    watcher = asyncio.create_task(_watch(store, latencies, times, seen))
    await asyncio.sleep(0.1)
    current = list(workload.pods)
    phases: dict[str, float] = {}

    async def phase(name: str, write: Callable[[int], Awaitable[Pod]]) -> None:
        start = perf_counter()
        for i in range(len(current)):
            t = perf_counter()
            current[i] = await write(i)
            times[int(current[i].metadata.resource_version)] = t
        target = int(current[-1].metadata.resource_version)
        while seen[0] < target:
            await asyncio.sleep(0.001)
        phases[name] = len(current) / (perf_counter() - start)

    await phase("create", lambda i: store.create(current[i]))
    for r in range(rounds):
        statuses = workload.statuses[r]
        annotations = workload.annotations[r]

        def update_status(i: int, statuses: tuple[PodStatus, ...] = statuses) -> Awaitable[Pod]:
            return store.update_status(attrs.evolve(current[i], status=statuses[i]))

        def update(i: int, annotations: FrozenDict[str, str] = annotations) -> Awaitable[Pod]:
            metadata = attrs.evolve(current[i].metadata, annotations=annotations)
            return store.update(attrs.evolve(current[i], metadata=metadata))

        await phase("update_status", update_status)
        await phase("update", update)
    watcher.cancel()
    await asyncio.gather(watcher, return_exceptions=True)
    list_times = []
    for _ in range(repeat):
        start = perf_counter()
        listed = await store.list(Pod)
        list_times.append(perf_counter() - start)
        assert len(listed.items) == len(current)
    return {
        "writes_per_second": phases,
        "latency_p50": percentile(latencies, 0.5),
        "latency_p99": percentile(latencies, 0.99),
        "list_all_seconds": statistics.median(list_times),
    }


async def benchmark(args: argparse.Namespace) -> dict[str, Any]:
    workload = build_workload(args.pods, args.namespaces, args.rounds)
    results: dict[str, Any] = {}
    for backend in BACKENDS:
        print(f"running {backend} …", file=sys.stderr)
        if backend == "memory":
            results[backend] = await run_backend(MemoryStore(seed=1), workload, args.rounds, args.repeat)
            continue
        with EtcdServer(data_parent="/dev/shm" if backend == "etcd-shm" else None) as server:
            async with EtcdStore.at(server.url, seed=1) as store:
                results[backend] = await run_backend(store, workload, args.rounds, args.repeat)
    return {
        "benchmark": "w1_etcd",
        "machine": machine_info(),
        "pods": args.pods,
        "pod_bytes": workload.pod_bytes,
        "results": results,
        "headline": headlines(results),
    }


def headlines(results: dict[str, Any]) -> list[dict[str, Any]]:
    """The runner's rows: each etcd backend's write rates and list time beside MemoryStore's."""
    memory = results["memory"]
    reference = "MemoryStore (same run)"
    rows = []
    for backend in BACKENDS[1:]:
        figures = results[backend]
        for verb in ("create", "update"):
            rows.append(
                headline(
                    f"{backend}: {verb}s/s, one at a time, watched",
                    figures["writes_per_second"][verb],
                    "writes/s",
                    better="higher",
                    baseline={"value": memory["writes_per_second"][verb], "label": reference},
                )
            )
        rows.append(
            headline(
                f"{backend}: list of every pod",
                figures["list_all_seconds"] * 1000,
                "ms",
                better="lower",
                baseline={"value": memory["list_all_seconds"] * 1000, "label": reference},
            )
        )
    return rows


def print_report(report: dict[str, Any]) -> None:
    machine = report["machine"]
    print(f"W1 on etcd — {report['pods']:,} pods of ~{report['pod_bytes']:,} B JSON, one watcher")
    print(f"machine: {machine.get('cpu')} ({machine.get('cores')} cores), Python {machine.get('python')}")
    results = report["results"]
    memory = results["memory"]
    header = f"{'backend':<10} {'create/s':>10} {'status/s':>10} {'update/s':>10} {'p50 ms':>8} {'p99 ms':>8}"
    print(header + f" {'list ms':>9} {'create ×':>9} {'update ×':>9} {'list ×':>9}")
    for name in BACKENDS:
        r = results[name]
        w = r["writes_per_second"]
        print(
            f"{name:<10} {fmt_rate(w['create']):>10} {fmt_rate(w['update_status']):>10}"
            f" {fmt_rate(w['update']):>10} {fmt_ms(r['latency_p50']):>8} {fmt_ms(r['latency_p99']):>8}"
            f" {fmt_ms(r['list_all_seconds']):>9}"
            f" {fmt_ratio(ratio(memory['writes_per_second']['create'], w['create'])):>9}"
            f" {fmt_ratio(ratio(memory['writes_per_second']['update'], w['update'])):>9}"
            f" {fmt_ratio(ratio(r['list_all_seconds'], memory['list_all_seconds'])):>9}"
        )
    print(
        "× = how many times MemoryStore's figure (the in-run reference) etcd's is: slower writes, slower list"
    )


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.w1_etcd", description=__doc__.split("\n")[0])
    parser.add_argument("--pods", type=int, default=5_000)
    parser.add_argument("--namespaces", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--quick", action="store_true", help="500 pods, one list")
    args = parser.parse_args(argv)
    if args.quick:
        args.pods, args.repeat = 500, 1
    return args


def main(argv: Sequence[str] | None = None) -> int:
    if etcd_binary() is None:
        print(INSTALL_HINT, file=sys.stderr)
        return 2
    args = parse_args(argv)
    report = asyncio.run(benchmark(args))
    print_report(report)
    print(f"wrote {write_json('w1_etcd', report)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
