"""The benchmark runner's quick mode: one benchmark run in its own process, collected into JSON and markdown.

Only the shape of what it writes is checked: the figures are timings, which tests never judge.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_quick_run_writes_the_summary_json_and_markdown(tmp_path: Path) -> None:
    command = [sys.executable, "-m", "benchmarks.run", "--quick", "--only", "W6", "--no-uvloop"]
    done = subprocess.run(
        [*command, "--results", str(tmp_path)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr

    summary = json.loads((tmp_path / "summary.json").read_text(encoding="utf-8"))
    assert summary["quick"] is True
    assert list(summary["benchmarks"]) == ["W6"]
    w6 = summary["benchmarks"]["W6"]
    assert w6["loops"]["asyncio"]["status"] == "ok"
    assert w6["loops"]["uvloop"]["status"] == "not run"
    rows = w6["loops"]["asyncio"]["headline"]
    assert [row["figure"] for row in rows] == [
        "pod ready → Endpoints, p99",
        "pod ready → Endpoints, p50",
        "readiness flips achieved",
    ]
    for row in rows:
        assert set(row) == {"figure", "value", "unit", "better", "target", "reference", "baseline"}
        assert isinstance(row["value"], int | float)
    assert rows[0]["reference"]["label"]
    assert rows[0]["baseline"]["label"].startswith("same flips, namespace scans")

    table = (tmp_path / "summary.md").read_text(encoding="utf-8")
    assert "| W6 | pod ready → Endpoints, p99 |" in table
    assert "Upstream reference" in table and "In-run naive baseline" in table


def test_a_workload_that_needs_etcd_is_skipped_with_the_install_hint_when_etcd_is_missing(
    tmp_path: Path,
) -> None:
    command = [sys.executable, "-m", "benchmarks.run", "--quick", "--only", "w3-etcd", "--no-uvloop"]
    done = subprocess.run(
        [*command, "--results", str(tmp_path)],
        cwd=ROOT,
        env={**os.environ, "PATH": str(tmp_path)},  # no etcd binary on this PATH
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr

    entry = json.loads((tmp_path / "summary.json").read_text(encoding="utf-8"))["benchmarks"]["W3-etcd"]
    assert entry["status"] == "skipped"
    assert "apt-get install -y etcd-server" in entry["why"]
    assert "| W3-etcd | " in (tmp_path / "summary.md").read_text(encoding="utf-8")
