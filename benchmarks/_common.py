"""Helpers shared by the benchmark scripts: the machine description, statistics, output.

Not a benchmarking framework: just the few functions every script would otherwise repeat — what
machine and interpreter a figure came from, percentiles and medians, number formatting and the JSON
file.
"""

from __future__ import annotations

import asyncio
import gc
import json
import math
import os
import platform
import sys
import sysconfig
from collections import Counter
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from reconcile import Manager

RESULTS_DIR = Path(__file__).resolve().parent / "results"


def cpu_model() -> str:
    """The CPU model name from /proc/cpuinfo (or what the platform module knows)."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown"


def usable_cores() -> int:
    """The cores this process may run on (the affinity mask where the OS has one)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        return os.cpu_count() or 1


def machine_info() -> dict[str, Any]:
    """What a figure was measured on: CPU, cores, interpreter and the running event loop."""
    try:
        loop = asyncio.get_running_loop()
        loop_name = f"{type(loop).__module__}.{type(loop).__qualname__}"
    except RuntimeError:
        policy = asyncio.get_event_loop_policy()
        loop_name = f"{type(policy).__module__}.{type(policy).__qualname__} (policy)"
    return {
        "cpu": cpu_model(),
        "cores": usable_cores(),
        "logical_cpus": os.cpu_count(),
        "python": f"{platform.python_implementation()} {platform.python_version()}",
        "python_build": " ".join(platform.python_build()),
        "python_optimized": _optimized_build(),
        "platform": platform.platform(),
        "event_loop": loop_name,
        "gc_thresholds": list(gc.get_threshold()),
        "executable": sys.executable,
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
    }


class GcMeter:
    """Counts the cyclic collector's runs and the time it pauses the program, by generation.

    Installed with `start` (a ``gc.callbacks`` hook) and removed with `stop`; `take` returns what
    was counted since the last `take` and starts again: totals, the longest pause and the pause
    distribution (one float per collection is kept until then).
    """

    def __init__(self) -> None:
        from time import perf_counter, process_time

        self._clock = perf_counter
        self._cpu_clock = process_time
        self._started = 0.0
        self._cpu_started = 0.0
        self.seconds = [0.0, 0.0, 0.0]
        self.collections = [0, 0, 0]
        self.longest = 0.0
        self.longest_cpu = 0.0
        self.pauses: list[float] = []
        self.cpu_pauses: list[float] = []
        self.collected = 0

    def _callback(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self._started = self._clock()
            self._cpu_started = self._cpu_clock()
        else:
            # CPU time as well: on a shared machine a wall-clock pause includes time spent descheduled.
            cpu_pause = self._cpu_clock() - self._cpu_started
            pause = self._clock() - self._started
            generation = info["generation"]
            self.seconds[generation] += pause
            self.longest = max(self.longest, pause)
            self.longest_cpu = max(self.longest_cpu, cpu_pause)
            self.collections[generation] += 1
            self.collected += info["collected"]
            self.pauses.append(pause)
            self.cpu_pauses.append(cpu_pause)

    def start(self) -> None:
        gc.callbacks.append(self._callback)

    def stop(self) -> None:
        if self._callback in gc.callbacks:
            gc.callbacks.remove(self._callback)

    def take(self) -> dict[str, Any]:
        taken = {
            "seconds": sum(self.seconds),
            "seconds_cpu": sum(self.cpu_pauses),
            "seconds_by_generation": list(self.seconds),
            "collections_by_generation": list(self.collections),
            "longest_pause": self.longest,
            "longest_pause_cpu": self.longest_cpu,
            "objects_collected": self.collected,
            "pause_percentiles": _pause_percentiles(self.pauses),
            "pause_percentiles_cpu": _pause_percentiles(self.cpu_pauses),
        }
        self.seconds = [0.0, 0.0, 0.0]
        self.collections = [0, 0, 0]
        self.longest = 0.0
        self.longest_cpu = 0.0
        self.pauses = []
        self.cpu_pauses = []
        self.collected = 0
        return taken


def _pause_percentiles(pauses: Sequence[float]) -> dict[str, float]:
    """p50, p90 and p99 of the pauses, seconds (NaN when there were none)."""
    return {
        name: percentile(pauses, fraction) for name, fraction in (("p50", 0.5), ("p90", 0.9), ("p99", 0.99))
    }


def quiet_logs() -> None:
    """Log warnings and errors only, as `setpoint run` does: a benchmark measures work, not printing."""
    import logging

    import structlog

    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))


def _optimized_build() -> bool:
    """Whether the interpreter was built with PGO/LTO (a plain pyenv build is ~20-30% slower)."""
    flags = str(sysconfig.get_config_var("CONFIG_ARGS") or "")
    return "--enable-optimizations" in flags or "--with-lto" in flags


def percentile(values: Sequence[float], fraction: float) -> float:
    """The ``fraction`` quantile (nearest rank) of ``values``; NaN when there are none."""
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = max(0, min(len(ordered) - 1, math.ceil(fraction * len(ordered)) - 1))
    return ordered[rank]


def ratio(ours: float, reference: float) -> float:
    """``ours / reference``, NaN when either side is missing or the reference is zero."""
    if math.isnan(ours) or math.isnan(reference) or reference == 0:
        return math.nan
    return ours / reference


def fmt_rate(value: float) -> str:
    return "–" if math.isnan(value) or value == 0 else f"{value:,.0f}"


def fmt_ms(seconds: float) -> str:
    return "–" if math.isnan(seconds) else f"{seconds * 1e3:,.3f}"


def fmt_ratio(value: float) -> str:
    """A ratio with three significant digits (``21.3×``, ``0.0312×``, ``8.1e-05×``)."""
    if math.isnan(value):
        return "–"
    if value >= 100:
        return f"{value:,.0f}×"
    return f"{value:.3g}×"


def _json_safe(value: Any) -> Any:
    if isinstance(value, float) and (math.isnan(value) or math.isinf(value)):
        return None
    if isinstance(value, dict):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_safe(v) for v in value]
    return value


#: Set by `benchmarks.run` for each benchmark it starts: where to put a copy of the result it collects.
OUTPUT_ENV = "SETPOINT_BENCH_OUTPUT"


def write_json(name: str, payload: dict[str, Any], directory: Path = RESULTS_DIR) -> Path:
    """Write ``payload`` to ``<directory>/<name>.json``, by default ``benchmarks/results`` (NaN becomes null).

    Under `benchmarks.run` a copy also goes where ``$SETPOINT_BENCH_OUTPUT`` says.
    """
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{name}.json"
    text = json.dumps(_json_safe(payload), indent=2) + "\n"
    path.write_text(text, encoding="utf-8")
    if copy := os.environ.get(OUTPUT_ENV):
        Path(copy).write_text(text, encoding="utf-8")
    return path


def headline(
    figure: str,
    value: float,
    unit: str,
    *,
    better: str,
    target: str | None = None,
    reference: dict[str, Any] | None = None,
    baseline: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """One headline figure in the shape `benchmarks.run` collects (a benchmark's JSON ``headline`` list).

    ``better`` is "higher" or "lower". ``reference`` is the upstream anchor — ``{"value", "unit",
    "label"}``, quoted or computed, never measured here; ``baseline`` the naive variant measured in
    the same run — ``{"value", "label"}`` in the figure's unit.
    """
    if better not in ("higher", "lower"):
        raise ValueError("better must be 'higher' or 'lower'")
    return {
        "figure": figure,
        "value": value,
        "unit": unit,
        "better": better,
        "target": target,
        "reference": reference,
        "baseline": baseline,
    }


def reconciles(manager: Manager) -> Counter[str]:
    """controller_runtime_reconcile_total summed over results, per controller."""
    totals: Counter[str] = Counter()
    for family in manager.metrics.registry.collect():
        if family.name == "controller_runtime_reconcile":
            for sample in family.samples:
                if sample.name.endswith("_total"):
                    totals[sample.labels["controller"]] += int(sample.value)
    return totals
