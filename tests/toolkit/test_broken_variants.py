"""The toolkit catches a deliberately broken controller of each class Sieve names, and shrinks the
failure to a short story that replays.

Each machine below is the PodSet machine of examples/custom_controller (or a small scheduling machine)
with one broken controller (tests/toolkit/broken_podsets.py) and the faults of its class: stale caches,
crashes between writes, coalesced events, none at all (ownership), injected conflicts, a lagging cache.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, Phase, settings
from hypothesis import strategies as st
from hypothesis.stateful import run_state_machine_as_test

sys.path.insert(0, str(Path(__file__).parents[2] / "examples" / "custom_controller"))

import broken_podsets as broken
from test_podset import PodSetMachine

from controllers.testing.invariants import RequestsFitAllocatable
from reconcile.testing import (
    Coalesce,
    CrashBetweenWrites,
    Delay,
    FailWrites,
    Invariant,
    InvariantViolation,
    Stale,
    replay,
)
from reconcile.testing.machine import SimulationMachine, action
from store import FrozenDict
from store.models import Container, Node, NodeStatus, ObjectMeta, Pod, PodSpec
from store.quantity import parse_quantity


class VariantMachine(PodSetMachine):
    collect_garbage = False  # the variants need no cascading deletes, and run faster without


class StaleReadMachine(VariantMachine):
    controller = staticmethod(broken.controller_for(broken.StaleRead))

    def fault_strategy(self) -> st.SearchStrategy[Any]:
        return st.builds(Stale, kind=st.just("Pod"), revisions=st.integers(1, 4))


class HalfDoneMachine(VariantMachine):
    controller = staticmethod(broken.controller_for(broken.HalfDone))

    def fault_strategy(self) -> st.SearchStrategy[Any]:
        return st.builds(CrashBetweenWrites, after=st.integers(0, 3), controller=st.just("podset"))


class MissedEventMachine(VariantMachine):
    controller = staticmethod(broken.controller_for(broken.MissedEvent))

    def fault_strategy(self) -> st.SearchStrategy[Any]:
        return st.one_of(
            st.builds(Coalesce, kind=st.just("Pod")),
            st.builds(Delay, kind=st.just("Pod"), seconds=st.just(5.0)),
        )


class NoOwnershipCheckMachine(VariantMachine):
    controller = staticmethod(broken.controller_for(broken.NoOwnershipCheck))
    fault_kinds = ()


class NonIdempotentCreateMachine(VariantMachine):
    """Users here never delete pods or PodSets behind the controller's back (its record would be wrong
    for another reason); only injected conflicts stand between it and a correct count."""

    controller = staticmethod(broken.controller_for(broken.NonIdempotentCreate))
    delete_pod = None
    delete_podset = None

    def fault_strategy(self) -> st.SearchStrategy[Any]:
        return st.builds(
            FailWrites, count=st.integers(1, 2), error=st.just("conflict"), kind=st.just("PodSet")
        )


class DoubleSchedulingMachine(SimulationMachine):
    """Two one-pod nodes, users creating pods, and a cache that may lag."""

    fault_kinds = ("Pod",)

    async def setup(self) -> None:
        manager = self.simulation.manager
        for name in ("node-1", "node-2"):
            room = FrozenDict({"cpu": parse_quantity("1"), "pods": parse_quantity("1")})
            node = Node(metadata=ObjectMeta(name=name), status=NodeStatus(capacity=room, allocatable=room))
            await self.simulation.memory.create(node)
        manager.add(broken.double_scheduler(manager))

    def checks(self) -> list[Invariant]:
        return [RequestsFitAllocatable()]

    def fault_strategy(self) -> st.SearchStrategy[Any]:
        return st.builds(Stale, kind=st.just("Pod"), revisions=st.integers(1, 3))

    @action(number=st.integers(0, 3))
    async def create_pod(self, number: int) -> None:
        pod = Pod(
            metadata=ObjectMeta(name=f"p{number}", namespace="default"),
            spec=PodSpec(containers=(Container(name="c", image="busybox"),)),
        )
        if self.simulation.memory.revision >= 0:
            try:
                await self.simulation.memory.create(pod)
            except Exception:
                return


VARIANTS = [
    pytest.param(StaleReadMachine, "PodSetBounded", id="stale-read"),
    pytest.param(HalfDoneMachine, "PodSetConverges", id="crash-between-writes"),
    pytest.param(MissedEventMachine, "PodSet", id="missed-intermediate-event"),
    pytest.param(NoOwnershipCheckMachine, "PodSetConverges", id="missing-ownership-check"),
    pytest.param(NonIdempotentCreateMachine, "PodSetBounded", id="non-idempotent-create"),
    pytest.param(DoubleSchedulingMachine, "RequestsFitAllocatable", id="double-scheduling"),
]

SEARCH = settings(
    max_examples=300,
    stateful_step_count=10,
    phases=[Phase.generate, Phase.shrink],
    derandomize=True,
    database=None,
    report_multiple_bugs=False,
    deadline=None,
    suppress_health_check=list(HealthCheck),
)


@pytest.mark.parametrize(("machine", "invariant"), VARIANTS)
def test_the_toolkit_catches_each_broken_variant_and_shrinks_it_to_a_short_replayable_story(
    machine: type[SimulationMachine], invariant: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(machine, "failure_dir", str(tmp_path))
    with pytest.raises(InvariantViolation, match=invariant):
        run_state_machine_as_test(machine, settings=SEARCH)
    path = tmp_path / f"{machine.__name__}.json"
    story = json.loads(path.read_text())
    assert story["seed"] is not None and (tmp_path / f"{machine.__name__}.trace.txt").exists()
    assert len(story["steps"]) <= 15, [step["name"] for step in story["steps"]]
    with pytest.raises(InvariantViolation, match=invariant):
        replay(path)
