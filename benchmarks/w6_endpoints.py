"""W6 — Endpoints under readiness churn: 10,000 Services, pod readiness flipped 1,000 times a second.

On real time (`reconcile.RealClock`), so the latency is wall time as a client would see it: an in-memory
store, a `Manager` and the `EndpointsController`, nothing else (no scheduler or kubelet: the pods are
created bound, Running, with an IP, and the benchmark itself plays the kubelet's status writes).

1. **setup** (timed apart): 10,000 Services ``svc-i`` in one namespace, each selecting its 3 pods
   (``app: svc-i``; 30,000 pods, all Ready), then the controller starts and writes the 10,000 Endpoints.
2. **flips** (the figure): a driver flips the Ready condition of a pod chosen at random (seeded; never
   one whose previous flip is not yet seen) at ``--rate`` per second of wall time for ``--seconds``,
   writing the pod's status as the kubelet would. A watch on Endpoints, from the revision before the
   first flip, notes when each flip is reflected: the pod's address moved to ``addresses`` (ready) or
   ``notReadyAddresses`` (not ready) in its Service's Endpoints. Latency = that moment − the moment just
   before the status write (``time.perf_counter``).

Reported: p50 / p99 / max latency, flips per second achieved (the driver sleeps to keep the rate and
never catches up a backlog faster), flips never seen, store writes.

In-run reference: the same workload with a **naive** controller — the same code, but a pod's Services and
a Service's pods are found by listing the whole namespace (what `EndpointsController` did before its
label and selector indexes), switched on after the same indexed setup; it runs for ``--naive-seconds``.

Upstream anchors, quoted, not measured: kube-controller-manager's ``--endpoint-updates-batch-period``
defaults to 0 (each pod change syncs its Services at once, as here); the EndpointSlice controller waits
at least 1 s (``endpointSliceChangeMinSyncDelay``) before re-syncing a Service on EndpointSlice changes;
and the SIG-scalability SLO for in-cluster network programming latency (pod change → programmed on
every node, kube-proxy included) is p99 ≤ 30 s. None of them is the same measurement as this one.

Run ``python -m benchmarks.w6_endpoints`` (``--quick``: 1,000 Services, 1 s of flips, 0.2 s naive;
``--loop uvloop`` to run on uvloop). Writes ``benchmarks/results/w6.json``.
"""

from __future__ import annotations

import argparse
import gc
import logging
import random
import sys
from collections.abc import Mapping, Sequence
from time import perf_counter
from typing import Any

import anyio
import attrs
import structlog

from benchmarks._common import GcMeter, headline, machine_info, percentile, write_json
from controllers.endpoints import EndpointsController, selects
from reconcile import Manager, RealClock, Request
from reconcile.randomness import Entropy
from store import FrozenDict, MemoryStore
from store.interface import EventType
from store.models import (
    Container,
    ContainerPort,
    Endpoints,
    ObjectMeta,
    Pod,
    PodCondition,
    PodIP,
    PodSpec,
    PodStatus,
    Service,
    ServicePort,
    ServiceSpec,
)

NAMESPACE = "default"
TARGET_P99_SECONDS = 0.010
SLO_NETWORK_PROGRAMMING_P99_SECONDS = 30.0
#: Python's young-generation thresholds, with full collections held off while latency is measured: the
#: setup heap is frozen (gc.freeze) and a full collection of what the flips add would pause every flip
#: in flight for hundreds of milliseconds (measured: one 0.67 s pause with the default 10).
GC_THRESHOLD = (700, 10, 10_000)
ENDPOINTSLICE_MIN_SYNC_DELAY_SECONDS = 1.0


class NaiveEndpointsController(EndpointsController):
    """The same controller with the namespace scans it had before its indexes (once ``naive`` is set)."""

    naive = False

    def services_for(self, namespace: str, labels: Mapping[str, str]) -> list[Request]:
        if not self.naive:
            return super().services_for(namespace, labels)
        return [
            Request(namespace, service.metadata.name)
            for service in self._services.list(namespace=namespace)
            if selects(service, labels)
        ]

    def pods_for(self, service: Service) -> list[Pod]:
        if not self.naive:
            return super().pods_for(service)
        return [
            pod
            for pod in self._pods.list(namespace=service.metadata.namespace)
            if selects(service, pod.metadata.labels)
        ]


def ready_conditions(ready: bool) -> tuple[PodCondition, ...]:
    status = "True" if ready else "False"
    return (
        PodCondition(type="Initialized", status="True"),
        PodCondition(type="Ready", status=status),
        PodCondition(type="ContainersReady", status=status),
        PodCondition(type="PodScheduled", status="True"),
    )


def make_pod(service: int, replica: int) -> Pod:
    index = service * 3 + replica
    ip = f"10.{(index >> 16) & 255}.{(index >> 8) & 255}.{index & 255}"
    return Pod(
        metadata=ObjectMeta(
            name=f"svc-{service}-{replica}", namespace=NAMESPACE, labels=FrozenDict({"app": f"svc-{service}"})
        ),
        spec=PodSpec(
            containers=(Container(name="app", image="app:v1", ports=(ContainerPort(container_port=8080),)),),
            node_name=f"node-{index % 100}",
        ),
        status=PodStatus(
            phase="Running", pod_ip=ip, pod_ips=(PodIP(ip=ip),), conditions=ready_conditions(True)
        ),
    )


def make_service(index: int) -> Service:
    return Service(
        metadata=ObjectMeta(name=f"svc-{index}", namespace=NAMESPACE),
        spec=ServiceSpec(
            selector=FrozenDict({"app": f"svc-{index}"}),
            ports=(ServicePort(port=80, target_port=8080),),
        ),
    )


async def run(args: argparse.Namespace, *, naive: bool) -> dict[str, Any]:
    """Set up, flip, and return the figures of one controller variant."""
    clock = RealClock()
    entropy = Entropy(args.seed)
    store = MemoryStore(clock=clock, rng=entropy.stream("store"), history=200_000)
    manager = Manager(store, clock=clock, entropy=entropy)
    controller = NaiveEndpointsController(manager)
    manager.add(controller)
    setup_started = perf_counter()
    pods: dict[str, Pod] = {}
    for index in range(args.services):
        await store.create(make_service(index))
        for replica in range(args.pods_per_service):
            pod = await store.create(make_pod(index, replica))
            pod = await store.update_status(attrs.evolve(pod, status=make_pod(index, replica).status))
            pods[pod.metadata.name] = pod
    rng = random.Random(args.seed)
    seconds = args.naive_seconds if naive else args.seconds
    meter = GcMeter()
    async with anyio.create_task_group() as tg:
        await tg.start(manager.run)
        while len((await store.list(Endpoints, namespace=NAMESPACE)).items) < args.services:
            await anyio.sleep(0.05)
        while not manager.idle:
            await anyio.sleep(0.05)
        setup_wall = perf_counter() - setup_started
        controller.naive = naive
        gc.collect()
        gc.freeze()
        thresholds = gc.get_threshold()
        gc.set_threshold(*args.gc_threshold)
        revision = store.revision
        pending: dict[str, tuple[float, bool, str]] = {}  # pod -> (written at, ready, ip)
        latencies: list[float] = []
        watching = anyio.Event()

        async def watch() -> None:
            async with store.watch(Endpoints, namespace=NAMESPACE, since=revision) as events:
                watching.set()
                async for event in events:
                    endpoints = event.object
                    if event.type is not EventType.MODIFIED or endpoints is None:
                        continue
                    now = perf_counter()
                    ready = {a.ip for s in endpoints.subsets for a in s.addresses}
                    not_ready = {a.ip for s in endpoints.subsets for a in s.not_ready_addresses}
                    service = endpoints.metadata.name
                    for replica in range(args.pods_per_service):
                        name = f"{service}-{replica}"
                        flip = pending.get(name)
                        if flip is not None and flip[2] in (ready if flip[1] else not_ready):
                            latencies.append(now - flip[0])
                            del pending[name]

        tg.start_soon(watch)
        await watching.wait()
        meter.start()
        names = list(pods)
        flips = int(seconds * args.rate)
        started = perf_counter()
        for count in range(flips):
            due = started + count / args.rate
            delay = due - perf_counter()
            if delay > 0:
                await anyio.sleep(delay)
            name = rng.choice(names)
            while name in pending:
                name = rng.choice(names)
            pod = pods[name]
            ready = pod.status.condition("Ready").status != "True"  # type: ignore[union-attr]
            pending[name] = (perf_counter(), ready, pod.status.pod_ip)
            pods[name] = await store.update_status(
                attrs.evolve(pod, status=attrs.evolve(pod.status, conditions=ready_conditions(ready)))
            )
        flipping = perf_counter() - started
        deadline = perf_counter() + args.drain_timeout
        while pending and perf_counter() < deadline:
            await anyio.sleep(0.01)
        drained = perf_counter() - started
        meter.stop()
        gc.set_threshold(*thresholds)
        tg.cancel_scope.cancel()
    gc.unfreeze()
    return {
        "variant": "naive full-namespace scans" if naive else "indexed",
        "setup_wall_seconds": setup_wall,
        "flips": flips,
        "flip_seconds": flipping,
        "flips_per_second": flips / flipping,
        "drained_seconds": drained,
        "unseen": len(pending),
        "p50_seconds": percentile(latencies, 0.50),
        "p99_seconds": percentile(latencies, 0.99),
        "max_seconds": max(latencies, default=float("nan")),
        "mean_seconds": sum(latencies) / len(latencies) if latencies else float("nan"),
        "store_writes": store.revision - revision,
        "gc": meter.take(),
    }


def headlines(result: dict[str, Any]) -> list[dict[str, Any]]:
    indexed, naive = result["indexed"], result["naive"]
    label = "same flips, namespace scans instead of indexes (same run)"
    slo = (
        "SLO: network programming latency p99 ≤ 30 s (pod change → every node's proxy; not the same"
        " measurement); upstream --endpoint-updates-batch-period defaults to 0"
    )

    def base(key: str, scale: float = 1e3) -> dict[str, Any] | None:
        return None if naive is None else {"value": naive[key] * scale, "label": label}

    return [
        headline(
            "pod ready → Endpoints, p99",
            indexed["p99_seconds"] * 1e3,
            "ms",
            better="lower",
            target="≤ 10 ms",
            reference={"value": SLO_NETWORK_PROGRAMMING_P99_SECONDS * 1e3, "unit": "ms", "label": slo},
            baseline=base("p99_seconds"),
        ),
        headline(
            "pod ready → Endpoints, p50",
            indexed["p50_seconds"] * 1e3,
            "ms",
            better="lower",
            baseline=base("p50_seconds"),
        ),
        headline(
            "readiness flips achieved",
            indexed["flips_per_second"],
            "flips/s",
            better="higher",
            target=f"{result['params']['rate']:,.0f}/s",
            baseline=base("flips_per_second", 1.0),
        ),
    ]


def print_report(result: dict[str, Any]) -> None:
    machine, params = result["machine"], result["params"]
    print(
        f"W6 — {params['services']:,} Services × {params['pods_per_service']} pods, readiness flips at"
        f" {params['rate']:,.0f}/s on real time ({machine['event_loop']})"
    )
    print(f"machine: {machine['cpu']}, {machine['cores']} usable cores; {machine['python']}")
    header = (
        f"  {'controller':<28} {'flips':>7} {'flips/s':>8} {'p50 ms':>9} {'p99 ms':>9} {'max ms':>9}"
        f" {'unseen':>7}"
    )
    print(header)
    for entry in (result["indexed"], result["naive"]):
        if entry is None:
            continue
        print(
            f"  {entry['variant']:<28} {entry['flips']:>7,} {entry['flips_per_second']:>8,.0f}"
            f" {entry['p50_seconds'] * 1e3:>9.3f} {entry['p99_seconds'] * 1e3:>9.3f}"
            f" {entry['max_seconds'] * 1e3:>9.1f} {entry['unseen']:>7,}"
        )
    print(f"  target: p99 ≤ {TARGET_P99_SECONDS * 1e3:.0f} ms at 1,000 flips/s")
    print(
        "  upstream (quoted, not measured): --endpoint-updates-batch-period default 0 s; EndpointSlice"
        f" min sync delay {ENDPOINTSLICE_MIN_SYNC_DELAY_SECONDS:.0f} s; network programming latency SLO"
        f" p99 ≤ {SLO_NETWORK_PROGRAMMING_P99_SECONDS:.0f} s"
    )
    print(f"  setup (apart): {result['indexed']['setup_wall_seconds']:.2f} s wall")
    print(f"results: {result['json_path']}")


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.w6_endpoints",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--services", type=int, default=None, help="Services (default 10000)")
    parser.add_argument("--pods-per-service", type=int, default=3)
    parser.add_argument("--rate", type=float, default=1_000.0, help="flips per second")
    parser.add_argument("--seconds", type=float, default=None, help="seconds of flips (default 10)")
    parser.add_argument(
        "--naive-seconds", type=float, default=None, help="seconds of flips for the naive reference"
    )
    parser.add_argument("--no-naive", action="store_true", help="skip the naive reference")
    parser.add_argument("--drain-timeout", type=float, default=120.0)
    parser.add_argument("--loop", choices=("asyncio", "uvloop"), default="asyncio")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--gc-threshold",
        type=lambda text: tuple(int(part) for part in text.split(",")),
        default=GC_THRESHOLD,
        help="gc.set_threshold during the flips (default 700,10,10000; Python's is 700,10,10)",
    )
    parser.add_argument("--quick", action="store_true", help="1,000 Services, 1 s of flips (0.2 s naive)")
    args = parser.parse_args(argv)
    args.services = args.services or (1_000 if args.quick else 10_000)
    args.seconds = args.seconds or (1.0 if args.quick else 10.0)
    args.naive_seconds = args.naive_seconds or (0.2 if args.quick else 0.5)
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))

    async def both() -> dict[str, Any]:
        indexed = await run(args, naive=False)
        naive = None if args.no_naive else await run(args, naive=True)
        return {"indexed": indexed, "naive": naive, "machine": machine_info()}

    if args.loop == "uvloop":
        import uvloop  # noqa: F401  # fail here, clearly, when it is not installed

        figures = anyio.run(both, backend_options={"use_uvloop": True})
    else:
        figures = anyio.run(both)
    result = {
        "benchmark": "w6_endpoints",
        "params": {
            "services": args.services,
            "pods_per_service": args.pods_per_service,
            "rate": args.rate,
            "seconds": args.seconds,
            "naive_seconds": args.naive_seconds,
            "loop": args.loop,
            "gc_threshold": list(args.gc_threshold),
            "seed": args.seed,
            "quick": args.quick,
        },
        **figures,
        "target_p99_seconds": TARGET_P99_SECONDS,
        "upstream": {
            "endpoint_updates_batch_period_seconds": 0.0,
            "endpointslice_min_sync_delay_seconds": ENDPOINTSLICE_MIN_SYNC_DELAY_SECONDS,
            "network_programming_latency_slo_p99_seconds": SLO_NETWORK_PROGRAMMING_P99_SECONDS,
        },
    }
    result["headline"] = headlines(result)
    suffix = ("_quick" if args.quick else "") + ("_uvloop" if args.loop == "uvloop" else "")
    result["json_path"] = str(write_json("w6" + suffix, result))
    print_report(result)
    return 0 if figures["indexed"]["unseen"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
