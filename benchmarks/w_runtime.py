"""W-runtime — the reconcile runtime: reconciles per second on real time, and simulation speed.

Two measurements, both on the asyncio backend of anyio (the default event loop, no uvloop):

1. **Reconcile throughput** on real time. A `Manager(MemoryStore())` runs one trivial controller on
   ConfigMaps — its reconcile reads the object from the informer cache, counts it, returns ``None`` —
   with 1, 4 and 16 workers. The full path is store write → watch event → informer cache and handler →
   workqueue → worker → reconcile. Two phases per run:

   - **create**: ``--objects`` ConfigMaps (built before the clock starts) are created; the time runs from
     the first create until every key has been reconciled with its created object in the cache and the
     controller is idle (nothing queued, nothing in progress).
   - **update**: each object is updated once (one new data key, so one MODIFIED event each); the time
     runs from the first update until every key has been reconciled with its updated object and the
     controller is idle.

   The writer yields to the event loop (``await asyncio.sleep(0)``) every ``--yield-every`` writes, so
   the informer and the workers run while it writes. Two references are measured in the same run with
   the same writes and the same yields: the **store-write-only** time (a fresh `MemoryStore`, no
   watcher), and **store + informer** (a manager with the ConfigMap informer and no controller; the
   time runs until the cache has caught up with the store). ``(full − store-only) / N`` is the
   framework's cost per reconcile, ``(full − store+informer) / N`` the part of it that the workqueue,
   the workers and the reconcile bookkeeping (metrics, structlog context, reconcile id) take.
   Each figure is the median of ``--repeat`` runs (the fastest run is shown too).

2. **Simulation speed**. ``reconcile.testing.Simulation(seed=...).run(scenario)`` on looptime's virtual
   loop: 100 ConfigMaps whose controller (2 workers) returns ``Result(requeue_after=p)`` with ``p``
   spread deterministically over 10–30 virtual seconds, plus a driver that every virtual second updates
   one object picked by a seeded ``random.Random``, for 600 virtual seconds. Reported: virtual seconds,
   wall seconds (of the 600 s drive, and of the whole ``run`` including loop start, manager start and
   the 100 creates), their ratio, reconciles performed, and the trace digest (equal in every repeat).

There is no reference implementation to compare against here; in particular no controller-runtime
figure is measured, and none is quoted.

Run ``python -m benchmarks.w_runtime`` (``--quick`` for a smoke run of a few seconds, ``--profile`` to
cProfile the 4-worker create phase instead). Prints a table, writes ``benchmarks/results/w_runtime.json``.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import gc
import io
import pstats
import random
import statistics
import sys
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import asdict, dataclass, field
from time import perf_counter
from typing import Any

import anyio
import attrs

from benchmarks._common import GcMeter, fmt_rate, machine_info, write_json
from reconcile import Controller, Manager, Request, Result
from reconcile.informer import Informer
from reconcile.testing import Simulation
from store import MemoryStore
from store.frozen import FrozenDict
from store.models import ConfigMap, ObjectMeta

NAMESPACE = "default"
WORKER_COUNTS = (1, 4, 16)
SIM_OBJECTS = 100
SIM_SECONDS = 600
SIM_WORKERS = 2
SIM_PERIOD_MIN = 10.0
SIM_PERIOD_MAX = 30.0
CONTROLLER_RUNTIME_NOTE = "controller-runtime reference: none measured here"
GC_METER = GcMeter()


# --- part 1: reconcile throughput on real time ------------------------------------------------------


class CountingReconciler:
    """The trivial reconciler: read the key's object from the informer cache, count it, return None.

    A reconcile counts towards the current phase when the cached object is the phase's version (its
    ``round`` data key); `finished` is set once every key of the phase has been seen that way.
    """

    def __init__(self, cache: Informer[ConfigMap]) -> None:
        self.cache = cache
        self.reconciles = 0
        self.round = ""
        self.target = 0
        self.seen: set[str] = set()
        self.by_task: Counter[int] = Counter()
        self.finished = asyncio.Event()
        self.finished_at = 0.0

    def start_phase(self, round_: str, target: int) -> None:
        self.round = round_
        self.target = target
        self.reconciles = 0
        self.seen = set()
        self.by_task = Counter()
        self.finished = asyncio.Event()
        self.finished_at = 0.0

    async def reconcile(self, request: Request) -> Result | None:
        obj = self.cache.get(request.name, request.namespace)
        self.reconciles += 1
        self.by_task[id(asyncio.current_task())] += 1
        if obj is not None and obj.data.get("round") == self.round:
            self.seen.add(request.name)
            if len(self.seen) == self.target:
                self.finished_at = perf_counter()
                self.finished.set()
        return None


@dataclass
class PhaseRun:
    """One timed phase of one configuration."""

    phase: str
    objects: int
    seconds: float
    writer_seconds: float
    reconciles: int = 0
    workers_used: int = 0
    busiest_worker_share: float = 0.0
    gc_seconds: float = 0.0

    @property
    def per_second(self) -> float:
        return self.objects / self.seconds if self.seconds > 0 else float("nan")


def build_objects(count: int) -> list[ConfigMap]:
    """The ConfigMaps to create: small, one data key, in one namespace."""
    return [
        ConfigMap(
            metadata=ObjectMeta(
                name=f"cm-{index:06d}", namespace=NAMESPACE, labels=FrozenDict({"app": "bench"})
            ),
            data=FrozenDict({"index": str(index), "round": "create"}),
        )
        for index in range(count)
    ]


def updated(objects: Sequence[ConfigMap]) -> list[ConfigMap]:
    """Each created object with one data key changed (one MODIFIED event per object)."""
    return [attrs.evolve(obj, data=obj.data.set("round", "update")) for obj in objects]


Write = Callable[[ConfigMap], Awaitable[ConfigMap]]


async def write_all(write: Write, objects: Sequence[ConfigMap], yield_every: int) -> list[ConfigMap]:
    """Write every object, yielding to the loop every ``yield_every`` writes; returns what was stored."""
    stored: list[ConfigMap] = []
    append = stored.append
    for start in range(0, len(objects), yield_every):
        for obj in objects[start : start + yield_every]:
            append(await write(obj))
        await asyncio.sleep(0)
    return stored


async def wait_idle(manager: Manager) -> None:
    while not manager.idle:
        await asyncio.sleep(0)


async def wait_running(controller: Controller) -> None:
    """Until the controller has its queue and handlers (the manager starts controllers after caches)."""
    while True:
        try:
            controller.queue  # noqa: B018  (raises until the controller runs)
        except RuntimeError:
            await asyncio.sleep(0)
        else:
            return


async def run_store_only(objects: Sequence[ConfigMap], yield_every: int) -> list[PhaseRun]:
    """The reference: the same creates and updates on a bare store, nothing watching."""
    gc.collect()
    store = MemoryStore()
    GC_METER.take()
    started = perf_counter()
    created = await write_all(store.create, objects, yield_every)
    create = PhaseRun("create", len(objects), perf_counter() - started, perf_counter() - started)
    create.gc_seconds = GC_METER.take()["seconds"]
    changes = updated(created)
    GC_METER.take()
    started = perf_counter()
    await write_all(store.update, changes, yield_every)
    update = PhaseRun("update", len(objects), perf_counter() - started, perf_counter() - started)
    update.gc_seconds = GC_METER.take()["seconds"]
    return [create, update]


async def run_informer_only(objects: Sequence[ConfigMap], yield_every: int) -> tuple[list[PhaseRun], int]:
    """The second reference: the writes plus a manager's ConfigMap informer keeping its cache current."""
    gc.collect()
    store = MemoryStore()
    manager = Manager(store)
    informer = manager.informer(ConfigMap)
    phases: list[PhaseRun] = []
    async with anyio.create_task_group() as tg:
        await tg.start(manager.run)
        batches: list[Sequence[ConfigMap]] = [objects]
        writes: list[Write] = [store.create]
        for name in ("create", "update"):
            GC_METER.take()
            started = perf_counter()
            stored = await write_all(writes[-1], batches[-1], yield_every)
            writer_seconds = perf_counter() - started
            await informer.wait_for(store.revision)
            run = PhaseRun(name, len(objects), perf_counter() - started, writer_seconds)
            run.gc_seconds = GC_METER.take()["seconds"]
            phases.append(run)
            batches.append(updated(stored))
            writes.append(store.update)
        tg.cancel_scope.cancel()
    return phases, informer.relists


async def run_controller(
    objects: Sequence[ConfigMap],
    workers: int,
    yield_every: int,
    *,
    profiler: cProfile.Profile | None = None,
) -> tuple[list[PhaseRun], int]:
    """The full path with ``workers`` workers: the create phase, then the update phase.

    With ``profiler``, only the create phase runs, under the profiler. Returns the phases and how
    many times the informer relisted (0 unless it fell behind the store's history).
    """
    gc.collect()
    store = MemoryStore()
    manager = Manager(store)
    cache = manager.informer(ConfigMap)
    reconciler = CountingReconciler(cache)
    controller = manager.add(Controller("bench", reconciler, kind=ConfigMap, workers=workers))
    phases: list[PhaseRun] = []
    async with anyio.create_task_group() as tg:
        await tg.start(manager.run)
        await wait_running(controller)
        batches: list[Sequence[ConfigMap]] = [objects]
        writes: list[Write] = [store.create]
        for name in ("create", "update"):
            reconciler.start_phase(name, len(objects))
            GC_METER.take()
            if profiler is not None:
                profiler.enable()
            started = perf_counter()
            stored = await write_all(writes[-1], batches[-1], yield_every)
            writer_seconds = perf_counter() - started
            await reconciler.finished.wait()
            await wait_idle(manager)
            elapsed = perf_counter() - started
            if profiler is not None:
                profiler.disable()
            counts = reconciler.by_task
            run = PhaseRun(
                name,
                len(objects),
                elapsed,
                writer_seconds,
                reconciles=reconciler.reconciles,
                workers_used=len(counts),
                busiest_worker_share=max(counts.values()) / max(1, reconciler.reconciles),
                gc_seconds=GC_METER.take()["seconds"],
            )
            phases.append(run)
            if profiler is not None:
                break
            batches.append(updated(stored))
            writes.append(store.update)
        tg.cancel_scope.cancel()
    return phases, cache.relists


def _median_phases(runs: Sequence[Sequence[PhaseRun]]) -> list[dict[str, Any]]:
    """Per phase, the run with the median time (all of its figures), plus every run's seconds."""
    result = []
    for index in range(len(runs[0])):
        ordered = sorted((run[index] for run in runs), key=lambda phase: phase.seconds)
        median = ordered[(len(ordered) - 1) // 2]
        entry = asdict(median)
        entry["seconds"] = statistics.median(phase.seconds for phase in ordered)
        entry["per_second"] = median.objects / entry["seconds"]
        entry["all_seconds"] = [run[index].seconds for run in runs]
        entry["best_per_second"] = median.objects / ordered[0].seconds
        result.append(entry)
    return result


async def measure_throughput(args: argparse.Namespace) -> dict[str, Any]:
    objects = build_objects(args.objects)
    # Warm up every code path (first-call costs, structlog and prometheus set-up) before timing.
    warm = objects[: min(500, len(objects))]
    await run_store_only(warm, args.yield_every)
    await run_informer_only(warm, args.yield_every)
    await run_controller(warm, 1, args.yield_every)
    store_runs: list[list[PhaseRun]] = []
    informer_runs: list[list[PhaseRun]] = []
    controller_runs: dict[int, list[list[PhaseRun]]] = {workers: [] for workers in args.workers}
    relists = 0
    for _ in range(args.repeat):
        # Interleave the configurations, so that a slow patch of a shared machine hits them all.
        store_runs.append(await run_store_only(objects, args.yield_every))
        phases, informer_relists = await run_informer_only(objects, args.yield_every)
        informer_runs.append(phases)
        relists += informer_relists
        for workers in args.workers:
            phases, controller_relists = await run_controller(objects, workers, args.yield_every)
            controller_runs[workers].append(phases)
            relists += controller_relists
    return {
        "store_only": _median_phases(store_runs),
        "store_informer": _median_phases(informer_runs),
        "controller": {str(workers): _median_phases(runs) for workers, runs in controller_runs.items()},
        "relists": relists,
    }


# --- part 2: simulation speed ------------------------------------------------------------------------


def sim_period(index: int) -> float:
    """The object's reconcile period: spread over [10, 30] virtual seconds by a fixed permutation."""
    spread = (index * 37) % SIM_OBJECTS / (SIM_OBJECTS - 1)
    return SIM_PERIOD_MIN + (SIM_PERIOD_MAX - SIM_PERIOD_MIN) * spread


class PeriodicReconciler:
    """Reads the object from the cache and asks to be called again after the object's period."""

    def __init__(self, cache: Informer[ConfigMap], periods: dict[str, float]) -> None:
        self.cache = cache
        self.periods = periods
        self.reconciles = 0

    async def reconcile(self, request: Request) -> Result | None:
        self.reconciles += 1
        if self.cache.get(request.name, request.namespace) is None:
            return None
        return Result(requeue_after=self.periods[request.name])


@dataclass
class SimRun:
    """One run of the simulation scenario."""

    virtual_seconds: float = 0.0
    drive_wall_seconds: float = 0.0
    total_wall_seconds: float = 0.0
    reconciles: int = 0
    updates: int = 0
    trace_records: int = 0
    trace_digest: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def ratio(self) -> float:
        return self.virtual_seconds / self.drive_wall_seconds

    @property
    def total_ratio(self) -> float:
        return self.virtual_seconds / self.total_wall_seconds


def run_simulation(seed: int, seconds: int) -> SimRun:
    """``Simulation(seed=seed).run(scenario)``: the periodic controller and the update driver."""
    result = SimRun()
    names = [f"cm-{index:03d}" for index in range(SIM_OBJECTS)]
    periods = {name: sim_period(index) for index, name in enumerate(names)}

    async def scenario(sim: Simulation) -> None:
        reconciler = PeriodicReconciler(sim.manager.informer(ConfigMap), periods)
        sim.manager.add(Controller("periodic", reconciler, kind=ConfigMap, workers=SIM_WORKERS))
        for name in names:
            await sim.store.create(ConfigMap(metadata=ObjectMeta(name=name, namespace=NAMESPACE)))
        await sim.settle(horizon=0.0)  # the creates' reconciles, before the clock starts
        rng = random.Random(seed)
        started_virtual = sim.now
        reconciles_before = reconciler.reconciles
        started = perf_counter()
        for tick in range(seconds):
            await sim.advance(1.0)
            name = names[rng.randrange(SIM_OBJECTS)]
            current = await sim.store.get(ConfigMap, name, NAMESPACE)
            await sim.store.update(attrs.evolve(current, data=FrozenDict({"tick": str(tick)})))
            result.updates += 1
        result.drive_wall_seconds = perf_counter() - started
        result.virtual_seconds = sim.now - started_virtual
        result.reconciles = reconciler.reconciles - reconciles_before
        result.extra["reconciles_total"] = reconciler.reconciles

    gc.collect()
    simulation = Simulation(seed=seed)
    started = perf_counter()
    simulation.run(scenario)
    result.total_wall_seconds = perf_counter() - started
    result.trace_records = len(simulation.trace)
    result.trace_digest = simulation.trace.digest()
    return result


def measure_simulation(args: argparse.Namespace) -> dict[str, Any]:
    run_simulation(args.seed, min(30, args.sim_seconds))  # warm-up
    runs = [run_simulation(args.seed, args.sim_seconds) for _ in range(args.repeat)]
    ordered = sorted(runs, key=lambda run: run.drive_wall_seconds)
    median = ordered[(len(ordered) - 1) // 2]
    return {
        **{key: value for key, value in asdict(median).items() if key != "extra"},
        **median.extra,
        "ratio": median.ratio,
        "total_ratio": median.total_ratio,
        "all_drive_wall_seconds": [run.drive_wall_seconds for run in runs],
        "deterministic": len({run.trace_digest for run in runs}) == 1
        and len({run.reconciles for run in runs}) == 1,
        "objects": SIM_OBJECTS,
        "workers": SIM_WORKERS,
        "period_range": [SIM_PERIOD_MIN, SIM_PERIOD_MAX],
    }


# --- report ------------------------------------------------------------------------------------------


def _us(seconds: float) -> str:
    return f"{seconds * 1e6:,.1f}"


def print_report(report: dict[str, Any]) -> None:
    machine = report["machine"]
    params = report["params"]
    print("W-runtime — the reconcile runtime")
    print(
        f"machine: {machine['cpu']}, {machine['cores']} usable cores; {machine['python']}"
        f" ({'PGO/LTO' if machine['python_optimized'] else 'no PGO/LTO'}); loop {machine['event_loop']}"
    )
    print(
        f"params: {params['objects']:,} ConfigMaps, writer yields every {params['yield_every']} writes,"
        f" median of {params['repeat']} run(s){', --quick' if params['quick'] else ''}"
    )
    throughput = report["throughput"]
    store = {phase["phase"]: phase for phase in throughput["store_only"]}
    informer = {phase["phase"]: phase for phase in throughput["store_informer"]}
    print()
    print("1. Reconcile throughput, real time (store write → informer → workqueue → worker → reconcile)")
    header = (
        f"{'phase':<7} {'path':<22} {'seconds':>9} {'keys/s':>10} {'best k/s':>10} {'reconciles':>10}"
        f" {'µs/key':>8} {'−store µs':>9} {'−inf. µs':>9} {'workers used':>13} {'GC s':>6}"
    )
    print(header)
    print("-" * len(header))
    for name in ("create", "update"):
        base, with_informer = store[name], informer[name]
        rows: list[tuple[str, dict[str, Any]]] = [
            ("store writes only", base),
            ("store + informer", with_informer),
        ]
        rows += [
            (f"full, {workers:>2} worker(s)", {p["phase"]: p for p in phases}[name])
            for workers, phases in ((int(w), p) for w, p in throughput["controller"].items())
        ]
        for label, phase in rows:
            objects = phase["objects"]
            full = label.startswith("full")
            over_store = (phase["seconds"] - base["seconds"]) / objects
            over_informer = (phase["seconds"] - with_informer["seconds"]) / objects
            used = f"{phase['workers_used']} ({phase['busiest_worker_share']:.0%} max)" if full else ""
            print(
                f"{name:<7} {label:<22} {phase['seconds']:>9.3f} {fmt_rate(phase['per_second']):>10}"
                f" {fmt_rate(phase['best_per_second']):>10}"
                f" {phase['reconciles'] if full else '':>10} {_us(phase['seconds'] / objects):>8}"
                f" {_us(over_store) if label != 'store writes only' else '':>9}"
                f" {_us(over_informer) if full else '':>9} {used:>13} {phase['gc_seconds']:>6.3f}"
            )
    print()
    print("  keys/s: objects written / seconds from the first write until every key was reconciled")
    print("          with that write in the cache and the controller idle (references: until written,")
    print("          or until the informer cache caught up)")
    print("  best k/s: keys/s of the fastest run (the machine may be shared: the spread is in the JSON)")
    print("  µs/key: wall time per object; −store µs: framework overhead per reconcile over the")
    print("          store-write-only reference; −inf. µs: the part taken by queue, workers and reconcile")
    print("          bookkeeping (over store + informer)")
    print("  workers used: worker tasks that ran at least one reconcile (busiest one's share)")
    print(f"  informer relists during the runs: {throughput['relists']} (0: no watch fell behind)")
    sim = report["simulation"]
    print()
    print(
        f"2. Simulation speed: {sim['objects']} ConfigMaps requeued every"
        f" {sim['period_range'][0]:.0f}–{sim['period_range'][1]:.0f} virtual s,"
        f" one random update per virtual second, {sim['workers']} workers"
    )
    figures = [
        (f"{sim['virtual_seconds']:,.1f}", "virtual seconds driven (one update per virtual second)"),
        (f"{sim['drive_wall_seconds']:.3f}", "wall seconds those virtual seconds took"),
        (f"{sim['ratio']:,.0f}", "virtual seconds per wall second (the drive)"),
        (
            f"{sim['total_wall_seconds']:.3f}",
            "wall seconds of the whole run: new loop, manager start, creates",
        ),
        (f"{sim['total_ratio']:,.0f}", "virtual seconds per wall second (the whole run)"),
        (f"{sim['reconciles']:,}", "reconciles performed during the drive"),
        (f"{sim['reconciles_total']:,}", "reconciles performed in the whole run (the creates' included)"),
        (f"{sim['updates']:,}", "updates written by the driver"),
        (f"{sim['trace_records']:,}", "trace records (writes and reconciles) of the whole run"),
        (str(sim["deterministic"]), "same trace digest and reconcile count in every repeat"),
    ]
    for value, description in figures:
        print(f"  {value:>10}  {description}")
    print()
    print(CONTROLLER_RUNTIME_NOTE)
    print(f"results: {report['json_path']}")


# --- main --------------------------------------------------------------------------------------------


async def benchmark(args: argparse.Namespace) -> dict[str, Any]:
    return {
        "benchmark": "w_runtime",
        "machine": machine_info(),
        "params": {
            "objects": args.objects,
            "workers": args.workers,
            "yield_every": args.yield_every,
            "repeat": args.repeat,
            "seed": args.seed,
            "sim_seconds": args.sim_seconds,
            "quick": args.quick,
        },
        "throughput": await measure_throughput(args),
        "controller_runtime_reference": None,
    }


async def profile(args: argparse.Namespace) -> None:
    """cProfile the 4-worker (or first given count) create phase and print the top functions."""
    objects = build_objects(args.objects)
    workers = 4 if 4 in args.workers else args.workers[0]
    await run_controller(objects[: min(500, len(objects))], workers, args.yield_every)  # warm-up
    plain, _ = await run_controller(objects, workers, args.yield_every)
    profiler = cProfile.Profile()
    profiled, _ = await run_controller(objects, workers, args.yield_every, profiler=profiler)
    print(
        f"create phase, {args.objects:,} ConfigMaps, {workers} workers:"
        f" {plain[0].per_second:,.0f} keys/s unprofiled, {profiled[0].per_second:,.0f} under cProfile"
    )
    for order in ("tottime", "cumulative"):
        out = io.StringIO()
        pstats.Stats(profiler, stream=out).strip_dirs().sort_stats(order).print_stats(args.profile_top)
        print(out.getvalue())
    if args.profile_out:
        profiler.dump_stats(args.profile_out)
        print(f"profile written to {args.profile_out}")


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.w_runtime",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--objects", type=int, default=None, help="ConfigMaps (default 20000)")
    parser.add_argument(
        "--workers",
        type=lambda text: [int(part) for part in text.split(",")],
        default=list(WORKER_COUNTS),
        help="comma-separated worker counts (default 1,4,16)",
    )
    parser.add_argument("--yield-every", type=int, default=100, help="writes between yields")
    parser.add_argument("--repeat", type=int, default=None, help="runs per figure (default 5)")
    parser.add_argument("--seed", type=int, default=1, help="simulation seed")
    parser.add_argument(
        "--sim-seconds", type=int, default=None, help="virtual seconds to drive (default 600)"
    )
    parser.add_argument("--quick", action="store_true", help="a small smoke run (seconds)")
    parser.add_argument("--profile", action="store_true", help="cProfile the 4-worker create phase")
    parser.add_argument("--profile-top", type=int, default=30, help="functions to print per order")
    parser.add_argument("--profile-out", default=None, help="also dump the cProfile stats here")
    args = parser.parse_args(argv)
    args.objects = args.objects or (2000 if args.quick else 20_000)
    args.repeat = args.repeat or (1 if args.quick else 5)
    args.sim_seconds = args.sim_seconds or SIM_SECONDS
    if min(args.objects, args.yield_every, args.repeat, args.sim_seconds, *args.workers) < 1:
        parser.error("--objects, --yield-every, --repeat, --sim-seconds and --workers must be positive")
    args.workers = list(dict.fromkeys(args.workers))
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    if args.profile:
        anyio.run(profile, args, backend="asyncio")
        return 0
    GC_METER.start()
    try:
        report = anyio.run(benchmark, args, backend="asyncio")
    finally:
        GC_METER.stop()
    report["simulation"] = measure_simulation(args)
    report["json_path"] = str(write_json("w_runtime", report))
    print_report(report)
    return 0


if __name__ == "__main__":
    sys.exit(main())
