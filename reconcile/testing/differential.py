"""Differential runs in the manner of Sieve: one workload, run without faults and then with a
perturbation armed at a chosen step, compared by end state and by per-object create/delete counts.

The three perturbations are Sieve's: **intermediate state** (a controller crashes between two writes),
**stale state** (every watched kind is served a cache lagging a few revisions) and **unobserved state**
(events coalesced to each object's last, and watches dropped so informers relist). A correct controller
ends in the same state, having created and deleted the same objects, whatever the perturbation. End
states are compared with what legitimately differs masked: uids, resource versions, timestamps, the
random suffixes of generated names, and addresses and placements (pod and cluster IPs, node names).

    report = differential(make_simulation, workload, kinds=["PodSet", "Pod"])
    assert report.consistent, report.explain()
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import attrs

from reconcile.testing.simulation import Simulation
from store import Object

MODES = ("intermediate-state", "stale-state", "unobserved-state")

#: Keys whose values differ between equally correct runs.
MASKED_KEYS = frozenset(
    {
        "uid",
        "resourceVersion",
        "podIP",
        "podIPs",
        "hostIP",
        "hostIPs",
        "ip",
        "nodeName",
        "clusterIP",
        "clusterIPs",
        "nodePort",
        "collisionCount",
    }
)
_SUFFIX = re.compile(r"-[bcdfghjklmnpqrstvwxz2456789]{5}\b")

Workload = Sequence[Callable[[Simulation], Awaitable[object]]]


def mask(value: Any) -> Any:
    """The wire form of an object with what legitimately differs between runs replaced by ``*``."""
    if isinstance(value, dict):
        return {
            key: "*" if key in MASKED_KEYS or key.endswith(("Time", "Timestamp")) else mask(item)
            for key, item in value.items()
        }
    if isinstance(value, list):
        return [mask(item) for item in value]
    if isinstance(value, str):
        return _SUFFIX.sub("-*", value)
    return value


@attrs.frozen
class EndState:
    """Masked objects (canonical JSON, sorted) and (verb, kind, masked name) → count of controller writes."""

    objects: tuple[str, ...]
    writes: Counter[tuple[str, str, str]]


@attrs.frozen
class Run:
    mode: str
    point: int
    state: EndState


@attrs.define
class DifferentialReport:
    """The reference run and each perturbed run; ``differences`` lists how each perturbed one differs."""

    reference: EndState
    runs: list[Run]
    differences: dict[str, list[str]] = attrs.field(factory=dict)

    @property
    def consistent(self) -> bool:
        return not any(self.differences.values())

    def explain(self) -> str:
        return "\n".join(f"{label}: {line}" for label, lines in self.differences.items() for line in lines)


def _simulation(harness: Any) -> Simulation:
    if isinstance(harness, Simulation):
        return harness
    simulation = getattr(harness, "simulation", None)
    if not isinstance(simulation, Simulation):
        raise TypeError(f"{harness!r} is neither a Simulation nor has a virtual-time one")
    return simulation


def end_state(simulation: Simulation, kinds: Sequence[str]) -> EndState:
    """The masked state of ``kinds`` in the store now, and the create/delete counts of the run so far."""
    scheme = simulation.store.scheme
    objects: list[str] = []
    for name in kinds:
        info = scheme.find(name)
        if info is None:
            raise ValueError(f"no kind {name!r} in the scheme")
        for obj in simulation.memory.list_now(info.cls).items:
            objects.append(json.dumps(mask(scheme.to_dict(obj)), sort_keys=True))
    writes: Counter[tuple[str, str, str]] = Counter()
    for record in simulation.trace.of("write"):
        verb = record.get("verb")
        if verb in ("create", "delete") and record.get("kind") in kinds:
            writes[(verb, record.get("kind"), _SUFFIX.sub("-*", str(record.get("name"))))] += 1
    return EndState(tuple(sorted(objects)), writes)


def perturb(simulation: Simulation, mode: str, kinds: Sequence[str], *, lag: int = 1) -> None:
    """Arm the perturbation of ``mode`` on the simulation's switchboard."""
    faults = simulation.faults
    classes: list[type[Object]] = []
    for name in kinds:
        info = simulation.store.scheme.find(name)
        if info is not None:
            classes.append(info.cls)
    if mode == "intermediate-state":
        faults.crash_after(1)
    elif mode == "stale-state":
        for cls in classes:
            faults.stale(cls, lag)
    elif mode == "unobserved-state":
        for cls in classes:
            faults.coalesce(cls)
        faults.drop_watches()
    else:
        raise ValueError(f"unknown mode {mode!r}; choose from {MODES}")


def run_once(
    make: Callable[[int], Any],
    workload: Workload,
    *,
    kinds: Sequence[str],
    seed: int,
    mode: str | None,
    point: int,
    horizon: float = 320.0,
) -> EndState:
    """Run ``workload`` on ``make(seed)``, settling after each step; ``mode`` is armed for step
    ``point`` only (cleared once it settled). Returns the end state."""
    harness = make(seed)
    simulation = _simulation(harness)

    async def main() -> EndState:
        async with harness:
            await simulation.settle(horizon=horizon)
            for index, step in enumerate(workload):
                if mode is not None and index == point:
                    perturb(simulation, mode, kinds)
                await step(simulation)
                await simulation.settle(horizon=horizon)
                if index == point:
                    simulation.faults.clear()
                    await simulation.settle(horizon=horizon)
            simulation.faults.clear()
            await simulation.settle(horizon=horizon)
            return end_state(simulation, kinds)

    return simulation.clock.run(main)


def _compare(reference: EndState, other: EndState) -> list[str]:
    lines: list[str] = []
    missing = Counter(reference.objects) - Counter(other.objects)
    extra = Counter(other.objects) - Counter(reference.objects)
    lines.extend(f"missing {obj}" for obj in sorted(missing.elements()))
    lines.extend(f"extra {obj}" for obj in sorted(extra.elements()))
    for key in sorted(reference.writes.keys() | other.writes.keys()):
        if reference.writes[key] != other.writes[key]:
            verb, kind, name = key
            lines.append(
                f"{verb} {kind} {name}: {other.writes[key]} times, {reference.writes[key]} without faults"
            )
    return lines


def differential(
    make: Callable[[int], Any],
    workload: Workload,
    *,
    kinds: Sequence[str],
    seed: int = 0,
    points: Sequence[int] | None = None,
    modes: Sequence[str] = MODES,
) -> DifferentialReport:
    """Run ``workload`` once without faults and once per mode and point; compare each with the first.

    ``make(seed)`` builds a fresh `Simulation` (or anything with one, such as a Cluster) with its
    controllers; ``workload`` steps take the simulation. ``points`` are the step indexes to perturb
    before (every step by default).
    """
    reference = run_once(make, workload, kinds=kinds, seed=seed, mode=None, point=-1)
    report = DifferentialReport(reference=reference, runs=[])
    for mode in modes:
        for point in points if points is not None else range(len(workload)):
            state = run_once(make, workload, kinds=kinds, seed=seed, mode=mode, point=point)
            report.runs.append(Run(mode, point, state))
            report.differences[f"{mode} at step {point}"] = _compare(reference, state)
    return report
