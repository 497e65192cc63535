"""Run the benchmarks, each in its own process, and put their headline figures in one table.

``python -m benchmarks.run`` (or ``make bench``) runs W1, W1-etcd, W2, W3, W3-etcd, W4, W5 and W6 in
turn, each as ``python -m benchmarks.<module>`` in a subprocess of its own (a fresh heap, no state carried
from one to the next), collects the JSON each writes, and writes

- ``benchmarks/results/summary.json``: per benchmark, its status, run time and headline figures per event
  loop, each figure with its unit, target, upstream reference and in-run naive baseline;
- ``benchmarks/results/summary.md``: the same as a markdown table, each figure beside its references.

Headline figures come from the ``headline`` list a benchmark puts in its JSON (rows made with
`benchmarks._common.headline`); for benchmarks without one the runner picks them out itself (W1, W4).

Event loops: every benchmark runs on asyncio's default loop. Where uvloop is installed (the ``bench``
extra) those that run on real time run again with uvloop's loop policy. Those on virtual time cannot:
their clock is looptime, which patches the pure-Python asyncio loop (its selector and ``time()``), and
uvloop's loop, written in Cython over libuv, has neither to patch. The table says so in their column.

A benchmark whose module is missing (W3, W4 while they are being written), or that needs what this
machine lacks (W1-etcd and W3-etcd without the ``etcd`` binary), is skipped with a message.

``--quick`` runs each benchmark's own smoke size; ``--only W5 W6`` a subset (merged into the last
summary of the same kind); ``--no-uvloop`` the asyncio column only. Exit status 1 if a benchmark
failed (a non-zero exit or no JSON).
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import math
import os
import runpy
import subprocess
import sys
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path
from time import perf_counter
from typing import Any

import attrs

from benchmarks._common import OUTPUT_ENV, RESULTS_DIR, headline, machine_info, write_json
from store.etcd_server import INSTALL_HINT, etcd_binary

LOOPS = ("asyncio", "uvloop")
UVLOOP_NOT_APPLICABLE = "n/a: virtual time (looptime patches asyncio's own loop; uvloop has nothing to patch)"

Extractor = Callable[[dict[str, Any]], list[dict[str, Any]]]


@attrs.frozen
class Benchmark:
    key: str
    module: str
    title: str
    clock: str  # "real" or "virtual"
    quick: tuple[str, ...] = ("--quick",)
    full: tuple[str, ...] = ()
    extract: Extractor | None = None
    #: Why it cannot run on this machine (None when it can).
    missing: Callable[[], str | None] = lambda: None
    #: Why it is not run again under uvloop although it runs on real time (None: it is).
    no_uvloop: str | None = None
    #: How many times the runner's per-run timeout it may take.
    timeout_factor: float = 1.0


# --- headline figures of benchmarks that do not write their own ------------------------------------


def _w1(result: dict[str, Any]) -> list[dict[str, Any]]:
    summary = result["summary"]
    ours, naive = summary["setpoint"], summary.get("naive", {})
    watchers = "10" if "10" in ours else max(ours, key=int)
    label = "naive store: deep copies, a queue per watcher (same run)"

    def base(key: str, scale: float = 1.0) -> dict[str, Any] | None:
        value = naive.get(watchers, {}).get(key)
        return None if value is None else {"value": value * scale, "label": label}

    return [
        headline(
            f"store writes/s, {watchers} watchers",
            ours[watchers]["writes_per_s"],
            "writes/s",
            better="higher",
            target="≥ 150,000",
            baseline=base("writes_per_s"),
        ),
        headline(
            f"write → watch event p99, {watchers} watchers",
            ours[watchers]["latency_p99_s"] * 1e3,
            "ms",
            better="lower",
            baseline=base("latency_p99_s", 1e3),
        ),
    ]


def _w4(result: dict[str, Any]) -> list[dict[str, Any]]:
    floor = {
        "value": result["kcm_floor_seconds"],
        "unit": "s",
        "label": "kube-controller-manager's client rate-limit floor at --kube-api-qps 20 (not measured)",
    }
    return [
        headline(
            f"rollout of {result['params']['replicas']:,} replicas, wall",
            result["wall_seconds"],
            "s",
            better="lower",
            reference=floor,
        ),
        headline(
            "bound violations",
            result["violations"],
            "",
            better="lower",
            target="0",
        ),
    ]


def _generic(result: dict[str, Any]) -> list[dict[str, Any]]:
    """A benchmark without a ``headline`` list: its top-level wall time and rates, if it has any."""
    rows = []
    for key, value in result.items():
        if not isinstance(value, int | float) or isinstance(value, bool):
            continue
        if key.endswith("wall_seconds") or key == "wall_seconds":
            rows.append(headline(key.replace("_", " "), value, "s", better="lower"))
        elif key.endswith("per_second"):
            rows.append(headline(key.replace("_", " "), value, "/s", better="higher"))
    return rows


def _etcd_missing() -> str | None:
    return None if etcd_binary() is not None else f"no etcd binary ({INSTALL_HINT})"


BENCHMARKS = (
    Benchmark("W1", "w1_store", "in-memory store: writes, watch fan-out, lists", "real", extract=_w1),
    Benchmark(
        "W1-etcd",
        "w1_etcd",
        "W1's writes and list on MemoryStore and EtcdStore (disk, /dev/shm), one at a time",
        "real",
        missing=_etcd_missing,
    ),
    Benchmark(
        "W2",
        "w2_scheduler",
        "scheduler: 10,000 pods onto 5,000 nodes",
        "virtual",
        full=("--reference-decisions", "1000"),
    ),
    Benchmark("W3", "w3_scale", "5,000 nodes, 150,000 pods from empty", "virtual"),
    Benchmark(
        "W3-etcd",
        "w3_etcd",
        "reduced W3 (500 nodes, 15,000 pods) on MemoryStore and EtcdStore (disk, /dev/shm), real time",
        "real",
        missing=_etcd_missing,
        no_uvloop="not run: three real-time backends take half an hour; etcd's round trips dominate",
        timeout_factor=2.0,
    ),
    Benchmark("W4", "w4_rollout", "rolling update of 10,000 replicas", "virtual", extract=_w4),
    Benchmark("W5", "w5_node_failure", "500 of 5,000 nodes stop heartbeating", "virtual"),
    Benchmark("W6", "w6_endpoints", "10,000 Services, readiness flips at 1,000/s", "real"),
)


# --- running --------------------------------------------------------------------------------------


def available(benchmark: Benchmark) -> bool:
    return importlib.util.find_spec(f"benchmarks.{benchmark.module}") is not None


def uvloop_installed() -> bool:
    return importlib.util.find_spec("uvloop") is not None


def run_one(benchmark: Benchmark, loop: str, quick: bool, timeout: float) -> dict[str, Any]:
    """Run one benchmark in a subprocess on ``loop``; its status, wall time, output tail and JSON."""
    args = list(benchmark.quick if quick else benchmark.full)
    timeout *= benchmark.timeout_factor
    with tempfile.TemporaryDirectory(prefix="setpoint-bench-") as tmp:
        output = Path(tmp) / "result.json"
        command = [sys.executable, "-m", "benchmarks.run", "--child", loop, benchmark.module, *args]
        env = {**os.environ, OUTPUT_ENV: str(output)}
        started = perf_counter()
        try:
            done = subprocess.run(
                command, env=env, capture_output=True, text=True, timeout=timeout, check=False
            )
        except subprocess.TimeoutExpired:
            return {"status": "failed", "why": f"timed out after {timeout:.0f} s", "seconds": timeout}
        seconds = perf_counter() - started
        tail = (done.stdout + done.stderr).strip().splitlines()[-15:]
        if not output.exists():
            return {
                "status": "failed",
                "why": f"exit {done.returncode}, no JSON",
                "seconds": seconds,
                "tail": tail,
            }
        result = json.loads(output.read_text(encoding="utf-8"))
    rows = result.get("headline")
    if rows is None:
        rows = (benchmark.extract or _generic)(result)
    return {
        "status": "ok" if done.returncode == 0 else "failed",
        "why": "" if done.returncode == 0 else f"exit {done.returncode} (its checks failed)",
        "seconds": seconds,
        "command": " ".join(["python", "-m", f"benchmarks.{benchmark.module}", *args]),
        "event_loop": result.get("machine", {}).get("event_loop"),
        "headline": rows,
        "tail": tail,
    }


def child(loop: str, module: str, args: Sequence[str]) -> None:
    """Run ``benchmarks.<module>`` as ``__main__`` with ``loop``'s policy (the ``--child`` mode)."""
    if loop == "uvloop":
        import asyncio

        import uvloop

        # asyncio.run and anyio.run create their loops through the policy; looptime's loop factory
        # (virtual time) does not, so a virtual-time benchmark would run on asyncio regardless.
        asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    sys.argv = [f"benchmarks.{module}", *args]
    runpy.run_module(f"benchmarks.{module}", run_name="__main__", alter_sys=True)


# --- the table ------------------------------------------------------------------------------------


def _number(value: float | None) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    if isinstance(value, int):
        return f"{value:,}"
    magnitude = abs(value)
    if magnitude >= 100:
        return f"{value:,.0f}"
    if magnitude >= 10:
        return f"{value:.1f}"
    if magnitude >= 1 or magnitude == 0:
        return f"{value:.2f}"
    return f"{value:.3g}"


def _with_unit(value: float | None, unit: str) -> str:
    text = _number(value)
    return text if text == "–" or not unit else f"{text} {unit}"


def markdown(summary: dict[str, Any]) -> str:
    machine = summary["machine"]
    lines = [
        "| | Figure | asyncio | uvloop | Target | Upstream reference | In-run naive baseline |",
        "|---|---|---|---|---|---|---|",
    ]
    notes: list[str] = []
    for key, entry in summary["benchmarks"].items():
        if entry["status"] == "skipped":
            lines.append(f"| {key} | {entry['title']} | skipped: {entry['why']} | | | | |")
            continue
        runs = entry["loops"]
        base = runs.get("asyncio", {})
        if base.get("status") != "ok" and not base.get("headline"):
            lines.append(f"| {key} | {entry['title']} | failed: {base.get('why', '')} | | | | |")
            continue
        uv = runs.get("uvloop", {})
        uv_rows = {row["figure"]: row for row in uv.get("headline", [])}
        for index, row in enumerate(base["headline"]):
            unit = row["unit"]
            if entry["clock"] == "virtual":
                uv_cell = "n/a (virtual time)" if index == 0 else ""
            elif uv.get("status") in ("ok", "failed") and row["figure"] in uv_rows:
                uv_cell = _with_unit(uv_rows[row["figure"]]["value"], unit)
            else:
                uv_cell = uv.get("why", "not installed") if index == 0 else ""
            reference = row.get("reference")
            ref_cell = ""
            if reference:
                ref_cell = (
                    f"{_with_unit(reference.get('value'), reference.get('unit', ''))}: {reference['label']}"
                )
            baseline = row.get("baseline")
            base_cell = "" if not baseline else f"{_with_unit(baseline['value'], unit)} ({baseline['label']})"
            failed = "" if base.get("status") == "ok" else " ⚠"
            lines.append(
                f"| {key if index == 0 else ''} | {row['figure']}{failed} | {_with_unit(row['value'], unit)}"
                f" | {uv_cell} | {row.get('target') or ''} | {ref_cell} | {base_cell} |"
            )
        if base.get("status") != "ok":
            notes.append(f"{key}: {base.get('why')}")
    mode = "quick (smoke sizes, not the workloads' figures)" if summary["quick"] else "full"
    header = [
        f"Benchmarks, {mode} run of {summary['date']}: {machine['cpu']}, {machine['cores']} usable cores,"
        f" {machine['python']}.",
        "",
    ]
    footer = ["", f"uvloop column: {UVLOOP_NOT_APPLICABLE} for virtual-time workloads."]
    footer += [f"⚠ {note}" for note in notes]
    return "\n".join([*header, *lines, *footer]) + "\n"


# --- main -----------------------------------------------------------------------------------------


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.run",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--quick", action="store_true", help="each benchmark's smoke size")
    parser.add_argument("--only", nargs="+", metavar="W", help="run these only (W1 … W6, W1-etcd, W3-etcd)")
    parser.add_argument("--no-uvloop", action="store_true", help="the asyncio column only")
    parser.add_argument(
        "--timeout",
        type=float,
        default=None,
        help="per run, seconds (default 1800; quick 300; W3-etcd twice that)",
    )
    parser.add_argument("--results", type=Path, default=RESULTS_DIR, help="where summary.json/.md go")
    parser.add_argument("--child", nargs=argparse.REMAINDER, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.only:
        known = {b.key.upper() for b in BENCHMARKS}
        unknown = sorted({name.upper() for name in args.only} - known)
        if unknown:
            keys = ", ".join(b.key for b in BENCHMARKS)
            parser.error(f"unknown benchmark(s) {', '.join(unknown)}; known: {keys}")
    args.timeout = args.timeout or (300.0 if args.quick else 1800.0)
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    if args.child:
        loop, module, *rest = args.child
        child(loop, module, rest)
        return 0
    wanted = {name.upper() for name in args.only} if args.only else None
    uvloop = uvloop_installed() and not args.no_uvloop
    machine = machine_info()
    summary: dict[str, Any] = {
        "quick": args.quick,
        "date": machine["date"],
        "machine": machine,
        "uvloop_installed": uvloop_installed(),
        "benchmarks": {},
    }
    failed = False
    for benchmark in BENCHMARKS:
        if wanted is not None and benchmark.key.upper() not in wanted:
            continue
        entry: dict[str, Any] = {
            "module": benchmark.module,
            "title": benchmark.title,
            "clock": benchmark.clock,
        }
        summary["benchmarks"][benchmark.key] = entry
        if not available(benchmark):
            entry.update(status="skipped", why=f"benchmarks/{benchmark.module}.py is not there")
            print(f"{benchmark.key}: skipped, benchmarks/{benchmark.module}.py is not there", flush=True)
            continue
        if (why := benchmark.missing()) is not None:
            entry.update(status="skipped", why=why)
            print(f"{benchmark.key}: skipped, {why}", flush=True)
            continue
        entry["status"] = "ran"
        entry["loops"] = {}
        for loop in LOOPS:
            if loop == "uvloop" and benchmark.clock == "virtual":
                entry["loops"][loop] = {"status": "n/a", "why": UVLOOP_NOT_APPLICABLE}
                continue
            if loop == "uvloop" and benchmark.no_uvloop is not None:
                entry["loops"][loop] = {"status": "not run", "why": benchmark.no_uvloop}
                continue
            if loop == "uvloop" and not uvloop:
                why = (
                    "not run (--no-uvloop)"
                    if args.no_uvloop
                    else "uvloop not installed (pip install '.[bench]')"
                )
                entry["loops"][loop] = {"status": "not run", "why": why}
                continue
            print(f"{benchmark.key} ({loop}): python -m benchmarks.{benchmark.module} …", flush=True)
            outcome = run_one(benchmark, loop, args.quick, args.timeout)
            entry["loops"][loop] = outcome
            print(f"  {outcome['status']} in {outcome['seconds']:.1f} s {outcome.get('why', '')}", flush=True)
            for row in outcome.get("headline", []):
                print(f"  {row['figure']}: {_with_unit(row['value'], row['unit'])}", flush=True)
            if outcome["status"] != "ok":
                failed = True
                for line in outcome.get("tail", []):
                    print(f"    | {line}", flush=True)
    previous = args.results / "summary.json"
    if wanted is not None and previous.exists():
        # A partial run updates the last summary of the same kind rather than replacing it.
        earlier = json.loads(previous.read_text(encoding="utf-8"))
        if earlier.get("quick") == args.quick:
            summary["benchmarks"] = {**earlier["benchmarks"], **summary["benchmarks"]}
            summary["benchmarks"] = {
                b.key: summary["benchmarks"][b.key] for b in BENCHMARKS if b.key in summary["benchmarks"]
            }
    json_path = write_json("summary", summary, args.results)
    table = markdown(summary)
    md_path = args.results / "summary.md"
    md_path.write_text(table, encoding="utf-8")
    print()
    print(table)
    print(f"results: {json_path}, {md_path}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
