"""Sieve-style differential runs: the PodSet operator ends the same under every perturbation; a variant
that acts on stale reads does not."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parents[2] / "examples" / "custom_controller"))

import attrs
import broken_podsets as broken
from podset import PodSet, podset, podset_controller, podset_scheme

from reconcile.testing import Simulation
from reconcile.testing.differential import differential, mask

KINDS = ["PodSet", "Pod"]


def make(controller):  # type: ignore[no-untyped-def]
    def build(seed: int) -> Simulation:
        simulation = Simulation(seed=seed, scheme=podset_scheme())
        simulation.manager.add(controller(simulation.manager))
        return simulation

    return build


async def create(sim: Simulation) -> None:
    await sim.memory.create(podset("web", 3))
    await sim.advance(1.0)


def scale(replicas: int):  # type: ignore[no-untyped-def]
    async def step(sim: Simulation) -> None:
        current = await sim.memory.get(PodSet, "web", "default")
        await sim.memory.update(attrs.evolve(current, spec=attrs.evolve(current.spec, replicas=replicas)))
        await sim.advance(1.0)

    return step


WORKLOAD = [create, scale(1), scale(4)]


def test_the_podset_operator_ends_the_same_under_every_perturbation_at_every_step() -> None:
    report = differential(make(podset_controller), WORKLOAD, kinds=KINDS, seed=3)
    assert len(report.runs) == 9
    assert report.consistent, report.explain()
    assert sum(1 for obj in report.reference.objects if '"kind": "Pod"' in obj) == 4


def test_a_controller_leaving_a_half_done_change_after_a_crash_ends_differently() -> None:
    report = differential(
        make(broken.controller_for(broken.HalfDone)),
        WORKLOAD,
        kinds=KINDS,
        seed=3,
        modes=["intermediate-state"],
    )
    assert not report.consistent
    assert report.differences["intermediate-state at step 0"], report.explain()


def test_masking_hides_what_differs_between_equally_correct_runs() -> None:
    wire = {
        "metadata": {
            "name": "web-7b4cb8cd4b-x7k2p",
            "uid": "1",
            "resourceVersion": "9",
            "creationTimestamp": "t",
        },
        "status": {"podIP": "10.0.0.1", "phase": "Running"},
    }
    assert mask(wire) == {
        "metadata": {
            "name": "web-7b4cb8cd4b-*",
            "uid": "*",
            "resourceVersion": "*",
            "creationTimestamp": "*",
        },
        "status": {"podIP": "*", "phase": "Running"},
    }
