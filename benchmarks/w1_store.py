"""W1 — the in-memory store: write throughput, watch fan-out, write→event latency and list time.

The workload, run against `store.MemoryStore` and, in the same process, against the naive
reference in `benchmarks.naive_store` (deep copies on write and read, an ``asyncio.Queue`` per
watcher):

1. For each number of watchers (default 0, 1, 10 and 100) a fresh store and that many watcher
   tasks, each doing ``batch = await watch.next_batch()`` in a loop over an unfiltered pod watch,
   counting the events and the latency from the write to the event's arrival.
2. **create** — ``--pods`` typed pods of about 3 KB of JSON each (labels, annotations, two
   containers with env, ports, resources, probes; a toleration; an owner reference; a full status,
   which create resets), spread over ``--namespaces``.
3. ``--rounds`` rounds of, over every pod: **update_status** (the kubelet's view: the full status
   with conditions and container statuses, a restart count bumped each round), then **update** (an
   annotation bumped). Each is ``attrs.evolve`` of the pod the last write returned, written with
   its current ``resourceVersion`` — copy-on-write, no deep copy on setpoint's side.
4. With no watchers, after the writes: the median time to list every pod, one namespace, a label
   selector, and both, with ``list_now`` and ``await list``.

The writer yields to the event loop every ``--yield-every`` writes (``await asyncio.sleep(0)``) so
the watchers can run. A phase's time runs from its first write until every watcher has received its
last event, so writes/s and events/s include the delivery; the writer-only time is in the JSON file.
Latency is taken with ``time.perf_counter``: the writer stores the time just before each write in a
list indexed by the revision the write got, and the watcher subtracts it when the event arrives.

The reference is much slower (two deep copies of a pod per write), so its write runs use
``--naive-pods`` pods — its cost per write does not depend on how many pods it holds — while its
lists are timed on all ``--pods``.
setpoint's figures are the median of ``--repeat`` runs of each configuration (the machine may be
shared); every run checks that each watcher got every event exactly once.

Run ``python -m benchmarks.w1_store`` (``--quick`` for a smoke run of a few seconds, ``--profile``
to profile setpoint's 10-watcher update phases with cProfile instead). Prints a table, writes
``benchmarks/results/w1.json``.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import gc
import io
import json
import math
import pstats
import statistics
import sys
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from time import perf_counter
from typing import Any, Protocol

import attrs

from benchmarks._common import (
    GcMeter,
    fmt_ms,
    fmt_rate,
    fmt_ratio,
    machine_info,
    percentile,
    ratio,
    write_json,
)
from benchmarks.naive_store import NaiveStore
from store import MemoryStore, Scheme
from store.frozen import FrozenDict
from store.interface import ListResult, WatchEvent
from store.models import (
    Container,
    ContainerPort,
    ContainerState,
    ContainerStateRunning,
    ContainerStatus,
    EnvVar,
    HTTPGetAction,
    Namespace,
    ObjectMeta,
    OwnerReference,
    Pod,
    PodCondition,
    PodIP,
    PodSpec,
    PodStatus,
    Probe,
    ResourceRequirements,
    TCPSocketAction,
    Toleration,
)
from store.quantity import Quantity, parse_quantity

ROUND_ANNOTATION = "bench.setpoint.dev/round"
LABEL_SELECTOR = "app=app-3,tier in (frontend,backend)"
TARGET_WRITES_10 = 150_000
TARGET_WRITES_100 = 50_000
TARGET_LIST_SECONDS = 0.005
GC_METER = GcMeter()


# --- the objects ----------------------------------------------------------------------------------


def _resources(**amounts: str) -> FrozenDict[str, Quantity]:
    return FrozenDict({name: parse_quantity(text) for name, text in amounts.items()})


def _server(app: str, index: int) -> Container:
    return Container(
        name="server",
        image=f"ghcr.io/acme/{app}:1.4.{index}",
        command=("/usr/local/bin/server",),
        ports=(ContainerPort(name="http", container_port=8080),),
        env=(
            EnvVar(name="APP_NAME", value=app),
            EnvVar(name="LOG_FORMAT", value="json"),
            EnvVar(name="DATABASE_URL", value=f"postgres://db-{index % 3}.bench:5432/{app}"),
        ),
        resources=ResourceRequirements(
            requests=_resources(cpu="250m", memory="256Mi"),
            limits=_resources(cpu="1", memory="512Mi"),
        ),
        readiness_probe=Probe(http_get=HTTPGetAction(path="/ready", port=8080), period_seconds=5),
        image_pull_policy="IfNotPresent",
    )


def _sidecar(app: str) -> Container:
    return Container(
        name="proxy",
        image="ghcr.io/acme/proxy:2.1.0",
        ports=(ContainerPort(name="proxy", container_port=15001),),
        env=(EnvVar(name="SERVICE", value=app),),
        resources=ResourceRequirements(
            requests=_resources(cpu="50m", memory="64Mi"),
            limits=_resources(cpu="200m", memory="128Mi"),
        ),
        liveness_probe=Probe(tcp_socket=TCPSocketAction(port=15001), initial_delay_seconds=10),
        image_pull_policy="IfNotPresent",
    )


def _spec(app: str, index: int) -> PodSpec:
    return PodSpec(
        containers=(_server(app, index), _sidecar(app)),
        tolerations=(Toleration(key="dedicated", operator="Equal", value="bench", effect="NoSchedule"),),
        service_account_name=app,
        termination_grace_period_seconds=30,
    )


def _status(image: str, pod_ip: str, started: datetime, restarts: int) -> PodStatus:
    def condition(type_: str) -> PodCondition:
        return PodCondition(type=type_, status="True", last_transition_time=started)

    def container_status(name: str, image: str, index: int) -> ContainerStatus:
        return ContainerStatus(
            name=name,
            ready=True,
            started=True,
            restart_count=restarts,
            image=image,
            image_id=f"{image.partition(':')[0]}@sha256:{'a1b2c3d4' * 8}",
            container_id=f"containerd://{f'{index:08x}' * 8}",
            state=ContainerState(running=ContainerStateRunning(started_at=started)),
        )

    return PodStatus(
        phase="Running",
        conditions=tuple(condition(t) for t in ("Initialized", "Ready", "ContainersReady", "PodScheduled")),
        host_ip="10.0.3.17",
        pod_ip=pod_ip,
        pod_ips=(PodIP(ip=pod_ip),),
        start_time=started,
        container_statuses=(
            container_status("server", image, 0),
            container_status("proxy", "ghcr.io/acme/proxy:2.1.0", 1),
        ),
        qos_class="Burstable",
    )


@dataclass(frozen=True)
class Workload:
    """The pods to create and the values the update rounds write, built before any timing."""

    namespaces: tuple[str, ...]
    pods: tuple[Pod, ...]
    #: statuses[round][pod]: the status each update_status round writes.
    statuses: tuple[tuple[PodStatus, ...], ...]
    #: annotations[round]: the annotations each update round writes (shared by every pod).
    annotations: tuple[FrozenDict[str, str], ...]
    pod_bytes: int

    def head(self, count: int) -> Workload:
        """The same workload on the first ``count`` pods."""
        return Workload(
            self.namespaces,
            self.pods[:count],
            tuple(statuses[:count] for statuses in self.statuses),
            self.annotations,
            self.pod_bytes,
        )


def build_workload(pods: int, namespaces: int, rounds: int) -> Workload:
    started = datetime(2026, 1, 1, 12, 0, 0, tzinfo=UTC)
    names = tuple(f"bench-{n}" for n in range(namespaces))
    specs = {app: _spec(f"app-{app}", app) for app in range(10)}
    base_annotations: FrozenDict[str, str] = FrozenDict(
        {
            "kubectl.kubernetes.io/restartedAt": "2026-01-01T11:58:00Z",
            "prometheus.io/scrape": "true",
            ROUND_ANNOTATION: "0",
        }
    )
    annotations = tuple(FrozenDict({**base_annotations, ROUND_ANNOTATION: str(r + 1)}) for r in range(rounds))
    objects = []
    base_statuses = []
    for i in range(pods):
        app = (i // namespaces) % 10
        pod_ip = f"10.{(i >> 16) & 255}.{(i >> 8) & 255}.{i & 255}"
        image = specs[app].containers[0].image
        status = _status(image, pod_ip, started + timedelta(seconds=i % 600), 0)
        base_statuses.append(status)
        objects.append(
            Pod(
                metadata=ObjectMeta(
                    name=f"app-{app}-7c9d8f6b5-{i:06d}",
                    namespace=names[i % namespaces],
                    labels=FrozenDict(
                        {
                            "app": f"app-{app}",
                            "tier": "frontend" if i % 2 else "backend",
                            "pod-template-hash": "7c9d8f6b5",
                            "app.kubernetes.io/part-of": "setpoint-bench",
                        }
                    ),
                    annotations=base_annotations,
                    owner_references=(
                        OwnerReference(
                            api_version="apps/v1",
                            kind="ReplicaSet",
                            name=f"app-{app}-7c9d8f6b5",
                            uid=f"00000000-0000-4000-8000-{app:012d}",
                            controller=True,
                            block_owner_deletion=True,
                        ),
                    ),
                ),
                spec=specs[app],
                status=status,
            )
        )
    statuses = tuple(
        tuple(
            attrs.evolve(
                status,
                container_statuses=tuple(
                    attrs.evolve(cs, restart_count=r + 1) for cs in status.container_statuses
                ),
            )
            for status in base_statuses
        )
        for r in range(rounds)
    )
    pod_bytes = len(json.dumps(Scheme().to_dict(objects[0]), default=str)) if objects else 0
    return Workload(names, tuple(objects), statuses, annotations, pod_bytes)


# --- the stores, as the workload sees them -------------------------------------------------------


class BenchWatch(Protocol):
    async def next_batch(self) -> Sequence[WatchEvent[Any]]: ...

    def close(self) -> None: ...


class BenchStore(Protocol):
    @property
    def revision(self) -> int: ...

    async def create(self, obj: Pod) -> Pod: ...

    async def update(self, obj: Pod) -> Pod: ...

    async def update_status(self, obj: Pod) -> Pod: ...

    def list_now(
        self, kind: type[Pod], *, namespace: str | None = ..., label_selector: str | None = ...
    ) -> ListResult[Pod]: ...

    async def list(
        self, kind: type[Pod], *, namespace: str | None = ..., label_selector: str | None = ...
    ) -> ListResult[Pod]: ...

    def watch(self, kind: type[Pod]) -> BenchWatch: ...


async def make_setpoint(workload: Workload) -> BenchStore:
    store = MemoryStore(seed=1)
    for name in workload.namespaces:
        await store.create(Namespace(metadata=ObjectMeta(name=name)))
    return store


async def make_naive(workload: Workload) -> BenchStore:
    return NaiveStore()


STORES: dict[str, Callable[[Workload], Awaitable[BenchStore]]] = {
    "setpoint": make_setpoint,
    "naive": make_naive,
}


# --- watchers and phases -------------------------------------------------------------------------


class Watcher:
    """One task reading an unfiltered pod watch: counts events and their write→event latency."""

    def __init__(self, watch: BenchWatch, write_times: list[float]) -> None:
        self.watch = watch
        self.write_times = write_times
        self.events = 0
        self.revision = 0
        self.latencies: list[float] = []
        self.error: BaseException | None = None

    async def run(self) -> None:
        times = self.write_times
        try:
            while True:
                batch = await self.watch.next_batch()
                now = perf_counter()
                self.latencies.extend([now - times[event.revision] for event in batch])
                self.events += len(batch)
                self.revision = batch[-1].revision
        except Exception as exc:  # e.g. Gone: the phase must fail, not wait forever
            self.error = exc

    def take(self) -> tuple[int, list[float]]:
        """The events and latencies since the last call."""
        events, latencies = self.events, self.latencies
        self.events, self.latencies = 0, []
        return events, latencies


@dataclass
class PhaseResult:
    phase: str
    writes: int
    seconds: float
    writer_seconds: float
    events: int
    latency_p50: float = math.nan
    latency_p99: float = math.nan
    latency_max: float = math.nan
    gc_seconds: float = 0.0
    gc_collections: list[int] = field(default_factory=list)

    @property
    def writes_per_second(self) -> float:
        return self.writes / self.seconds if self.seconds else math.nan

    @property
    def events_per_second(self) -> float:
        return self.events / self.seconds if self.seconds and self.events else math.nan


@dataclass
class RunResult:
    store: str
    watchers: int
    phases: list[PhaseResult] = field(default_factory=list)
    latencies: list[float] = field(default_factory=list, repr=False)

    def _sum(self, prefix: str) -> tuple[int, float, int]:
        phases = [p for p in self.phases if p.phase.startswith(prefix)]
        return (
            sum(p.writes for p in phases),
            sum(p.seconds for p in phases),
            sum(p.events for p in phases),
        )

    def rate(self, prefix: str) -> float:
        writes, seconds, _ = self._sum(prefix)
        return writes / seconds if seconds else math.nan

    def events_per_second(self) -> float:
        _, seconds, events = self._sum("")
        return events / seconds if seconds and events else math.nan

    def summary(self) -> dict[str, float]:
        return {
            "create_per_s": self.rate("create"),
            "update_per_s": self.rate("update#"),
            "update_status_per_s": self.rate("update_status"),
            "writes_per_s": self.rate(""),
            "events_per_s": self.events_per_second(),
            "latency_p50_s": percentile(self.latencies, 0.50),
            "latency_p99_s": percentile(self.latencies, 0.99),
            "gc_share": self.gc_share(),
        }

    def gc_share(self) -> float:
        """The fraction of the write phases' time the cyclic collector paused the program."""
        seconds = sum(p.seconds for p in self.phases)
        return sum(p.gc_seconds for p in self.phases) / seconds if seconds else math.nan


WriteStep = Callable[[BenchStore, int], Awaitable[Pod]]


async def run_phase(
    name: str,
    store: BenchStore,
    *,
    watchers: Sequence[Watcher],
    count: int,
    step: WriteStep,
    yield_every: int,
    profiler: cProfile.Profile | None = None,
) -> tuple[PhaseResult, list[float]]:
    """Run ``step(store, i)`` for every i, yielding every ``yield_every``, until delivered.

    With ``profiler``, profiles the timed part only (the writes and the delivery, not the setup).
    """
    gc.collect()
    await asyncio.sleep(0)
    GC_METER.take()
    if profiler is not None:
        profiler.enable()
    start = perf_counter()
    countdown = yield_every
    for i in range(count):
        await step(store, i)
        countdown -= 1
        if not countdown:
            countdown = yield_every
            await asyncio.sleep(0)
    writer_done = perf_counter()
    target = store.revision
    while any(w.revision < target for w in watchers):
        failed = [w.error for w in watchers if w.error is not None]
        if failed:
            raise RuntimeError(f"a watcher failed during {name}: {failed[0]!r}") from failed[0]
        await asyncio.sleep(0)
    end = perf_counter()
    if profiler is not None:
        profiler.disable()
    collected = GC_METER.take()
    events = 0
    latencies: list[float] = []
    for watcher in watchers:
        got, lat = watcher.take()
        events += got
        latencies.extend(lat)
    if events != count * len(watchers):  # every watcher sees every write exactly once
        raise RuntimeError(f"{name}: {events} events delivered, expected {count * len(watchers)}")
    result = PhaseResult(
        phase=name,
        writes=count,
        seconds=end - start,
        writer_seconds=writer_done - start,
        events=events,
        latency_p50=percentile(latencies, 0.50),
        latency_p99=percentile(latencies, 0.99),
        latency_max=max(latencies, default=math.nan),
        gc_seconds=collected["seconds"],
        gc_collections=collected["collections_by_generation"],
    )
    return result, latencies


async def run_writes(
    store_name: str,
    workload: Workload,
    watcher_count: int,
    yield_every: int,
    *,
    profiler: cProfile.Profile | None = None,
    profile_phases: str = "update",
) -> tuple[RunResult, BenchStore]:
    """Create every pod and run the update rounds against a fresh store with ``watcher_count``."""
    store = await STORES[store_name](workload)
    rounds = len(workload.annotations)
    n = len(workload.pods)
    write_times = [0.0] * (store.revision + n * (1 + 2 * rounds) + 16)
    watches = [store.watch(Pod) for _ in range(watcher_count)]
    watchers = [Watcher(w, write_times) for w in watches]
    tasks = [asyncio.create_task(w.run()) for w in watchers]
    current: list[Pod] = list(workload.pods)
    run = RunResult(store_name, watcher_count)

    async def create(s: BenchStore, i: int) -> Pod:
        obj = current[i]
        t = perf_counter()
        current[i] = obj = await s.create(obj)
        write_times[s.revision] = t
        return obj

    def status_step(statuses: Sequence[PodStatus]) -> WriteStep:
        async def update_status(s: BenchStore, i: int) -> Pod:
            new = attrs.evolve(current[i], status=statuses[i])
            t = perf_counter()
            current[i] = obj = await s.update_status(new)
            write_times[s.revision] = t
            return obj

        return update_status

    def update_step(annotations: FrozenDict[str, str]) -> WriteStep:
        async def update(s: BenchStore, i: int) -> Pod:
            pod = current[i]
            new = attrs.evolve(pod, metadata=attrs.evolve(pod.metadata, annotations=annotations))
            t = perf_counter()
            current[i] = obj = await s.update(new)
            write_times[s.revision] = t
            return obj

        return update

    plan: list[tuple[str, WriteStep]] = [("create", create)]
    for r in range(rounds):
        plan.append((f"update_status#{r + 1}", status_step(workload.statuses[r])))
        plan.append((f"update#{r + 1}", update_step(workload.annotations[r])))
    try:
        for name, step in plan:
            phase, latencies = await run_phase(
                name,
                store,
                watchers=watchers,
                count=n,
                step=step,
                yield_every=yield_every,
                profiler=profiler if name.startswith(profile_phases) else None,
            )
            run.phases.append(phase)
            run.latencies.extend(latencies)
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        for watch in watches:
            watch.close()
    return run, store


async def measure_lists(
    store: BenchStore, namespace: str, repeat: int
) -> tuple[dict[str, float], dict[str, int]]:
    """Median seconds of each list variant over ``repeat`` runs, and how many items it returned."""
    variants: dict[str, dict[str, Any]] = {
        "all": {},
        "namespace": {"namespace": namespace},
        "label": {"label_selector": LABEL_SELECTOR},
        "namespace+label": {"namespace": namespace, "label_selector": LABEL_SELECTOR},
    }
    times: dict[str, float] = {}
    sizes: dict[str, int] = {}
    gc.collect()
    for name, kwargs in variants.items():
        samples = []
        for _ in range(repeat):
            start = perf_counter()
            result = store.list_now(Pod, **kwargs)
            samples.append(perf_counter() - start)
        times[f"list_now {name}"] = statistics.median(samples)
        sizes[f"list_now {name}"] = len(result.items)
        if name == "all":
            samples = []
            for _ in range(repeat):
                start = perf_counter()
                result = await store.list(Pod, **kwargs)
                samples.append(perf_counter() - start)
            times[f"await list {name}"] = statistics.median(samples)
            sizes[f"await list {name}"] = len(result.items)
    return times, sizes


# --- output ---------------------------------------------------------------------------------------


def _verdict(ok: bool) -> str:
    return "[green]met[/]" if ok else "[red]NOT met[/]"


def print_report(report: dict[str, Any]) -> None:
    from rich import box
    from rich.console import Console
    from rich.table import Table

    console = Console(width=140)
    machine = report["machine"]
    params = report["params"]
    console.print(
        f"[bold]W1 — MemoryStore[/]  {machine['cpu']}, {machine['cores']} cores,"
        f" {machine['python']}"
        f" ({'PGO/LTO' if machine['python_optimized'] else 'no PGO/LTO'}),"
        f" loop {machine['event_loop']}, gc {machine['gc_thresholds']}"
    )
    console.print(
        f"pods {params['pods']:,} (naive {params['naive_pods']:,}) × {report['pod_bytes']:,} B"
        f" JSON in {params['namespaces']}"
        f" namespaces, {params['rounds']} round(s) of update_status + update,"
        f" yield every {params['yield_every']} writes, setpoint figures median of"
        f" {params['repeat']} runs, list median of {params['list_runs']}"
        f" (naive {params['naive_list_runs']});"
        " reference: naive deep-copy store + a queue per watcher"
    )

    table = Table(box=box.SIMPLE_HEAD, title="writes and watch fan-out", title_justify="left")
    for header in ("watchers", "store", "create/s", "update/s", "update_status/s", "all writes/s"):
        table.add_column(header, justify="right")
    for header in ("events/s", "p50 ms", "p99 ms", "gc %"):
        table.add_column(header, justify="right")
    keys = ("create_per_s", "update_per_s", "update_status_per_s", "writes_per_s", "events_per_s")
    for watchers in params["watchers"]:
        ours = report["summary"]["setpoint"][str(watchers)]
        theirs = report["summary"].get("naive", {}).get(str(watchers))
        for name, row in (("setpoint", ours), ("naive", theirs)):
            if row is None:
                continue
            table.add_row(
                str(watchers) if name == "setpoint" else "",
                name,
                *(fmt_rate(row[k]) for k in keys),
                fmt_ms(row["latency_p50_s"]),
                fmt_ms(row["latency_p99_s"]),
                f"{row['gc_share'] * 100:.0f}",
            )
        if theirs is not None:
            table.add_row(
                "",
                "[dim]setpoint/naive[/]",
                *(f"[dim]{fmt_ratio(ratio(ours[k], theirs[k]))}[/]" for k in keys),
                *(
                    f"[dim]{fmt_ratio(ratio(ours[k], theirs[k]))}[/]"
                    for k in ("latency_p50_s", "latency_p99_s")
                ),
                "",
                end_section=True,
            )
    console.print(table)

    lists = Table(
        box=box.SIMPLE_HEAD,
        title=f"list {params['pods']:,} pods (no watchers; median)",
        title_justify="left",
    )
    for header in ("list", "items", "setpoint ms", "naive ms", "setpoint/naive"):
        lists.add_column(header, justify="right")
    for name, seconds in report["lists"]["setpoint"].items():
        theirs = report["lists"].get("naive", {}).get(name, math.nan)
        lists.add_row(
            name,
            f"{report['list_sizes'][name]:,}",
            fmt_ms(seconds),
            fmt_ms(theirs),
            fmt_ratio(ratio(seconds, theirs)),
        )
    console.print(lists)

    targets = Table(box=box.SIMPLE_HEAD, title="targets", title_justify="left")
    for header in ("target", "measured", "verdict"):
        targets.add_column(header)
    for row in report["targets"]:
        targets.add_row(row["target"], row["measured"], _verdict(row["met"]))
    console.print(targets)
    console.print(f"JSON: {report['json_path']}")


def evaluate_targets(report: dict[str, Any]) -> list[dict[str, Any]]:
    rows = []
    summary = report["summary"]["setpoint"]
    for watchers, goal in ((10, TARGET_WRITES_10), (100, TARGET_WRITES_100)):
        row = summary.get(str(watchers))
        if row is None:
            continue
        worst = min(row["create_per_s"], row["update_per_s"], row["update_status_per_s"])
        rows.append(
            {
                "target": f"≥ {goal:,} writes/s with {watchers} watchers (every write kind)",
                "measured": f"{fmt_rate(row['writes_per_s'])} all; slowest kind {fmt_rate(worst)}",
                "met": worst >= goal,
            }
        )
    for name in ("list_now all", "await list all", "list_now label"):
        seconds = report["lists"]["setpoint"].get(name, math.nan)
        rows.append(
            {
                "target": f"{name} of {report['params']['pods']:,} pods ≤ 5 ms"
                + (" (label selector over all)" if "label" in name else ""),
                "measured": f"{fmt_ms(seconds)} ms",
                "met": seconds <= TARGET_LIST_SECONDS,
            }
        )
    return rows


# --- main -----------------------------------------------------------------------------------------


def median_summary(summaries: Sequence[dict[str, float]]) -> dict[str, float]:
    """Each figure's median over repeated runs (NaN figures stay NaN)."""
    return {key: statistics.median([s[key] for s in summaries]) for key in summaries[0]}


async def benchmark(args: argparse.Namespace) -> dict[str, Any]:
    workload = build_workload(args.pods, args.namespaces, args.rounds)
    stores = ["setpoint"] if args.no_naive else ["setpoint", "naive"]
    workloads = {"setpoint": workload, "naive": workload.head(args.naive_pods)}
    # Warm up both stores' code paths (first-call costs, caches) before anything is timed.
    for name in stores:
        await run_writes(name, workload.head(min(200, args.pods)), 1, args.yield_every)
    summary: dict[str, dict[str, dict[str, float]]] = {name: {} for name in stores}
    phases: dict[str, dict[str, list[list[dict[str, Any]]]]] = {name: {} for name in stores}
    lists: dict[str, dict[str, float]] = {}
    list_sizes: dict[str, int] = {}
    for watchers in args.watchers:
        for name in stores:
            summaries = []
            phases[name][str(watchers)] = []
            runs = args.repeat if name == "setpoint" else 1
            for attempt in range(runs):
                run, store = await run_writes(name, workloads[name], watchers, args.yield_every)
                summaries.append(run.summary())
                phases[name][str(watchers)].append(
                    [{**asdict(p), "writes_per_s": p.writes_per_second} for p in run.phases]
                )
                if attempt < runs - 1:  # keep the last store for the lists
                    del store, run
                    gc.collect()
            summary[name][str(watchers)] = median_summary(summaries)
            if watchers == args.watchers[0]:
                # Lists always see every pod: a reference run on fewer pods is topped up first.
                for pod in workload.pods[len(workloads[name].pods) :]:
                    await store.create(pod)
                repeat = args.list_runs if name == "setpoint" else args.naive_list_runs
                lists[name], sizes = await measure_lists(store, workload.namespaces[0], repeat)
                list_sizes.update(sizes)
            del store, run
            gc.collect()
    report: dict[str, Any] = {
        "benchmark": "w1_store",
        "machine": machine_info(),
        "params": {
            "pods": args.pods,
            "naive_pods": args.naive_pods,
            "namespaces": args.namespaces,
            "rounds": args.rounds,
            "watchers": args.watchers,
            "yield_every": args.yield_every,
            "list_runs": args.list_runs,
            "naive_list_runs": args.naive_list_runs,
            "label_selector": LABEL_SELECTOR,
            "quick": args.quick,
            "repeat": args.repeat,
        },
        "pod_bytes": workload.pod_bytes,
        "summary": summary,
        "phases": phases,
        "lists": lists,
        "list_sizes": list_sizes,
    }
    report["targets"] = evaluate_targets(report)
    return report


async def profile(args: argparse.Namespace) -> None:
    """cProfile setpoint's update phases with 10 watchers (or the first count given) and print."""
    workload = build_workload(args.pods, args.namespaces, args.rounds)
    watchers = 10 if 10 in args.watchers else args.watchers[0]
    profiler = cProfile.Profile()
    run, _ = await run_writes(
        "setpoint",
        workload,
        watchers,
        args.yield_every,
        profiler=profiler,
        profile_phases=args.profile_phases,
    )
    print(f"cProfile of the {args.profile_phases!r} phases with {watchers} watchers:")
    for phase in run.phases:
        profiled = phase.phase.startswith(args.profile_phases)
        print(
            f"{phase.phase:>18}: {phase.writes_per_second:>10,.0f} writes/s"
            f" {'(under cProfile)' if profiled else ''}"
        )
    for order in ("tottime", "cumulative"):
        out = io.StringIO()
        pstats.Stats(profiler, stream=out).strip_dirs().sort_stats(order).print_stats(30)
        print(out.getvalue())
    if args.profile_out:
        profiler.dump_stats(args.profile_out)
        print(f"profile written to {args.profile_out}")


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.w1_store",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--pods", type=int, default=None, help="pods to create (default 5000)")
    parser.add_argument(
        "--naive-pods",
        type=int,
        default=None,
        help="pods in the reference's write runs (default 500: its per-write cost does not"
        " depend on the count, and it is 20-40× slower); its lists still see --pods pods",
    )
    parser.add_argument("--namespaces", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=None, help="update rounds (default 2)")
    parser.add_argument(
        "--watchers",
        type=lambda text: [int(part) for part in text.split(",")],
        default=[0, 1, 10, 100],
        help="comma-separated watcher counts (default 0,1,10,100)",
    )
    parser.add_argument("--yield-every", type=int, default=100, help="writes between yields")
    parser.add_argument("--list-runs", type=int, default=None, help="list repetitions (default 15)")
    parser.add_argument("--naive-list-runs", type=int, default=None, help="(default 1)")
    parser.add_argument(
        "--repeat",
        type=int,
        default=None,
        help="runs of each setpoint configuration; each figure is the median (default 3)",
    )
    parser.add_argument("--no-naive", action="store_true", help="skip the naive reference")
    parser.add_argument("--quick", action="store_true", help="a small smoke run (seconds)")
    parser.add_argument("--profile", action="store_true", help="cProfile setpoint's 10-watcher update phases")
    parser.add_argument(
        "--profile-phases",
        default="update",
        help="profile the phases whose name starts with this (update, update_status, create)",
    )
    parser.add_argument("--profile-out", default=None, help="also dump the cProfile stats here")
    args = parser.parse_args(argv)
    quick = args.quick
    args.pods = args.pods or (500 if quick else 5000)
    args.naive_pods = min(args.pods, args.naive_pods or (100 if quick else 500))
    args.rounds = args.rounds or (1 if quick else 2)
    args.repeat = args.repeat or (1 if quick else 3)
    args.list_runs = args.list_runs or (5 if quick else 15)
    args.naive_list_runs = args.naive_list_runs or 1
    counts = (args.pods, args.naive_pods, args.rounds, args.yield_every, args.repeat)
    if min(counts) < 1 or min(args.watchers) < 0:
        parser.error("--pods, --rounds and --yield-every must be positive, --watchers ≥ 0")
    args.namespaces = max(1, min(args.namespaces, args.pods))
    args.watchers = list(dict.fromkeys(args.watchers))
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    if args.profile:
        asyncio.run(profile(args))
        return 0
    GC_METER.start()
    try:
        report = asyncio.run(benchmark(args))
    finally:
        GC_METER.stop()
    report["json_path"] = str(write_json("w1", report))
    print_report(report)
    return 0


if __name__ == "__main__":
    sys.exit(main())
