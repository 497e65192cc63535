"""Toolkit — examples per second of the standard machine, and what the broken-variant search costs.

1. **Standard machine**: `controllers.testing.machine.ClusterMachine` (three nodes over two zones, every
   built-in controller, user actions and every fault kind, settle with convergence checks) run by
   Hypothesis for ``--examples`` examples of at most 12 steps, derandomized, no database, no shrinking
   needed (the built-ins pass). Reported: examples per second of wall time, and per CPU second of this
   process (steadier than wall time on a shared machine; the load average is printed beside them).
   **Reference, same run**: the same machine with no controllers and no invariants (only the kubelet
   and the store), so the figure shows what the built-in controllers and their checks cost per
   example; and a real-time
   comparison: the virtual seconds one example covers on average (each would be that many seconds
   on a real clock). Then where an example's CPU time goes, by phase: boot (build, start and first
   settle of the cluster), user actions, arming faults, settles (the ``settle`` rule and the final
   one), shut-down, and the rest (Hypothesis choosing and drawing steps), with the cyclic garbage
   collector's time (wall, already inside the phases) beside them.
2. **Detection table**: each broken controller of tests/toolkit/test_broken_variants.py searched by
   Hypothesis (derandomized): caught or not, wall time to the shrunk story, and its length in steps.

Run ``python -m benchmarks.toolkit_examples`` (``--examples 100`` for a quicker run). Prints a table,
writes ``benchmarks/results/toolkit_examples.json``.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import structlog
from hypothesis import HealthCheck, Phase, settings
from hypothesis.stateful import run_state_machine_as_test

from benchmarks._common import GcMeter, machine_info
from controllers.testing.machine import ClusterMachine
from reconcile.testing import Invariant

ROOT = Path(__file__).resolve().parents[1]


class NoControllers(ClusterMachine):
    """The reference: the same steps on the same cluster, with no controller to check."""

    controllers = ()

    def checks(self) -> list[Invariant]:
        return []


#: Where an example's CPU time goes: the machine's steps by kind, the shut-down, and what is left
#: (Hypothesis choosing and drawing steps, and the collector outside the steps).
PHASES = ("boot", "actions", "faults", "settle", "shut_down", "other")


def timed(machine: type[ClusterMachine], phases: dict[str, float], virtual: list[float]) -> type[Any]:
    """``machine`` tallying the CPU seconds of each phase, and each example's virtual seconds."""

    class Timed(machine):  # type: ignore[valid-type,misc]
        def _execute(self, name: str, func: Any, kwargs: dict[str, Any]) -> Any:
            phase = {"boot": "boot", "quiesce": "settle", "arm": "faults"}.get(name, "actions")
            started = time.process_time()
            try:
                return super()._execute(name, func, kwargs)
            finally:
                phases[phase] += time.process_time() - started

        def _shut_down(self) -> None:
            started = time.process_time()
            super()._shut_down()
            phases["shut_down"] += time.process_time() - started
            virtual.append(self._loop.time())  # the virtual time the example reached, quiesce included

    # The machine's own name: Hypothesis derives a derandomized run's examples from it.
    Timed.__name__, Timed.__qualname__ = machine.__name__, machine.__qualname__
    Timed.__module__ = machine.__module__
    return Timed


def examples_per_second(machine: type[ClusterMachine], examples: int) -> dict[str, Any]:
    virtual: list[float] = []
    phases = dict.fromkeys(PHASES, 0.0)
    options = settings(
        max_examples=examples,
        stateful_step_count=12,
        derandomize=True,
        database=None,
        deadline=None,
        phases=[Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    collector = GcMeter()
    collector.start()
    started = time.perf_counter()
    cpu_started = time.process_time()
    run_state_machine_as_test(timed(machine, phases, virtual), settings=options)
    cpu = time.process_time() - cpu_started
    wall = time.perf_counter() - started
    collector.stop()
    phases["other"] = cpu - sum(phases.values())
    return {
        "examples": len(virtual),
        "wall_seconds": wall,
        "cpu_seconds": cpu,
        "examples_per_second": len(virtual) / wall,
        "examples_per_cpu_second": len(virtual) / cpu,
        "virtual_seconds_per_example": sum(virtual) / max(len(virtual), 1),
        "cpu_ms_per_example": {phase: 1000 * spent / max(len(virtual), 1) for phase, spent in phases.items()},
        "gc_seconds": collector.take()["seconds"],
    }


def detection() -> list[dict[str, Any]]:
    sys.path[:0] = [str(ROOT / "tests" / "toolkit"), str(ROOT / "examples" / "custom_controller")]
    import test_broken_variants as corpus  # type: ignore[import-not-found]  # tests/toolkit, put on the path above

    rows = []
    for param in corpus.VARIANTS:
        machine, _invariant = param.values
        with tempfile.TemporaryDirectory() as directory:
            machine.failure_dir = directory
            started = time.perf_counter()
            caught = False
            try:
                run_state_machine_as_test(machine, settings=corpus.SEARCH)
            except AssertionError:
                caught = True
            elapsed = time.perf_counter() - started
            story = Path(directory) / f"{machine.__name__}.json"
            steps = len(json.loads(story.read_text())["steps"]) if story.exists() else None
        rows.append({"variant": param.id, "caught": caught, "seconds": elapsed, "steps": steps})
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--examples", type=int, default=200)
    parser.add_argument("--no-detection", action="store_true")
    args = parser.parse_args()
    # Errors only: the fault schedules crash controllers on purpose, and each crash logs a warning.
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.ERROR))
    info = machine_info()
    info["load_average"] = list(os.getloadavg())
    print("machine:", json.dumps(info))
    standard = examples_per_second(ClusterMachine, args.examples)
    reference = examples_per_second(NoControllers, args.examples)
    print(
        f"{'machine':<28} {'examples':>9} {'wall s':>8} {'examples/s':>11} {'CPU s':>7}"
        f" {'examples/CPU s':>15} {'virtual s/example':>18}"
    )
    for name, row in (("standard (all controllers)", standard), ("reference: no controllers", reference)):
        print(
            f"{name:<28} {row['examples']:>9} {row['wall_seconds']:>8.2f} {row['examples_per_second']:>11.1f}"
            f" {row['cpu_seconds']:>7.2f} {row['examples_per_cpu_second']:>15.1f}"
            f" {row['virtual_seconds_per_example']:>18.1f}"
        )
    header = " ".join(f"{phase:>9}" for phase in PHASES)
    print(f"\n{'CPU ms per example':<28} {header} {'gc (wall)':>10}")
    for name, row in (("standard (all controllers)", standard), ("reference: no controllers", reference)):
        split = row["cpu_ms_per_example"]
        gc_ms = 1000 * row["gc_seconds"] / max(row["examples"], 1)
        print(f"{name:<28}", " ".join(f"{split[phase]:>9.2f}" for phase in PHASES), f"{gc_ms:>10.2f}")
    print("load average after the runs:", " ".join(f"{x:.2f}" for x in os.getloadavg()))
    speedup = standard["virtual_seconds_per_example"] * standard["examples_per_second"]
    print(f"virtual time runs {speedup:,.0f}x faster than a real clock on the standard machine")
    rows = [] if args.no_detection else detection()
    if rows:
        print(f"\n{'variant':<28} {'caught':>7} {'time to catch s':>16} {'shrunk steps':>13}")
        for row in rows:
            print(f"{row['variant']:<28} {row['caught']!s:>7} {row['seconds']:>16.1f} {row['steps']!s:>13}")
    results = ROOT / "benchmarks" / "results"
    results.mkdir(exist_ok=True)
    (results / "toolkit_examples.json").write_text(
        json.dumps(
            {"machine": info, "standard": standard, "reference": reference, "detection": rows}, indent=1
        )
    )


if __name__ == "__main__":
    main()
