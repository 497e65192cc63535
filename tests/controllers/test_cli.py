"""The ``setpoint`` command: run manifests on a simulated cluster, refuse bad ones whole."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from controllers.cli import BadArgument, app, parse_node_labels

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
runner = CliRunner()


def test_run_converges_the_myblog_example_and_prints_kubectl_tables() -> None:
    result = runner.invoke(app, ["run", str(EXAMPLES / "myblog"), "--node-labels", "node-1:component=mysql"])
    assert result.exit_code == 0, result.output
    assert "applied 8 objects to a 3-node cluster (seed 1)" in result.output
    for title in ("deployments (jds)", "replicasets (jds)", "pods (jds)", "services (jds)", "events (jds)"):
        assert title in result.output
    assert "NAME     READY   UP-TO-DATE   AVAILABLE   AGE" in result.output
    lines = result.output.splitlines()
    myblog = next(line for line in lines if line.startswith("myblog  "))
    assert myblog.split()[:4] == ["myblog", "2/2", "2", "2"]
    mysql_pod = next(line for line in lines if line.startswith("mysql-") and "Running" in line)
    assert mysql_pod.split()[6] == "node-1"


def test_without_a_mysql_node_the_database_stays_pending_with_the_reason() -> None:
    result = runner.invoke(app, ["run", str(EXAMPLES / "myblog")])
    assert result.exit_code == 0, result.output
    assert "FailedScheduling" in result.output
    assert "0/3 nodes are available: 3 node(s) didn't match Pod's node affinity/selector." in result.output


def test_run_reports_every_manifest_error_and_applies_nothing(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: x}\nspec:\n  replicas: two\n")
    result = runner.invoke(app, ["run", str(bad), str(EXAMPLES / "myblog")])
    assert result.exit_code == 1
    assert f"{bad}:5:3: spec.replicas: must be an integer, got string" in result.output
    assert "3 error(s); nothing was applied." in result.output
    assert "applied" not in result.output.replace("nothing was applied", "")


def test_run_of_a_missing_path_fails() -> None:
    result = runner.invoke(app, ["run", "does/not/exist.yaml"])
    assert result.exit_code == 1
    assert "does/not/exist.yaml:1:1: no such file or directory" in result.output


def test_node_labels_for_a_node_that_does_not_exist_are_refused() -> None:
    result = runner.invoke(app, ["run", str(EXAMPLES / "myblog"), "--node-labels", "node-9:a=b"])
    assert result.exit_code == 2
    assert "no such node: node-9" in result.output


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        (["node-1:component=mysql"], {"node-1": {"component": "mysql"}}),
        (["node-1:a=1,b=2", "node-2:c="], {"node-1": {"a": "1", "b": "2"}, "node-2": {"c": ""}}),
    ],
)
def test_node_labels_parse(values: list[str], expected: dict[str, dict[str, str]]) -> None:
    assert parse_node_labels(values) == expected


@pytest.mark.parametrize("value", ["component=mysql", "node-1:component", ":a=b", "node-1:=b"])
def test_malformed_node_labels_are_refused(value: str) -> None:
    with pytest.raises(BadArgument):
        parse_node_labels([value])
